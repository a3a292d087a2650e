"""The calm/turbulent regimes' volatility multipliers, fitted from how peaked hourly returns are.

Real hourly returns are a scale mixture: Bittrex's standardized 1h returns have excess
kurtosis 4-7 (2017-11, -12), while a model whose volatility varies only within hours (the
fast log-vol component) and over half a day (the slow one) reads 0.5-1.2. The regime chain
is the model's market-wide volatility state: it scales every coin's sigma and the market
factor together, so hourly returns get their mixture without moving the ratios that a
per-coin or a factor-only state would (the variance ratio, the cross-coin correlation).

The statistic is the "peakedness deficit" of a unit-variance sample z,
d = 1 - sqrt(pi / 2) E|z|: 0 for a Gaussian, 1 - E[s] for a Gaussian scaled by s with
E[s^2] = 1. It is a first absolute moment, so a handful of extreme hours cannot swing it
(kurtosis from 240 hours per coin can). Two regimes, turbulent a share p of the time, with
multipliers (m, r m) normalized to E[m^2] = 1 give
    E[s] = (1 - p + p r) / sqrt(1 - p + p r^2),
which `ratio_for_deficit` inverts. Other parts of the model (jumps, the fast state) make
hourly returns peaked too, so `corrected_ratio` moves the regimes' own deficit by the gap
between the real and the simulated one, a round at a time.
"""

from __future__ import annotations

import math

import numpy as np

#: The largest turbulent / calm volatility ratio the fit may reach: beyond it a 10-day
#: sample holds two or three turbulent spells that decide every hourly statistic.
MAX_RATIO = 6.0
#: One round moves the regimes' deficit by at most this much (the peakedness of a
#: simulated month moves +-0.01 with the seed).
MAX_DEFICIT_STEP = 0.05
_SQRT_HALF_PI = math.sqrt(math.pi / 2)


def peakedness_deficit(standardized: np.ndarray) -> float:
    """1 - sqrt(pi/2) E|z| of a standardized sample (NaN dropped): 0 for a Gaussian,
    positive for a peaked, fat-tailed one; NaN when the sample is empty."""
    values = np.asarray(standardized, float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    return float(1.0 - _SQRT_HALF_PI * np.mean(np.abs(values)))


def turbulent_share(mean_minutes: tuple[float, ...]) -> float:
    """The turbulent regime's stationary share of time, from the regimes' mean durations
    (calm, turbulent)."""
    calm, turbulent = (float(m) for m in mean_minutes)
    return turbulent / (calm + turbulent)


def mixture_deficit(ratio: float, share: float) -> float:
    """The peakedness deficit, 1 - E[s], of two regimes with volatility ratio `ratio`, the
    turbulent one a `share` of the time, normalized to E[s^2] = 1."""
    return 1.0 - (1 - share + share * ratio) / math.sqrt(1 - share + share * ratio**2)


def ratio_for_deficit(deficit: float, share: float) -> float:
    """The volatility ratio (1..MAX_RATIO) whose two-regime mixture has this deficit
    (bisection: for any share the deficit rises with the ratio above 1)."""
    if not deficit > 0:
        return 1.0
    low, high = 1.0, MAX_RATIO
    if deficit >= mixture_deficit(high, share):
        return high
    for _ in range(60):
        middle = (low + high) / 2
        if mixture_deficit(middle, share) < deficit:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def multipliers(ratio: float, share: float) -> tuple[float, float]:
    """(calm, turbulent) volatility multipliers with the given ratio and E[m^2] = 1, so the
    regimes leave the average variance (the fitted vol level) alone."""
    calm = 1.0 / math.sqrt(1 - share + share * ratio**2)
    return calm, calm * ratio


def corrected_ratio(ratio: float, share: float, target: float, simulated: float) -> float:
    """One round: the regimes' own deficit moved by the real minus the simulated deficit
    (at most MAX_DEFICIT_STEP), back to a ratio; unchanged when either is undefined."""
    if not (math.isfinite(target) and math.isfinite(simulated)):
        return ratio
    step = float(np.clip(target - simulated, -MAX_DEFICIT_STEP, MAX_DEFICIT_STEP))
    return ratio_for_deficit(mixture_deficit(ratio, share) + step, share)


def corrected_multipliers(current: tuple[float, ...], mean_minutes: tuple[float, ...],
                          target_1h: np.ndarray, simulated_1h: np.ndarray
                          ) -> tuple[float, float]:
    """One calibration round for the (calm, turbulent) multipliers: their ratio moved so
    that the simulated standardized 1h returns get as peaked as the real ones."""
    share = turbulent_share(mean_minutes)
    calm, turbulent = (float(m) for m in current)
    ratio = corrected_ratio(max(turbulent / calm, 1.0), share,
                            peakedness_deficit(target_1h), peakedness_deficit(simulated_1h))
    calm, turbulent = multipliers(ratio, share)
    return float(f"{calm:.6g}"), float(f"{turbulent:.6g}")  # a small, readable file
