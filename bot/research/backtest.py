"""Replay backtests: the daemon's engine on a replay clock, as fast as the CPU allows.

Nothing here decides anything: the replay feed plays the events the simulated exchange's
Binance frames parse into (computed straight from the simulator's state by default, equal bit
for bit to serializing and parsing them: `wire_frames=True` does that), the engine applies
them and runs the same decision step, and the trader sends orders to the same paper broker on the
same fill model. Only the clock differs: the next minute starts when the previous decision
is done, not when wall time says so. And the ledger commits an hour of steps at a time, the
steps without savepoints of their own (a failed step rolls the hour back and ends the run):
a replay is rerun, not recovered, so its ledger needs no commit per minute; the daemon's does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.app.assembly import BacktestError, make_trader
from bot.config import Config
from exchange.feeds.replay import ReplayFeed
from exchange.sim.replay import ReplaySource
from model.instruments import dominant_quote
from model.market import MINUTE_MS
from state.ledger import Ledger
from strategies.policy import Policy
from trading.engine import Engine
from trading.performance import Performance, performance

#: Replayed minutes per ledger transaction (the decision steps join it: Trader.step).
MINUTES_PER_COMMIT = 60


@dataclass(frozen=True, slots=True)
class BacktestResult:
    policy: str
    quote_asset: str
    symbols: int
    minutes: int
    performance: Performance
    ledger_digest: str
    wall_s: float
    #: the fast backtester's `FastRun.lane` ("compiled", or "python" and why); None: engine
    lane: str | None = None

    def as_dict(self) -> dict[str, Any]:
        lane = {} if self.lane is None else {"lane": self.lane}
        return {"policy": self.policy, "quote_asset": self.quote_asset, "symbols": self.symbols,
                "minutes": self.minutes, **self.performance.as_dict(),
                "ledger_digest": self.ledger_digest, "wall_s": round(self.wall_s, 3), **lane}


def run_backtest(
    config: Config,
    data_dir: Path,
    db_path: Path,
    *,
    policy: str | Policy,
    from_ms: int | None = None,
    to_ms: int | None = None,
    quote_asset: str | None = None,
    balance: Decimal | None = None,
    warmup_minutes: int = 1440,
    progress: Callable[[int, int], None] | None = None,
    wire_frames: bool = False,
) -> BacktestResult:
    """Replay `data_dir` through the engine with `policy`; the ledger goes to `db_path`.
    `wire_frames` replays through serialized and re-parsed Binance frames (the live feed's
    parser) instead of the direct events: the same ledger digest, about 1.5x the time."""
    started = time.perf_counter()
    if db_path.exists():
        raise BacktestError(f"{db_path} exists; pass another --db or delete it")
    source = ReplaySource.from_dir(data_dir, ticks_per_bar=config.sim.ticks_per_bar,
                                   seed=config.sim.seed, warmup_minutes=warmup_minutes,
                                   spread=config.fills.spread)
    if from_ms is not None:
        source.now_ms = max(source.now_ms, from_ms - from_ms % MINUTE_MS)
    end_ms = source.end_ms if to_ms is None else min(source.end_ms, to_ms)
    quote = quote_asset or dominant_quote(source.instruments)
    # The feed's instruments come through the same exchangeInfo round trip as the daemon's.
    engine: Engine | None = None
    feed = ReplayFeed(
        source,
        on_tick=lambda tick: engine.on_tick(tick),  # type: ignore[union-attr]
        on_bar=lambda bar: engine.on_bar(bar),  # type: ignore[union-attr]
        on_history=lambda history: engine.on_history(history),  # type: ignore[union-attr]
        on_tick_batch=lambda batch: engine.on_tick_batch(batch),  # type: ignore[union-attr]
        on_bar_batch=lambda batch: engine.on_bar_batch(batch),  # type: ignore[union-attr]
        on_tick_arrays=lambda arrays: engine.on_tick_arrays(arrays),  # type: ignore[union-attr]
        all_tickers=True,
        forming_klines=False,  # in-progress klines change no callback; skipping them is 20% faster
        direct=not wire_frames,
    )
    instruments = feed.instruments
    quote = quote_asset or dominant_quote(instruments)
    ledger = Ledger.open(db_path, instruments={i.symbol: i for i in instruments}, durable=False)
    try:
        spreads = (None if source.spread is None
                   else dict(zip(source.symbols, source.spread.tolist(), strict=True)))
        trader = make_trader(config, instruments, ledger, policy=policy, quote_asset=quote,
                             balance=balance if balance is not None else
                             Decimal(str(config.trading.starting_balance)), spreads=spreads)
        trader.open_account(trader.broker.balances()[quote], source.now_ms)
        # Each step joins the hour's transaction without a savepoint of its own: a failed
        # step ends the replay (its error leaves the batch below, which rolls the hour
        # back), so the savepoint's rollback would undo nothing that one does not
        # (Trader.step); the daemon's steps keep theirs.
        trader.step_savepoints = False
        # A quiet step's HOLD rows and equity snapshot go in with the hour's commit, sixty
        # steps' at once (state/pending_rows.py): the same rows, in the same order.
        ledger.hold_back_rows = True
        engine = Engine(feed.symbols, config.strategy, trader=trader,
                        decision_interval=config.trading.decision_timeframe)
        feed.backfill(config.feed.backfill_minutes)
        total = max(0, (end_ms - source.now_ms) // MINUTE_MS)
        minutes = 0
        playing = True
        while playing:
            # An hour of decision steps per transaction: a replay's ledger is rerun, not
            # recovered, so a kill loses at most the hour; a commit per minute cost ~10 %.
            # An error in a step leaves through this batch, which rolls the hour back.
            with ledger.batch():
                for _ in range(MINUTES_PER_COMMIT):
                    playing = source.now_ms < end_ms and feed.play_minute() is not None
                    if not playing:
                        break
                    if engine.minute_pending:
                        engine.close_minute()
                    minutes += 1
                    if progress is not None:
                        progress(minutes, total)
        times, equity = ledger.equity_series()
        result = performance(
            times, equity, trader.round_trips,
            float(trader.fees_paid), float(trader.traded_notional), trader.exposed_steps,
        )
        name = policy if isinstance(policy, str) else policy.name
        return BacktestResult(name, quote, len(trader.instruments), minutes, result,
                              ledger.table_digest(), time.perf_counter() - started)
    finally:
        ledger.close()
