"""A minute's top K coins and their reasons' window order, compiled (numba).

Why compiled: after `rank_scores_kernel` (strategies/decision_kernel.py) scored every coin,
`rank` picked the top K with numpy (eligible and finite, a lexsort by score then symbol,
five gathers) and ordered each top coin's momentum windows with ten more numpy calls
(`ranking_reasons._reasons_with_json`): some twenty numpy calls on ten-element arrays a
step, ~65 us of a replayed minute (a full run's process time; cold caches make each call
dearer than a micro-benchmark shows). One scalar pass gives the same numbers.

The array forms stay the definition and the test oracle (tests/unit/test_rank_select_kernel.py,
bit for bit on random scores with ties, NaN, inf and signed zeros): the selection is
`ranking._top_candidates`, the window order and percentages `_reasons_with_json`'s. Equal
scores are ordered by the symbol's rank among the sorted names (`name_rank`, numpy's string
order, as its lexsort), then by position, as lexsort's stability does; -p ties +p (a
comparison, as the sort's). `math.expm1` is the C library's, as `model.libm.expm1`'s.

Everything the kernel calls is defined in this file: numba's cache judges a compiled
function fresh by its own file's stamp only.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)


@jit
def _ahead(p_a: float, rank_a: int, a: int, p_b: float, rank_b: int, b: int) -> bool:
    """Whether coin a ranks before coin b: the higher score, then the lower symbol rank,
    then the lower position."""
    if p_a != p_b:
        return p_a > p_b
    if rank_a != rank_b:
        return rank_a < rank_b
    return a < b


@jit
def top_reasons_kernel(  # pragma: no cover - compiled
    probability: np.ndarray, eligible: np.ndarray, name_rank: np.ndarray, top_k: int,
    drift: np.ndarray, sigma: np.ndarray, contributions: np.ndarray, returns: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
           np.ndarray, np.ndarray, np.ndarray]:
    """(top [m] coin rows best first, numbers [m, 3]: probability, drift, sigma,
    contributions [m, W], percent moves [m, W]: expm1(return) x 100, window order [m, W]:
    -|contribution| ascending, stable, non-finite last, shown [m]: finite windows, at most
    3, strong values [3m] and strong percents [3m]: each coin's contributions and percent
    moves of its first three windows in that order (NaN past W), codes [m]: those three
    windows as one number, (o0 x W + o1) x W + o2 (the first min(3, W))) of the at most
    `top_k` eligible coins with a finite probability. The last three are what a minute whose
    coins all show three windows formats its reasons from (ranking_reasons._reasons_of_three)."""
    n = probability.shape[0]
    windows = contributions.shape[1]
    taken = np.zeros(n, dtype=np.bool_)
    chosen = np.empty(max(min(top_k, n), 0), dtype=np.int64)
    m = 0
    while m < chosen.shape[0]:  # K passes of a selection: O(n K), K is small
        best = -1
        for i in range(n):
            if taken[i] or not eligible[i] or not math.isfinite(probability[i]):
                continue
            if best < 0 or _ahead(probability[i], name_rank[i], i,
                                  probability[best], name_rank[best], best):
                best = i
        if best < 0:
            break
        taken[best] = True
        chosen[m] = best
        m += 1
    top = chosen[:m].copy()
    numbers = np.empty((m, 3))
    values = np.empty((m, windows))
    percents = np.empty((m, windows))
    order = np.empty((m, windows), dtype=np.int64)
    shown = np.empty(m, dtype=np.int64)
    keys = np.empty(windows)
    for j in range(m):
        i = top[j]
        numbers[j, 0] = probability[i]
        numbers[j, 1] = drift[i]
        numbers[j, 2] = sigma[i]
        finite = 0
        for w in range(windows):
            value = contributions[i, w]
            values[j, w] = value
            percents[j, w] = math.expm1(returns[i, w]) * 100.0
            if math.isfinite(value):
                keys[w] = -abs(value)
                finite += 1
            else:
                keys[w] = math.inf
            # insertion sort, stable: a window moves ahead only of strictly larger keys
            at = w
            while at > 0 and keys[order[j, at - 1]] > keys[w]:
                order[j, at] = order[j, at - 1]
                at -= 1
            order[j, at] = w
        shown[j] = min(finite, 3)
    strong_values = np.full(3 * m, np.nan)
    strong_percents = np.full(3 * m, np.nan)
    codes = np.zeros(m, dtype=np.int64)
    for j in range(m):
        code = 0
        for slot in range(min(3, windows)):
            w = order[j, slot]
            strong_values[3 * j + slot] = values[j, w]
            strong_percents[3 * j + slot] = percents[j, w]
            code = code * windows + w
        codes[j] = code
    return top, numbers, values, percents, order, shown, strong_values, strong_percents, codes
