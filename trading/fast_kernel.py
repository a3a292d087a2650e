"""Compiled loops of the fast backtester, where numpy would need a Python loop per row.

Each reproduces the engine's float arithmetic operation for operation (same order of
additions), so a decision taken on it is the engine's decision, bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)


@jit
def sma_above(last: np.ndarray, fast: int, slow: int) -> np.ndarray:  # pragma: no cover - compiled
    """For every step k and symbol: 1 when SMA(fast) > SMA(slow) of the symbol's last
    prices at the steps up to k, 0 when not, -1 before `slow` prices were seen. The sums
    run left to right from 0, as Python's `sum` over the engine policy's deque does (3.11:
    no compensation), and skip steps without a finite price, as the policy does."""
    steps, n = last.shape
    out = np.full((steps, n), -1, np.int8)
    ring = np.empty(2 * slow)  # each price twice: the deque is ring[oldest: oldest + slow]
    for i in range(n):
        seen = 0
        for k in range(steps):
            price = last[k, i]
            if not np.isfinite(price):
                continue
            at = seen % slow
            ring[at] = price
            ring[at + slow] = price
            seen += 1
            if seen < slow:
                continue
            oldest = seen % slow  # the deque's first element
            total = 0.0
            for j in range(oldest, oldest + slow - fast):
                total += ring[j]
            recent = 0.0
            for j in range(oldest + slow - fast, oldest + slow):
                value = ring[j]
                total += value
                recent += value
            out[k, i] = 1 if recent / fast > total / slow else 0
    return out


@jit
def marks(cash: np.ndarray, amounts: np.ndarray,
          close: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Equity at each step: cash[k] + sum_i amounts[k, i] * close[k, i] (NaN closes of
    symbols not held count 0), in one pass."""
    steps, n = close.shape
    out = np.empty(steps)
    for k in range(steps):
        total = cash[k]
        for i in range(n):
            amount = amounts[k, i]
            if amount != 0.0:
                total += amount * close[k, i]
        out[k] = total
    return out


@jit
def forward_fill(values: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Each column's newest finite value at or before every row, NaN before the first:
    `fast_policies.forward_filled` of a float64 [T, n] array in one pass (values copied)."""
    steps, n = values.shape
    out = np.empty((steps, n))
    newest = np.full(n, np.nan)
    for k in range(steps):
        for i in range(n):
            value = values[k, i]
            if np.isfinite(value):
                newest[i] = value
            out[k, i] = newest[i]
    return out
