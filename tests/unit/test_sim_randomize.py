"""Domain randomization (exchange/sim/randomize.py): parameter sets drawn around a fit.

A draw must always be a market the model accepts, move each size by the stated log-normal
factor, keep what describes *when* (profiles, regime durations, bar length), and be
reproducible from its seed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from exchange.sim.market_params import COIN_FIELDS, SCALAR_FIELDS, MarketParams
from exchange.sim.randomize import randomized, randomized_markets
from tests.market_params_example import example_params


def test_scale_zero_is_the_fit_itself() -> None:
    fit = example_params()
    assert randomized(fit, np.random.default_rng(0), 0.0) is fit
    assert randomized_markets(fit, 3, 0, 0.0) == [fit, fit, fit]


def test_the_same_seed_draws_the_same_markets_and_another_seed_other_ones() -> None:
    fit = example_params()
    first = randomized_markets(fit, 4, seed=11, scale=0.3)
    assert first == randomized_markets(fit, 4, seed=11, scale=0.3)
    assert first != randomized_markets(fit, 4, seed=12, scale=0.3)
    assert len({draw.vol_per_min for draw in first}) == 4  # the four markets differ


def test_a_size_moves_by_a_log_normal_factor_of_sigma_scale() -> None:
    """2000 draws of the volatility level: log(draw / fit) has mean ~0 and sd ~scale."""
    fit = example_params()
    draws = randomized_markets(fit, 2000, seed=3, scale=0.25)
    logs = np.log([draw.vol_per_min[0] / fit.vol_per_min[0] for draw in draws])
    assert abs(logs.mean()) < 0.02  # standard error 0.25 / sqrt(2000) = 0.006
    assert logs.std() == pytest.approx(0.25, rel=0.06)


def test_one_factor_moves_all_coins_so_their_dispersion_is_kept() -> None:
    fit = example_params(vol_per_min=(0.001, 0.002, 0.004, 0.008))
    draw = randomized(fit, np.random.default_rng(5), 0.4)
    ratios = np.array(draw.vol_per_min) / np.array(fit.vol_per_min)
    assert np.allclose(ratios, ratios[0], rtol=1e-12) and not math.isclose(ratios[0], 1.0)


def test_probabilities_and_persistences_stay_below_one_at_any_scale() -> None:
    """Odds and half-lives, not the values, are scaled: even sigma 3 never reaches 1 (a
    half-life of ~0 may underflow to 0, white noise, which the range allows), and every
    draw passes the parameter file's own range checks (MarketParams checks on
    construction)."""
    fit = example_params(no_trade_prob=(0.3,) * 4, jump_prob=(0.01,) * 4)
    for draw in randomized_markets(fit, 300, seed=8, scale=3.0):
        assert isinstance(draw, MarketParams)
        for name in ("no_trade_prob", "jump_prob", "quote_refresh_prob", "volume_persistence"):
            low, high = COIN_FIELDS[name]
            assert all(low <= v <= high for v in getattr(draw, name)), name
        for name in ("vol_fast_persistence", "vol_slow_persistence"):
            low, high = SCALAR_FIELDS[name]
            assert low <= getattr(draw, name) <= high < 1, name


def test_a_persistence_moves_through_its_half_life() -> None:
    fit = example_params(vol_fast_persistence=0.9)
    half_life = math.log(0.5) / math.log(0.9)
    logs = [math.log(math.log(0.5) / math.log(d.vol_fast_persistence) / half_life)
            for d in randomized_markets(fit, 1500, seed=2, scale=0.5)]
    assert np.std(logs) == pytest.approx(0.5, rel=0.08)


def test_the_regime_ratio_moves_but_the_mean_variance_does_not() -> None:
    """The turbulent/calm ratio is drawn; the time-weighted mean variance of the two regimes
    is the fit's, so the market's volatility level is set by vol_per_min alone."""
    fit = example_params(regime_vol_multiplier=(0.8, 2.0), regime_mean_minutes=(720.0, 240.0))

    def mean_variance(params: MarketParams) -> float:
        calm, turbulent = params.regime_vol_multiplier
        return 0.75 * calm ** 2 + 0.25 * turbulent ** 2

    ratios = set()
    for draw in randomized_markets(fit, 20, seed=4, scale=0.3):
        assert mean_variance(draw) == pytest.approx(mean_variance(fit), rel=1e-12)
        calm, turbulent = draw.regime_vol_multiplier
        ratios.add(round(turbulent / calm, 9))
    assert len(ratios) == 20


def test_when_things_happen_is_the_fits_not_drawn() -> None:
    fit = example_params(hour_vol_profile=tuple(1.0 + 0.01 * h for h in range(24)))
    draw = randomized(fit, np.random.default_rng(1), 0.5)
    assert draw.hour_vol_profile == fit.hour_vol_profile
    assert draw.hour_volume_profile == fit.hour_volume_profile
    assert draw.regime_mean_minutes == fit.regime_mean_minutes
    assert draw.bar_minutes == fit.bar_minutes and draw.symbols == fit.symbols
    assert "randomized (scale 0.5)" in draw.source and fit.source in draw.source


@pytest.mark.parametrize("scale", [-0.1, float("nan"), float("inf")])
def test_a_negative_or_non_finite_scale_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="randomization scale"):
        randomized(example_params(), np.random.default_rng(0), scale)


def test_zero_markets_is_refused() -> None:
    with pytest.raises(ValueError, match="markets must be >= 1"):
        randomized_markets(example_params(), 0, seed=0, scale=0.1)
