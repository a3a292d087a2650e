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
from bot.app.assembly import BacktestError
from bot.config import Config
from bot.research.backtest import BacktestResult
from exchange.feeds.replay import ReplayFeed
from exchange.sim.bar_files import load_bar_grid
from exchange.sim.replay import ReplaySource, infer_instrument
from exchange.sim.ticks import floor_to_grid, synthesize_ticks
from model.instruments import Instrument
from model.market import MINUTE_MS
from model.timeframes import Timeframe
from state.codec import BalanceSet
from state.ledger import Ledger
from strategies.features_batch import BarGrid
from trading.fast_backtest import FastMarket, FastRun, FastSettings, generic_instrument, run_fast
from trading.fast_policies import make_batch_policy


@dataclass(frozen=True, slots=True)
class FastInputs:
    """A grid, what trading on it needs beside the bars, and where the replay starts."""

    grid: BarGrid
    market: FastMarket
    warmup_rows: int  # rows the event engine would serve as history before its clock


def replay_inputs(config: Config, data_dir: Path, *, warmup_minutes: int = 1440) -> FastInputs:
    """A 1m folder as the event engine's feed delivers it (see the module docstring)."""
    source = ReplaySource.from_dir(data_dir, ticks_per_bar=config.sim.ticks_per_bar,
                                   seed=config.sim.seed, warmup_minutes=warmup_minutes)
    instruments = ReplayFeed(source, on_tick=_ignore, on_bar=_ignore).instruments
    by_symbol = {i.symbol: i for i in instruments}
    store = source.store
    rows, n = store.rows, len(source.symbols)
    columns = {name: np.full((rows, n), np.nan) for name in
               ("open", "high", "low", "close", "volume", "quote_volume", "bid", "ask")}
    spread = source.spread_bps()
    for row in range(rows):
        bars = store.minute(row)
        if not len(bars):
            continue
        index = bars.index
        for name in ("open", "high", "low", "close", "quote_volume"):
            columns[name][row, index] = getattr(bars, name)
        # The closed kline's volume is the player's running volume at the minute's end.
        columns["volume"][row, index] = floor_to_grid(bars.volume * 1.0, source.lot[index])
        ticks = synthesize_ticks(bars, source.tick, source.lot, spread, source.ticks_per_bar,
                                 source.seed)
        columns["bid"][row, index] = ticks.bid[-1]
        columns["ask"][row, index] = ticks.ask[-1]
    parsed = {name: _parsed(values) for name, values in columns.items()}
    grid = BarGrid(symbols=tuple(source.symbols), start_ms=int(store.first_open_ms),
                   bar_ms=MINUTE_MS, **{name: parsed[name] for name in
                                        ("open", "high", "low", "close", "quote_volume")})
    market = FastMarket(tuple(by_symbol[s] for s in source.symbols), parsed["volume"],
                        parsed["bid"], parsed["ask"])
    return FastInputs(grid, market, (source.now_ms - int(store.first_open_ms)) // MINUTE_MS)


def bar_inputs(data_dir: Path, timeframe: Timeframe, *, warmup_bars: int = 1440) -> FastInputs:
    """A folder of bars of another timeframe: quotes at the close, instruments inferred."""
    grid = load_bar_grid(data_dir, timeframe)
    instruments = tuple(_inferred(grid, column) for column in range(len(grid.symbols)))
    market = FastMarket.from_grid(grid, instruments)
    return FastInputs(grid, market, min(warmup_bars, grid.close.shape[0] // 2))


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
              if frame.ms == MINUTE_MS else bar_inputs(data_dir, frame))
    grid = inputs.grid
    start_row, stop_row = window_rows(grid, inputs.warmup_rows, from_ms, to_ms)
    try:
        chosen = make_batch_policy(policy)
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
    return BacktestResult(policy, run.quote_asset, tradable, stop_row - start_row,
                          run.performance(), digest, time.perf_counter() - started)


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
