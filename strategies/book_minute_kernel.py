"""A decision step's minute into the feature book and its matrix out, in one compiled call.

Why: a replayed minute's decision step made four compiled calls in a row on the book's
state, each behind a few Python frames: the minute's bars into the rings
(rolling_kernel.append_minute_kernel), the rows whose exact re-summation is due
(exact_sums_kernel.recompute_sums_kernel, handed back to Python as an array and looped
over), the lag check of `advance_to` (rolling_kernel.any_lagging) and the feature rows of
`matrix()` (decision_kernel.assemble_minute_kernel, which hands back a second array the
matrix drops). Called from here they run back to back in native code: the same kernels on
the same arrays in the same order, so the rings, the sums and the matrix are theirs bit for
bit (tests/unit/test_book_minute_kernel.py holds `FeatureBook.close_minute_matrix` to
`on_bars`, `advance_to` and `matrix()`).

Those kernels are compiled into this one, and numba's on-disk cache judges a function fresh
by its own file's stamp only; INLINED_SOURCES_SHA256 carries the stamp of the files whose
code it inlines (the test fails until it is updated), so a change there retires this file's
cached code too.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from strategies.decimal_ring import RingParts
from strategies.decision_kernel import assemble_minute_kernel
from strategies.exact_sums_kernel import recompute_sums_kernel
from strategies.rolling_kernel import any_lagging, append_minute_kernel

jit = njit(cache=True, error_model="numpy", nogil=True)

#: sha256 (first 16 hex digits) of INLINED_SOURCES in that order: the code compiled into
#: `minute_matrix_kernel`. Updating this line changes this file, which retires a stale cache.
INLINED_SOURCES_SHA256 = "cd4e30d8ac192d03"
INLINED_SOURCES = ("strategies/decimal_ring.py", "strategies/decision_kernel.py",
                   "strategies/exact_sums_kernel.py", "strategies/rolling_kernel.py")

#: `minute_matrix_kernel`'s outcomes.
NOT_APPLIED, APPLIED_LAGGING, APPLIED = 0, 1, 2


@jit
def minute_matrix_kernel(  # pragma: no cover - compiled
    rows: np.ndarray, minute: int, close: np.ndarray, high: np.ndarray, low: np.ndarray,
    volume: np.ndarray, quote_volume: np.ndarray, target: int,
    last_minute: np.ndarray, first_minute: np.ndarray, n_seen: np.ndarray,
    last_close: np.ndarray, ring_close: RingParts, ring_qv: np.ndarray,
    ring_ret: np.ndarray, ring_simple: np.ndarray, ring_high: RingParts,
    ring_low: RingParts, block_high: np.ndarray, block_low: np.ndarray,
    sum_close: np.ndarray, sum_qv: np.ndarray, nonzero_qv: np.ndarray, sum_ret: np.ndarray,
    sum_ret2: np.ndarray, nonzero_ret: np.ndarray, range_high: np.ndarray,
    range_low: np.ndarray, average_windows: np.ndarray, return_windows: np.ndarray,
    square_slots: np.ndarray, range_windows: np.ndarray, range_block: int,
    exact_every: int, tick_ts: np.ndarray, tick_last: np.ndarray,
    bid: np.ndarray, ask: np.ndarray, bid_qty: np.ndarray, ask_qty: np.ndarray,
    tick_quote_volume: np.ndarray, average_rows: np.ndarray, return_rows: np.ndarray,
    hour: int, day: int, minute_ms: int, n_features: int,
) -> tuple[int, np.ndarray]:
    """(outcome, features): `append_minute_kernel` on the minute's bars (NOT_APPLIED and
    nothing changed when it refuses them), `recompute_sums_kernel` on each row it says is
    due, in order, then `any_lagging` at minute `target` (APPLIED_LAGGING: the caller
    flat-fills and reads the matrix itself), else APPLIED and `assemble_minute_kernel`'s
    features of the book. The arguments are those kernels' (`FeatureBook` passes them);
    the minute's bars and `target` first, then the book's arrays, the same every minute."""
    empty = np.empty((0, n_features))
    ok, due = append_minute_kernel(
        rows, minute, close, high, low, volume, quote_volume, last_minute, first_minute,
        n_seen, last_close, ring_close, ring_qv, ring_ret, ring_simple, ring_high, ring_low,
        block_high, block_low, sum_close, sum_qv, nonzero_qv, sum_ret, sum_ret2, nonzero_ret,
        range_high, range_low, average_windows, return_windows, square_slots, range_windows,
        range_block, exact_every)
    if not ok:
        return NOT_APPLIED, empty
    for i in range(due.shape[0]):
        recompute_sums_kernel(due[i], last_minute, n_seen, ring_close, ring_qv, ring_ret,
                              sum_close, sum_qv, nonzero_qv, sum_ret, sum_ret2, nonzero_ret,
                              average_windows, return_windows, square_slots)
    if any_lagging(n_seen, last_minute, target):
        return APPLIED_LAGGING, empty
    features, _ = assemble_minute_kernel(
        n_seen, last_close, last_minute, tick_ts, tick_last, sum_close, sum_qv, sum_ret,
        sum_ret2, range_high, range_low, bid, ask, bid_qty, ask_qty, tick_quote_volume,
        average_rows, return_rows, square_slots, hour, day, minute_ms, n_features)
    return APPLIED, features
