"""`BarRings.append_rows`' O(1) update of each row, compiled (numba): one pass per row.

Why compiled: a minute's append was ~60 small numpy operations (gathers of the leaving
values, the running sums, the range lines) whatever the number of rows, ~0.5 ms a minute
at 20 coins, a tenth of a backtest minute. A scalar loop does the same arithmetic in the
same order, so the results are bit-identical to that array form: each sum is updated as
`s + (new - leaving)`, zero counts give exact zeros, `math.log`/`math.expm1` are the C
library's (as `model.libm`'s), NaN-ignoring `fmax`/`fmin` for the range lines as numpy's.
tests/unit/test_rolling_kernel.py holds the two equal on random rows and keeps the array
form as its oracle. `error_model="numpy"`: x / 0 gives inf/NaN as in numpy, never raises.

The periodic exact recomputation reproduces numpy's pairwise summation order in its own
kernel (strategies/exact_sums_kernel.py).

A range line is re-queried only in the window whose extreme left it (about four rows a
minute leave the hour's, one in eight of them the day's as well), not in all of a row's
windows: a line is the exact extreme of its window's values (no NaN reaches the range
rings: every bar is clamped to bracket a finite positive close, `sanitize_bars` and
`next_minute_rows`), and an extreme is the same value whichever way it is found, so a
window whose extreme did not leave keeps its O(1) line, which is the value a re-query
gives. (Only the sign of a zero low could differ, and the features read a low only as
`last - low` and `high - low`, which a zero's sign does not change.)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from strategies.decimal_ring import RingParts, ring_store, ring_value

jit = njit(cache=True, error_model="numpy", nogil=True)


@jit
def _log(x: float) -> float:
    """`model.libm.log` of one value (NaN below 0, -inf at 0)."""
    if x < 0:
        return math.nan
    if x == 0:
        return -math.inf
    return math.log(x)


@jit
def _fmax(a: float, b: float) -> float:
    """np.fmax: the larger, ignoring a NaN."""
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return a if a >= b else b


@jit
def _fmin(a: float, b: float) -> float:
    """np.fmin: the smaller, ignoring a NaN."""
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return a if a <= b else b


@jit
def _slot_back(slot: int, back: int, capacity: int) -> int:
    """(m - back) % capacity from slot = m % capacity: without a division for
    0 <= back <= capacity (every window fits its ring), else the modulo itself."""
    earlier = slot - back
    if earlier >= 0 and earlier < capacity:
        return earlier
    if earlier < 0 and earlier >= -capacity:
        return earlier + capacity
    return earlier % capacity


@jit
def append_rows_kernel(
    rows: np.ndarray, minute: np.ndarray, close: np.ndarray, high: np.ndarray,
    low: np.ndarray, quote_volume: np.ndarray,
    last_minute: np.ndarray, first_minute: np.ndarray, n_seen: np.ndarray,
    last_close: np.ndarray, ring_close: RingParts, ring_qv: np.ndarray,
    ring_ret: np.ndarray, ring_simple: np.ndarray, ring_high: RingParts,
    ring_low: RingParts, block_high: np.ndarray, block_low: np.ndarray,
    sum_close: np.ndarray, sum_qv: np.ndarray, nonzero_qv: np.ndarray, sum_ret: np.ndarray,
    sum_ret2: np.ndarray, nonzero_ret: np.ndarray, range_high: np.ndarray,
    range_low: np.ndarray, average_windows: np.ndarray, return_windows: np.ndarray,
    square_slots: np.ndarray, range_windows: np.ndarray, range_block: int,
) -> np.ndarray:
    """Append one minute to each of `rows` (distinct) in place; returns which range lines
    need a re-query, [rows, range windows] (all of a row's at its first bar, else those
    whose extreme left the window). The close, high and low rings are
    strategies/decimal_ring.py's `parts`."""
    price_capacity = ring_qv.shape[1]
    return_capacity = ring_ret.shape[1]
    range_capacity = ring_high[0].shape[1]
    n_blocks = block_high.shape[1]
    requery = np.zeros((rows.shape[0], range_windows.shape[0]), dtype=np.bool_)
    leave_ret = np.empty(return_windows.shape[0])
    leave_high = np.empty(range_windows.shape[0])
    leave_low = np.empty(range_windows.shape[0])
    for i in range(rows.shape[0]):
        r = rows[i]
        m = minute[i]
        c = close[i]
        qv = np.float64(np.float32(quote_volume[i]))  # the ring's precision (feature_volume)
        first = n_seen[r] == 0
        if first:
            first_minute[r] = m
        ret = 0.0 if first else _log(c / last_close[r])
        # Each ring's slot of this minute; a window's leaving slot counts back from it.
        price_slot = m % price_capacity
        return_slot = m % return_capacity
        range_slot = m % range_capacity

        # Averages: every leaving value is read before this minute's slot is written.
        for k in range(average_windows.shape[0]):
            slot = _slot_back(price_slot, average_windows[k], price_capacity)
            leave_close = ring_value(ring_close, r, slot)
            leave_qv = np.float64(ring_qv[r, slot])
            sum_close[r, k] = sum_close[r, k] + (c - leave_close)
            new_sum_qv = sum_qv[r, k] + (qv - leave_qv)
            count = nonzero_qv[r, k] + (np.int64(qv != 0.0) - np.int64(leave_qv != 0.0))
            sum_qv[r, k] = 0.0 if count == 0 else new_sum_qv
            nonzero_qv[r, k] = count
        ring_store(ring_close, r, price_slot, c)
        ring_qv[r, price_slot] = qv

        # Returns and squared returns (their windows are a subset, `square_slots`).
        for k in range(return_windows.shape[0]):
            leave_ret[k] = ring_ret[r, _slot_back(return_slot, return_windows[k],
                                                  return_capacity)]
        for j in range(square_slots.shape[0]):
            k = square_slots[j]
            count = nonzero_ret[r, k] + (np.int64(ret != 0.0) - np.int64(leave_ret[k] != 0.0))
            new_sum2 = sum_ret2[r, j] + (ret * ret - leave_ret[k] * leave_ret[k])
            sum_ret2[r, j] = 0.0 if count == 0 else new_sum2
        for k in range(return_windows.shape[0]):
            count = nonzero_ret[r, k] + (np.int64(ret != 0.0) - np.int64(leave_ret[k] != 0.0))
            new_sum = sum_ret[r, k] + (ret - leave_ret[k])
            sum_ret[r, k] = 0.0 if count == 0 else new_sum
            nonzero_ret[r, k] = count
        ring_ret[r, return_slot] = ret
        ring_simple[r, return_slot] = math.expm1(ret)

        # Range lines: the leaving values first (the longest window's leaving minute
        # shares the slot being written), then the block extremes and the O(1) update.
        for k in range(range_windows.shape[0]):
            slot = _slot_back(range_slot, range_windows[k], range_capacity)
            leave_high[k] = ring_value(ring_high, r, slot)
            leave_low[k] = ring_value(ring_low, r, slot)
        h = high[i]
        lo = low[i]
        ring_store(ring_high, r, range_slot, h)
        ring_store(ring_low, r, range_slot, lo)
        block = (m // range_block) % n_blocks
        if first or m % range_block == 0:
            block_high[r, block] = h
            block_low[r, block] = lo
        else:
            block_high[r, block] = _fmax(block_high[r, block], h)
            block_low[r, block] = _fmin(block_low[r, block], lo)
        for k in range(range_windows.shape[0]):
            old_high = range_high[r, k]
            old_low = range_low[r, k]
            requery[i, k] = first or leave_high[k] >= old_high or leave_low[k] <= old_low
            range_high[r, k] = _fmax(old_high, h)
            range_low[r, k] = _fmin(old_low, lo)

        last_minute[r] = m
        n_seen[r] += 1
        last_close[r] = c
    return requery


@jit
def _max_propagating(acc: float, value: float) -> float:
    """One step of np.max: NaN wins, else the larger."""
    if math.isnan(acc):
        return acc
    if math.isnan(value):
        return value
    return value if value > acc else acc


@jit
def _min_propagating(acc: float, value: float) -> float:
    """One step of np.min: NaN wins, else the smaller."""
    if math.isnan(acc):
        return acc
    if math.isnan(value):
        return value
    return value if value < acc else acc


@jit
def query_ranges_kernel(
    rows: np.ndarray, last_minute: np.ndarray, ring_high: RingParts, ring_low: RingParts,
    block_high: np.ndarray, block_low: np.ndarray, range_high: np.ndarray,
    range_low: np.ndarray, range_windows: np.ndarray, range_block: int,
) -> None:
    """`BarRings._query_ranges`: each row's high/low line of every range window
    (`_query_range`)."""
    for i in range(rows.shape[0]):
        for k in range(range_windows.shape[0]):
            _query_range(rows[i], k, last_minute, ring_high, ring_low, block_high, block_low,
                         range_high, range_low, range_windows, range_block)


@jit
def query_flagged_ranges_kernel(
    rows: np.ndarray, flagged: np.ndarray, last_minute: np.ndarray, ring_high: RingParts,
    ring_low: RingParts, block_high: np.ndarray, block_low: np.ndarray,
    range_high: np.ndarray, range_low: np.ndarray, range_windows: np.ndarray,
    range_block: int,
) -> None:
    """`_query_range` of the range lines `append_rows_kernel` flags ([rows, windows])."""
    for i in range(rows.shape[0]):
        for k in range(range_windows.shape[0]):
            if flagged[i, k]:
                _query_range(rows[i], k, last_minute, ring_high, ring_low, block_high,
                             block_low, range_high, range_low, range_windows, range_block)


@jit
def _query_range(
    r: int, k: int, last_minute: np.ndarray, ring_high: RingParts, ring_low: RingParts,
    block_high: np.ndarray, block_low: np.ndarray, range_high: np.ndarray,
    range_low: np.ndarray, range_windows: np.ndarray, range_block: int,
) -> None:
    """Row `r`'s high/low line of range window `k`: the first window from its minutes,
    a longer one from the block extremes plus one partial head block (extremes are exact in
    any order, and NaN propagates as in np.max/np.min, so this is bit for bit the array
    form)."""
    range_capacity = ring_high[0].shape[1]
    n_blocks = block_high.shape[1]
    m = last_minute[r]
    if k == 0:
        high, low = -math.inf, math.inf
        slot = m % range_capacity
        for _ in range(range_windows[0]):  # slots m, m - 1, ... (m - j) % range_capacity
            high = _max_propagating(high, ring_value(ring_high, r, slot))
            low = _min_propagating(low, ring_value(ring_low, r, slot))
            slot = slot - 1 if slot > 0 else range_capacity - 1
        range_high[r, 0] = high
        range_low[r, 0] = low
        return
    window = range_windows[k]
    block_max, block_min = -math.inf, math.inf
    for j in range(window // range_block):
        block = (m // range_block - j) % n_blocks
        block_max = _max_propagating(block_max, block_high[r, block])
        block_min = _min_propagating(block_min, block_low[r, block])
    first = m - window + 1
    boundary = -(-first // range_block) * range_block
    head_max, head_min = -math.inf, math.inf
    for j in range(range_block - 1):
        if first + j < boundary:
            slot = (first + j) % range_capacity
            head_max = _max_propagating(head_max, ring_value(ring_high, r, slot))
            head_min = _min_propagating(head_min, ring_value(ring_low, r, slot))
    range_high[r, k] = _fmax(block_max, head_max)
    range_low[r, k] = _fmin(block_min, head_min)


@jit
def next_minute_rows(
    rows: np.ndarray, last_minute: np.ndarray, n_seen: np.ndarray, minute: int,
    close: np.ndarray, high: np.ndarray, low: np.ndarray, volume: np.ndarray,
    quote_volume: np.ndarray,
) -> tuple[bool, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A minute's bars (one per row) as `append_rows_kernel`'s inputs when every row is in
    the universe (>= 0), at its next minute (or its first) and with a finite positive close:
    (True, minutes, highs, lows, quote volumes), clamped as `FeatureBook.on_bars` clamps a
    bar (a high below the close or NaN -> the close, a low above it or NaN -> the close, a
    non-finite quote volume -> volume x close, then NaN or negative -> 0). Else (False, ...)
    and the caller takes the bars one by one."""
    n = rows.shape[0]
    minutes = np.empty(n, dtype=np.int64)
    out_high, out_low, out_qv = np.empty(n), np.empty(n), np.empty(n)
    if n == 0:
        return False, minutes, out_high, out_low, out_qv
    for i in range(n):
        r = rows[i]
        c = close[i]
        if r < 0 or not (n_seen[r] == 0 or last_minute[r] == minute - 1):
            return False, minutes, out_high, out_low, out_qv
        if not (c > 0 and math.isfinite(c)):
            return False, minutes, out_high, out_low, out_qv
        minutes[i] = minute
        out_high[i] = high[i] if high[i] >= c else c
        out_low[i] = low[i] if low[i] <= c else c
        qv = quote_volume[i] if math.isfinite(quote_volume[i]) else volume[i] * c
        out_qv[i] = qv if qv > 0 else 0.0
    return True, minutes, out_high, out_low, out_qv


@jit
def append_minute_kernel(
    rows: np.ndarray, minute: int, close: np.ndarray, high: np.ndarray, low: np.ndarray,
    volume: np.ndarray, quote_volume: np.ndarray,
    last_minute: np.ndarray, first_minute: np.ndarray, n_seen: np.ndarray,
    last_close: np.ndarray, ring_close: RingParts, ring_qv: np.ndarray,
    ring_ret: np.ndarray, ring_simple: np.ndarray, ring_high: RingParts,
    ring_low: RingParts, block_high: np.ndarray, block_low: np.ndarray,
    sum_close: np.ndarray, sum_qv: np.ndarray, nonzero_qv: np.ndarray, sum_ret: np.ndarray,
    sum_ret2: np.ndarray, nonzero_ret: np.ndarray, range_high: np.ndarray,
    range_low: np.ndarray, average_windows: np.ndarray, return_windows: np.ndarray,
    square_slots: np.ndarray, range_windows: np.ndarray, range_block: int,
    exact_every: int,
) -> tuple[bool, np.ndarray]:
    """A minute's bars, one per row, appended in one call: `next_minute_rows` (False and
    nothing changed when a row is not its symbol's next minute, etc.), then
    `append_rows_kernel` on its clamped values and `query_flagged_ranges_kernel` on the
    range lines that ask for it, as `BarRings.append_rows` does them. Returns (True, the rows whose exact
    re-summation is due now, in order): that one is another file's kernel, called after."""
    ok, minutes, out_high, out_low, out_qv = next_minute_rows(
        rows, last_minute, n_seen, minute, close, high, low, volume, quote_volume)
    if not ok:
        return False, rows[:0]
    requery = append_rows_kernel(
        rows, minutes, close, out_high, out_low, out_qv, last_minute, first_minute, n_seen,
        last_close, ring_close, ring_qv, ring_ret, ring_simple, ring_high, ring_low,
        block_high, block_low, sum_close, sum_qv, nonzero_qv, sum_ret, sum_ret2, nonzero_ret,
        range_high, range_low, average_windows, return_windows, square_slots, range_windows,
        range_block)
    query_flagged_ranges_kernel(rows, requery, last_minute, ring_high, ring_low, block_high,
                                block_low, range_high, range_low, range_windows, range_block)
    due = np.zeros(rows.shape[0], dtype=np.bool_)
    for i in range(rows.shape[0]):
        due[i] = (n_seen[rows[i]] + rows[i]) % exact_every == 0
    return True, rows[due]


@jit
def any_lagging(n_seen: np.ndarray, last_minute: np.ndarray, target: int) -> bool:
    """Whether a row with history ends before minute `target` (`FeatureBook.advance_to`'s
    `((n_seen > 0) & (minute < target)).any()`, four numpy calls a replayed minute, in one
    pass of integer comparisons)."""
    for i in range(n_seen.shape[0]):  # noqa: SIM110 - a plain loop compiles to one pass
        if n_seen[i] > 0 and last_minute[i] < target:
            return True
    return False
