"""Bull/bear/sideways regime per window: a transparent threshold rule.

The rule: over a window of w minutes, compare the log return R_w with what a driftless
random walk with the coin's own 1-minute volatility would typically do, sigma * sqrt(w):

    z_w = R_w / (sigma * sqrt(w))
    regime_w = +1 (bull) if z_w > k,  -1 (bear) if z_w < -k,  0 (sideways) otherwise

with k = REGIME_K = 1 (a move larger than one random-walk standard deviation; under pure
noise about 32% of windows are labelled trending, so the label is a mild filter, not a
signal by itself). sigma is the 1-day std of 1m log returns: one volatility for all windows
keeps the four regimes comparable and is less noisy than the 1h estimate. A coin that has
not moved at all (sigma = 0) is sideways, z = 0.
"""

from __future__ import annotations

import numpy as np

REGIME_K = 1.0


def trend_z(log_return: np.ndarray, sigma_per_minute: np.ndarray,
            window_minutes: np.ndarray | float) -> np.ndarray:
    """R_w / (sigma sqrt(w)): the window's move in random-walk standard deviations; 0 when
    the coin has no volatility, NaN where an input is NaN."""
    scale = sigma_per_minute * np.sqrt(window_minutes)
    z = np.divide(log_return, scale, out=np.zeros(np.broadcast(log_return, scale).shape),
                  where=scale > 0)
    return np.where(np.isnan(log_return) | np.isnan(scale), np.nan, z)


def regime(z: np.ndarray, k: float = REGIME_K) -> np.ndarray:
    """+1 bull / -1 bear / 0 sideways from `trend_z`; NaN stays NaN."""
    label = np.where(z > k, 1.0, np.where(z < -k, -1.0, 0.0))
    return np.where(np.isnan(z), np.nan, label)
