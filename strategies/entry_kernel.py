"""The baseline's entry step in one compiled call (numba): each ranked coin's checks, its
stop-first probability, expected edge and round-trip cost, its reasons' rounding codes and
the step's entry budget.

Why: the baseline weighs about four candidates a minute on the bench's market; their
stop-first probabilities were one compiled call, then each candidate's edge and cost three
Python calls (`barrier_edge`, `quoted_spread`, `round_trip_total`) and the cost check a
fourth, inside the policy's own loops: here all of it is one call on the ranking's columns.

The operations are the definitions' (strategies/edge.py and strategies/barrier.py), in the
same order, so each number is theirs bit for bit (tests/unit/test_entry_step_kernel.py holds
the kernel to `stop_first_probability`, `barrier_edge`, `round_trip_total(quoted_spread(...))`
and `clears_cost` of each coin alone, and tests/unit/test_entry_kernel.py the rounding codes to
the "%.{d}f" texts, on random inputs with NaN, infinities and signed zeros; both run in CI's
lane with numpy's SIMD dispatch off): the image series of each coin with its own image
count, pairwise summed as numpy sums its slice; no fastmath, so no reassociation or FMA.
`error_model="numpy"`: x / 0 gives inf/NaN, never raises.

Everything the kernel calls is defined in this file (numba's cache judges a compiled function
fresh by its own file's stamp only), which is why the series helpers repeat
strategies/decision_kernel.py's.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)

#: numpy's pairwise summation: blocks of at most this many elements are summed with eight
#: accumulators (numpy/_core/src/umath/loops_utils.h.src, PW_BLOCKSIZE).
_PW_BLOCKSIZE = 128


@jit
def _log(x: float) -> float:
    """`model.libm.log` of one value (NaN below 0, -inf at 0)."""
    if x < 0:
        return math.nan
    if x == 0:
        return -math.inf
    return math.log(x)


@jit
def _log1p(x: float) -> float:
    """`model.libm.log1p` of one value (NaN below -1, -inf at -1)."""
    if x < -1:
        return math.nan
    if x == -1:
        return -math.inf
    return math.log1p(x)


@jit
def _maximum(a: float, b: float) -> float:
    """np.maximum: the larger, NaN if either is NaN."""
    if math.isnan(a):
        return a
    if math.isnan(b):
        return b
    return a if a >= b else b


@jit
def _minimum(a: float, b: float) -> float:
    """np.minimum: the smaller, NaN if either is NaN."""
    if math.isnan(a):
        return a
    if math.isnan(b):
        return b
    return a if a <= b else b


@jit
def _pairwise_block(x: np.ndarray, start: int, n: int) -> float:  # pragma: no cover - compiled
    """numpy's pairwise sum of x[start:start + n] for n <= _PW_BLOCKSIZE."""
    if n < 8:
        total = 0.0
        for i in range(n):
            total += x[start + i]
        return total
    r0, r1, r2, r3 = x[start], x[start + 1], x[start + 2], x[start + 3]
    r4, r5, r6, r7 = x[start + 4], x[start + 5], x[start + 6], x[start + 7]
    i = 8
    whole = n - n % 8
    while i < whole:
        j = start + i
        r0 += x[j]
        r1 += x[j + 1]
        r2 += x[j + 2]
        r3 += x[j + 3]
        r4 += x[j + 4]
        r5 += x[j + 5]
        r6 += x[j + 6]
        r7 += x[j + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        total += x[start + i]
        i += 1
    return total


@jit
def _pairwise_split(x: np.ndarray, start: int, n: int) -> float:  # pragma: no cover - compiled
    """One level of numpy's pairwise halving."""
    if n <= _PW_BLOCKSIZE:
        return _pairwise_block(x, start, n)
    half = n // 2
    half -= half % 8
    return _pairwise_block(x, start, half) + _pairwise_block(x, start + half, n - half)


@jit
def _pairwise_split2(x: np.ndarray, start: int, n: int) -> float:  # pragma: no cover - compiled
    """Two levels of numpy's pairwise halving."""
    if n <= _PW_BLOCKSIZE:
        return _pairwise_block(x, start, n)
    half = n // 2
    half -= half % 8
    return _pairwise_split(x, start, half) + _pairwise_split(x, start + half, n - half)


@jit
def _pairwise_sum(x: np.ndarray, start: int, n: int) -> float:  # pragma: no cover - compiled
    """`x[start:start + n].sum()` as numpy computes it (0 + the pairwise sum), for n up to
    960 (three halvings; the image series has at most 2 * MAX_IMAGES + 1 = 513 terms)."""
    if n <= _PW_BLOCKSIZE:
        return 0.0 + _pairwise_block(x, start, n)
    half = n // 2
    half -= half % 8
    return 0.0 + (_pairwise_split2(x, start, half) + _pairwise_split2(x, start + half, n - half))



_LOG_HALF = math.log(0.5)  # model.libm.log(0.5), as strategies/barrier.py's


@jit
def _log_normal_cdf(x: float) -> float:  # pragma: no cover - compiled
    """strategies/barrier.log_normal_cdf of one value."""
    u = -x / math.sqrt(2.0)
    z = abs(u)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    log_erfc_z = _log(t) - z * z + poly
    if u >= 0:
        return _LOG_HALF + log_erfc_z
    return _log1p(-0.5 * math.exp(log_erfc_z))


@jit
def _sign(x: float) -> float:
    """np.sign: -1, 0 or 1 (NaN stays NaN)."""
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return x if math.isnan(x) else 0.0


@jit
def _standardized(up: float, down: float, drift: float, sigma: float, horizon: float,
                  root_t: float, max_images: float) -> tuple[bool, float, float, float, float]:
    """barrier._standardized and _image_counts of one coin: (usable, a, b, m, image count);
    an unusable coin gets a = b = 1, m = 0 (its probability stays NaN)."""
    ok = sigma > 0 and math.isfinite(sigma) and math.isfinite(drift) and up > 0 and down > 0
    safe_sigma = sigma if ok else 1.0
    a = (up if ok else 1.0) / safe_sigma
    b = (down if ok else 1.0) / safe_sigma
    m = (drift if ok else 0.0) / safe_sigma
    needed = (abs(m) * horizon + 8.0 * root_t) / (2.0 * (a + b))
    return ok, a, b, m, _minimum(_maximum(np.ceil(needed) + 1, 1.0), max_images)


@jit
def _series(a: float, b: float, m: float, k_max: int, horizon: float, root_t: float,
            terms: np.ndarray) -> float:
    """One coin's image series (|k| <= k_max) in `terms`, pairwise summed as numpy sums it,
    clipped to [0, 1] (NaN stays NaN)."""
    width = a + b
    for j in range(2 * k_max + 1):
        d = a + 2.0 * float(j - k_max) * width
        sign = _sign(d)
        distance = abs(d)
        drift_term = sign * m * horizon
        first = math.exp(m * (a - d) + _log_normal_cdf((drift_term - distance) / root_t))
        second = math.exp(m * (a + d) + _log_normal_cdf((-drift_term - distance) / root_t))
        terms[j] = sign * (first + second)
    total = _pairwise_sum(terms, 0, 2 * k_max + 1)
    if not math.isnan(total):
        total = total if total > 0.0 else 0.0
        total = total if total < 1.0 else 1.0
    return total


#: The settings array (strategies/edge.entry_settings), in this order.
(UP, DOWN, HORIZON_MINUTES, MAX_IMAGES_SETTING, TARGET_RETURN_PCT, STOP_RETURN_PCT,
 ENTRY_FEE_BPS, EXIT_FEE_BPS, SLIPPAGE_BPS, MARGIN) = range(10)
SETTINGS = 10
_BPS = 1e-4  # strategies/edge.BPS


@jit
def _quoted_spread(bid: float, ask: float) -> float:
    """strategies/edge.quoted_spread of one quote."""
    if not (math.isfinite(bid) and math.isfinite(ask)) or bid <= 0 or ask <= bid:
        return 0.0
    return (ask - bid) / ((ask + bid) / 2)


@jit
def _fixed_code(x: float, decimals: float) -> float:  # pragma: no cover - compiled
    """2 q + s: q = |x| rounded to `decimals` (0..4) places as Python's "%.{decimals}f"
    rounds it (correctly, ties to even, on the float's exact binary value), s = 1 when x's
    sign bit is set (so -0.0 and -0.001 are told from 0.0). Two values with one code have
    one text under that format, and the other way round. NaN where it does not answer:
    NaN, infinities, |x| >= 1e10 (q must stay exact as a float), other decimals.

    Exact integer arithmetic: |x| = m 2^(e - 53) (frexp: m < 2^53 whole), so
    |x| 10^d = m 5^d / 2^(53 - e - d), with m 5^d < 2^63 for d <= 4."""
    if not math.isfinite(x) or not (0 <= decimals <= 4) or decimals != int(decimals):
        return math.nan
    sign = 1.0 if math.copysign(1.0, x) < 0 else 0.0
    size = abs(x)
    if size >= 1e10:
        return math.nan
    if size == 0.0:
        return sign
    fraction, exponent = math.frexp(size)
    places = int(decimals)
    scaled = np.int64(fraction * 9007199254740992.0)  # fraction x 2^53: exact, whole
    for _ in range(places):
        scaled *= 5
    shift = 53 - exponent - places  # >= 15: size < 1e10 < 2^34
    if shift >= 64:  # scaled < 2^63 <= half of 2^shift: rounds to 0
        return sign
    whole = scaled >> shift
    rest = scaled - (whole << shift)
    half = np.int64(1) << (shift - 1)
    if rest > half or (rest == half and (whole & 1) == 1):
        whole += 1
    return 2.0 * whole + sign


#: `entry_step_kernel`'s columns, each n long, in this order.
SCORE_COLUMN, DRIFT_COLUMN, SIGMA_COLUMN, QUOTED_COLUMN, BID_COLUMN, ASK_COLUMN, BUSY_COLUMN = (
    range(7))
COLUMNS = 7
#: Its step settings: `SETTINGS` entry settings, then these two.
MIN_SCORE, MAX_ENTRIES = SETTINGS, SETTINGS + 1
STEP_SETTINGS = SETTINGS + 2
#: What it makes of a coin (its KIND): held or ordered, score below the minimum, drift not
#: positive, no usable bid, weighed and failing its cost, weighed and bought, budget used.
BUSY, LOW_SCORE, NO_DRIFT, NO_QUOTE, FAILS, BUYS, FULL = range(7)
#: Its outputs, each n long: KIND, CODE_OR_EDGE (a LOW_SCORE's or NO_DRIFT's rounding code,
#: a weighed coin's edge), COST (a weighed coin's).
KIND, CODE_OR_EDGE, COST_OUT = range(3)
OUTPUTS = 3


@jit
def entry_step_kernel(  # pragma: no cover - compiled
    columns: np.ndarray, n: int, settings: np.ndarray,
) -> tuple[np.ndarray, float]:
    """A baseline entry step of n ranked coins in one call: `columns` [COLUMNS x n] (score,
    drift, sigma, quoted (finite: the coin has a quote), bid, ask, busy (1.0: held or
    ordered)), `settings` [STEP_SETTINGS] (the SETTINGS of strategies/edge.entry_settings,
    then MIN_SCORE, MAX_ENTRIES). Returns (out
    [OUTPUTS x n], widest): each coin's KIND as BaselinePolicy._entries' plain form decides
    it (the first of busy, score < min, drift <= 0, no quote or a bid not in (0, inf); else
    weighed:
    edge > cost x (1 + margin) buys until MAX_ENTRIES, and every coin after the entry that
    used the budget, or all at MAX_ENTRIES <= 0, is BUSY or FULL); as CODE_OR_EDGE the
    score's (2 places) or the percent drift's (4 places) `_fixed_code` of a LOW_SCORE or
    NO_DRIFT coin, or a weighed coin's edge (strategies/edge.barrier_edge of its score and
    stop_first_probability) and its COST (edge.round_trip_total of its edge.quoted_spread),
    bit for bit: the definitions' operations on -drift, sigma, score, bid, ask. `widest`:
    the largest image count over every coin that passes to weighing, the budget aside (NaN
    where the array form raises: a NaN horizon)."""
    up = settings[UP]
    down = settings[DOWN]
    max_images = settings[MAX_IMAGES_SETTING]
    min_score = settings[MIN_SCORE]
    out = np.zeros(OUTPUTS * n)
    horizon = settings[HORIZON_MINUTES]
    root_t = math.sqrt(horizon)
    widest = 1.0
    ok = np.empty(n, np.bool_)
    a = np.empty(n)
    b = np.empty(n)
    drift_m = np.empty(n)
    counts = np.empty(n)
    for k in range(n):
        score = columns[SCORE_COLUMN * n + k]
        drift = columns[DRIFT_COLUMN * n + k]
        bid = columns[BID_COLUMN * n + k]
        kind = FAILS  # weighed, until the second pass
        if columns[BUSY_COLUMN * n + k] != 0.0:
            kind = BUSY
        elif score < min_score:
            kind = LOW_SCORE
            out[CODE_OR_EDGE * n + k] = _fixed_code(score, 2.0)
        elif drift <= 0:
            kind = NO_DRIFT
            out[CODE_OR_EDGE * n + k] = _fixed_code(drift * 100, 4.0)
        elif not math.isfinite(columns[QUOTED_COLUMN * n + k]) or not 0 < bid < math.inf:
            kind = NO_QUOTE
        else:
            ok[k], a[k], b[k], drift_m[k], counts[k] = _standardized(
                down, up, -drift, columns[SIGMA_COLUMN * n + k], horizon, root_t, max_images)
            widest = _maximum(widest, counts[k])
        out[KIND * n + k] = kind
    if math.isnan(widest):
        return out, widest
    terms = np.empty(2 * int(widest) + 1)
    factor = 1 + settings[MARGIN]
    max_entries = settings[MAX_ENTRIES]
    full = max_entries <= 0
    entries = 0.0
    for k in range(n):
        if full:
            out[KIND * n + k] = BUSY if columns[BUSY_COLUMN * n + k] != 0.0 else FULL
            continue
        if out[KIND * n + k] != FAILS:
            continue
        p_stop = math.nan
        if ok[k]:
            p_stop = _series(a[k], b[k], drift_m[k], int(counts[k]), horizon, root_t, terms)
        edge = (columns[SCORE_COLUMN * n + k] * settings[TARGET_RETURN_PCT] / 100
                - p_stop * settings[STOP_RETURN_PCT] / 100)
        spread = _quoted_spread(columns[BID_COLUMN * n + k], columns[ASK_COLUMN * n + k])
        cost = (settings[ENTRY_FEE_BPS] + settings[EXIT_FEE_BPS] + spread / _BPS
                + settings[SLIPPAGE_BPS]) * _BPS
        out[CODE_OR_EDGE * n + k] = edge
        out[COST_OUT * n + k] = cost
        if edge > cost * factor:
            out[KIND * n + k] = BUYS
            entries += 1
            full = entries >= max_entries
    return out, widest
