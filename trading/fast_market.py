"""What the fast backtester takes beside the bars: fill and risk settings, instruments
and quotes (trading/fast_backtest.py runs on them).

`FastSettings.from_config` reads what the engine reads of the app's config, through
protocols (trading/ cannot import bot/). `FastMarket` holds each grid column's instrument,
each bar's base volume and the bid/ask a policy sees after each row: the replay's
synthesized ticks when bot/research/fast_backtest.py builds it from a 1m folder, else
close and close + one tick (`FastMarket.from_grid`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import numpy as np

from model import costs
from model.fills import FillParams
from model.instruments import Instrument
from model.market import MINUTE_MS
from risk.limits import RiskLimits
from strategies.features_batch import MinuteGrid

DAY_MS = 86_400_000
RETURN_HISTORY_BARS = 1440  # the trader's RETURN_HISTORY_MINUTES at 1m
_QUOTES = ("USDT", "BUSD", "USDC", "USD", "BTC", "ETH", "BNB", "KRW", "EUR")


class _FillsSection(Protocol):
    @property
    def maker_fee_bps(self) -> float: ...

    @property
    def taker_fee_bps(self) -> float: ...

    @property
    def max_volume_share(self) -> float: ...

    @property
    def spread(self) -> str: ...


class _RiskSection(Protocol):
    def model_dump(self) -> dict[str, Any]: ...


class ConfigLike(Protocol):
    """What `FastSettings.from_config` reads of bot.config.Config (trading/ cannot import
    bot): `[fills]` and `[risk]`."""

    @property
    def fills(self) -> _FillsSection: ...

    @property
    def risk(self) -> _RiskSection: ...


@dataclass(frozen=True, slots=True)
class FastSettings:
    """The fill model and risk limits of a run, as the engine takes them from the config."""

    fill_params: FillParams
    limits: RiskLimits
    bar_ms: int = MINUTE_MS
    return_history_bars: int = RETURN_HISTORY_BARS
    # "estimated": a market built from the grid alone prices each symbol's bar book at the
    # spread its rows before the run imply (model/costs.py); "fixed": one tick
    spread: str = "fixed"

    @classmethod
    def from_config(cls, config: ConfigLike, bar_ms: int = MINUTE_MS) -> FastSettings:
        """Fees and volume share from `[fills]`, limits from `[risk]` (bot.app.assembly's
        `fill_params` and `RiskLimits.from_mapping`, the trader's recipe)."""
        fills_section = config.fills
        return cls(
            fill_params=FillParams(max_volume_share=fills_section.max_volume_share,
                                   maker_fee_bps=fills_section.maker_fee_bps,
                                   taker_fee_bps=fills_section.taker_fee_bps),
            limits=RiskLimits.from_mapping(config.risk.model_dump()),
            bar_ms=bar_ms,
            spread=fills_section.spread,
        )


@dataclass(frozen=True, slots=True)
class FastMarket:
    """What a grid of bars lacks for trading: each column's instrument, the base volume of
    each bar, and the bid/ask the engine's book holds after each row (NaN = unchanged)."""

    instruments: tuple[Instrument, ...]
    volume: np.ndarray  # [T, n]
    bid: np.ndarray  # [T, n]
    ask: np.ndarray  # [T, n]
    # [n]: each column's relative bid-ask spread for the book a bar is given (model/costs.py);
    # None = `FillParams.bar_spread_ticks` ticks, the assumption before issue 16
    spread: np.ndarray | None = None

    @classmethod
    def from_grid(cls, grid: MinuteGrid, instruments: tuple[Instrument, ...] | None = None,
                  spread: np.ndarray | None = None) -> FastMarket:
        """Without ticks: volume = quote volume / mean(OHLC), bid = close, ask = close plus
        the spread (`spread` [n], relative, in whole ticks; without it one tick);
        instruments, when not given, on an 8-decimal grid with no minimums and the quote
        asset read from the symbol's end (USDT, BTC, ...)."""
        chosen = instruments or tuple(generic_instrument(s) for s in grid.symbols)
        if len(chosen) != len(grid.symbols):
            raise ValueError(f"{len(chosen)} instruments for {len(grid.symbols)} grid columns")
        if spread is not None and np.shape(spread) != (len(grid.symbols),):
            raise ValueError(f"spread has shape {np.shape(spread)}, the grid {len(grid.symbols)} "
                             "columns: one relative spread per symbol")
        typical = (grid.open + grid.high + grid.low + grid.close) / 4.0
        with np.errstate(invalid="ignore", divide="ignore"):
            volume = np.where(typical > 0, grid.quote_volume / typical, 0.0)
        tick = np.array([float(i.tick) for i in chosen])
        width = (np.ones(len(chosen)) if spread is None
                 else costs.spread_ticks(spread[None, :], grid.close, tick[None, :]))
        return cls(chosen, np.where(np.isfinite(grid.close), volume, np.nan), grid.close.copy(),
                   grid.close + width * tick[None, :], spread)


def spreads_before(grid: MinuteGrid, row: int) -> np.ndarray:
    """Each column's relative spread implied by the grid's rows before `row` (the costs a
    run starting at `row` may know: model/costs.py)."""
    return costs.estimate_spreads(grid.high[:row], grid.low[:row], grid.close[:row])


def generic_instrument(symbol: str) -> Instrument:
    """An 8-decimal instrument with no minimum order for a grid symbol like "ETHBTC"."""
    quote = next((q for q in _QUOTES if symbol.endswith(q) and len(symbol) > len(q)), symbol[-3:])
    step = Decimal("0.00000001")
    return Instrument(symbol=symbol, base=symbol[: -len(quote)], quote=quote, tick=step,
                      lot=step, min_notional=Decimal(0), min_qty=step,
                      max_qty=Decimal(90000000000))
