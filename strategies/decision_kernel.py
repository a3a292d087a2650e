"""A decision step's feature row and ranking score of every coin, compiled (numba).

Why compiled: on the live 1m path (`FeatureBook.matrix()` and `rank()` on one
[n_symbols, n_features] matrix) `assemble`, `score_features` and the barrier series were
~150 numpy calls a step on 20-element arrays, whatever the number of coins: about half of a
replayed minute's fixed cost. A scalar loop over the coins does the same IEEE operations in
the same order, so the results are the array forms' bit for bit (NaNs aside, whose payload
no decision reads): `math.log`/`log1p`/`exp`/`expm1` are the C library's, as
`model.libm`'s; `np.maximum`/`np.minimum` propagate NaN as below; every `np.where` becomes
the branch it selects; the one sum whose order is not left to right (the image series, up
to 513 terms) is numpy's pairwise summation, reproduced in `_pairwise_sum`.
tests/unit/test_decision_kernel.py holds each kernel equal to its array form
(strategies/feature_columns.assemble, strategies/ranking.score_features), which stays the
definition and the path of every other shape ([T, n] histories, bars longer than a minute,
forecasts and anomaly scores). `error_model="numpy"`: x / 0 gives inf/NaN, never raises.

Everything the kernels call is defined in this file: numba's cache judges a compiled
function fresh by its own file's stamp only.
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


@jit
def assemble_minute_kernel(  # pragma: no cover - compiled
    n_seen: np.ndarray, close: np.ndarray, minute: np.ndarray, tick_ts: np.ndarray,
    tick_last: np.ndarray, sum_close: np.ndarray, sum_qv: np.ndarray, sum_ret: np.ndarray,
    sum_ret2: np.ndarray, high: np.ndarray, low: np.ndarray, bid: np.ndarray,
    ask: np.ndarray, bid_qty: np.ndarray, ask_qty: np.ndarray, tick_quote_volume: np.ndarray,
    average_windows: np.ndarray, return_windows: np.ndarray, square_slots: np.ndarray,
    hour: int, day: int, minute_ms: int, n_features: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(features [n, n_features], last [n]): `FeatureBook.primitives()` then
    `feature_columns.assemble()` on 1m bars, row by row (see the module docstring); the
    column layout is FEATURE_NAMES' (the caller checks its width)."""
    n = n_seen.shape[0]
    n_avg = average_windows.shape[0]
    n_ret = return_windows.shape[0]
    n_range = high.shape[1]
    out = np.empty((n, n_features))
    last_out = np.empty(n)
    for i in range(n):
        seen = float(n_seen[i])
        newer = tick_ts[i] > (minute[i] + 1) * minute_ms - 1 or n_seen[i] == 0
        last = tick_last[i] if newer and math.isfinite(tick_last[i]) else close[i]
        last_out[i] = last
        row = out[i]
        reference = sum_qv[i, n_avg - 1] / _minimum(seen, average_windows[n_avg - 1])
        for j in range(n_avg):
            count = _minimum(seen, average_windows[j])
            row[j] = _log(last / (sum_close[i, j] / count))
            mean_qv = sum_qv[i, j] / count
            row[n_avg + j] = _log1p(mean_qv / reference if reference > 0 else 0.0)
        col = 2 * n_avg
        behind = _maximum(seen - 1, 0.0)
        sigma_1h = sigma_1d = 0.0
        for s in range(2):
            slot = square_slots[s]
            count = _minimum(behind, return_windows[slot])
            mean_ret = sum_ret[i, slot] / count
            variance = _maximum(sum_ret2[i, s] / count - mean_ret * mean_ret, 0.0)
            sigma = math.sqrt(variance / 1.0) if count >= 2 else math.nan
            row[col + s] = sigma
            if s == 0:
                sigma_1h = sigma
            else:
                sigma_1d = sigma
        level = sigma_1h / sigma_1d if sigma_1d > 0 else 1.0
        row[col + 2] = math.nan if math.isnan(sigma_1d) else level
        col += 3
        for g in range(n_range):
            span = high[i, g] - low[i, g]
            row[col + g] = (last - low[i, g]) / span if span > 0 else 0.5
        col += n_range
        log_move = _log(last / close[i])
        for r in range(n_ret):
            ret = sum_ret[i, r] + log_move
            window = _maximum(_minimum(behind, return_windows[r]), 1.0) * 1.0
            scale = sigma_1d * math.sqrt(window)
            z = ret / scale if scale > 0 else 0.0
            if math.isnan(ret) or math.isnan(scale):
                z = math.nan
            row[col + r] = ret
            row[col + n_ret + r] = z
            if math.isnan(z):
                row[col + 2 * n_ret + r] = math.nan
            else:
                row[col + 2 * n_ret + r] = 1.0 if z > 1.0 else (-1.0 if z < -1.0 else 0.0)
        col += 3 * n_ret
        row[col] = _log1p(sum_qv[i, hour])
        row[col + 1] = _log1p(sum_qv[i, day])
        col += 2
        no_bars = n_seen[i] <= 0
        if no_bars:
            row[:col] = math.nan
        mid = (ask[i] + bid[i]) / 2
        spread = (ask[i] - bid[i]) / mid * 1e4
        row[col] = spread if bid[i] > 0 and ask[i] > 0 else math.nan
        depth = bid_qty[i] + ask_qty[i]
        imbalance = (bid_qty[i] - ask_qty[i]) / depth if depth > 0 else 0.0
        row[col + 1] = math.nan if math.isnan(depth) else imbalance
        row[col + 2] = _log1p(tick_quote_volume[i])
        row[col + 3] = seen
        if no_bars and math.isnan(last):
            row[:] = math.nan
    return out, last_out


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


@jit
def rank_scores_kernel(  # pragma: no cover - compiled
    features: np.ndarray, return_columns: np.ndarray, trend_columns: np.ndarray,
    scalar_columns: np.ndarray, return_windows: np.ndarray, min_warm_minutes: float,
    min_quote_volume_24h: float, max_spread_bps: float, require_quotes: bool,
    horizon_minutes: float, up: float, down: float, max_images: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """(probability, drift, sigma, eligible, contributions, returns, images) of
    `ranking.score_features` on one 1m matrix [n, n_features] without forecast or anomaly
    scores, and `barrier_probability` on them; `images` is the series' length as
    `barrier.probability_up_first` takes it (NaN where that raises). `scalar_columns`:
    sigma_1h, sigma_1d, warm_minutes, spread_bps, tick_turnover_24h, turnover_1d."""
    n = features.shape[0]
    n_ret = return_columns.shape[0]
    probability = np.full(n, np.nan)
    drift = np.empty(n)
    sigma = np.empty(n)
    eligible = np.empty(n, np.bool_)
    contributions = np.empty((n, n_ret))
    returns = np.empty((n, n_ret))
    a = np.empty(n)
    b = np.empty(n)
    m = np.empty(n)
    ok = np.empty(n, np.bool_)
    images = 1.0
    horizon = float(horizon_minutes)
    root_t = math.sqrt(horizon)
    for i in range(n):
        row = features[i]
        sigma_1h, sigma_1d = row[scalar_columns[0]], row[scalar_columns[1]]
        warm, spread = row[scalar_columns[2]], row[scalar_columns[3]]
        tick_turnover, turnover_1d = row[scalar_columns[4]], row[scalar_columns[5]]
        sigma[i] = math.sqrt((sigma_1h * sigma_1h + sigma_1d * sigma_1d) / 2)
        span = _maximum(warm - 1.0, 1.0)
        per_window = np.empty(n_ret)
        for r in range(n_ret):
            ret = row[return_columns[r]]
            z = row[trend_columns[r]]
            returns[i, r] = ret
            shrink = z * z / (1 + z * z)
            per_window[r] = 0.5 * shrink * ret / _minimum(return_windows[r], span) / n_ret
            contributions[i, r] = per_window[r] * horizon_minutes
        drift[i] = _pairwise_sum(per_window, 0, n_ret)
        volume_24h = math.expm1(tick_turnover if math.isfinite(tick_turnover) else turnover_1d)
        quotes_ok = spread <= max_spread_bps or (not require_quotes and math.isnan(spread))
        eligible[i] = (warm >= min_warm_minutes and volume_24h >= min_quote_volume_24h
                       and quotes_ok and sigma[i] > 0 and math.isfinite(drift[i]))
        # barrier.probability_up_first on where(eligible, drift, 0), where(eligible, sigma, NaN)
        coin_drift = drift[i] if eligible[i] else 0.0
        coin_sigma = sigma[i] if eligible[i] else math.nan
        ok[i], a[i], b[i], m[i], count = _standardized(up, down, coin_drift, coin_sigma,
                                                       horizon, root_t, max_images)
        images = _maximum(images, count)
    if math.isnan(images):
        return probability, drift, sigma, eligible, contributions, returns, images
    k_max = int(images)
    terms = np.empty(2 * k_max + 1)
    for i in range(n):
        if not (ok[i] and eligible[i]):
            continue
        probability[i] = _series(a[i], b[i], m[i], k_max, horizon, root_t, terms)
    return probability, drift, sigma, eligible, contributions, returns, images
