"""The first-order recursive filter y_t = b0 x_t − a1 y_{t−1}, down axis 0, without scipy.

The simulator's AR(1) paths and the forecast's EMAs were `scipy.signal.lfilter([b0], [1, a1],
x, axis=0, zi=zi)`. Importing `scipy.signal` costs a process ~66 MB of RSS (it loads scipy's
sparse, linalg and special packages), which was a tenth of the paper daemon's budget at 500
coins. This kernel steps the same recursion with lfilter's own operations in lfilter's order
(its transposed direct form II: `y = z + b0·x`, then `z = x·0 − y·a1`, b padded with a zero),
so the bits are lfilter's — tests/unit/test_first_order_filter.py holds them equal — and one
long call equals many short ones chained through the returned state, as lfilter's `zi` does.
Each column is a sequential loop: one order-defined result on any CPU.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def first_order_filter(b0: float, a1: float, inputs: np.ndarray,
                       state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(outputs, final state) of y_t = b0 x_t − a1 y_{t−1} along axis 0.

    `state` is lfilter's `zi`: one value per column (any shape holding inputs.shape[1:]
    values), the z carried in from the previous call (z = −a1 · y_prev for a plain recursion).
    The outputs have the inputs' shape; the final state has the state's shape."""
    values = np.ascontiguousarray(inputs, dtype=np.float64)
    columns = values.reshape(values.shape[0], -1) if values.ndim else values.reshape(1, 1)
    carried = np.ascontiguousarray(state, dtype=np.float64).reshape(-1).copy()
    if carried.size != columns.shape[1]:
        raise ValueError(f"the state holds {carried.size} values for {columns.shape[1]} "
                         "columns: pass one carried value per column")
    out = np.empty_like(columns)
    _filter_columns(float(b0), float(a1), columns, carried, out)
    return out.reshape(values.shape), carried.reshape(np.shape(state))


@njit(cache=True, nogil=True)
def _filter_columns(b0: float, a1: float, columns: np.ndarray, carried: np.ndarray,
                    out: np.ndarray) -> None:  # pragma: no cover - compiled
    rows, width = columns.shape
    for column in range(width):
        z = carried[column]
        for row in range(rows):
            x = columns[row, column]
            y = z + b0 * x
            out[row, column] = y
            z = x * 0.0 - y * a1
        carried[column] = z
