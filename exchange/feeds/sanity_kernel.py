"""The feed edge's check of a whole ticker array, compiled (numba): one call per array.

Why compiled: `FrameValidator.admit_batch` runs for every ticker array (four times a
replayed minute, about once a second live), and its array form was some twenty numpy calls
on a few tens of rows: call overhead, not work, a tenth of the replay feed's time. The
kernel makes the same comparisons, element by element (no arithmetic, so nothing can round
differently; every comparison with NaN is False, as in numpy), and answers only whether
every row passes and the newest event time. A frame with a bad row is rare: the array form
(`sanity._valid_rows`) then finds which rows and says why, row by row.
tests/unit/test_sanity_fast_paths.py holds the kernel to that array form on random arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)

#: The largest event-time limit the kernel takes (int64); any larger limit admits every time.
TS_LIMIT_MAX = int(np.iinfo(np.int64).max)


@jit
def ticker_rows_pass(
    bid: np.ndarray, ask: np.ndarray, last: np.ndarray, bid_qty: np.ndarray,
    ask_qty: np.ndarray, base_volume: np.ndarray, quote_volume: np.ndarray,
    ts_event: np.ndarray, lo: np.ndarray, hi: np.ndarray, ts_limit: int, max_amount: float,
) -> tuple[bool, int]:
    """(every row valid, newest `ts_event`): bid and ask in (0, hi] and >= lo, `last` breaks
    no bound (NaN passes), bid <= ask, sizes and volumes in [0, max_amount] (NaN passes),
    event time <= `ts_limit`. The newest time is only meaningful when every row passes."""
    newest = ts_event[0]
    for i in range(bid.shape[0]):
        low, high = lo[i], hi[i]
        b, a, x = bid[i], ask[i], last[i]
        if not (b > 0.0 and b <= high and b >= low and a > 0.0 and a <= high and a >= low):
            return False, newest
        if x <= 0.0 or x > high or x < low or not b <= a:
            return False, newest
        for amount in (bid_qty[i], ask_qty[i], base_volume[i], quote_volume[i]):
            if amount < 0.0 or amount > max_amount:
                return False, newest
        ts = ts_event[i]
        if not ts <= ts_limit:
            return False, newest
        if ts > newest:
            newest = ts
    return True, newest


@jit
def bar_rows_pass(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
    volume: np.ndarray, quote_volume: np.ndarray, lo: np.ndarray, hi: np.ndarray,
    max_amount: float,
) -> bool:
    """Whether every row of a minute's closed bars passes `FrameValidator.bar_problem`'s
    value checks (its one-expression branch, comparison by comparison): 0 < low <= open,
    close <= high <= hi, low >= lo, volume in [0, max_amount], quote volume too or NaN.
    The time checks are the caller's: every row of a batch shares its close time."""
    for i in range(high.shape[0]):
        lw, hg, o, c = low[i], high[i], open_[i], close[i]
        if not (lw > 0.0 and lw <= o and o <= hg and lw <= c and c <= hg
                and hg <= hi[i] and lw >= lo[i]):
            return False
        v, q = volume[i], quote_volume[i]
        if not (v >= 0.0 and v <= max_amount):
            return False
        if q < 0.0 or q > max_amount:  # NaN passes: a stream without it
            return False
    return True


@jit
def ticker_arrays_pass(
    table: np.ndarray, ts_event: np.ndarray, ts_limit: np.ndarray, lo: np.ndarray,
    hi: np.ndarray, max_amount: float,
) -> tuple[bool, int]:
    """`ticker_rows_pass` of every array of a `TickArrays` table (arrays, 7, rows: last,
    bid, ask, bid_qty, ask_qty, base volume, quote volume), array j's rows all at time
    `ts_event[j]` against the limit `ts_limit[j]`: (every row of every array valid, the
    newest time), the same comparisons in the same order."""
    newest = ts_event[0]
    for j in range(table.shape[0]):
        ts = ts_event[j]
        for i in range(table.shape[2]):
            low, high = lo[i], hi[i]
            b, a, x = table[j, 1, i], table[j, 2, i], table[j, 0, i]
            if not (b > 0.0 and b <= high and b >= low and a > 0.0 and a <= high
                    and a >= low):
                return False, newest
            if x <= 0.0 or x > high or x < low or not b <= a:
                return False, newest
            for amount in (table[j, 3, i], table[j, 4, i], table[j, 5, i], table[j, 6, i]):
                if amount < 0.0 or amount > max_amount:
                    return False, newest
            if not ts <= ts_limit[j]:
                return False, newest
            if ts > newest:
                newest = ts
    return True, newest


@jit
def ticker_arrays_admit(
    table: np.ndarray, ts_event: np.ndarray, newest_ms: int, max_future_ms: int,
    lo: np.ndarray, hi: np.ndarray, max_amount: float,
) -> tuple[bool, int]:
    """`ticker_arrays_pass` with each array's limit made here, as `FrameValidator.
    admit_arrays` made them array after array in Python: min(max(ts_j, newest) +
    max_future_ms, TS_LIMIT_MAX), newest then the later of itself and ts_j. Exact in int64
    for 0 <= newest_ms and |max_future_ms| <= 2**62 (the caller's guard): a sum that would
    pass TS_LIMIT_MAX is that limit without being made."""
    k = ts_event.shape[0]
    limits = np.empty(k, dtype=np.int64)
    newest = newest_ms
    top = TS_LIMIT_MAX
    for j in range(k):
        ts = ts_event[j]
        base = ts if ts > newest else newest
        if max_future_ms >= 0 and base > top - max_future_ms:
            limits[j] = top
        else:
            limits[j] = base + max_future_ms
        newest = base
    return ticker_arrays_pass(table, ts_event, limits, lo, hi, max_amount)
