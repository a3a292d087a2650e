"""Per-symbol ring buffers of 1m bars with O(1) rolling sums and block-maxima range lines.

Why this shape: the decision step must read every window of every symbol in microseconds,
so all window statistics are brought up to date when a bar arrives (bars arrive 1/min per
symbol; decisions can be more frequent) and `matrix()` only reads arrays.

Rings are indexed by the absolute minute (`open_ms // MINUTE_MS`) modulo their length, and
every minute of a symbol is appended (a missing minute is a flat bar), so the value that
leaves a window of length w is simply the slot `(m - w) % capacity`, read before the write.
Slots never written hold the neutral element (0 for sums, -inf/+inf for highs/lows), which
makes windows that reach back before a symbol's first bar cover only the data it has.

Float drift of running sums is bounded two ways: counts of non-zero values are kept as exact
integers (a window with no volume or no price change sums to exactly 0, not 1e-19), and each
row is recomputed exactly (pairwise `np.sum`) every `EXACT_EVERY` appends, staggered by row
so 500 symbols never recompute in the same minute.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from model import libm
from model.lazy_zeros import lazy_zeros
from strategies.decimal_ring import DecimalRing
from strategies.exact_sums_kernel import recompute_sums_kernel
from strategies.feature_columns import feature_volume
from strategies.rolling_kernel import (
    append_minute_kernel,
    append_rows_kernel,
    query_flagged_ranges_kernel,
    query_ranges_kernel,
)
from strategies.windows import (
    AVERAGE_WINDOWS,
    AVERAGE_WINDOWS_ARRAY,
    PRICE_CAPACITY,
    RANGE_BLOCK,
    RANGE_CAPACITY,
    RANGE_WINDOWS,
    RANGE_WINDOWS_ARRAY,
    RETURN_CAPACITY,
    RETURN_WINDOWS,
    RETURN_WINDOWS_ARRAY,
    SQUARE_SLOTS_ARRAY,
)

EXACT_EVERY = 64
N_BLOCKS = RANGE_CAPACITY // RANGE_BLOCK + 2


class BarRings:
    """Rolling window state of `n_symbols` rows; row i's minutes must be appended in order."""

    def __init__(self, n_symbols: int) -> None:
        n = n_symbols
        self.minute = np.full(n, -1, dtype=np.int64)  # absolute minute of the last append
        self.first_minute = np.full(n, -1, dtype=np.int64)
        self.n_seen = np.zeros(n, dtype=np.int64)
        self.close = np.full(n, np.nan)
        # Lazily paged (model/lazy_zeros.py): a month-long ring costs memory once written.
        # Closes are decimal strings: int32 counts while lossless (strategies/decimal_ring.py).
        self.ring_close = DecimalRing(n, PRICE_CAPACITY)
        # Quote volumes at the features' float32 precision (feature_columns.feature_volume):
        # 4 bytes a minute hold them exactly.
        self.ring_qv = lazy_zeros((n, PRICE_CAPACITY), np.float32)
        self.ring_ret = lazy_zeros((n, RETURN_CAPACITY))
        # expm1 of ring_ret, written with it: a decision step reads a day of simple returns
        # (portfolio VaR/ES) and would otherwise convert all n x 1440 of them every minute.
        self.ring_simple = lazy_zeros((n, RETURN_CAPACITY))
        # Highs and lows as the closes; a slot never written reads -inf / +inf.
        self.ring_high = DecimalRing(n, RANGE_CAPACITY, fill=-np.inf)
        self.ring_low = DecimalRing(n, RANGE_CAPACITY, fill=np.inf)
        self.block_high = np.full((n, N_BLOCKS), -np.inf)
        self.block_low = np.full((n, N_BLOCKS), np.inf)
        self.sum_close = np.zeros((n, len(AVERAGE_WINDOWS)))
        self.sum_qv = np.zeros((n, len(AVERAGE_WINDOWS)))
        self.nonzero_qv = np.zeros((n, len(AVERAGE_WINDOWS)), dtype=np.int64)
        self.sum_ret = np.zeros((n, len(RETURN_WINDOWS)))
        self.sum_ret2 = np.zeros((n, len(SQUARE_SLOTS_ARRAY)))
        self.nonzero_ret = np.zeros((n, len(RETURN_WINDOWS)), dtype=np.int64)
        self.high = np.full((n, len(RANGE_WINDOWS)), np.nan)
        self.low = np.full((n, len(RANGE_WINDOWS)), np.nan)

    # -- appends --------------------------------------------------------------------------

    def append_one(self, row: int, minute: int, close: float, high: float, low: float,
                   quote_volume: float) -> None:
        """Append one minute to one row (see `append_rows`)."""
        self.append_rows(np.array([row]), np.array([minute]), np.array([close]),
                         np.array([high]), np.array([low]), np.array([quote_volume]))

    def append_rows(self, rows: np.ndarray, minute: np.ndarray, close: np.ndarray,
                    high: np.ndarray, low: np.ndarray, quote_volume: np.ndarray) -> None:
        """Append one minute to each of `rows` (distinct; for each, the minute after its
        last one, or its first): O(1) per row, in one compiled pass over the rows
        (strategies/rolling_kernel.py, bit for bit the array form it replaced)."""
        rows = np.asarray(rows, dtype=np.int64)
        requery = append_rows_kernel(
            rows, np.asarray(minute, dtype=np.int64), np.asarray(close, dtype=np.float64),
            np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64),
            np.asarray(quote_volume, dtype=np.float64),
            *self._ring_state(),
        )
        query_flagged_ranges_kernel(rows, requery, self.minute, self.ring_high.parts,
                                    self.ring_low.parts, self.block_high, self.block_low,
                                    self.high, self.low, RANGE_WINDOWS_ARRAY, RANGE_BLOCK)
        for row in rows[(self.n_seen[rows] + rows) % EXACT_EVERY == 0].tolist():
            self.recompute_sums(row)

    def _ring_state(self) -> tuple[Any, ...]:
        """The per-row state and the window tables both append kernels take, in their
        argument order (strategies/rolling_kernel.py)."""
        return (self.minute, self.first_minute, self.n_seen, self.close,
                self.ring_close.parts, self.ring_qv, self.ring_ret, self.ring_simple,
                self.ring_high.parts, self.ring_low.parts, self.block_high, self.block_low,
                self.sum_close, self.sum_qv, self.nonzero_qv, self.sum_ret, self.sum_ret2,
                self.nonzero_ret, self.high, self.low, AVERAGE_WINDOWS_ARRAY,
                RETURN_WINDOWS_ARRAY, SQUARE_SLOTS_ARRAY, RANGE_WINDOWS_ARRAY, RANGE_BLOCK)

    def append_minute(self, rows: np.ndarray, minute: int, close: np.ndarray,
                      high: np.ndarray, low: np.ndarray, volume: np.ndarray,
                      quote_volume: np.ndarray) -> bool:
        """A minute's bars (one per row, float64 columns) as `FeatureBook.on_bars` applies
        them, when every row is in the universe (>= 0), at its next minute (or its first)
        and has a finite positive close: clamped as there, then `append_rows`, in one
        compiled call (strategies/rolling_kernel.py). False, changing nothing, otherwise."""
        arguments = (rows, minute, close, high, low, volume, quote_volume,
                     *self._ring_state(), EXACT_EVERY)
        ok, due = append_minute_kernel(*arguments)
        if not ok:
            return False
        for row in due.tolist():
            self.recompute_sums(row)
        return True

    def append_many(self, row: int, first_minute: int, close: np.ndarray, high: np.ndarray,
                    low: np.ndarray, quote_volume: np.ndarray) -> None:
        """Append consecutive minutes starting at `first_minute` in bulk, then recompute the
        row exactly; equivalent to `append_one` per minute (up to float rounding)."""
        k = int(close.shape[0])
        if k == 0:
            return
        minutes = first_minute + np.arange(k, dtype=np.int64)
        prev = np.empty(k)
        prev[1:] = close[:-1]
        prev[0] = close[0] if self.n_seen[row] == 0 else self.close[row]
        ret = libm.log(close / prev)
        if self.n_seen[row] == 0:
            self.first_minute[row] = first_minute
            ret[0] = 0.0
        for ring, values, cap in (
            (self.ring_close, close, PRICE_CAPACITY),
            (self.ring_qv, feature_volume(quote_volume), PRICE_CAPACITY),
            (self.ring_ret, ret, RETURN_CAPACITY),
            (self.ring_simple, libm.expm1(ret), RETURN_CAPACITY),
            (self.ring_high, high, RANGE_CAPACITY),
            (self.ring_low, low, RANGE_CAPACITY),
        ):
            tail = min(k, cap)
            ring[row, minutes[-tail:] % cap] = values[-tail:]
        self.minute[row] = minutes[-1]
        self.n_seen[row] += k
        self.close[row] = close[-1]
        self._rebuild_blocks(row)
        self._query_ranges(np.array([row]))
        self.recompute_sums(row)

    # -- exact recomputation ------------------------------------------------------------

    def recompute_sums(self, row: int) -> None:
        """Recompute every rolling sum of `row` from its rings (numpy's pairwise summation,
        compiled: strategies/exact_sums_kernel.py)."""
        recompute_sums_kernel(
            row, self.minute, self.n_seen, self.ring_close.parts, self.ring_qv, self.ring_ret,
            self.sum_close, self.sum_qv, self.nonzero_qv, self.sum_ret, self.sum_ret2,
            self.nonzero_ret, AVERAGE_WINDOWS_ARRAY, RETURN_WINDOWS_ARRAY, SQUARE_SLOTS_ARRAY)

    def _rebuild_blocks(self, row: int) -> None:
        """Block maxima/minima of the last N_BLOCKS blocks from the minute rings."""
        minute = int(self.minute[row])
        oldest_valid = max(int(self.first_minute[row]), minute - RANGE_CAPACITY + 1)
        last_block = minute // RANGE_BLOCK
        blocks = np.arange(last_block - N_BLOCKS + 1, last_block + 1, dtype=np.int64)
        minutes = blocks[:, None] * RANGE_BLOCK + np.arange(RANGE_BLOCK)[None, :]
        valid = (minutes >= oldest_valid) & (minutes <= minute)
        slots = minutes % RANGE_CAPACITY
        highs = np.where(valid, self.ring_high[row, slots], -np.inf)
        lows = np.where(valid, self.ring_low[row, slots], np.inf)
        self.block_high[row, blocks % N_BLOCKS] = highs.max(axis=1)
        self.block_low[row, blocks % N_BLOCKS] = lows.min(axis=1)

    def _query_ranges(self, rows: np.ndarray) -> None:
        """High/low lines of `rows` for every RANGE_WINDOWS entry from the block maxima plus
        one partial head block: O(window / RANGE_BLOCK + RANGE_BLOCK) instead of O(window).
        A window of w minutes ending at minute m always spans the w / RANGE_BLOCK blocks
        ending with m's block, plus the minutes from m - w + 1 up to the next boundary
        (compiled: strategies/rolling_kernel.py)."""
        query_ranges_kernel(np.atleast_1d(np.asarray(rows, dtype=np.int64)), self.minute,
                            self.ring_high.parts, self.ring_low.parts, self.block_high,
                            self.block_low, self.high, self.low, RANGE_WINDOWS_ARRAY,
                            RANGE_BLOCK)
