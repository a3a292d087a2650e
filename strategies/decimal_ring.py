"""A [rows, slots] float64 ring kept as int32 counts of 10**-k per row while that is lossless.

Why: the feature book keeps a month (43,200 minutes) of 1m closes per coin; as float64 that
is 173 MB at 500 coins. The closes a feed delivers are decimal strings (Binance's eight
decimals, a coin's tick), so a close is the float nearest to `count / 10**k` for a small
count, and `count / 10**k` (one correctly rounded division) gives back that very float in 4
bytes instead of 8. Each row picks its `k` at its first write (the most decimals, up to 8,
that keep the count 16x clear of int32's range) and every write is checked bit for bit: the
first value that does not come back exactly (more decimals, too large, NaN, -0.0) turns that
row into float64 for good, so a read always gives what was written. Only such rows touch the
float64 array (np.zeros is lazily paged), the way exchange/sim/grid_column.py keeps the
simulator's prices.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)

#: `scale` of a row not written yet, and of a row kept as float64 for good.
UNSET = -1.0
FLOAT_ROW = 0.0
_INT32_LIMIT = float(np.iinfo(np.int32).max)
_CHOICE_LIMIT = 2.0**27  # a row's first count stays 16x below int32's range
_SCALES = np.array([1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 1e2, 1e1, 1e0])  # exact in float64


@jit
def _count_of(value: float, scale: float) -> float:
    """The count whose `count / scale` is `value` bit for bit, or NaN when there is none
    within int32 (NaN and infinities never are; -0.0 would come back as 0.0)."""
    count = math.floor(value * scale + 0.5)
    if not abs(count) < _INT32_LIMIT:
        return math.nan
    decoded = count / scale
    if decoded != value or math.copysign(1.0, decoded) != math.copysign(1.0, value):
        return math.nan
    return count


@jit
def _choose_scale(value: float, scales: np.ndarray) -> float:
    """The finest 10**k (k <= 8) that stores `value` exactly with a count below 2**27."""
    for scale in scales:
        if abs(value * scale) < _CHOICE_LIMIT and not math.isnan(_count_of(value, scale)):
            return scale
    return FLOAT_ROW


@jit
def ring_value(counts: np.ndarray, floats: np.ndarray, scale: np.ndarray, row: int,
               slot: int) -> float:
    """The float64 stored at (row, slot)."""
    s = scale[row]
    if s > 0.0:
        return counts[row, slot] / s
    return floats[row, slot]


@jit
def ring_store(counts: np.ndarray, floats: np.ndarray, scale: np.ndarray, row: int, slot: int,
               value: float) -> None:
    """Store `value` at (row, slot): as a count while exact, else the row turns float64."""
    s = scale[row]
    if s == UNSET:
        s = _choose_scale(value, _SCALES)
        scale[row] = s
    if s > 0.0:
        count = _count_of(value, s)
        if not math.isnan(count):
            counts[row, slot] = np.int32(count)
            return
        for j in range(counts.shape[1]):  # off the grid: this row is float64 for good
            floats[row, j] = counts[row, j] / s
        scale[row] = FLOAT_ROW
    floats[row, slot] = value


@jit
def _store_many(counts: np.ndarray, floats: np.ndarray, scale: np.ndarray, rows: np.ndarray,
                slots: np.ndarray, values: np.ndarray) -> None:
    for i in range(rows.shape[0]):
        ring_store(counts, floats, scale, rows[i], slots[i], values[i])


class DecimalRing:
    """`ring[rows, slots]` reads float64 and `ring[rows, slots] = values` stores, as with a
    float64 array of shape (n_rows, capacity) initialized to 0.0 (indices broadcast)."""

    def __init__(self, n_rows: int, capacity: int) -> None:
        self.counts = np.zeros((n_rows, capacity), dtype=np.int32)
        self.floats = np.zeros((n_rows, capacity))  # paged in only for rows off the grid
        self.scale = np.full(n_rows, UNSET)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, capacity), as the float64 array it stands for."""
        return self.counts.shape

    @property
    def rows_on_grid(self) -> int:
        """Rows written and still kept as int32 counts."""
        return int(np.count_nonzero(self.scale > 0.0))

    @property
    def nbytes(self) -> int:
        """Bytes in use: the counts, plus the float64 rows of rows off the grid."""
        floats_in_use = np.count_nonzero(self.scale == FLOAT_ROW) * self.floats.shape[1] * 8
        return int(self.counts.nbytes + self.scale.nbytes + floats_in_use)

    def __getitem__(self, key: tuple[np.ndarray | int, np.ndarray | int]) -> np.ndarray:
        rows, slots = key
        if np.ndim(rows) == 0:  # one row (the exact recomputation): touch only its array
            s = float(self.scale[rows])
            return self.counts[rows, slots] / s if s > 0.0 else self.floats[rows, slots]
        scale = self.scale[rows]
        counts = self.counts[rows, slots]
        decoded = np.divide(counts, scale, out=np.zeros(counts.shape), where=scale > 0.0)
        return np.where(scale > 0.0, decoded, self.floats[rows, slots])

    def __setitem__(self, key: tuple[np.ndarray | int, np.ndarray | int],
                    values: np.ndarray | float) -> None:
        rows, slots = key
        rows, slots, values = np.broadcast_arrays(np.asarray(rows, dtype=np.int64),
                                                  np.asarray(slots, dtype=np.int64),
                                                  np.asarray(values, dtype=np.float64))
        _store_many(self.counts, self.floats, self.scale, rows.ravel(), slots.ravel(),
                    values.ravel())
