"""Market-data sanity at the feed edge: a price, size or time no market can have never
reaches a consumer. Pure: no I/O, no clock (the caller passes `now_ms`).

The parsers already refuse what cannot be read (bad JSON, wrong types, NaN, negative, a
kline whose high/low do not bracket it). This is the second gate, on values that parse but
cannot be true, each of which once stopped or froze the daemon:

- a price that is zero, above `MAX_PRICE` or outside the instrument's own minPrice/maxPrice
  (1e308 parses; 0 x 1e308 in the fill kernel is NaN);
- a size or volume above `MAX_AMOUNT` (finite, but a product with a price overflows);
- a time more than `max_future_ms` after the exchange clock (a bar stamped 2099 would become
  the feed's "last bar" and every real bar after it a duplicate: decisions stop for good), or
  a bar from before the backfill window (`max_age_ms`; its gap fill would page REST for
  decades). Ticks have no age bound: an old one freezes nothing.

The value limits, the instruments' `PriceBounds` and the reason names are in
sanity_rules.py; this module applies them to whole events with the exchange clock.

The exchange clock is the later of the caller's `now_ms` (the feed's clock: the simulator's,
or the wall clock against a real exchange) and the newest exchange time the validator has
accepted or been told (`observe_time`: server time fetched with a backfill). So a fast
simulator read with a wall clock is not mistaken for the future; the price is that a hostile
stream could walk the clock forward `max_future_ms` per accepted event, which no exchange
does and no single frame can. The age bound counts back from the newest exchange time only.

Frames are not rejected whole: each tick, bar, ticker row or history row is judged alone and
the invalid ones dropped, counted per reason (`FrameValidator.invalid`). A feed that only
brings invalid data has brought no market data (ADR-042): it goes stale like a silent one.
A price that is possible but far from the recent market (a bad print) is not this module's
business: see strategies/bad_prints.py, which sits in the engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from exchange.feeds.sanity_kernel import (
    TS_LIMIT_MAX,
    bar_rows_pass,
    ticker_arrays_admit,
    ticker_arrays_pass,
    ticker_rows_pass,
)
from exchange.feeds.sanity_rules import (
    AMOUNT_RANGE,
    CROSSED,
    FUTURE,
    MAX_AMOUNT,
    MAX_PRICE,
    OHLC,
    TOO_OLD,
    PriceBounds,
    amount_problem,
    price_problem,
)
from model.market import MINUTE_MS, Bar, BarBatch, BarHistory, Tick, TickArrays, TickBatch

#: How far ahead of the exchange clock an event may be stamped (clock skew, batching).
MAX_FUTURE_MS = 2 * MINUTE_MS
#: How far behind the backfill window an event may be stamped (a gap fill after an outage).
AGE_SLACK_MS = 1440 * MINUTE_MS
#: Symbol tuples whose price bounds a validator keeps as columns (a live array's vary).
_BOUND_CACHE_SIZE = 64
#: A clock and a `max_future_ms` within this size have their ticker-array limits made in
#: int64 by the kernel (sanity_kernel.ticker_arrays_admit); beyond it, in Python ints.
_LIMIT_SPAN = 2**62


class FrameValidator:
    """Judges ticks, bars, ticker rows and history rows against the exchange clock and the
    instruments' price rules; drops and counts what cannot be true.

    `on_invalid(reason, symbol)` hears every drop (a feed logs it rate-limited); `invalid`
    holds the counts per reason. `max_age_ms` bounds how old an event may be (the feed's
    backfill window plus a day); None disables the bound."""

    def __init__(self, bounds: Mapping[str, PriceBounds] | None = None, *,
                 max_future_ms: int = MAX_FUTURE_MS, max_age_ms: int | None = None,
                 on_invalid: Callable[[str, str], None] | None = None) -> None:
        self.bounds: Mapping[str, PriceBounds] = dict(bounds or {})
        self.max_future_ms = max_future_ms
        self.max_age_ms = max_age_ms
        self.on_invalid = on_invalid
        self.invalid: dict[str, int] = {}
        self.newest_ms = 0  # newest exchange time accepted or observed
        self._bound_cache: dict[tuple[str, ...] | int, tuple[np.ndarray, np.ndarray]] = {}
        self._cached_bounds: Mapping[str, PriceBounds] | None = None

    @classmethod
    def for_backfill(cls, backfill_minutes: int, bounds: Mapping[str, PriceBounds] | None = None,
                     on_invalid: Callable[[str, str], None] | None = None) -> FrameValidator:
        """A validator whose age bound is a feed's backfill window plus `AGE_SLACK_MS`."""
        return cls(bounds, max_age_ms=backfill_minutes * MINUTE_MS + AGE_SLACK_MS,
                   on_invalid=on_invalid)

    @property
    def total(self) -> int:
        """Items dropped so far, all reasons together."""
        return sum(self.invalid.values())

    # -- judging (pure) ----------------------------------------------------------------------

    def observe_time(self, ts_ms: int) -> None:
        """The exchange said its time is `ts_ms` (e.g. /api/v3/time before a backfill)."""
        self.newest_ms = max(self.newest_ms, ts_ms)

    def time_problem(self, ts_ms: int, now_ms: int, *, bar: bool = False) -> str | None:
        """Why an event stamped `ts_ms` cannot have happened by now (see the module doc);
        `bar` adds the age bound."""
        if ts_ms > max(now_ms, self.newest_ms) + self.max_future_ms:
            return FUTURE
        if bar and self._too_old(ts_ms):
            return TOO_OLD
        return None

    def _too_old(self, ts_ms: int) -> bool:
        """Older than the window behind the newest *exchange* time (not our clock: a test or
        a replay may run years behind it); no bound before the exchange has said a time."""
        return (self.max_age_ms is not None and self.newest_ms > 0
                and ts_ms < self.newest_ms - self.max_age_ms)

    def bar_problem(self, bar: Bar, now_ms: int) -> str | None:
        """Why `bar` is impossible, or None. The bar must have closed by about now."""
        bounds = self.bounds.get(bar.symbol)
        low, high, quote = bar.low, bar.high, bar.quote_volume
        # Every live and replayed bar: the checks below in one expression (prices bracketed
        # by low > 0 and high <= the caps are all in range; NaN fails every comparison).
        if (0.0 < low <= bar.open <= high and low <= bar.close <= high and high <= MAX_PRICE
                and 0.0 <= bar.volume <= MAX_AMOUNT
                and (0.0 <= quote <= MAX_AMOUNT or math.isnan(quote))
                and (bounds is None or not (
                    (bounds.min_price > 0 and low < bounds.min_price)
                    or (bounds.max_price > 0 and high > bounds.max_price)))):
            return self.time_problem(bar.close_ms, now_ms, bar=True)
        return self._bar_problem_one_by_one(bar, bounds, now_ms)

    def _bar_problem_one_by_one(self, bar: Bar, bounds: PriceBounds | None,
                                now_ms: int) -> str | None:
        """`bar_problem` check by check, in the order that names the first reason."""
        for price in (bar.open, bar.high, bar.low, bar.close):
            problem = price_problem(price, bounds)
            if problem is not None:
                return problem
        if not bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high:
            return OHLC
        if not 0.0 <= bar.volume <= MAX_AMOUNT:  # NaN fails too: a bar always has a volume
            return AMOUNT_RANGE
        problem = amount_problem(bar.quote_volume)
        if problem is not None:
            return problem
        return self.time_problem(bar.close_ms, now_ms, bar=True)

    def tick_problem(self, tick: Tick, now_ms: int) -> str | None:
        """Why `tick` is impossible, or None. `last` and volumes may be NaN (a bookTicker
        carries neither); bid and ask must be there."""
        bounds = self.bounds.get(tick.symbol)
        for price in (tick.bid, tick.ask):
            problem = price_problem(price, bounds)
            if problem is not None:
                return problem
        if not math.isnan(tick.last):
            problem = price_problem(tick.last, bounds)
            if problem is not None:
                return problem
        if tick.bid > tick.ask:
            return CROSSED
        for amount in (tick.bid_qty, tick.ask_qty, tick.base_volume, tick.quote_volume):
            problem = amount_problem(amount)
            if problem is not None:
                return problem
        return self.time_problem(tick.ts_event, now_ms)

    # -- admitting (judge, count, report) ----------------------------------------------------

    def admit_bar(self, bar: Bar, now_ms: int) -> bool:
        """True when `bar` may go on; otherwise it is counted and reported."""
        problem = self.bar_problem(bar, now_ms)
        if problem is None:  # `_verdict`'s accepting branch, inline: every bar comes here
            self.newest_ms = max(self.newest_ms, bar.close_ms)
            return True
        return self._verdict(problem, bar.symbol, bar.close_ms)

    def admit_bar_batch(self, batch: BarBatch, now_ms: int) -> bool:
        """True, and every row admitted, when every row of a minute's bars passes, in one
        compiled call; False, changing nothing, when any row might not: the caller then
        judges the rows one by one with `admit_bar`, which counts and reports."""
        if not len(batch):
            return True
        lo, hi = self.bound_columns(batch.symbols)
        close_ms = batch.close_ms
        # Rows share one close time: after the first row is admitted, the others' time
        # checks see the same limits (newest_ms only grows to close_ms), so one check does.
        if self.time_problem(close_ms, now_ms, bar=True) is not None or not bar_rows_pass(
                batch.open, batch.high, batch.low, batch.close, batch.volume,
                batch.quote_volume, lo, hi, MAX_AMOUNT):
            return False
        self.newest_ms = max(self.newest_ms, close_ms)
        return True

    def admit_tick(self, tick: Tick, now_ms: int) -> bool:
        """True when `tick` may go on; otherwise it is counted and reported."""
        return self._verdict(self.tick_problem(tick, now_ms), tick.symbol, tick.ts_event)

    def admit_values(self, symbol: str, ts_ms: int, now_ms: int, *,
                     prices: tuple[float, ...] = (), amounts: tuple[float, ...] = ()) -> bool:
        """An exchange event that is neither a Tick nor a Bar yet (an Upbit trade, ticker or
        book message): its prices, sizes and time, judged like a tick's."""
        bounds = self.bounds.get(symbol)
        problem = next((p for p in (price_problem(x, bounds) for x in prices)
                        if p is not None), None)
        if problem is None:
            problem = next((p for p in map(amount_problem, amounts) if p is not None), None)
        if problem is None:
            problem = self.time_problem(ts_ms, now_ms)
        return self._verdict(problem, symbol, ts_ms)

    def admit_batch(self, batch: TickBatch, now_ms: int) -> TickBatch | None:
        """The valid rows of a ticker array (the same batch when all are), None when none.
        The common all-valid frame costs one compiled call (exchange/feeds/sanity_kernel.py);
        a frame with a bad row is judged again with numpy, then row by row to say why."""
        n = len(batch)
        if n == 0:
            return None
        lo, hi = self.bound_columns(batch.symbols)
        # newest_ms starts at 0, so the limit is at least max_future_ms: only its top is
        # clamped to int64 (a larger limit admits every int64 time, as the clamped one does).
        limit = max(now_ms, self.newest_ms) + self.max_future_ms
        ts = np.asarray(batch.ts_event)
        passed, newest = ticker_rows_pass(
            batch.bid, batch.ask, batch.last, batch.bid_qty, batch.ask_qty, batch.base_volume,
            batch.quote_volume, ts, lo, hi, min(limit, TS_LIMIT_MAX), MAX_AMOUNT)
        if passed:  # `observe_time`, inline: every array of a replay comes here
            self.newest_ms = max(self.newest_ms, int(newest))
            return batch
        good = _valid_rows(batch, ts, lo, hi, limit)
        for i in np.flatnonzero(~good).tolist():  # rare: say why, row by row
            self.admit_tick(batch.row(i), now_ms)
        if not good.any():
            return None
        self.observe_time(int(ts[good].max()))
        return batch.select(good)

    def admit_arrays(self, arrays: TickArrays) -> bool:
        """True, and every array admitted, when `admit_batch` would pass each array of
        `arrays` whole, one after the other, each judged at its own time (a replay's clock
        at a ticker array is its event time); in one compiled call. False, changing
        nothing, when any row might not pass: the caller then admits the arrays one by one
        (`admit_batch`), which drops, counts and reports."""
        if not arrays.symbols:
            return False
        lo, hi = self.bound_columns(arrays.symbols)
        newest, future = self.newest_ms, self.max_future_ms
        if 0 <= newest <= _LIMIT_SPAN and -_LIMIT_SPAN <= future <= _LIMIT_SPAN:
            # The limits below, made in the kernel's int64 (exact in this range).
            passed, latest = ticker_arrays_admit(arrays.table, arrays.ts_event, newest,
                                                 future, lo, hi, MAX_AMOUNT)
        else:
            limits = []
            for ts in arrays.ts_event.tolist():  # `admit_batch`'s limit, array after array
                limits.append(min(max(ts, newest) + future, TS_LIMIT_MAX))
                newest = max(newest, ts)
            passed, latest = ticker_arrays_pass(arrays.table, arrays.ts_event,
                                                np.array(limits, dtype=np.int64), lo, hi,
                                                MAX_AMOUNT)
        if passed:
            self.newest_ms = max(self.newest_ms, int(latest))
        return bool(passed)

    def admit_history(self, history: BarHistory, now_ms: int) -> BarHistory:
        """The valid rows of a REST history (the same object when all are)."""
        n = len(history)
        if n == 0:
            return history
        bounds = self.bounds.get(history.symbol) or PriceBounds()
        lo = bounds.min_price if bounds.min_price > 0 else 0.0
        hi = min(MAX_PRICE, bounds.max_price) if bounds.max_price > 0 else MAX_PRICE
        good = np.ones(n, dtype=bool)
        for prices in (history.open, history.high, history.low, history.close):
            good &= (prices > 0.0) & (prices <= hi) & (prices >= lo)
        good &= (history.low <= np.minimum(history.open, history.close))
        good &= (np.maximum(history.open, history.close) <= history.high)
        good &= (history.volume >= 0.0) & (history.volume <= MAX_AMOUNT)
        good &= np.isnan(history.quote_volume) | (
            (history.quote_volume >= 0.0) & (history.quote_volume <= MAX_AMOUNT))
        close_ms = history.open_ms + (MINUTE_MS - 1)
        good &= close_ms <= max(now_ms, self.newest_ms) + self.max_future_ms
        if self.max_age_ms is not None and self.newest_ms > 0:
            good &= close_ms >= self.newest_ms - self.max_age_ms
        if good.all():
            self.observe_time(int(close_ms[-1]))
            return history
        for i in np.flatnonzero(~good).tolist():
            self.admit_bar(_bar_at(history, i), now_ms)
        keep = np.flatnonzero(good)
        if keep.size:
            self.observe_time(int(close_ms[keep].max()))
        return BarHistory(history.symbol, history.open_ms[keep], history.open[keep],
                          history.high[keep], history.low[keep], history.close[keep],
                          history.volume[keep], history.quote_volume[keep])

    def _verdict(self, problem: str | None, symbol: str, ts_ms: int) -> bool:
        if problem is None:
            self.observe_time(ts_ms)
            return True
        self.invalid[problem] = self.invalid.get(problem, 0) + 1
        if self.on_invalid is not None:
            self.on_invalid(problem, symbol)
        return False

    def bound_columns(self, symbols: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Per-row (min, max) price of a batch's symbols, cached (read them, never write):
        a replay repeats one symbol tuple every frame. Cached per `bounds` object; a live
        array's symbols vary, so the cache is emptied when it grows large."""
        if self._cached_bounds is not self.bounds:
            self._bound_cache.clear()
            self._cached_bounds = self.bounds
        key: tuple[str, ...] | int = symbols if self.bounds else len(symbols)
        columns = self._bound_cache.get(key)
        if columns is not None:
            return columns
        lo = np.zeros(len(symbols))
        hi = np.full(len(symbols), MAX_PRICE)
        for i, symbol in enumerate(symbols if self.bounds else ()):
            bounds = self.bounds.get(symbol)
            if bounds is not None:
                lo[i] = bounds.min_price
                if bounds.max_price > 0:
                    hi[i] = min(MAX_PRICE, bounds.max_price)
        if len(self._bound_cache) >= _BOUND_CACHE_SIZE:
            self._bound_cache.clear()
        self._bound_cache[key] = columns = (lo, hi)
        return columns


def _valid_rows(batch: TickBatch, ts: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                limit: int) -> np.ndarray:
    """Which rows of a ticker array pass the tick checks (`ticker_rows_pass`, as arrays):
    bid and ask stacked; `last` and the amounts as "no bound broken", which NaN passes
    (every comparison with NaN is False) exactly as `isnan(x) | in range` does."""
    prices = np.stack((batch.bid, batch.ask))
    good = ((prices > 0.0) & (prices <= hi) & (prices >= lo)).all(axis=0)
    last = batch.last
    good &= ~((last <= 0.0) | (last > hi) | (last < lo))
    good &= batch.bid <= batch.ask
    amounts = np.stack((batch.bid_qty, batch.ask_qty, batch.base_volume, batch.quote_volume))
    good &= ~((amounts < 0.0) | (amounts > MAX_AMOUNT)).any(axis=0)
    good &= ts <= limit
    return good


def _bar_at(history: BarHistory, i: int) -> Bar:
    return Bar(history.symbol, int(history.open_ms[i]), float(history.open[i]),
               float(history.high[i]), float(history.low[i]), float(history.close[i]),
               float(history.volume[i]), float(history.quote_volume[i]))
