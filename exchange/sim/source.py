"""The one interface the server needs from a market: generated or replayed.

A source owns a `BarStore` of closed bars and a "now" (the open time of the next minute it
will produce). `advance()` produces that minute's bars plus the ticks synthesized inside it
and moves now forward one minute; the history before the first `now` is available at once
for REST klines.
"""

from __future__ import annotations

import time
from typing import Protocol

import numpy as np

from exchange.sim.bars import BarStore, MinuteData
from model.instruments import Instrument
from model.market import BarHistory, minute_floor


class MarketSource(Protocol):
    """A minute-by-minute market: generator or replay."""

    instruments: list[Instrument]
    store: BarStore
    now_ms: int  # open time of the next minute `advance()` will produce

    def bars_before(
        self, symbol: str, end_ms: int, limit: int, start_ms: int | None = None
    ) -> BarHistory:
        """Closed bars with `start_ms <= open_ms < min(end_ms, now_ms)` (see BarStore.history)."""
        ...

    def advance(self) -> MinuteData | None:
        """The next minute's bars and ticks, or None when the source has run out (replay)."""
        ...

    def spread_bps(self) -> np.ndarray:
        """Typical spread of each symbol, bps (for quotes before the first tick)."""
        ...


def open_source(config: SimConfigLike, start_ms: int | None = None,
                spread: str = "fixed") -> MarketSource:
    """The generator (with the calibrated model when `config.params` names a shipped
    parameter set or a file; see exchange/sim/shipped_params.py), or the replay of
    `config.replay_dir` when it is set."""
    if config.replay_dir:
        from exchange.sim.replay import ReplaySource

        return ReplaySource.from_dir(
            config.replay_dir, ticks_per_bar=config.ticks_per_bar, seed=config.seed,
            spread=spread,  # the replay's quotes and bar spreads, as a backtest of the folder
        )
    from exchange.sim.generator import GeneratorSource
    from exchange.sim.shipped_params import load_params

    params = load_params(config.params)
    start = minute_floor(int(time.time() * 1000)) if start_ms is None else minute_floor(start_ms)
    return GeneratorSource(
        seed=config.seed,
        coins=config.coins,
        history_minutes=round(config.history_days * 1440),
        start_ms=start,
        ticks_per_bar=config.ticks_per_bar,
        params=params,
    )


class SimConfigLike(Protocol):
    """The fields of `bot.config.SimConfig` a source reads (kept structural so the exchange
    package does not import the bot package)."""

    # Read-only properties, so a frozen config (pydantic, a frozen dataclass) satisfies it.
    @property
    def seed(self) -> int: ...
    @property
    def coins(self) -> int: ...
    @property
    def history_days(self) -> float: ...
    @property
    def replay_dir(self) -> str: ...
    @property
    def ticks_per_bar(self) -> int: ...
    @property
    def params(self) -> str: ...  # shipped set name or MarketParams JSON; "" = the old model


class SimServerSettings(SimConfigLike, Protocol):
    """What the simulated exchange's server reads besides its source's fields
    (bot.config.SimConfig maps onto it)."""

    @property
    def host(self) -> str: ...  # loopback only
    @property
    def port(self) -> int: ...  # 0 = any free port
    @property
    def speed(self) -> float: ...  # simulated seconds per real second
