"""`PrintFilter`'s window of accepted closes and its range, compiled (numba).

Why compiled: a replay minute accepted every symbol's close in Python (a deque append, and
every `refresh_every` bars two sorts of 30 and the median/MAD arithmetic), ~25 us a minute
at 20 coins. Here the windows are rows of one array (a ring per symbol: `count` closes
held, `next_slot` the one the next close overwrites, the oldest once full, as a deque with
`maxlen` drops it) and a minute's closes go in with one call. The range is the same
arithmetic in the same order as the Python it replaced (sorted window, median, MAD,
`max(floor, 1 + k * 1.4826 * MAD / median)`), so bit for bit the same;
tests/unit/test_print_kernel.py keeps that Python as its oracle. Closes are the feed edge's
(finite, > 0): the sort order of equal values cannot change a median or a MAD.
"""

from __future__ import annotations

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)

MAD_TO_SIGMA = 1.4826  # MAD of a normal sample x this = its standard deviation


@jit
def _median(ordered: np.ndarray) -> float:
    """The median of a sorted, non-empty array."""
    n = ordered.shape[0]
    mid = n // 2
    return ordered[mid] if n % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


@jit
def refresh_range(row: int, warm: bool, window: np.ndarray, count: np.ndarray,
                  since_refresh: np.ndarray, low: np.ndarray, high: np.ndarray,
                  min_bars: int, floor_ratio: float, mad_multiple: float) -> None:
    """Recompute `row`'s range from its window: [M / r, M * r], M the median, r =
    max(floor_ratio, 1 + mad_multiple * 1.4826 * MAD / M). Nothing before `min_bars` closes
    (unless `warm`: a confirmed level) or without a positive median."""
    n = count[row]
    if n == 0 or (not warm and n < min_bars):
        return
    since_refresh[row] = 0
    ordered = np.sort(window[row, :n])
    median = _median(ordered)
    if not median > 0.0:  # only if fed without the feed edge's checks: stay open
        return
    mad = _median(np.sort(np.abs(ordered - median)))
    raw = 1.0 + mad_multiple * MAD_TO_SIGMA * mad / median
    ratio = raw if raw > floor_ratio else floor_ratio  # max(floor_ratio, raw), NaN -> floor
    low[row] = median / ratio
    high[row] = median * ratio


@jit
def accept_close(row: int, close: float, window: np.ndarray, count: np.ndarray,
                 next_slot: np.ndarray, since_refresh: np.ndarray, low: np.ndarray,
                 high: np.ndarray, min_bars: int, refresh_every: int, floor_ratio: float,
                 mad_multiple: float) -> None:
    """Add an accepted close to `row`'s window; refresh the range every `refresh_every`
    closes, and at every close until the range is first set (high still inf)."""
    width = window.shape[1]
    window[row, next_slot[row]] = close
    next_slot[row] = (next_slot[row] + 1) % width
    if count[row] < width:
        count[row] += 1
    since_refresh[row] += 1
    if since_refresh[row] >= refresh_every or high[row] == np.inf:
        refresh_range(row, False, window, count, since_refresh, low, high, min_bars,
                      floor_ratio, mad_multiple)


@jit
def accept_batch(rows: np.ndarray, close: np.ndarray, bar_low: np.ndarray,
                 bar_high: np.ndarray, has_level: np.ndarray, window: np.ndarray,
                 count: np.ndarray, next_slot: np.ndarray, since_refresh: np.ndarray,
                 low: np.ndarray, high: np.ndarray, min_bars: int, refresh_every: int,
                 floor_ratio: float, mad_multiple: float) -> bool:
    """Accept a minute's closes (one per row; rows distinct; the last row of the arrays is
    the always-open one of symbols outside the universe, which keeps nothing) when every
    bar lies inside its range and no row holds an unconfirmed level; else False, nothing
    changed."""
    outside = low.shape[0] - 1
    for i in range(rows.shape[0]):
        row = rows[i]
        if not (bar_low[i] >= low[row] and bar_high[i] <= high[row]):
            return False
        if has_level[row]:
            return False
    for i in range(rows.shape[0]):
        if rows[i] != outside:
            accept_close(rows[i], close[i], window, count, next_slot, since_refresh, low,
                         high, min_bars, refresh_every, floor_ratio, mad_multiple)
    return True
