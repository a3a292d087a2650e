"""Recorded bars put on the replay's minute grid, compiled (numba).

Why compiled: `ReplaySource._grid` put each symbol's bars on the (minutes, symbols) grid
with numpy's fancy assignment, a symbol at a time: a write across the grid's rows per bar
and field (or a fill of (symbols, minutes) arrays and a transpose), a tenth of a second of
a backtest's set-up on a month of 20 coins. Here the grid is written row after row, each
symbol's next bar taken in turn (every symbol's minutes ascend), so each grid row is
written once, in order. Only stores: the values are the caller's, made by numpy.
tests/unit/test_replay_read.py holds the grid to the column-by-column fill it replaces.
"""

from __future__ import annotations

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)


@jit
def merge_onto_grid(out: np.ndarray, traded: np.ndarray, at: np.ndarray, values: np.ndarray,
                    offsets: np.ndarray) -> None:
    """Symbol i's bars (columns `offsets[i]` to `offsets[i + 1]` of `values`, (fields,
    bars)) into column i of `out` (fields, rows, symbols) at the rows `at` of those bars,
    and True into `traded` (rows, symbols) there. Each symbol's rows must ascend strictly
    and lie in [0, rows) (the caller's check); `out` and `traded` come zeroed."""
    fields, rows, symbols = out.shape
    cursor = offsets[:symbols].copy()
    for r in range(rows):
        for i in range(symbols):
            k = cursor[i]
            if k < offsets[i + 1] and at[k] == r:
                for f in range(fields):
                    out[f, r, i] = values[f, k]
                traded[r, i] = True
                cursor[i] = k + 1
