"""`BarRings.recompute_sums`, compiled (numba): a row's rolling sums re-summed exactly.

Why compiled: every `EXACT_EVERY` appends a row's sums are recomputed from its rings, to
stop the running sums' rounding from drifting. In numpy that was a gather of the row's
rings newest first (up to a month of closes) and ~30 reductions, ~0.1-0.3 ms a call and
~20 calls an hour per coin: tens of us of every backtest minute at 20 coins.

Bit for bit numpy's: `np.add.reduce` of a contiguous float64 array starts from its
identity (0.0) and adds numpy's pairwise sum of the whole array (blocks of up to 128
summed in 8 interleaved lanes, longer runs split in halves on a multiple of 8);
`pairwise_sum` is that algorithm, and tests/unit/test_exact_sums_kernel.py holds it and
`recompute_sums_kernel` to the numpy form. `error_model="numpy"`: nothing raises.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from strategies.decimal_ring import FLOAT_ROW, RingParts, _decode

jit = njit(cache=True, error_model="numpy", nogil=True)

_BLOCK = 128  # numpy's PW_BLOCKSIZE: runs up to this long are summed in 8 lanes


@jit
def _block_sum(values: np.ndarray, start: int, count: int) -> float:
    """numpy's sum of a run of at most `_BLOCK` values: short runs in order, longer ones in
    8 interleaved lanes added pairwise, then the tail past the last multiple of 8."""
    if count < 8:
        total = 0.0
        for i in range(start, start + count):
            total += values[i]
        return total
    r0, r1, r2, r3 = values[start], values[start + 1], values[start + 2], values[start + 3]
    r4, r5, r6, r7 = values[start + 4], values[start + 5], values[start + 6], values[start + 7]
    i = 8
    lanes_end = count - count % 8
    while i < lanes_end:
        j = np.uint64(start + i)  # unsigned: no negative-index wraparound per read
        r0 += values[j]
        r1 += values[j + np.uint64(1)]
        r2 += values[j + np.uint64(2)]
        r3 += values[j + np.uint64(3)]
        r4 += values[j + np.uint64(4)]
        r5 += values[j + np.uint64(5)]
        r6 += values[j + np.uint64(6)]
        r7 += values[j + np.uint64(7)]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < count:
        total += values[start + i]
        i += 1
    return total


@jit
def _left_count(count: int) -> int:
    """Where numpy splits a run longer than `_BLOCK`: half, down to a multiple of 8."""
    half = count // 2
    return half - half % 8


@jit
def pairwise_sum(values: np.ndarray, start: int, count: int) -> float:
    """numpy's pairwise sum of `values[start:start + count]` (without the 0.0 it starts
    from): a run longer than `_BLOCK` is the sum of its two halves' sums, left + right.
    Walked with an explicit stack, not recursion (a cached numba function calling a
    recursive one is fragile); 64 levels halve any run that fits in memory."""
    if count <= _BLOCK:
        return _block_sum(values, start, count)
    starts = np.empty(64, np.int64)
    counts = np.empty(64, np.int64)
    lefts = np.empty(64)  # a run's left half's sum, once known
    left_done = np.zeros(64, np.bool_)
    top = 0
    starts[0], counts[0] = start, count
    while True:
        if counts[top] > _BLOCK:  # an unvisited run: its left half first
            half = _left_count(counts[top])
            top += 1
            starts[top], counts[top], left_done[top] = starts[top - 1], half, False
            continue
        total = _block_sum(values, starts[top], counts[top])
        top -= 1
        while top >= 0 and left_done[top]:  # right halves done: add to their left halves
            total = lefts[top] + total
            top -= 1
        if top < 0:
            return total
        lefts[top], left_done[top] = total, True  # then that run's right half
        half = _left_count(counts[top])
        top += 1
        starts[top], counts[top], left_done[top] = starts[top - 1] + half, counts[top - 1] - half, False


@jit
def array_sum(values: np.ndarray, count: int) -> float:
    """`values[:count].sum()` of a float64 array, as numpy adds it."""
    return 0.0 + pairwise_sum(values, 0, count)


@jit
def _count_nonzero(values: np.ndarray, count: int) -> int:
    """`np.count_nonzero(values[:count])` (NaN counts: it is not zero)."""
    nonzero = 0
    for i in range(count):
        nonzero += values[np.uint64(i)] != 0.0
    return nonzero


@jit
def _ring_newest_first(ring: RingParts, row: int, newest: int, length: int,
                       values: np.ndarray) -> None:
    """values[i] = the ring's `row` at slot (newest - i) % capacity for i < `length`, as
    strategies/decimal_ring.ring_value reads it: the row's decoding chosen once, then slots
    newest..0 and on from the ring's end in two straight runs (no division by the capacity
    and no branch on the row's kind per value)."""
    counts, floats, scale, fill = ring
    capacity = counts.shape[1]
    head = min(length, newest + 1)
    s = scale[row]
    # Unsigned positions (never negative here): numba then skips the negative-index
    # wraparound on every read, which kept these loops from being vectorized.
    if s > 0.0:
        row_counts = counts[row]
        for i in range(head):
            values[i] = _decode(row_counts[np.uint64(newest - i)], s, fill)
        for i in range(head, length):
            values[i] = _decode(row_counts[np.uint64(newest - i + capacity)], s, fill)
    elif s == FLOAT_ROW:
        row_floats = floats[row]
        for i in range(head):
            values[i] = row_floats[np.uint64(newest - i)]
        for i in range(head, length):
            values[i] = row_floats[np.uint64(newest - i + capacity)]
    else:  # a row never written: every slot reads the fill
        values[:length] = fill


@jit
def recompute_sums_kernel(
    row: int, minute: np.ndarray, n_seen: np.ndarray, ring_close: RingParts,
    ring_qv: np.ndarray, ring_ret: np.ndarray, sum_close: np.ndarray, sum_qv: np.ndarray,
    nonzero_qv: np.ndarray, sum_ret: np.ndarray, sum_ret2: np.ndarray, nonzero_ret: np.ndarray,
    average_windows: np.ndarray, return_windows: np.ndarray, square_slots: np.ndarray,
) -> None:
    """Every rolling sum and nonzero count of `row` from its rings, in place, as
    `BarRings.recompute_sums`' numpy form: each window's values newest first, summed."""
    last, seen = minute[row], n_seen[row]
    price_capacity, return_capacity = ring_qv.shape[1], ring_ret.shape[1]
    length = min(seen, price_capacity)
    closes = np.empty(length)
    volumes = np.empty(length)
    _ring_newest_first(ring_close, row, last % price_capacity, length, closes)
    newest = last % price_capacity
    row_qv = ring_qv[row]
    for i in range(min(length, newest + 1)):  # slots newest..0, then from the ring's end
        volumes[i] = np.float64(row_qv[np.uint64(newest - i)])  # float32 summed in float64
    for i in range(newest + 1, length):
        volumes[i] = np.float64(row_qv[np.uint64(newest - i + price_capacity)])
    for k in range(average_windows.shape[0]):
        window = min(average_windows[k], length)
        sum_close[row, k] = array_sum(closes, window)
        sum_qv[row, k] = array_sum(volumes, window)
        nonzero_qv[row, k] = _count_nonzero(volumes, window)
    length = min(seen, return_capacity)
    rets = np.empty(length)
    squares = np.empty(length)
    newest = last % return_capacity
    row_ret = ring_ret[row]
    for i in range(min(length, newest + 1)):
        rets[i] = row_ret[np.uint64(newest - i)]
    for i in range(newest + 1, length):
        rets[i] = row_ret[np.uint64(newest - i + return_capacity)]
    for i in range(length):
        squares[i] = rets[i] * rets[i]
    for k in range(return_windows.shape[0]):
        window = min(return_windows[k], length)
        sum_ret[row, k] = array_sum(rets, window)
        nonzero_ret[row, k] = _count_nonzero(rets, window)
    for j in range(square_slots.shape[0]):
        sum_ret2[row, j] = array_sum(squares, min(return_windows[square_slots[j]], length))
