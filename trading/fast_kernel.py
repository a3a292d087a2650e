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
    no compensation), and skip steps without a finite price, as the policy does.

    Each window is summed afresh (a running sum would round differently), so the work is
    `slow` additions per step; four consecutive windows are summed side by side, four
    independent chains of the very same additions, which the CPU overlaps (2x faster than
    one chain at a time, with the same bits)."""
    steps, n = last.shape
    out = np.full((steps, n), -1, np.int8)
    prices = np.empty(steps)  # one symbol's finite prices, in order
    at_step = np.empty(steps, np.int64)  # the step of each
    split = max(slow - fast, 0)  # window[split:] is the fast one (all of it if fast > slow)
    for i in range(n):
        seen = 0
        for k in range(steps):
            price = last[k, i]
            if np.isfinite(price):
                prices[seen] = price
                at_step[seen] = k
                seen += 1
        m = slow - 1  # the window ending at the m-th price: prices[m - slow + 1: m + 1]
        while m + 4 <= seen:
            b = m - slow + 1
            t0 = t1 = t2 = t3 = 0.0
            for j in range(split):
                t0 += prices[b + j]
                t1 += prices[b + 1 + j]
                t2 += prices[b + 2 + j]
                t3 += prices[b + 3 + j]
            r0 = r1 = r2 = r3 = 0.0
            for j in range(split, slow):
                v0, v1, v2, v3 = prices[b + j], prices[b + 1 + j], prices[b + 2 + j], \
                    prices[b + 3 + j]
                t0 += v0
                t1 += v1
                t2 += v2
                t3 += v3
                r0 += v0
                r1 += v1
                r2 += v2
                r3 += v3
            out[at_step[m], i] = 1 if r0 / fast > t0 / slow else 0
            out[at_step[m + 1], i] = 1 if r1 / fast > t1 / slow else 0
            out[at_step[m + 2], i] = 1 if r2 / fast > t2 / slow else 0
            out[at_step[m + 3], i] = 1 if r3 / fast > t3 / slow else 0
            m += 4
        while m < seen:  # the last few windows, one at a time
            b = m - slow + 1
            total = 0.0
            for j in range(split):
                total += prices[b + j]
            recent = 0.0
            for j in range(split, slow):
                value = prices[b + j]
                total += value
                recent += value
            out[at_step[m], i] = 1 if recent / fast > total / slow else 0
            m += 1
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
