"""A [rows, slots] float64 ring kept as int32 counts of 10**-k per row while that is lossless.

Why: the feature book keeps a month (43,200 minutes) of 1m closes per coin; as float64 that
is 173 MB at 500 coins. The closes a feed delivers are decimal strings (Binance's eight
decimals, a coin's tick), so a close is the float nearest to `count / 10**k` for a small
count, and `count / 10**k` (one correctly rounded division) gives back that very float in 4
bytes instead of 8. Each row picks its `k` at its first write (the most decimals, up to 8,
that keep the count 16x clear of int32's range) and every write is checked bit for bit: the
first value that does not come back exactly (more decimals, too large, NaN, -0.0) turns that
row into float64 for good, so a read always gives what was written. Only such rows touch the
float64 array (model/lazy_zeros.py: paged in only where written), the way
exchange/sim/grid_column.py keeps the simulator's prices. A ring has a `fill`, what a slot
never written reads (0.0 for the closes, -inf/+inf for the range rings' highs/lows): count 0
stands for it, so a real value whose count would be 0 (a 0.0 high) is off the grid, and the
int32 array stays unpaged until written.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from model.lazy_zeros import lazy_zeros

jit = njit(cache=True, error_model="numpy", nogil=True)

#: `scale` of a row not written yet, and of a row kept as float64 for good.
UNSET = -1.0
FLOAT_ROW = 0.0
_INT32_LIMIT = float(np.iinfo(np.int32).max)
_CHOICE_LIMIT = 2.0**27  # a row's first count stays 16x below int32's range
#: A ring as compiled code takes it: (counts, floats, scale per row, fill).
RingParts = tuple[np.ndarray, np.ndarray, np.ndarray, float]
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
def _is_fill(value: float, fill: float) -> bool:
    """`value` is the ring's fill, sign of zero included."""
    return value == fill and math.copysign(1.0, value) == math.copysign(1.0, fill)


@jit
def _encode(value: float, scale: float, fill: float) -> float:
    """The stored count of `value` (0 for the fill), or NaN when it has none."""
    if _is_fill(value, fill):
        return 0.0
    count = _count_of(value, scale)
    return math.nan if count == 0.0 else count


@jit
def _choose_scale(value: float, fill: float, scales: np.ndarray) -> float:
    """The finest 10**k (k <= 8) that stores `value` exactly with a count below 2**27."""
    for scale in scales:
        if abs(value * scale) < _CHOICE_LIMIT and not math.isnan(_encode(value, scale, fill)):
            return scale
    return FLOAT_ROW


@jit
def _decode(count: np.int32, scale: float, fill: float) -> float:
    """The float64 a count stands for."""
    return fill if count == 0 else count / scale


@jit
def ring_value(ring: RingParts, row: int, slot: int) -> float:
    """The float64 stored at (row, slot) of a ring's `parts`."""
    counts, floats, scale, fill = ring
    s = scale[row]
    if s > 0.0:
        return _decode(counts[row, slot], s, fill)
    if s == FLOAT_ROW:
        return floats[row, slot]
    return fill


@jit
def _to_floats(counts: np.ndarray, floats: np.ndarray, scale: np.ndarray, fill: float,
               row: int) -> None:
    """Turn `row` into float64 for good, every slot reading as before."""
    s = scale[row]
    for j in range(counts.shape[1]):
        floats[row, j] = _decode(counts[row, j], s, fill) if s > 0.0 else fill
    scale[row] = FLOAT_ROW


@jit
def ring_store(ring: RingParts, row: int, slot: int, value: float) -> None:
    """Store `value` at (row, slot) of a ring's `parts`: as a count while exact, else the
    row turns float64."""
    counts, floats, scale, fill = ring
    s = scale[row]
    if s == UNSET:
        if _is_fill(value, fill):
            return  # what the slot reads already
        s = _choose_scale(value, fill, _SCALES)
        if s > 0.0:
            scale[row] = s
    if s > 0.0:
        count = _encode(value, s, fill)
        if not math.isnan(count):
            counts[row, slot] = np.int32(count)
            return
    if scale[row] != FLOAT_ROW:  # no count fits: this row is float64 for good
        _to_floats(counts, floats, scale, fill, row)
    floats[row, slot] = value


@jit
def _store_many(ring: RingParts, rows: np.ndarray, slots: np.ndarray,
                values: np.ndarray) -> None:
    for i in range(rows.shape[0]):
        ring_store(ring, rows[i], slots[i], values[i])


class DecimalRing:
    """`ring[rows, slots]` reads float64 and `ring[rows, slots] = values` stores, as with a
    float64 array of shape (n_rows, capacity) initialized to `fill` (indices broadcast)."""

    def __init__(self, n_rows: int, capacity: int, fill: float = 0.0) -> None:
        self.fill = float(fill)
        self.counts = lazy_zeros((n_rows, capacity), np.int32)
        self.floats = lazy_zeros((n_rows, capacity))  # paged in only for rows off the grid
        self.scale = np.full(n_rows, UNSET)

    @property
    def parts(self) -> RingParts:
        """(counts, floats, scale, fill): what the compiled kernels take for the ring."""
        return (self.counts, self.floats, self.scale, self.fill)

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
            if s == FLOAT_ROW:
                return self.floats[rows, slots]
            counts = self.counts[rows, slots]
            decoded = counts / (s if s > 0.0 else 1.0)
            return decoded if self.fill == 0.0 else np.where(counts == 0, self.fill, decoded)
        scale = self.scale[rows]
        counts = self.counts[rows, slots]
        decoded = np.divide(counts, scale, out=np.zeros(counts.shape), where=scale > 0.0)
        decoded = np.where(counts == 0, self.fill, decoded)
        return np.where(scale == FLOAT_ROW, self.floats[rows, slots], decoded)

    def __setitem__(self, key: tuple[np.ndarray | int, np.ndarray | int],
                    values: np.ndarray | float) -> None:
        rows, slots = key
        rows, slots, values = np.broadcast_arrays(np.asarray(rows, dtype=np.int64),
                                                  np.asarray(slots, dtype=np.int64),
                                                  np.asarray(values, dtype=np.float64))
        _store_many(self.parts, rows.ravel(), slots.ravel(), values.ravel())
