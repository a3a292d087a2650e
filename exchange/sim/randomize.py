"""Domain randomization: market parameter sets drawn around a calibrated fit.

A policy pre-trained on one simulated market learns that market's quirks; one trained on
many markets that differ the way an estimate might be wrong learns what they share. Each
draw moves every *size* of the fit by one market-wide log-normal factor per field (all
coins alike, so the fit's cross-coin dispersion is kept): volatility level and its clustering
and regime ratio, tails, jumps, the bid-ask bounce, quiet minutes, the market factor and
volume. Persistences move through their half-lives and probabilities through their odds, so
a draw can never leave (0, 1); every value is then clipped to the range `MarketParams`
accepts. `scale` is the log-normal's sigma: 0 returns the fit itself, 0.25 moves a size by
about ±25 % (one sigma). The hour-of-day profiles, regime durations and bar length are the
fit's: they describe *when* and *how long*, not how big.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from exchange.sim.market_params import COIN_FIELDS, SCALAR_FIELDS, MarketParams

#: Per-coin fields scaled multiplicatively (sizes).
COIN_SIZES = ("vol_per_min", "jump_size", "half_spread_bps", "volume_level",
              "volume_noise", "volume_shock_link", "tail_df")
#: Per-coin probabilities, moved through their odds.
COIN_PROBABILITIES = ("jump_prob", "no_trade_prob", "quote_refresh_prob")
#: Per-coin AR(1) coefficients, moved through their half-lives.
COIN_PERSISTENCES = ("volume_persistence",)
SCALAR_SIZES = ("vol_fast_var", "vol_slow_var", "volume_vol_link", "activity_vol_link",
                "factor_vol_per_min", "factor_lag_min", "transient_vol_ratio")
SCALAR_PERSISTENCES = ("vol_fast_persistence", "vol_slow_persistence", "transient_persistence")
#: The drawn turbulent/calm volatility ratio is capped here (fits read 1.5-4); a wider draw
#: would push the calm multiplier below what `MarketParams` accepts.
MAX_REGIME_RATIO = 20.0


def randomized(params: MarketParams, rng: np.random.Generator, scale: float) -> MarketParams:
    """One market's parameters drawn around `params` (see the module docstring); the same
    generator state gives the same draw. `scale` < 0 is refused."""
    if not math.isfinite(scale) or scale < 0:
        raise ValueError(f"randomization scale must be a finite number >= 0, got {scale}")
    if scale == 0:
        return params
    changes: dict[str, object] = {}
    for names, move in _COIN_MOVES:
        for name in names:
            factor = math.exp(scale * float(rng.standard_normal()))
            low, high = COIN_FIELDS[name]
            changes[name] = tuple(_clip(move(value, factor), low, high)
                                  for value in getattr(params, name))
    for names, move in _SCALAR_MOVES:
        for name in names:
            factor = math.exp(scale * float(rng.standard_normal()))
            low, high = SCALAR_FIELDS[name]
            changes[name] = _clip(move(getattr(params, name), factor), low, high)
    calm, turbulent = params.regime_vol_multiplier
    ratio = max(turbulent / calm, 1.0) ** math.exp(scale * float(rng.standard_normal()))
    ratio = min(ratio, MAX_REGIME_RATIO)
    changes["regime_vol_multiplier"] = _regime_multipliers(params, ratio)
    changes["source"] = f"randomized (scale {scale:g}) around: {params.source}"
    return replace(params, **changes)  # type: ignore[arg-type]


def randomized_markets(params: MarketParams, markets: int, seed: int,
                       scale: float) -> list[MarketParams]:
    """`markets` independent draws around `params` from one seeded generator."""
    if markets < 1:
        raise ValueError(f"markets must be >= 1, got {markets}")
    rng = np.random.default_rng(seed)
    return [randomized(params, rng, scale) for _ in range(markets)]


def _scaled_size(value: float, factor: float) -> float:
    return value * factor


def _scaled_odds(value: float, factor: float) -> float:
    """p with its odds p / (1 - p) multiplied by `factor` (0 and 1 stay where they are)."""
    if value <= 0 or value >= 1:
        return value
    odds = value / (1 - value) * factor
    return odds / (1 + odds)


def _scaled_half_life(value: float, factor: float) -> float:
    """An AR(1) coefficient whose half-life is multiplied by `factor` (0 stays 0)."""
    if value <= 0 or value >= 1:
        return value
    half_life = math.log(0.5) / math.log(value) * factor
    return 0.5 ** (1 / half_life)


Move = Callable[[float, float], float]
#: Each group of fields with how a factor moves it, in the order the draws are taken.
_COIN_MOVES: tuple[tuple[tuple[str, ...], Move], ...] = (
    (COIN_SIZES, _scaled_size), (COIN_PROBABILITIES, _scaled_odds),
    (COIN_PERSISTENCES, _scaled_half_life))
_SCALAR_MOVES: tuple[tuple[tuple[str, ...], Move], ...] = (
    (SCALAR_SIZES, _scaled_size), (SCALAR_PERSISTENCES, _scaled_half_life))


def _regime_multipliers(params: MarketParams, ratio: float) -> tuple[float, float]:
    """Calm and turbulent multipliers with turbulent / calm = `ratio`, keeping the fit's
    time-weighted mean variance (so the drawn vol level is `vol_per_min`'s alone)."""
    calm_minutes, turbulent_minutes = params.regime_mean_minutes
    share = turbulent_minutes / (calm_minutes + turbulent_minutes)
    calm_old, turbulent_old = params.regime_vol_multiplier
    variance = (1 - share) * calm_old ** 2 + share * turbulent_old ** 2
    calm = math.sqrt(variance / ((1 - share) + share * ratio ** 2))
    return (calm, calm * ratio)


def _clip(value: float, low: float, high: float) -> float:
    return min(max(float(value), low), high)


__all__ = ["randomized", "randomized_markets"]
