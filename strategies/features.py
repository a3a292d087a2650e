"""Live multi-window features of a fixed symbol universe: O(1) per tick and per bar.

`FeatureBook` is what the engine feeds: closed 1m bars (`on_bar`, `load_history` for the
REST backfill), ticks (`on_tick`, `on_tick_batch`) and, at each decision step,
`advance_to(open_ms)` followed by `matrix()`. The vectorized twin for backtests and
training is `features_from_history` (strategies/features_batch.py); a parity test holds
the two to 1e-9.

Missing minutes mean "no trade" and become flat bars (close = previous close, volume 0), so
windows are wall-clock windows. A bar is only known to be missing once a later bar of the
same symbol arrives, or when the engine says the minute is over: `advance_to(open_ms)`
flat-fills every coin that has history up to and including minute `open_ms`. Call it before
`matrix()` at each decision step with the newest minute that has closed; bars for minutes
already filled are then ignored (a late bar cannot rewrite history the decision saw).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from model.market import MINUTE_MS, Bar, BarBatch, BarHistory, Tick, TickArrays, TickBatch
from strategies.book_minute_kernel import APPLIED_LAGGING, NOT_APPLIED, minute_matrix_kernel
from strategies.decision_kernel import assemble_minute_kernel
from strategies.feature_columns import (
    FEATURE_INDEX,
    FEATURE_NAMES,
    Primitives,
    sanitize_bars,
)
from strategies.features_batch import MinuteGrid, features_from_history
from strategies.policy import RecentBars
from strategies.recent_bars import rings_recent_bars
from strategies.rolling import EXACT_EVERY, BarRings
from strategies.rolling_kernel import any_lagging
from strategies.tick_kernel import last_prices, store_tick_arrays, store_ticks
from strategies.windows import (
    AVERAGE_WINDOWS,
    RETURN_CAPACITY,
    RETURN_WINDOWS,
    SQUARE_SLOTS_ARRAY,
    window_rows_array,
)

__all__ = [
    "FEATURE_INDEX",
    "FEATURE_NAMES",
    "FeatureBook",
    "MinuteGrid",
    "features_from_history",
]

_TICK_FIELDS = ("bid", "ask", "bid_qty", "ask_qty", "quote_volume")
#: The window lengths in 1m bars, as `assemble` divides by them.
_AVERAGE_WINDOWS = window_rows_array(AVERAGE_WINDOWS, MINUTE_MS)
_RETURN_WINDOWS = window_rows_array(RETURN_WINDOWS, MINUTE_MS)
#: Where the hour's and the day's quote volume sums sit among the average windows.
_HOUR, _DAY = AVERAGE_WINDOWS.index(60), AVERAGE_WINDOWS.index(1440)


class FeatureBook:
    """Rolling features of a fixed universe, one row per symbol (arrays [n_symbols, ...])."""

    feature_names: tuple[str, ...] = FEATURE_NAMES
    #: The book's bars are 1m (live klines); `recent_returns` has one return per bar.
    bar_ms: int = MINUTE_MS

    def __init__(self, symbols: Iterable[str]) -> None:
        self.symbols: tuple[str, ...] = tuple(symbols)
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("FeatureBook symbols must be unique")
        self._rows: dict[str, int] = {s: i for i, s in enumerate(self.symbols)}
        n = len(self.symbols)
        self._bars = BarRings(n)
        self._tick_last = np.full(n, np.nan)
        self._tick_ts = np.full(n, -1, dtype=np.int64)
        self._quote = {name: np.full(n, np.nan) for name in _TICK_FIELDS}
        self._batch_rows: dict[tuple[str, ...], np.ndarray] = {}
        # The last tuple asked for and its rows: the same object again needs no hash of it.
        self._last_symbols: tuple[str, ...] | None = None
        self._last_rows = np.empty(0, dtype=np.int64)
        # `close_minute_matrix`'s arguments after the minute's own: the book's arrays.
        self._minute_arguments: tuple[Any, ...] | None = None

    def row(self, symbol: str) -> int:
        """Row of `symbol` in `matrix()`; KeyError if it is not in the universe."""
        return self._rows[symbol]

    def warm_minutes(self, symbol: str) -> int:
        """Minutes of 1m history behind `symbol`'s features (0 before its first bar)."""
        return int(self._bars.n_seen[self._rows[symbol]])

    # -- bars -------------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> bool:
        """Apply a closed 1m bar; gaps since the symbol's previous bar become flat bars.

        Returns False (and changes nothing) for an unknown symbol, a bar without a positive
        close, or a bar for a minute already applied or flat-filled."""
        row = self._rows.get(bar.symbol)
        if row is None:
            return False
        quote_volume = bar.quote_volume
        if not math.isfinite(quote_volume):
            quote_volume = bar.volume * bar.close
        valid, high, low, qv = sanitize_bars(
            np.float64(bar.close), np.float64(bar.high), np.float64(bar.low),
            np.float64(quote_volume),
        )
        if not valid:
            return False
        minute = bar.open_ms // MINUTE_MS
        bars = self._bars
        previous = int(bars.minute[row])
        if bars.n_seen[row] > 0 and minute <= previous:
            return False
        if bars.n_seen[row] == 0 or minute == previous + 1:
            bars.append_one(row, minute, bar.close, float(high), float(low), float(qv))
            return True
        gap = minute - previous - 1
        prev_close = bars.close[row]
        closes = np.append(np.full(gap, prev_close), bar.close)
        bars.append_many(row, previous + 1, closes, np.append(np.full(gap, prev_close), high),
                         np.append(np.full(gap, prev_close), low),
                         np.append(np.zeros(gap), qv))
        return True

    def on_bars(self, bars: Iterable[Bar]) -> int:
        """`on_bar` for many bars (the minute's klines of the whole universe), vectorized
        across symbols; bars of one symbol must be in order. Returns how many applied.
        A BarBatch (a replay's minute) whose every row is its symbol's next minute (or
        first) goes to the rings straight from its columns."""
        if isinstance(bars, BarBatch) and (applied := self._on_bar_batch(bars)) >= 0:
            return applied
        wave: dict[int, tuple[int, float, float, float, float]] = {}
        applied = 0
        bars_state = self._bars
        for bar in bars:
            row = self._rows.get(bar.symbol)
            if row is None:
                continue
            if row in wave:
                self._flush(wave)
            minute = bar.open_ms // MINUTE_MS
            previous = int(bars_state.minute[row])
            seen = bars_state.n_seen[row] > 0
            if seen and minute != previous + 1:
                applied += self.on_bar(bar)  # stale bar, or a gap to flat-fill first
                continue
            quote_volume = bar.quote_volume
            if not math.isfinite(quote_volume):
                quote_volume = bar.volume * bar.close
            if not (math.isfinite(bar.close) and bar.close > 0):
                continue
            high = bar.high if bar.high >= bar.close else bar.close  # NaN high -> close
            low = bar.low if bar.low <= bar.close else bar.close
            qv = quote_volume if quote_volume > 0 else 0.0  # NaN/negative -> 0
            wave[row] = (minute, bar.close, high, low, qv)
            applied += 1
        self._flush(wave)
        return applied

    def _on_bar_batch(self, batch: BarBatch) -> int:
        """`on_bars` of a batch's rows from its columns, or -1 (nothing done) when a row is
        outside the universe, not its symbol's next minute, or without a positive close:
        `on_bars` then takes its Bars. The same values as the per-bar clamps, elementwise."""
        rows = self._rows_of(batch.symbols)
        if not self._bars.append_minute(rows, batch.open_ms // MINUTE_MS, batch.close,
                                        batch.high, batch.low, batch.volume,
                                        batch.quote_volume):
            return -1
        return len(rows)

    def _flush(self, wave: dict[int, tuple[int, float, float, float, float]]) -> None:
        if not wave:
            return
        rows = np.fromiter(wave, dtype=np.int64, count=len(wave))
        values = np.array(list(wave.values()))
        self._bars.append_rows(rows, values[:, 0].astype(np.int64), values[:, 1],
                               values[:, 2], values[:, 3], values[:, 4])
        wave.clear()

    def advance_to(self, open_ms: int) -> None:
        """Declare every minute up to the one opening at `open_ms` closed: coins with
        history but no bar for those minutes get flat bars (no trade)."""
        target = open_ms // MINUTE_MS
        bars = self._bars
        if not any_lagging(bars.n_seen, bars.minute, target):
            return  # the usual minute: every coin with history had its bar
        lagging = (bars.n_seen > 0) & (bars.minute < target)
        one_behind = np.flatnonzero(lagging & (bars.minute == target - 1))
        if one_behind.size:
            close = bars.close[one_behind]
            bars.append_rows(one_behind, np.full(one_behind.size, target, dtype=np.int64),
                             close, close, close, np.zeros(one_behind.size))
        for row in np.flatnonzero(lagging & (bars.minute < target - 1)).tolist():
            gap = target - int(bars.minute[row])
            flat = np.full(gap, bars.close[row])
            bars.append_many(row, int(bars.minute[row]) + 1, flat, flat, flat, np.zeros(gap))

    def load_history(self, history: BarHistory) -> None:
        """Bulk warm-up from closed 1m bars (REST backfill): same result as `on_bar` for
        each bar, computed vectorized. Bars at or before the symbol's newest minute are
        ignored."""
        row = self._rows.get(history.symbol)
        if row is None or len(history) == 0:
            return
        quote_volume = np.where(np.isfinite(history.quote_volume), history.quote_volume,
                                history.volume * history.close)
        valid, high, low, qv = sanitize_bars(history.close, history.high, history.low,
                                             quote_volume)
        minutes = history.open_ms // MINUTE_MS
        bars = self._bars
        if bars.n_seen[row] > 0:
            valid &= minutes > bars.minute[row]
        if not valid.any():
            return
        minutes, close = minutes[valid], history.close[valid]
        high, low, qv = high[valid], low[valid], qv[valid]
        start = int(bars.minute[row]) + 1 if bars.n_seen[row] > 0 else int(minutes[0])
        offsets = minutes - start
        length = int(offsets[-1]) + 1
        # Forward-fill closes over the grid: each minute takes the newest bar at or before it.
        newest = np.zeros(length, dtype=np.int64)
        newest[offsets] = np.arange(len(offsets))
        present = np.zeros(length, dtype=bool)
        present[offsets] = True
        newest = np.maximum.accumulate(np.where(present, newest, -1))
        prev_close = bars.close[row] if bars.n_seen[row] > 0 else close[0]
        grid_close = np.where(newest >= 0, close[np.maximum(newest, 0)], prev_close)
        grid_high, grid_low, grid_qv = grid_close.copy(), grid_close.copy(), np.zeros(length)
        grid_high[offsets], grid_low[offsets], grid_qv[offsets] = high, low, qv
        bars.append_many(row, start, grid_close, grid_high, grid_low, grid_qv)

    # -- ticks ------------------------------------------------------------------------------

    def on_tick(self, tick: Tick) -> None:
        """Update last/bid/ask/sizes/24h volume of one symbol; non-finite fields (a
        bookTicker has no last, a miniTicker no bid) leave the stored value unchanged."""
        row = self._rows.get(tick.symbol)
        if row is None:
            return
        if math.isfinite(tick.last):
            self._tick_last[row] = tick.last
            self._tick_ts[row] = tick.ts_event
        quote = self._quote
        for name, value in (("bid", tick.bid), ("ask", tick.ask), ("bid_qty", tick.bid_qty),
                            ("ask_qty", tick.ask_qty), ("quote_volume", tick.quote_volume)):
            if math.isfinite(value):
                quote[name][row] = value

    def on_tick_batch(self, batch: TickBatch) -> None:
        """`on_tick` for a column-wise batch (one `!ticker@arr` frame), in one compiled call
        (strategies/tick_kernel.py): the same stores as `on_tick` row by row."""
        quote = self._quote
        store_ticks(self._rows_of(batch.symbols), np.asarray(batch.ts_event), batch.last,
                    batch.bid, batch.ask, batch.bid_qty, batch.ask_qty, batch.quote_volume,
                    self._tick_last, self._tick_ts, quote["bid"], quote["ask"],
                    quote["bid_qty"], quote["ask_qty"], quote["quote_volume"])

    def on_tick_arrays(self, arrays: TickArrays) -> None:
        """`on_tick_batch` of each array of `arrays`, in order, in one compiled call."""
        quote = self._quote
        store_tick_arrays(self._rows_of(arrays.symbols), arrays.ts_event, arrays.table,
                          self._tick_last, self._tick_ts, quote["bid"], quote["ask"],
                          quote["bid_qty"], quote["ask_qty"], quote["quote_volume"])

    def _rows_of(self, symbols: tuple[str, ...]) -> np.ndarray:
        """Rows of a batch's symbols, -1 for one outside the universe (cached: a stream
        repeats the same symbol tuple)."""
        if symbols is self._last_symbols:  # a replay passes one tuple, twice a minute
            return self._last_rows
        rows = self._batch_rows.get(symbols)
        if rows is None:
            rows = np.array([self._rows.get(s, -1) for s in symbols], dtype=np.int64)
            if len(self._batch_rows) >= 64:
                self._batch_rows.clear()
            self._batch_rows[symbols] = rows
        self._last_symbols, self._last_rows = symbols, rows
        return rows

    # -- decision step ----------------------------------------------------------------------

    def primitives(self) -> Primitives:
        """The window statistics behind `matrix()` (views: read, never keep)."""
        bars, quote = self._bars, self._quote
        return Primitives(
            n_seen=bars.n_seen.astype(np.float64), close=bars.close, last=self._last(),
            sum_close=bars.sum_close, sum_qv=bars.sum_qv, sum_ret=bars.sum_ret,
            sum_ret2=bars.sum_ret2, high=bars.high, low=bars.low, bid=quote["bid"],
            ask=quote["ask"], bid_qty=quote["bid_qty"], ask_qty=quote["ask_qty"],
            tick_quote_volume=quote["quote_volume"],
        )

    def recent_returns(self, minutes: int) -> np.ndarray:
        """Simple 1m returns of every symbol over the last `minutes` minutes, oldest first,
        [minutes, n_symbols], aligned on the newest minute any symbol has; NaN where a symbol
        has no data (the input of portfolio VaR/ES)."""
        bars = self._bars
        minutes = min(minutes, RETURN_CAPACITY)
        end = int(bars.minute.max()) if bars.minute.size else -1
        wanted = end - np.arange(minutes - 1, -1, -1, dtype=np.int64)  # oldest first
        if (bars.n_seen.size and bars.n_seen.min() > 0 and bars.minute.min() == end
                and int(wanted[0]) > bars.first_minute.max()):
            # Every symbol has every wanted minute (the usual case once warm): no mask.
            return np.ascontiguousarray(bars.ring_simple[:, wanted % RETURN_CAPACITY].T)
        known = (wanted[:, None] > bars.first_minute[None, :]) & (
            wanted[:, None] <= bars.minute[None, :]) & (bars.n_seen[None, :] > 0)
        simple_returns = bars.ring_simple[:, wanted % RETURN_CAPACITY].T
        return np.where(known, simple_returns, np.nan)

    def recent_bars(self, bar_ms: int, count: int, end_ms: int) -> RecentBars:
        """`strategies.policy.BarSource`: the last `count` bars of `bar_ms` closing at or
        before `end_ms`, aggregated from the 1m rings (strategies/recent_bars.py)."""
        return rings_recent_bars(self._bars, self.symbols, bar_ms, count, end_ms)

    def matrix(self) -> np.ndarray:
        """Features [n_symbols, len(feature_names)] (float64, a fresh array); rows of
        symbols without any data are NaN. `assemble(self.primitives())`, bit for bit, in
        one compiled pass over the rows (strategies/decision_kernel.py): the array form
        was ~100 numpy calls a step whatever the number of coins."""
        bars, quote = self._bars, self._quote
        features, _ = assemble_minute_kernel(
            bars.n_seen, bars.close, bars.minute, self._tick_ts, self._tick_last,
            bars.sum_close, bars.sum_qv, bars.sum_ret, bars.sum_ret2, bars.high, bars.low,
            quote["bid"], quote["ask"], quote["bid_qty"], quote["ask_qty"],
            quote["quote_volume"], _AVERAGE_WINDOWS, _RETURN_WINDOWS, SQUARE_SLOTS_ARRAY,
            _HOUR, _DAY, MINUTE_MS,
            len(FEATURE_NAMES))
        return features

    def close_minute_matrix(self, batch: BarBatch,
                            open_ms: int) -> tuple[bool, np.ndarray | None]:
        """`on_bars(batch)`, `advance_to(open_ms)`, `matrix()` (a decision step's minute), in
        one compiled call (strategies/book_minute_kernel.py) when the batch goes to the
        rings from its columns (see `_on_bar_batch`): (True, the matrix); (True, None)
        when a coin with history had no bar up to `open_ms` (the caller flat-fills with
        `advance_to` and reads `matrix()`); (False, None), nothing done, otherwise (the
        caller takes `on_bars`). The same arrays and matrix as those calls, bit for bit."""
        book = self._minute_arguments
        if book is None:  # the same arrays every minute (none is ever replaced)
            quote = self._quote
            book = self._minute_arguments = (
                *self._bars._ring_state(), EXACT_EVERY, self._tick_ts, self._tick_last,
                quote["bid"], quote["ask"], quote["bid_qty"], quote["ask_qty"],
                quote["quote_volume"], _AVERAGE_WINDOWS, _RETURN_WINDOWS, _HOUR, _DAY,
                MINUTE_MS, len(FEATURE_NAMES))
        outcome, features = minute_matrix_kernel(
            self._rows_of(batch.symbols), batch.open_ms // MINUTE_MS, batch.close, batch.high,
            batch.low, batch.volume, batch.quote_volume, open_ms // MINUTE_MS, *book)
        if outcome == NOT_APPLIED:
            return False, None
        return True, None if outcome == APPLIED_LAGGING else features

    def quote_columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(last, bid, ask) of every symbol: `primitives()`'s three columns, the same
        values, without the window statistics (the decision view's quotes need only these;
        read, never keep)."""
        return self._last(), self._quote["bid"], self._quote["ask"]

    def _last(self) -> np.ndarray:
        """Each symbol's last price: the newest tick when it is newer than the last bar's
        close (or there is no bar yet), else that close. One compiled call
        (strategies/tick_kernel.last_prices), held bit for bit by tests/unit/test_tick_kernel.py
        to the array form it replaced (six numpy calls, ~8 us a decision step)."""
        bars = self._bars
        return last_prices(bars.n_seen, bars.minute, bars.close, self._tick_ts,
                           self._tick_last, MINUTE_MS)
