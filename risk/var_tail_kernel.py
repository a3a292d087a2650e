"""The tail of a P&L history's losses, compiled (numba): what the gate's pass needs of it.

Why: a sized entry's post-trade historical VaR and ES cost a numpy partition of its ~1,440
scenario losses (~15-25 us: numpy's selection and its call) and ~10 us of array calls
around it, on every entry the fast backtester weighs. Whether the entry passes the VaR and
ES limits (`risk.post_trade.CandidateRisk.surely_within`) needs less: the k-th smallest
loss, which is one value whatever order a selection leaves the rest in (so the same float
as numpy's), and the sum of the losses above it, which differs from numpy's only by the
rounding of summing the same values in another order (bounded there).
"""

from __future__ import annotations

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)


@jit
def loss_tail(pnl: np.ndarray, k: int) -> tuple[float, float, float]:  # pragma: no cover
    """For losses = -pnl (1-D, finite) and 1 <= k <= len(pnl): (the k-th smallest loss,
    the sum of the len - k losses a partition at k - 1 leaves above it, the sum of their
    magnitudes), the sums left to right over a partition of numba's."""
    losses = -pnl
    part = np.partition(losses, k - 1)
    total = 0.0
    magnitude = 0.0
    for i in range(k, part.shape[0]):
        total += part[i]
        magnitude += abs(part[i])
    return part[k - 1], total, magnitude
