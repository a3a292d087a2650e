"""The SMA cross policy's minute for every symbol in one compiled call (numba).

`SmaCrossPolicy` keeps each symbol's last `slow` usable prices and compares
`sum(history[-fast:]) / fast` with `sum(history) / slow`, where `history` is the window
oldest first and `sum` adds left to right from 0 (Python 3.11's `sum` of floats). Done in
Python that was ~3 µs a symbol a minute, most of a quiet replayed minute's policy cost at 20
coins; here every symbol's window lives in one ring row and the same additions run in the same
order, so the comparison is the same bit for bit (tests/unit/test_sma_cross_kernel.py holds it
to the deque form).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)

#: `above` of a symbol not evaluated this minute (no usable price, or fewer than `slow`).
UNKNOWN = -1


@jit
def sma_minute_kernel(ring: np.ndarray, count: np.ndarray, state: np.ndarray,
                      rows: np.ndarray, lasts: np.ndarray, fast: int, slow: int,
                      crossed: np.ndarray) -> int:
    """Append each symbol's usable last price (finite and > 0) to its ring row `rows[j]`
    (`ring[row, count[row] % slow]`, `count` counting every append), and where the row holds
    `slow` prices set `state[row]` to 1 if SMA(fast) > SMA(slow) else 0. Writes into
    `crossed` the positions j (ascending) whose state was known (0 or 1) and changed, each
    followed by the state it had, and returns how many: `crossed[:2 * k]`."""
    k = 0
    for j in range(rows.shape[0]):
        price = lasts[j]
        if not (math.isfinite(price) and price > 0.0):
            continue
        row = rows[j]
        ring[row, count[row] % slow] = price
        count[row] += 1
        if count[row] < slow:
            continue
        oldest = count[row] % slow  # after the append: the window's first slot
        total = 0.0
        recent = 0.0
        for m in range(slow):
            value = ring[row, (oldest + m) % slow]
            total += value
        for m in range(max(slow - fast, 0), slow):  # history[-fast:]: all when fast > slow
            recent += ring[row, (oldest + m) % slow]
        above = 1 if recent / fast > total / slow else 0
        was = state[row]
        state[row] = above
        if was != UNKNOWN and was != above:
            crossed[2 * k] = j
            crossed[2 * k + 1] = was
            k += 1
    return k
