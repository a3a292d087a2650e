"""The engine: market events in, features updated, one decision step per decision interval.

The same object runs live, paper and replay; only the feed that drives it differs. A
decision step ranks the universe, then runs policy -> risk -> broker -> ledger.

Minute m closes once every symbol's bar m has, or `grace_s` after the first one did (a coin
with no trade that minute sends no bar). Every closed minute's bars go to the broker (fills)
and the features; a decision step runs when the minute ends on a multiple of the decision
interval (`[trading] decision_interval`, UTC-aligned: at :00, :05, :10 ... for 5m), so the
engine streams every tick and bar and decides every 5m or 1h. A step sees only data that
reached the engine before it runs: closed bars and ticks already applied, nothing later. A
boundary minute in which no symbol traded brings no step, as a minute does at 1m.

Every bar and tick passes the bad-print filter first (strategies/bad_prints.py): a print far
outside a symbol's recent range is held until the market confirms it, so features, marks,
breakers and VaR/ES never see an unconfirmed outlier. It sits here, not in a feed, so
replay, paper and live go through the same filter (one engine, three clocks).

No market event can stop the engine: an exception while one symbol's bar or tick
is applied isolates that symbol (logged once, its later data ignored, counted in status);
the other symbols keep deciding. An exception in a whole decision step is logged and
counted, and the loop goes on to the next minute.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from model.market import MINUTE_MS, Bar, BarBatch, BarHistory, Tick, TickArrays, TickBatch
from model.timeframes import Timeframe
from strategies.bad_prints import PrintFilter
from strategies.features import FeatureBook
from strategies.ranking import RankingSettings, rank
from trading.engine_step import DecisionStep, decision_step

if TYPE_CHECKING:
    from strategies.forecast.service import ForecastService
    from trading.trader import Trader

log = logging.getLogger(__name__)

#: The decision cadence when none is configured: every minute.
DEFAULT_DECISION_INTERVAL = Timeframe.M1


#: OSError numbers that mean the disk under the ledger failed, not the market data.
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


def storage_failure(exc: BaseException) -> bool:
    """The ledger or the disk under it failed (disk full, read-only, damaged file).

    Such an error is not one symbol's bad data: nothing more can be recorded, and deciding
    on without a record would break "the ledger is the truth". The engine lets it through,
    and the daemon stops with one line that says what to fix (bot/app/daemon.py)."""
    if isinstance(exc, sqlite3.DatabaseError):
        return True
    return isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS


class Engine:
    """Owns the feature book and the decision loop for a fixed symbol universe."""

    def __init__(self, symbols: list[str], strategy: RankingSettings, grace_s: float = 0.5,
                 trader: Trader | None = None, forecast: ForecastService | None = None,
                 decision_interval: Timeframe = DEFAULT_DECISION_INTERVAL):
        self.symbols = list(symbols)
        self.decision_interval = decision_interval
        self.trader = trader
        # The ensemble forecast (strategies/forecast/service.py); None = not served.
        self.forecast = forecast
        self.strategy = strategy
        self.grace_s = grace_s
        self.book = FeatureBook(self.symbols)
        self.prints = PrintFilter(self.symbols)
        self.isolated: dict[str, str] = {}  # symbol -> why its data is ignored (an exception)
        self.decision_errors = 0  # decision steps that raised (logged; the loop went on)
        self.latest: DecisionStep | None = None
        self.steps = 0
        self.bars_seen = 0
        self.ticks_seen = 0
        self._pending_minute: int | None = None  # newest minute with a closed bar not yet decided
        self._closed_minute = -1  # newest minute applied and flat-filled, decided or not
        self._bars_in_pending = 0
        self._queued_bars: list[Bar | BarBatch] = []  # a replay's minute: one BarBatch
        self._minute_closed = asyncio.Event()
        self._minute_complete = asyncio.Event()

    # --- market events (called by the feed, on the loop, O(1) each) -------------------------
    def on_tick(self, tick: Tick) -> None:
        """Apply a tick unless it is an unconfirmed bad print (it may confirm held bars)."""
        self.ticks_seen += 1
        if tick.symbol in self.isolated:
            return
        try:
            apply, released = self.prints.admit_tick(tick)
            for bar in released:
                self._queue_bar(bar)
            if apply:
                self.book.on_tick(tick)
        except Exception as exc:  # noqa: BLE001 - one symbol's data must not stop the rest
            self._isolate(tick.symbol, "tick", exc)

    def on_tick_batch(self, batch: TickBatch) -> None:
        """`on_tick` for a ticker array (vectorized while every row is in range)."""
        self.ticks_seen += len(batch)
        if self.isolated and not self.isolated.keys().isdisjoint(batch.symbols):
            for tick in (batch.row(i) for i in range(len(batch))):  # rare: drop the isolated rows one by one
                self.ticks_seen -= 1
                self.on_tick(tick)
            return
        try:
            kept, released = self.prints.admit_batch(batch)
            for bar in released:
                self._queue_bar(bar)
            if kept is not None:
                self.book.on_tick_batch(kept)
        except Exception:  # noqa: BLE001 - find the row that fails, isolate only its symbol
            for tick in (batch.row(i) for i in range(len(batch))):
                self.ticks_seen -= 1
                self.on_tick(tick)

    def on_tick_arrays(self, arrays: TickArrays) -> None:
        """`on_tick_batch` of each of a replayed minute's ticker arrays, in order: in one
        call each to the bad-print filter and the features when no symbol is isolated and
        every row is inside its range (nothing to hold or confirm); otherwise array by
        array, with the same effects."""
        if not self.isolated or self.isolated.keys().isdisjoint(arrays.symbols):
            try:
                inside = self.prints.arrays_inside(arrays)
            except Exception:  # noqa: BLE001 - judged again array by array, row by row
                inside = False
            if inside:
                self.ticks_seen += arrays.ticks
                try:
                    self.book.on_tick_arrays(arrays)
                    return
                except Exception:  # noqa: BLE001 - stored again array by array below
                    self.ticks_seen -= arrays.ticks
        for batch in arrays.batches():
            self.on_tick_batch(batch)

    def on_history(self, history: BarHistory) -> None:
        """Backfilled bars warm the features but never trigger decisions about the past."""
        self.bars_seen += len(history)
        if history.symbol in self.isolated:
            return
        try:
            self.prints.load_history(history)
            self.book.load_history(history)
            if self.trader is not None and self.trader.anomaly is not None:
                self.trader.anomaly.add_history(history)  # warms its statistics (ADR-036)
        except Exception as exc:  # noqa: BLE001
            self._isolate(history.symbol, "backfill", exc)

    def on_bar(self, bar: Bar) -> None:
        """Pass a closed bar through the bad-print filter; what it lets through (this bar,
        or the held bars this one confirms) is queued for the decision step."""
        self.bars_seen += 1
        if bar.symbol in self.isolated:
            return
        try:
            for released in self.prints.admit_bar(bar):
                self._queue_bar(released)
        except Exception as exc:  # noqa: BLE001
            self._isolate(bar.symbol, "bar", exc)

    def on_bar_batch(self, batch: BarBatch) -> None:
        """`on_bar` for a minute's bars at once (a replay's), queued as one batch when none
        of its symbols is isolated and every row passes the bad-print filter as it is;
        otherwise bar by bar, with the same effects."""
        if self.isolated and not self.isolated.keys().isdisjoint(batch.symbols):
            admitted = False
        else:
            try:
                admitted = self.prints.admit_bar_batch(batch)
            except Exception:  # noqa: BLE001 - find the bar that fails, isolate its symbol
                admitted = False
        if not admitted:
            for bar in batch.bars():
                self.on_bar(bar)
            return
        self.bars_seen += len(batch)
        self._queued_bars.append(batch)
        self._count_queued(batch.open_ms, len(batch))

    def _queue_bar(self, bar: Bar) -> None:
        """Queue a closed bar; the decision step applies the minute's bars in one batch
        (`FeatureBook.on_bars` is vectorized across symbols, ~30x cheaper than one by one)."""
        self._queued_bars.append(bar)
        self._count_queued(bar.open_ms, 1)

    def _count_queued(self, open_ms: int, count: int) -> None:
        """`count` bars opening at `open_ms` were queued: the pending minute and whether it
        is complete (a batch counts as its bars queued one after the other)."""
        if open_ms <= self._closed_minute:
            return  # late: its minute was closed and flat-filled as 'no trade' (ADR-003)
        if self._pending_minute is None or open_ms > self._pending_minute:
            self._pending_minute = open_ms
            self._bars_in_pending = 0
            self._minute_closed.set()
        if open_ms == self._pending_minute:
            self._bars_in_pending += count
            if self._bars_in_pending >= len(self.symbols) - len(self.isolated):
                self._minute_complete.set()

    def _isolate(self, symbol: str, what: str, exc: BaseException) -> None:
        """Stop using `symbol`'s market data after applying its `what` raised; log once."""
        if symbol in self.isolated:
            return
        self.isolated[symbol] = f"{what}: {type(exc).__name__}: {str(exc)[:160]}"
        log.error("%s isolated: applying its %s raised; its market data is ignored until "
                  "restart, the other symbols keep deciding", symbol, what, exc_info=exc)

    def _apply_bars(self, queued: list[Bar | BarBatch]) -> None:
        """The minute's bars to the broker (fills, marks) and the features, in one batch
        (a replay's BarBatch as it is); if that raises, again bar by bar, isolating the
        symbols whose bar fails."""
        bars = self._not_isolated(queued)
        if self.trader is not None:
            # Orders placed at the previous step meet this minute's bars first.
            self._guarded(self.trader.on_bars, bars, "fill")
        self._guarded(self.book.on_bars,
                      self._not_isolated(bars if isinstance(bars, list) else [bars]),
                      "feature update")

    def _not_isolated(self, queued: Sequence[Bar | BarBatch]) -> list[Bar] | BarBatch:
        """The queued bars of symbols not isolated: a lone batch without any as it is,
        anything else as Bars in order."""
        if len(queued) == 1 and isinstance(queued[0], BarBatch) and self._clear_of_isolated(
                queued[0]):
            return queued[0]
        bars: list[Bar] = []
        for item in queued:
            bars.extend(item.bars() if isinstance(item, BarBatch) else (item,))
        return [bar for bar in bars if bar.symbol not in self.isolated]

    def _guarded(self, apply: Callable[[list[Bar] | BarBatch], object],
                 bars: list[Bar] | BarBatch, what: str) -> None:
        try:
            apply(bars)
            return
        except Exception as exc:  # retried per symbol below
            if storage_failure(exc):
                raise
            log.warning("%s of %d bars raised; retrying symbol by symbol", what, len(bars))
        for bar in bars.bars() if isinstance(bars, BarBatch) else bars:
            if bar.symbol in self.isolated:
                continue
            try:
                apply([bar])
            except Exception as exc:
                if storage_failure(exc):
                    raise
                self._isolate(bar.symbol, what, exc)

    # --- decisions ---------------------------------------------------------------------------
    @property
    def minute_pending(self) -> bool:
        """A bar of a minute not closed yet has arrived (a replay clock closes it only then,
        as the live loop does: a minute in which nothing traded brings no decision)."""
        return self._pending_minute is not None and self._pending_minute > self._closed_minute

    def decides_after(self, minute_open_ms: int) -> bool:
        """Whether the minute opening at `minute_open_ms` ends on a decision boundary."""
        return self.decision_interval.is_bar_open(minute_open_ms + MINUTE_MS)

    def close_minute(self) -> DecisionStep | None:
        """Apply the pending minute's bars (fills, features) and run the decision step if
        the minute ends on a decision boundary; None when it does not."""
        minute = self._pending_minute if self._pending_minute is not None else -1
        if minute < 0 or self.decides_after(minute):
            return self.decide()
        self._apply_minute(minute)
        return None

    def _apply_minute(self, minute: int) -> None:
        """Apply the queued bars and flat-fill every minute up to `minute` (-1: none)."""
        if self._queued_bars:
            bars, self._queued_bars = self._queued_bars, []
            self._apply_bars(bars)
        if minute >= 0:
            # Every minute up to `minute` is now closed: a coin without a bar did not trade.
            self.book.advance_to(minute)
        self._closed_minute = max(self._closed_minute, minute)

    def _apply_minute_matrix(self, minute: int) -> np.ndarray:
        """`_apply_minute(minute)`, then the book's `matrix()`; a lone batch of symbols not
        isolated (a replay's minute) goes to the broker as there, then to the book, flat-filled
        and read in one compiled call (`FeatureBook.close_minute_matrix`) when it takes it."""
        batch = self._queued_bars[0] if len(self._queued_bars) == 1 else None
        if minute < 0 or not isinstance(batch, BarBatch) or not self._clear_of_isolated(batch):
            self._apply_minute(minute)
            return self.book.matrix()
        self._queued_bars = []
        if self.trader is not None:  # orders placed at the previous step meet the bars first
            self._guarded(self.trader.on_bars, batch, "fill")
        applied, features = False, None
        if self._clear_of_isolated(batch):  # (a fill may have isolated one of its symbols)
            try:
                applied, features = self.book.close_minute_matrix(batch, minute)
            except Exception as exc:  # nothing applied: the usual, guarded way below
                if storage_failure(exc):
                    raise
        if not applied:
            self._guarded(self.book.on_bars, self._not_isolated([batch]), "feature update")
        if features is None:
            self.book.advance_to(minute)
            features = self.book.matrix()
        self._closed_minute = max(self._closed_minute, minute)
        return features

    def _clear_of_isolated(self, batch: BarBatch) -> bool:
        """No symbol of `batch` is isolated."""
        return not self.isolated or self.isolated.keys().isdisjoint(batch.symbols)

    def decide(self) -> DecisionStep:
        """Rank the universe on what the engine knows now (pure, synchronous, fast), on
        or off a decision boundary (`close_minute` keeps to the boundaries)."""
        started = time.perf_counter()
        minute = self._pending_minute if self._pending_minute is not None else -1
        features = self._apply_minute_matrix(minute)
        forecast = (self.forecast.step(self.book, features, minute)
                    if self.forecast is not None and minute >= 0 else None)
        detector = self.trader.anomaly if self.trader is not None else None
        anomaly = (detector.ranking_scores(self.book, minute + MINUTE_MS)
                   if detector is not None and minute >= 0 else None)  # ADR-035
        ranking = tuple(rank(features, self.book.feature_names, self.symbols, self.strategy,
                             forecast=forecast, anomaly=anomaly))
        if self.trader is not None and minute >= 0:
            # Between decision steps: a policy may swap its model (rl hot swap) and learns
            # the row order of `features` (the book's symbols, a superset of the tradable).
            self.trader.policy.between_steps(self.symbols)
            self.trader.step(minute + MINUTE_MS, self.book, ranking, features)
        step = decision_step(self.steps, minute, ranking,
                             (time.perf_counter() - started) * 1000, time.time())
        self.steps += 1
        self.latest = step
        if step.index % 60 == 0:
            top = ", ".join(f"{c.symbol} {c.score:.2f}" for c in step.ranking[:3]) or "none yet"
            log.info("decision step %d (minute %d): top %s", step.index, minute // MINUTE_MS, top)
        return step

    async def run_decisions(self) -> None:
        """Close each minute as its bars arrive and decide on the decision boundaries,
        until cancelled."""
        while True:
            await self._minute_closed.wait()
            self._minute_closed.clear()
            try:  # not asyncio.wait_for: on 3.11 it can swallow a cancellation that lands
                # as the wait completes, and this loop would then outlive the daemon's shutdown
                async with asyncio.timeout(self.grace_s):
                    await self._minute_complete.wait()
            except TimeoutError:
                pass
            self._minute_complete.clear()
            try:
                await self._warm_anomaly_detector()
                await self._reload_forecast()
                self.close_minute()
            except Exception as exc:  # the next minute gets its own try
                if storage_failure(exc):
                    raise  # the daemon stops: nothing more can be recorded
                self.decision_errors += 1
                log.exception("decision step failed (%d so far); deciding again next minute",
                              self.decision_errors)

    async def _warm_anomaly_detector(self) -> None:
        """Fold the REST backfill into the anomaly detector in a worker thread, once, so the
        loop keeps serving while it runs (seconds for a month of tens of coins; ADR-036)."""
        detector = self.trader.anomaly if self.trader is not None else None
        if detector is None or self._pending_minute is None:
            return
        job = detector.warmup_job(self.symbols, self._pending_minute + MINUTE_MS)
        if job is not None:
            await asyncio.to_thread(job)

    async def _reload_forecast(self) -> None:
        """Swap in a retrained forecast bundle between two steps, never during one: a cheap
        stat decides; loading the bundle (seconds) runs in a worker thread (ADR-043)."""
        job = self.forecast.reload_job() if self.forecast is not None else None
        if job is not None:
            assert self.forecast is not None
            await asyncio.to_thread(job.run)
            self.forecast.apply(job)
