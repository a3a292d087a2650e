"""First-passage probability of Brownian motion with drift between two barriers.

Model: the log price moves as X_t = mu t + sigma W_t (t in minutes). We want
P(X hits +up before it hits -down, and within the horizon T) for every coin at once.

Closed form used (method of images plus Girsanov; e.g. Borodin & Salminen, "Handbook of
Brownian Motion", 2.1.3.2 / Cox & Miller ch. 5). In units where sigma = 1
(a = up / sigma, b = down / sigma, m = mu / sigma, L = a + b), the density of exiting at
the upper barrier at time t is exp(m a - m^2 t / 2) * sum_k d_k / sqrt(2 pi t^3)
exp(-d_k^2 / (2 t)) with images d_k = a + 2 k L, k in Z. Each image term integrates over
[0, T] to an inverse-Gaussian CDF, so

    P_up(T) = sum_k sign(d_k) exp(m (a - d_k)) G(|d_k|, sign(d_k) m, T),
    G(d, nu, T) = Phi((nu T - d) / sqrt T) + exp(2 nu d) Phi((-nu T - d) / sqrt T),

a series of normal CDFs (evaluated in log space so large exponents never overflow). Terms
decay like exp(-(2 k L)^2 / (2 T)); we keep |k| <= K with 2 K L >= |m| T + 8 sqrt(T), which
leaves a truncation error far below the 1e-7 accuracy of the normal CDF used here.
"""

from __future__ import annotations

import numpy as np

from model import libm

MAX_IMAGES = 256
_LOG_HALF = float(libm.log(0.5))


def log_normal_cdf(x: np.ndarray) -> np.ndarray:
    """log Phi(x), accurate to ~1e-7 relative and finite far into the lower tail.

    numpy has no erf; this is the Chebyshev-fitted erfc of Numerical Recipes (erfcc,
    fractional error < 1.2e-7), whose exp(-z^2 ...) form gives log erfc without underflow.
    """
    u = -np.asarray(x, dtype=np.float64) / np.sqrt(2.0)
    z = np.abs(u)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))
    log_erfc_z = libm.log(t) - z * z + poly  # log erfc(|u|)
    upper = _LOG_HALF + log_erfc_z  # u >= 0, i.e. x <= 0
    lower = libm.log1p(-0.5 * libm.exp(log_erfc_z))  # u < 0: erfc(u) = 2 - erfc(|u|)
    return np.where(u >= 0, upper, lower)


def probability_up_first(up: np.ndarray | float, down: np.ndarray | float,
                         drift: np.ndarray | float, sigma: np.ndarray | float,
                         horizon: float) -> np.ndarray:
    """P(log price reaches +up before -down within `horizon` minutes), vectorized.

    `up`, `down` > 0 are log distances to the barriers; `drift` (per minute) and `sigma`
    (per sqrt minute) are the coin's estimates, broadcast together. sigma <= 0 or NaN
    inputs give NaN: no volatility estimate, no probability."""
    ok, a, b, m = _standardized(up, down, drift, sigma)
    images = int(_image_counts(a, b, m, horizon).max(initial=1.0))
    return _series(ok, a, b, m, float(horizon), images)


#: Cells of one series evaluation in `probability_up_first_by_row` (each holds ~2 x images
#: terms in about ten temporaries: ~90 MB at 17 images).
SERIES_BATCH_CELLS = 32_768


def probability_up_first_by_row(up: float, down: float, drift: np.ndarray, sigma: np.ndarray,
                                horizon: float) -> np.ndarray:
    """`probability_up_first` of every row of [T, n] arrays as if called on that row alone,
    bit for bit: what ranking gives at one decision step, for a whole history.

    The series keeps the images the most demanding element of its array needs, so one call
    over [T, n] would give a row other last bits than the row alone (and hold T x n x
    images temporaries). The rows are taken `SERIES_BATCH_CELLS` cells at a time, and
    within them the rows needing the same number of images together."""
    drift, sigma = np.broadcast_arrays(np.asarray(drift, dtype=np.float64),
                                       np.asarray(sigma, dtype=np.float64))
    if drift.ndim != 2:
        raise ValueError(f"drift and sigma must be [T, n] arrays, got shape {drift.shape}")
    out = np.empty(drift.shape)
    rows_per_batch = max(1, SERIES_BATCH_CELLS // max(drift.shape[1], 1))
    for first in range(0, drift.shape[0], rows_per_batch):
        batch = slice(first, first + rows_per_batch)
        ok, a, b, m = _standardized(up, down, drift[batch], sigma[batch])
        per_row = _image_counts(a, b, m, horizon).max(axis=-1, initial=1.0)
        part = out[batch]
        part[...] = np.nan
        for images in np.unique(per_row):
            # Only the cells with a probability: the others set the row's length, no value.
            at = (per_row == images)[:, None] & ok
            part[at] = _series(ok[at], a[at], b[at], m[at], float(horizon), int(images))
    return out


def _standardized(up: np.ndarray | float, down: np.ndarray | float,
                  drift: np.ndarray | float, sigma: np.ndarray | float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(ok, a, b, m): which elements have a probability, and the barriers and drift in
    units of sigma (harmless placeholders where not ok)."""
    # No np.broadcast_arrays: `ok` combines all four, so every output below already has
    # the broadcast shape (the same values; broadcast_arrays' Python cost was not small).
    up, down, drift, sigma = (np.asarray(v, dtype=np.float64) for v in (up, down, drift, sigma))
    ok = (sigma > 0) & np.isfinite(sigma) & np.isfinite(drift) & (up > 0) & (down > 0)
    safe_sigma = np.where(ok, sigma, 1.0)
    a = np.where(ok, up, 1.0) / safe_sigma
    b = np.where(ok, down, 1.0) / safe_sigma
    m = np.where(ok, drift, 0.0) / safe_sigma
    return ok, a, b, m


def _image_counts(a: np.ndarray, b: np.ndarray, m: np.ndarray, horizon: float) -> np.ndarray:
    """Images each element needs, 1..MAX_IMAGES (as float): 2 K L >= |m| T + 8 sqrt(T)."""
    horizon = float(horizon)
    needed = (np.abs(m) * horizon + 8.0 * np.sqrt(horizon)) / (2.0 * (a + b))
    # np.minimum/np.maximum rather than np.clip: the same values (NaN stays NaN), without
    # np.clip's Python wrapper on a per-step call.
    return np.minimum(np.maximum(np.ceil(needed) + 1, 1), MAX_IMAGES)


def _series(ok: np.ndarray, a: np.ndarray, b: np.ndarray, m: np.ndarray, horizon: float,
            images: int) -> np.ndarray:
    """The image series with |k| <= `images`, clipped to [0, 1]; NaN where not ok."""
    total = _terms(a, b, m, horizon, images).sum(axis=-1)
    return np.where(ok, np.clip(total, 0.0, 1.0), np.nan)


def _terms(a: np.ndarray, b: np.ndarray, m: np.ndarray, horizon: float,
           images: int) -> np.ndarray:
    """The series' signed terms, k = -images..images along a new last axis.

    Each term has two parts, exp(m (a - d)) Phi((s m T - |d|) / sqrt T) and exp(m (a + d))
    Phi((-s m T - |d|) / sqrt T); both go through `log_normal_cdf` and `exp` stacked in one
    array: the same elementwise operations (-s m T is -(s m T) exactly), half the numpy
    calls, which at a step's 20-coin arrays are the cost."""
    width = a + b
    root_t = np.sqrt(horizon)
    k = np.arange(-images, images + 1, dtype=np.float64)
    d = a[..., None] + 2.0 * k * width[..., None]
    sign = np.sign(d)
    distance = np.abs(d)
    m_ = m[..., None]
    a_ = a[..., None]
    drift_term = sign * m_ * horizon
    log_cdf = log_normal_cdf(np.stack((drift_term - distance, -drift_term - distance)) / root_t)
    parts = libm.exp(np.stack((m_ * (a_ - d), m_ * (a_ + d))) + log_cdf)
    return sign * (parts[0] + parts[1])


def probability_up_first_unbounded(up: np.ndarray | float, down: np.ndarray | float,
                                   drift: np.ndarray | float,
                                   sigma: np.ndarray | float) -> np.ndarray:
    """The T -> infinity limit: (1 - exp(-2 m b)) / (1 - exp(-2 m (a + b))), b / (a + b)
    without drift (gambler's ruin for Brownian motion). Used to check the series."""
    a = np.asarray(up, dtype=np.float64) / sigma
    b = np.asarray(down, dtype=np.float64) / sigma
    m = np.asarray(drift, dtype=np.float64) / sigma
    with np.errstate(divide="ignore", invalid="ignore"):
        drifted = libm.expm1(-2 * m * b) / libm.expm1(-2 * m * (a + b))
    return np.where(np.abs(m) < 1e-12, b / (a + b), drifted)
