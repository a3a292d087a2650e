"""The tail of a P&L history's losses, compiled (numba): what the gate's pass needs of it.

Why: a sized entry's post-trade historical VaR and ES cost a numpy partition of its ~1,440
scenario losses (~40 us on a history it has not seen before: selection branches on the
data) and ~10 us of array calls around it, on every entry the fast backtester weighs.
Whether the entry passes the VaR and ES limits (`risk.post_trade.CandidateRisk.surely_within`)
needs less: the k-th smallest loss, which is one value whatever finds it (so the same
float as numpy's partition gives), and the sum of the losses above it, which differs from
numpy's only by the rounding of summing the same values in another order (bounded there).

How: one pass keeps the n - k + 1 largest losses in a min-heap; its root is then the k-th
smallest loss and the rest are the n - k above it. After the first few hundred losses
almost none enters the heap, so the pass is one predictable comparison per loss (~5 us at
1,440), where a partition of fresh data mispredicts throughout.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)


@jit
def _sift_down(heap: np.ndarray, i: int, size: int) -> None:  # pragma: no cover - compiled
    """Restore the min-heap order below slot i (children 2i + 1, 2i + 2)."""
    value = heap[i]
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and heap[child + 1] < heap[child]:
            child += 1
        if heap[child] < value:
            heap[i] = heap[child]
            i = child
        else:
            break
    heap[i] = value


@jit
def loss_tail(pnl: np.ndarray, k: int) -> tuple[float, float, float]:  # pragma: no cover
    """For losses = -pnl (1-D) and 1 <= k <= len(pnl): (the k-th smallest loss, the sum of
    the len - k losses above it, the sum of their magnitudes); (NaN, NaN, NaN) when a loss
    is not finite (numpy's partition orders NaN its own way: the caller takes the full
    form)."""
    n = pnl.shape[0]
    size = n - k + 1
    heap = np.empty(size)
    for i in range(n):
        if not math.isfinite(pnl[i]):
            return math.nan, math.nan, math.nan
    for i in range(size):
        heap[i] = -pnl[i]
    for i in range(size // 2 - 1, -1, -1):
        _sift_down(heap, i, size)
    for i in range(size, n):
        loss = -pnl[i]
        if loss > heap[0]:
            heap[0] = loss
            _sift_down(heap, 0, size)
    total = 0.0
    magnitude = 0.0
    for i in range(1, size):
        total += heap[i]
        magnitude += abs(heap[i])
    return heap[0], total, magnitude
