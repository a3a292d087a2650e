"""Pieces every feed shares: its health snapshot, consumer-error handling, a message-rate
meter and rate-limited reporters for malformed frames and invalid market data."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from exchange.feeds.sanity import FrameValidator
from model import errors
from model.market import MINUTE_MS, Bar, BarBatch, BarHistory, TickBatch, bars_of, history_after
from model.ratelimit import RateLimit

RATE_WINDOW_S = 2.0
MALFORMED_LOG_INTERVAL_S = 10.0
LOG_SAMPLE_CHARS = 120


class ConsumerError(errors.InternalError, RuntimeError):
    """A feed callback (on_tick, on_bar, ...) raised; `__cause__` is its exception. It is a
    bug in the consumer, so the feed stops instead of retrying."""


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """A snapshot of a feed's state, for status commands and alerts. Freshness (`stale`,
    `last_message_age_s`, `msgs_per_s`) counts market-data frames only."""

    connected: bool  # every connection is up and subscribed
    stale: bool  # no market data for more than stale_after_s
    msgs_per_s: float  # market-data frames per second, over the last few seconds
    messages: int  # market-data frames (ticker, trade, book, kline, ticker array)
    malformed: int  # frames skipped as malformed
    reconnects: int
    last_message_age_s: float  # since the last market-data frame; inf before the first
    bars: int  # bars delivered (backfill, gap fill and live)
    gaps_filled: int  # bars delivered from REST after the initial backfill
    dropped_rows: int = 0  # bad rows dropped from ticker arrays
    # Subscription replies, status answers and refusals: proof the connection is up, not
    # that the market is, so they never make a stalled feed fresh (ADR-042).
    control_messages: int = 0
    # Ticks, bars and rows dropped at the feed edge as impossible (exchange/feeds/sanity.py),
    # per reason; frames that brought only such data did not make the feed fresh.
    invalid: int = 0
    invalid_by_reason: tuple[tuple[str, int], ...] = ()


def wall_clock_ms() -> int:
    """Epoch milliseconds from the system clock."""
    return time.time_ns() // 1_000_000


def call_consumer(callback: Callable[[Any], None], item: Any) -> None:
    """Invoke a consumer callback; whatever it raises leaves as ConsumerError."""
    try:
        callback(item)
    except Exception as exc:
        name = getattr(callback, "__qualname__", repr(callback))
        raise ConsumerError(f"feed callback {name} raised {exc!r}") from exc


def first_leaf(group: BaseExceptionGroup) -> BaseException:
    """The exception to re-raise from a failed TaskGroup: a ConsumerError if any, else the
    first leaf. Callers of a feed expect plain exceptions, not groups."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        item = stack.pop(0)
        if isinstance(item, BaseExceptionGroup):
            stack.extend(item.exceptions)
        else:
            leaves.append(item)
    consumer = [leaf for leaf in leaves if isinstance(leaf, ConsumerError)]
    chosen = (consumer or leaves)[0]
    chosen.__suppress_context__ = True  # keep its __cause__, hide the group wrapper
    return chosen


def describe(exc: BaseException) -> str:
    """`Type: message`, bounded, for log lines."""
    return f"{type(exc).__name__}: {str(exc)[:200]}"


class RateMeter:
    """Messages per second over the last complete window (or the current one, early on)."""

    def __init__(self) -> None:
        self._start_s = time.monotonic()
        self._count = 0
        self._rate: float | None = None

    def add(self, now_s: float) -> None:
        elapsed = now_s - self._start_s
        if elapsed >= RATE_WINDOW_S:
            self._rate = self._count / elapsed
            self._start_s, self._count = now_s, 0
        self._count += 1

    def per_second(self, now_s: float) -> float:
        elapsed = now_s - self._start_s
        if self._rate is not None and elapsed < 2 * RATE_WINDOW_S:
            return self._rate
        return self._count / elapsed if elapsed > 0 else 0.0


class MalformedReporter:
    """Counts malformed frames; logs at most one line per interval, with a short escaped
    sample (frames can be huge or hostile, so never the whole thing)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self.count = 0
        self._lines = RateLimit(MALFORMED_LOG_INTERVAL_S)

    def report(self, reason: str, raw: str | bytes) -> None:
        self.count += 1
        passed = self._lines.admit()
        if passed is None:
            return
        self._log.warning(
            "skipped %d malformed frame(s) (%d in total); latest: %s; starts %r",
            passed.suppressed + 1, self.count, reason, raw[:LOG_SAMPLE_CHARS],
        )


class InvalidReporter:
    """Logs invalid market data (exchange/feeds/sanity.py) at most once per interval, with
    the latest reason and symbol: a hostile stream must not become one log line per frame."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._lines = RateLimit(MALFORMED_LOG_INTERVAL_S)

    def __call__(self, reason: str, symbol: str) -> None:
        passed = self._lines.admit()
        if passed is None:
            return
        self._log.warning("dropped %d invalid market-data item(s); latest: %s on %.40r",
                          passed.suppressed + 1, reason, symbol)


def edge_validator(logger: logging.Logger, backfill_minutes: int,
                   bounds: Any = None) -> FrameValidator:
    """A feed's validator: age bound from its backfill window, drops logged rate-limited."""
    return FrameValidator.for_backfill(backfill_minutes, bounds, InvalidReporter(logger))


def invalid_counts(validator: FrameValidator) -> tuple[tuple[str, int], ...]:
    """`FeedHealth.invalid_by_reason`: the validator's counts, sorted by reason."""
    return tuple(sorted(validator.invalid.items()))


def screen(validator: FrameValidator, batch: TickBatch | None, events: tuple[Any, ...],
           now_ms: int, dropped: int = 0) -> tuple[TickBatch | None, list[Any], bool]:
    """(valid batch rows, valid events, whether the frame carried any valid market data) of
    a dispatched frame; `dropped` counts rows the parser already refused. A frame with data
    but none valid is no market data: it must not make the feed fresh (ADR-042, extended to
    *valid* data: impossible values dropped at the edge do not count)."""
    carried = batch is not None or bool(events) or dropped > 0
    if batch is not None:
        batch = validator.admit_batch(batch, now_ms)
    kept = [e for e in events if (validator.admit_bar(e, now_ms) if isinstance(e, Bar)
                                  else validator.admit_tick(e, now_ms))]
    return batch, kept, (not carried) or batch is not None or bool(kept)


def select_rows(batch: TickBatch, keep: np.ndarray) -> TickBatch:
    """The rows of `batch` where `keep` is true."""
    index = np.flatnonzero(keep)
    return TickBatch(
        symbols=tuple(batch.symbols[i] for i in index),
        ts_event=batch.ts_event[index],
        ts_recv=batch.ts_recv,
        last=batch.last[index],
        bid=batch.bid[index],
        ask=batch.ask[index],
        bid_qty=batch.bid_qty[index],
        ask_qty=batch.ask_qty[index],
        base_volume=batch.base_volume[index],
        quote_volume=batch.quote_volume[index],
    )


class BarSequencer:
    """Delivers closed bars exactly once and in order per symbol, whatever path they came by
    (REST backfill, gap fill, websocket): duplicates and bars older than the last delivered
    one are dropped. Shared by the live and the replay feed so both deliver the same bars."""

    def __init__(self, on_bar: Callable[[Bar], None],
                 on_history: Callable[[BarHistory], None] | None,
                 validator: FrameValidator | None = None,
                 clock_ms: Callable[[], int] | None = None,
                 on_bar_batch: Callable[[BarBatch], None] | None = None) -> None:
        """With `validator` and `clock_ms`, REST histories lose their impossible rows first
        (live bars are judged by the feed before they get here: see `deliver_bar`).
        `on_bar_batch` takes a minute's bars at once (`deliver_batch`; a replay's)."""
        self._on_bar = on_bar
        self._on_bar_batch = on_bar_batch
        self._on_history = on_history
        self._validator = validator
        self._clock_ms = clock_ms
        self._last_bar_ms: dict[str, int] = {}
        # The newest batch's (symbols, open time) while `_last_bar_ms` does not show it yet:
        # a replay's batches repeat one symbol tuple minute after minute, so a batch that
        # continues the previous one with the very same tuple needs no per-symbol check
        # and no per-symbol write (`last_bar_ms` writes it when read).
        self._batch_run: tuple[tuple[str, ...], int] | None = None
        self.bars = 0
        self.gaps_filled = 0

    @property
    def last_bar_ms(self) -> dict[str, int]:
        """Each symbol's newest delivered bar's open time (read it, never write)."""
        if self._batch_run is not None:
            symbols, open_ms = self._batch_run
            self._batch_run = None
            self._last_bar_ms.update(dict.fromkeys(symbols, open_ms))
        return self._last_bar_ms

    def deliver(self, history: BarHistory, *, bulk: bool, gap_fill: bool = False) -> None:
        """Bars of `history` newer than the last delivered: in bulk through `on_history`
        (backfill) when the consumer has it, else one by one through `on_bar`."""
        history = history_after(history, self.last_bar_ms.get(history.symbol))
        if len(history) and self._validator is not None and self._clock_ms is not None:
            history = self._validator.admit_history(history, self._clock_ms())
        if not len(history):
            return
        if bulk and self._on_history is not None:
            self.last_bar_ms[history.symbol] = int(history.open_ms[-1])
            self.bars += len(history)
            call_consumer(self._on_history, history)
        else:
            for bar in bars_of(history):
                self.deliver_bar(bar)
        if gap_fill:
            self.gaps_filled += len(history)

    def deliver_bar(self, bar: Bar) -> None:
        """Deliver one bar the feed has already judged (its time decides `last_bar_ms`, so a
        bar from 2099 must never get here: every real bar after it would be dropped)."""
        self.last_bar_ms[bar.symbol] = bar.open_ms
        self.bars += 1
        call_consumer(self._on_bar, bar)

    def continues(self, batch: BarBatch) -> bool:
        """Whether every row of `batch` is its symbol's next minute (or its first bar): no
        duplicate to drop, no gap to fill, so `deliver_batch` does what `deliver_bar` row
        by row would."""
        previous = batch.open_ms - MINUTE_MS
        run = self._batch_run
        if run is not None and run[0] is batch.symbols and run[1] == previous:
            return True  # the previous batch's very symbols, each at the previous minute
        last = self.last_bar_ms.get
        return all(last(symbol, previous) == previous for symbol in batch.symbols)

    @property
    def takes_batches(self) -> bool:
        """Whether the consumer takes a minute's bars at once (`on_bar_batch` given)."""
        return self._on_bar_batch is not None

    def deliver_batch(self, batch: BarBatch) -> None:
        """`deliver_bar` for every row of a judged batch that `continues`, in one call of
        `on_bar_batch` (only when `takes_batches`)."""
        assert self._on_bar_batch is not None, "deliver_batch without an on_bar_batch"
        run = self._batch_run
        if run is not None and run[0] is not batch.symbols:
            self.last_bar_ms  # noqa: B018 - writes the previous run before this one
        self._batch_run = (batch.symbols, batch.open_ms)
        self.bars += len(batch)
        call_consumer(self._on_bar_batch, batch)
