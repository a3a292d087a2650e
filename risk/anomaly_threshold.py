"""Alarm thresholds from validation scores: a plain high percentile, or peaks over threshold.

Both answer "which score is exceeded by a share `rate` of ordinary minutes?" from scores on
held-out training-period rows (never the test period):

- `percentile`: the empirical (1 - rate) quantile. Exact in-sample, but at rate 0.1 % of
  ~50,000 validation rows it rests on the top 50 points.
- `evt` (peaks over threshold): pick a high base level u (the 1 - tail_share quantile), fit a
  generalized Pareto distribution to the exceedances over u by maximum likelihood (scipy),
  and invert its tail: t = u + sigma / xi * ((rate / tail_share)^(-xi) - 1) (xi -> 0:
  u - sigma * log(rate / tail_share)). The fit uses every exceedance, so the extreme
  quantile is smoother and can extrapolate past the largest score seen.

If the tail is too thin to fit (< 30 exceedances) or the rate is not inside it, `evt` falls
back to the percentile and says so in `detail`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

ThresholdMethod = Literal["evt", "percentile"]
MIN_EXCEEDANCES = 30


@dataclass(frozen=True, slots=True)
class Threshold:
    """An alarm level and how it was found."""

    value: float
    method: str
    rate: float  # the share of ordinary rows meant to exceed it
    detail: str


def percentile_threshold(scores: np.ndarray, rate: float) -> Threshold:
    """The empirical (1 - rate) quantile of the validation scores."""
    scores = _checked(scores, rate)
    value = float(np.quantile(scores, 1.0 - rate))
    return Threshold(value, "percentile", rate, f"{1 - rate:.4%} quantile of {len(scores)} rows")


def pot_threshold(scores: np.ndarray, rate: float, tail_share: float | None = None
                  ) -> Threshold:
    """Peaks-over-threshold (generalized Pareto) estimate of the (1 - rate) quantile."""
    from scipy.stats import genpareto

    scores = _checked(scores, rate)
    tail_share = tail_share if tail_share is not None else min(max(10 * rate, 0.02), 0.2)
    base = float(np.quantile(scores, 1.0 - tail_share))
    excess = scores[scores > base] - base
    if rate >= tail_share or len(excess) < MIN_EXCEEDANCES:
        fallback = percentile_threshold(scores, rate)
        why = (f"rate {rate} not inside the tail {tail_share}" if rate >= tail_share
               else f"only {len(excess)} exceedances")
        return Threshold(fallback.value, "percentile", rate, f"evt fell back ({why})")
    shape, _, scale = genpareto.fit(excess, floc=0.0)
    share = len(excess) / len(scores)
    ratio = rate / share
    if abs(shape) < 1e-6:
        value = base - scale * math.log(ratio)
    else:
        value = base + scale / shape * (ratio ** (-shape) - 1.0)
    return Threshold(float(value), "evt", rate,
                     f"GPD over u={base:.4g} ({len(excess)} exceedances): "
                     f"xi={shape:.3f}, sigma={scale:.4g}")


def find_threshold(scores: np.ndarray, method: ThresholdMethod, rate: float) -> Threshold:
    """`pot_threshold` for "evt", `percentile_threshold` for "percentile"."""
    if method == "evt":
        return pot_threshold(scores, rate)
    if method == "percentile":
        return percentile_threshold(scores, rate)
    raise ValueError(f"threshold method must be 'evt' or 'percentile', got {method!r}")


def _checked(scores: np.ndarray, rate: float) -> np.ndarray:
    if not 0 < rate < 1:
        raise ValueError(f"alarm rate must be in (0, 1), got {rate}")
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[np.isfinite(scores)]
    if len(scores) < 100:
        raise ValueError(f"{len(scores)} validation scores; need at least 100 for a threshold")
    return scores
