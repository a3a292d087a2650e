"""A minute's ranking in one compiled call: the scores, the top K and their reasons' windows.

Why: `rank` on the live 1m matrix made two compiled calls, `rank_scores_kernel`
(strategies/decision_kernel.py: every coin's drift, volatility, eligibility and barrier
probability) and `top_reasons_kernel` (strategies/rank_select_kernel.py: the top K and each
one's strongest windows), and each handed its arrays back to Python: fifteen arrays a minute
made into numpy objects (each ~0.6 us, a Python-level unpickle of its type among it), read
once and dropped. Called from here they stay native; what `rank` reads comes back as two
flat arrays. The numbers are those two kernels' own, computed by them: this file only packs.

Those two kernels are compiled into this one, and numba's on-disk cache judges a function
fresh by its own file's stamp only; INLINED_SOURCES_SHA256 below carries the stamp of the
files it inlines (tests/unit/test_minute_rank_kernel.py fails until it is updated), so a
change there retires this file's cached code too.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from strategies.decision_kernel import rank_scores_kernel
from strategies.rank_select_kernel import top_reasons_kernel

jit = njit(cache=True, error_model="numpy", nogil=True)

#: sha256 (first 16 hex digits) of strategies/decision_kernel.py, then
#: strategies/rank_select_kernel.py: the code compiled into `minute_ranking_kernel`.
#: Updating this line changes this file, which retires a stale cached kernel.
INLINED_SOURCES_SHA256 = "f84ffaaae316fc24"
#: The files whose code `minute_ranking_kernel` inlines, in the stamp's order.
INLINED_SOURCES = ("strategies/decision_kernel.py", "strategies/rank_select_kernel.py")


@jit
def minute_ranking_kernel(  # pragma: no cover - compiled
    features: np.ndarray, return_columns: np.ndarray, trend_columns: np.ndarray,
    scalar_columns: np.ndarray, return_windows: np.ndarray, min_warm_minutes: float,
    min_quote_volume_24h: float, max_spread_bps: float, require_quotes: bool,
    horizon_minutes: float, up: float, down: float, max_images: float,
    name_rank: np.ndarray, top_k: int,
) -> tuple[np.ndarray, np.ndarray, bool, float]:
    """(ints [2m]: the top m coins' rows best first, then their windows' codes; floats [9m]:
    each coin's probability, drift and sigma, coin after coin, then the strong values [3m]
    and the strong percents [3m]; usual: every top coin shows three windows; images) of
    `rank_scores_kernel` on one 1m matrix followed by `top_reasons_kernel` on its scores
    (see both for the arguments). A NaN `images` (the array form raises) stops after the
    scores, with nothing selected; a minute that is not usual is ranked by the two kernels
    from Python (ranking._ranking_of_scores), which needs their other arrays."""
    probability, drift, sigma, eligible, contributions, returns, images = rank_scores_kernel(
        features, return_columns, trend_columns, scalar_columns, return_windows,
        min_warm_minutes, min_quote_volume_24h, max_spread_bps, require_quotes,
        horizon_minutes, up, down, max_images)
    if math.isnan(images):
        return np.empty(0, np.int64), np.empty(0), False, images
    top, numbers, _, _, _, shown, strong_values, strong_percents, codes = top_reasons_kernel(
        probability, eligible, name_rank, top_k, drift, sigma, contributions, returns)
    m = top.shape[0]
    ints = np.empty(2 * m, np.int64)
    floats = np.empty(9 * m)
    usual = True
    for j in range(m):
        usual = usual and shown[j] == 3
        ints[j] = top[j]
        ints[m + j] = codes[j]
        floats[3 * j] = numbers[j, 0]
        floats[3 * j + 1] = numbers[j, 1]
        floats[3 * j + 2] = numbers[j, 2]
    for k in range(3 * m):
        floats[3 * m + k] = strong_values[k]
        floats[6 * m + k] = strong_percents[k]
    return ints, floats, usual, images
