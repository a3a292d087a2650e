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

Each reason's word ("1h momentum +0.23%") is also named by an integer key made here
(`word_key`): the window and the `%+.2f` text of its percent move, known from the number
without formatting it. A minute's thirty words are mostly words seen before (~96 % on the
bench market), so `rank` looks them up by key and formats only the new ones
(ranking_reasons._reasons_of_keys), the same texts.
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


#: `word_key` of a number whose text it cannot tell without formatting it.
NO_KEY = -1
#: Hundredths beyond which no key is made (a percent move of ten million %), and the
#: distance to a rounding tie within which none is: the product `percent x 100` is off the
#: exact one by at most half an ulp, < 1.2e-7 below 1e9, so outside it both round alike.
_KEY_LIMIT = 1e9
_TIE_MARGIN = 1e-6


@jit
def word_key(window: int, percent: float, windows: int) -> int:
    """(2 |N| + negative) x `windows` + `window`, where N is `percent` rounded to hundredths
    (as `%+.2f` rounds it: the exact binary value to the nearest) and `negative` its sign
    bit (`%+.2f` writes -0.0 and -0.001 as "-0.00"): the key names the window and the text,
    so equal keys are equal words. NO_KEY for NaN, infinities, |N| >= 1e9 and a number
    within `_TIE_MARGIN` of a tie, whose text only formatting tells."""
    hundredths = percent * 100.0
    if not abs(hundredths) < _KEY_LIMIT:  # NaN and infinities too
        return NO_KEY
    low = math.floor(hundredths)
    fraction = hundredths - low  # exact below 2**52
    if abs(fraction - 0.5) < _TIE_MARGIN:
        return NO_KEY
    rounded = low + 1.0 if fraction > 0.5 else low
    negative = 1 if math.copysign(1.0, percent) < 0 else 0
    return (int(abs(rounded)) * 2 + negative) * windows + window


@jit
def minute_ranking_kernel(  # pragma: no cover - compiled
    features: np.ndarray, return_columns: np.ndarray, trend_columns: np.ndarray,
    scalar_columns: np.ndarray, return_windows: np.ndarray, min_warm_minutes: float,
    min_quote_volume_24h: float, max_spread_bps: float, require_quotes: bool,
    horizon_minutes: float, up: float, down: float, max_images: float,
    name_rank: np.ndarray, top_k: int,
) -> tuple[np.ndarray, np.ndarray, bool, float]:
    """(ints [5m]: the top m coins' rows best first, then their windows' codes, then the
    `word_key` of each coin's three strong windows, coin after coin; floats [9m]:
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
    windows = contributions.shape[1]
    ints = np.full(5 * m, NO_KEY, np.int64)
    floats = np.empty(9 * m)
    usual = True
    for j in range(m):
        usual = usual and shown[j] == 3
        ints[j] = top[j]
        ints[m + j] = codes[j]
        floats[3 * j] = numbers[j, 0]
        floats[3 * j + 1] = numbers[j, 1]
        floats[3 * j + 2] = numbers[j, 2]
        if shown[j] == 3:  # the three strong windows, from the code ((o0 W + o1) W + o2)
            code = codes[j]
            ints[2 * m + 3 * j] = word_key(code // (windows * windows),
                                           strong_percents[3 * j], windows)
            ints[2 * m + 3 * j + 1] = word_key(code // windows % windows,
                                               strong_percents[3 * j + 1], windows)
            ints[2 * m + 3 * j + 2] = word_key(code % windows, strong_percents[3 * j + 2],
                                               windows)
    for k in range(3 * m):
        floats[3 * m + k] = strong_values[k]
        floats[6 * m + k] = strong_percents[k]
    return ints, floats, usual, images
