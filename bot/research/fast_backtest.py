"""`entasis backtest --engine fast`: the fast backtester on a data folder, into a ledger.

The pure core is trading/fast_backtest.py; this module gives it its inputs and writes its
output the way the event engine's backtest does (bot/research/backtest.py):

* 1m folders are read by `ReplaySource`, as the engine replays them, and the grid holds
  the numbers the engine's feed delivers (every bar and quote as the 8-decimal strings of
  the Binance frames parse back, `protocol.num_parsed`); the policy's bid/ask are the
  replay's synthesized ticks (exchange/sim/ticks.py), the last of each minute a symbol
  traded. Instruments come through the feed's exchangeInfo round trip.
* other timeframes are read by `load_bar_grid`, with bid = close, ask = close + one tick
  and instruments inferred from the prices as the replay infers them.
* the run's orders, fills, decisions and equity marks go through the `Ledger` API into the
  same tables, so `entasis report` reads a fast run like an engine run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

import exchange.sim.protocol as protocol
from bot.app.assembly import BacktestError, baseline_cost_params
from bot.config import Config
from bot.research.backtest import BacktestResult
from exchange.feeds.replay import ReplayFeed
from exchange.sim.bar_files import load_bar_grid
from exchange.sim.replay import ReplaySource, infer_instrument
from exchange.sim.ticks import (
    SPREAD_RANGE_WIDENING,
    floor_to_grid,
    path_positions,
    round_to_grid,
)
from model import libm
from model.instruments import Instrument
from model.market import MINUTE_MS
from model.timeframes import Timeframe
from state.codec import BalanceSet
from state.ledger import Ledger
from strategies.features_batch import BarGrid
from trading.batch_policies import make_batch_policy
from trading.fast_backtest import (
    FastMarket,
    FastRun,
    FastSettings,
    generic_instrument,
    run_fast,
    spreads_before,
)


@dataclass(frozen=True, slots=True)
class FastInputs:
    """A grid, what trading on it needs beside the bars, and where the replay starts."""

    grid: BarGrid
    market: FastMarket
    warmup_rows: int  # rows the event engine would serve as history before its clock


def replay_inputs(config: Config, data_dir: Path, *, warmup_minutes: int = 1440) -> FastInputs:
    """A 1m folder as the event engine's feed delivers it (see the module docstring)."""
    source = ReplaySource.from_dir(data_dir, ticks_per_bar=config.sim.ticks_per_bar,
                                   seed=config.sim.seed, warmup_minutes=warmup_minutes,
                                   spread=config.fills.spread)
    instruments = ReplayFeed(source, on_tick=_ignore, on_bar=_ignore).instruments
    by_symbol = {i.symbol: i for i in instruments}
    store = source.store
    rows = slice(0, store.rows)
    traded = np.asarray(store.column("traded", rows), dtype=bool)
    bars = {name: np.where(traded, store.column(name, rows).astype(np.float64), np.nan)
            for name in ("open", "high", "low", "close", "volume", "quote_volume")}
    # The closed kline's volume is the player's running volume at the minute's end.
    bars["volume"] = floor_to_grid(bars["volume"] * 1.0, source.lot[None, :])
    bid, ask = last_tick_quotes(bars, traded, source, int(store.first_open_ms))
    parsed = {name: _parsed(values) for name, values in (*bars.items(), ("bid", bid),
                                                         ("ask", ask))}
    grid = BarGrid(symbols=tuple(source.symbols), start_ms=int(store.first_open_ms),
                   bar_ms=MINUTE_MS, **{name: parsed[name] for name in
                                        ("open", "high", "low", "close", "quote_volume")})
    market = FastMarket(tuple(by_symbol[s] for s in source.symbols), parsed["volume"],
                        parsed["bid"], parsed["ask"], source.spread)
    return FastInputs(grid, market, (source.now_ms - int(store.first_open_ms)) // MINUTE_MS)


def last_tick_quotes(bars: dict[str, np.ndarray], traded: np.ndarray, source: ReplaySource,
                     first_open_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask of each minute's last synthesized tick, [T, n] (NaN where no bar):
    `exchange.sim.ticks.synthesize_ticks` for the whole grid at once, operation for operation
    on its last two ticks; only its spread noise is drawn minute by minute, from the same
    generator seeded by (seed, minute), since each minute's draw depends on its seed."""
    ticks_per_bar, n_all = source.ticks_per_bar, len(source.symbols)
    o, h, low, c = (np.where(traded, bars[name], 1.0) for name in ("open", "high", "low", "close"))
    tick = source.tick[None, :]
    first_minute = first_open_ms // MINUTE_MS
    draws = np.zeros(o.shape)  # untraded rows: 0, not leftover memory (exp of it may overflow)
    for row in np.flatnonzero(traded.any(axis=1)).tolist():
        rng = np.random.default_rng([source.seed, first_minute + row])
        draws[row] = rng.standard_normal((ticks_per_bar, n_all))[-1]
    spread_noise = libm.exp(0.3 * draws)
    up = c >= o
    waypoints = np.stack([o, np.where(up, low, h), np.where(up, h, low), c])
    position = path_positions(ticks_per_bar) * 3.0
    leg = np.minimum(position.astype(np.int64), 2)
    frac = position - leg

    def tick_last(j: int) -> np.ndarray:
        at = int(leg[j])
        last = waypoints[at] + frac[j] * (waypoints[at + 1] - waypoints[at])
        return np.clip(round_to_grid(last, tick), low, h)

    last = tick_last(ticks_per_bar - 1)
    previous = o if ticks_per_bar == 1 else tick_last(ticks_per_bar - 2)
    relative_range = (h - low) / np.maximum(c, 1e-300)
    spread_price = c * source.spread_bps()[None, :] * 1e-4 * (
        1.0 + SPREAD_RANGE_WIDENING * relative_range)
    spread = np.maximum(1.0, np.round(spread_price * spread_noise / tick)) * tick
    bid = np.where(last >= previous, last - spread, last)
    bid = np.where(bid <= 0, last, bid)
    ask = round_to_grid(bid + spread, tick)
    bid = round_to_grid(bid, tick)
    return np.where(traded, bid, np.nan), np.where(traded, ask, np.nan)


def bar_inputs(data_dir: Path, timeframe: Timeframe, *, warmup_bars: int = 1440,
               spread: str = "fixed") -> FastInputs:
    """A folder of bars of another timeframe: quotes at the close, instruments inferred;
    `spread` "estimated" prices each symbol's book at the spread its warm-up bars imply."""
    grid = load_bar_grid(data_dir, timeframe)
    instruments = tuple(_inferred(grid, column) for column in range(len(grid.symbols)))
    warmup = min(warmup_bars, grid.close.shape[0] // 2)
    market = FastMarket.from_grid(grid, instruments, spreads_before(grid, warmup)
                                  if spread == "estimated" else None)
    return FastInputs(grid, market, warmup)


def _inferred(grid: BarGrid, column: int) -> Instrument:
    generic = generic_instrument(grid.symbols[column])
    present = np.isfinite(grid.close[:, column])
    prices = {name: getattr(grid, name)[present, column] for name in ("open", "high", "low", "close")}
    typical = sum(prices.values()) / 4.0
    volume = np.round(grid.quote_volume[present, column] / np.maximum(typical, 1e-300), 8)
    return infer_instrument(generic.base, generic.quote, pd.DataFrame({**prices, "volume": volume}))


def run_fast_backtest(
    config: Config,
    data_dir: Path,
    db_path: Path,
    *,
    policy: str,
    timeframe: str = "1m",
    from_ms: int | None = None,
    to_ms: int | None = None,
    quote_asset: str | None = None,
    balance: Decimal | None = None,
    warmup_minutes: int = 1440,
) -> BacktestResult:
    """The fast backtester over `data_dir`, its ledger to `db_path`; the event engine's
    summary (`BacktestResult`) for the same window."""
    started = time.perf_counter()
    if db_path.exists():
        raise BacktestError(f"{db_path} exists; pass another --db or delete it")
    frame = Timeframe.parse(timeframe)
    inputs = (replay_inputs(config, data_dir, warmup_minutes=warmup_minutes)
              if frame.ms == MINUTE_MS else bar_inputs(data_dir, frame,
                                                       spread=config.fills.spread))
    grid = inputs.grid
    start_row, stop_row = window_rows(grid, inputs.warmup_rows, from_ms, to_ms)
    try:
        chosen = make_batch_policy(policy, **(baseline_cost_params(config)
                                              if policy == "baseline" else {}))
    except ValueError as exc:
        raise BacktestError(str(exc)) from None
    deposit = balance if balance is not None else Decimal(str(config.trading.starting_balance))
    try:
        run = run_fast(grid, chosen, FastSettings.from_config(config, grid.bar_ms),
                       start_row=start_row, stop_row=stop_row, balance=deposit,
                       market=inputs.market, quote_asset=quote_asset)
    except ValueError as exc:
        raise BacktestError(str(exc)) from None
    opened_ms = grid.start_ms + start_row * grid.bar_ms
    digest = write_ledger(db_path, run, inputs.market.instruments, deposit, opened_ms)
    tradable = sum(1 for i in inputs.market.instruments if i.quote == run.quote_asset)
    minutes = (stop_row - start_row) * grid.bar_ms // MINUTE_MS  # the window, in minutes
    return BacktestResult(policy, run.quote_asset, tradable, minutes,
                          run.performance(), digest, time.perf_counter() - started, run.lane)


def window_rows(grid: BarGrid, warmup_rows: int, from_ms: int | None,
                to_ms: int | None) -> tuple[int, int]:
    """[start, stop) rows the event engine's clock would play for --from/--to."""
    length = grid.close.shape[0]
    start = warmup_rows
    if from_ms is not None:
        start = max(start, -(-(from_ms - from_ms % grid.bar_ms - grid.start_ms) // grid.bar_ms))
    stop = length
    if to_ms is not None:
        stop = min(stop, -(-(to_ms - grid.start_ms) // grid.bar_ms))
    return min(start, length), max(min(start, length), stop)


def write_ledger(db_path: Path, run: FastRun, instruments: tuple[Instrument, ...],
                 balance: Decimal, opened_ms: int) -> str:
    """The run's deposit, orders, fills, decisions and equity marks into a new ledger,
    through the Ledger API, in one transaction; returns the ledger's table digest."""
    ledger = Ledger.open(db_path, instruments={i.symbol: i for i in instruments}, durable=False)
    try:
        with ledger.batch():
            ledger.record(BalanceSet(run.quote_asset, balance, Decimal(0), opened_ms, opened_ms))
            ledger.set_kv("account_opened", opened_ms)
            for event in run.events:
                ledger.record(event)
            for ts, symbol, action, verdict, detail, sizing in run.decisions:
                ledger.record_decision(ts, symbol, action, verdict, detail=detail,
                                       sizing=sizing.breakdown if sizing is not None else None)
            for ts, equity, cash in zip(run.equity_ms.tolist(), run.equity.tolist(),
                                        run.cash.tolist()):
                total, free = Decimal(repr(equity)), Decimal(repr(cash))
                ledger.snapshot_equity(ts, equity=total, cash=free, positions_value=total - free)
        return ledger.table_digest()
    finally:
        ledger.close()


def _parsed(values: np.ndarray) -> np.ndarray:
    """`protocol.num_parsed` of the finite values (what the feed's parser reads), NaN kept."""
    finite = np.isfinite(values)
    out = values.copy()
    out[finite] = protocol.num_parsed(values[finite])
    return out


def _ignore(_: object) -> None:
    """A feed callback for a feed built only for its instruments."""
