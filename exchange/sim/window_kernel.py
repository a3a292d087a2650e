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


@jit
def window_sums(values: np.ndarray, step: np.ndarray, starts: np.ndarray,
                stops: np.ndarray) -> np.ndarray:
    """Row t of the result: the per-symbol sum of rows `starts[t]` to `stops[t]` (exclusive)
    of `values` (rows, symbols >= 2), added as `column_sums` adds them (the first row, then
    row after row), for many windows in one pass over the rows. `starts` and `stops` are
    relative to `values`' first row and each nondecreasing: the windows of consecutive
    minutes. Every window gets its rows in ascending order, so each sum is the same float as
    `column_sums` of its rows, but a row shared by many windows is read once, not once a
    window (a day's window per minute re-read the same rows from memory each minute).
    With `step` (one per symbol, int32 `values`), a value is `count * step` as in
    `grid_column_sums`; pass an empty `step` for float64 values.

    The windows a row reaches are one run, [first, begun): those that began before it add
    the row, those that begin at it take it as their first value (`column_sums`' first
    row: a -0.0 stays -0.0). The sums are kept symbol by symbol (`sums[j]`: symbol j's
    windows side by side), so a row's value is added to a run of windows in a plain loop
    the compiler makes vector code; most rows (a day's window, an hour of windows) reach
    every window and none begins there, and those go in one such loop each."""
    windows = starts.shape[0]
    symbols = values.shape[1]
    if windows == 0:
        return np.zeros((windows, symbols))
    sums = np.zeros((symbols, windows))
    scaled = step.shape[0] > 0
    row_values = np.empty(symbols)
    first = 0  # windows before `first` have ended
    begun = 0  # windows before `begun` have begun
    r = starts[0]
    last = stops[windows - 1]
    while r < last:
        while first < windows and stops[first] <= r:
            first += 1
        if begun < first:
            begun = first
        while begun < windows and starts[begun] <= r:
            begun += 1
        fresh = begun  # [fresh, begun): the windows that begin at row r (starts ascend)
        while fresh > first and starts[fresh - 1] == r:
            fresh -= 1
        if first == 0 and fresh == windows:  # every window began before r, none ends
            steady = stops[0]  # until the first one does
            if scaled:
                _add_rows_scaled(sums, values, step, r, steady)
            else:
                _add_rows(sums, values, r, steady)
            r = steady
            continue
        if scaled:
            for j in range(symbols):
                row_values[j] = values[r, j] * step[j]
        else:
            for j in range(symbols):
                row_values[j] = values[r, j]
        for j in range(symbols):
            value = row_values[j]
            for t in range(first, fresh):
                sums[j, t] += value
            for t in range(fresh, begun):
                sums[j, t] = value
        r += 1
    return np.ascontiguousarray(sums.T)


@jit
def _add_rows_scaled(sums: np.ndarray, counts: np.ndarray, step: np.ndarray, start: int,
                     stop: int) -> None:
    """Add `counts[r] * step` of the rows [start, stop) to every window (`window_sums`)."""
    for r in range(start, stop):
        for j in range(counts.shape[1]):
            value = counts[r, j] * step[j]
            windows = sums[j]
            for t in range(windows.shape[0]):
                windows[t] += value


@jit
def _add_rows(sums: np.ndarray, values: np.ndarray, start: int, stop: int) -> None:
    """Add the float64 rows [start, stop) to every window (`window_sums`)."""
    for r in range(start, stop):
        for j in range(values.shape[1]):
            value = values[r, j]
            windows = sums[j]
            for t in range(windows.shape[0]):
                windows[t] += value
