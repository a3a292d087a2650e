"""Per-symbol sums of a bar store column over a window of rows, compiled (numba).

Why compiled: the simulated exchange's 24h tickers need, every minute, each symbol's base
and quote volume over the last day (`MarketState._begin`): a (1440, symbols) read, decoded
from int32 counts (exchange/sim/grid_column.py), then summed. numpy's `sum(axis=0)` of such
a narrow array runs its inner loop once per row, a few symbols long, and the decode makes a
temporary: together about a tenth of a replayed minute. The loops here add row after row,
as numpy's reduction over the outer axis of a C-ordered array does when there are two
symbols or more (its inner loop then runs along the symbols, `out[j] += a[r, j]`), so the
sums are the same floats; with one symbol numpy sums pairwise instead, and the caller keeps
numpy there. tests/unit/test_window_kernel.py holds both kernels to numpy on many shapes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)


@jit
def grid_column_sums(counts: np.ndarray, step: np.ndarray) -> np.ndarray:
    """`(counts * step).sum(axis=0)` of int32 counts (rows, symbols), symbols >= 2."""
    rows, symbols = counts.shape
    out = np.zeros(symbols)
    if rows == 0:
        return out
    for j in range(symbols):
        out[j] = counts[0, j] * step[j]
    for r in range(1, rows):
        for j in range(symbols):
            out[j] += counts[r, j] * step[j]
    return out


@jit
def column_sums(values: np.ndarray) -> np.ndarray:
    """`values.sum(axis=0)` of float64 values (rows, symbols), symbols >= 2."""
    rows, symbols = values.shape
    out = np.zeros(symbols)
    if rows == 0:
        return out
    for j in range(symbols):
        out[j] = values[0, j]
    for r in range(1, rows):
        for j in range(symbols):
            out[j] += values[r, j]
    return out
