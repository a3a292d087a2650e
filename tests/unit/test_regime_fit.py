"""The regimes' volatility ratio from the peakedness of standardized returns: the estimator
inverts its own mixture exactly, recovers a known ratio from a sampled scale mixture, and a
calibration on a market with turbulent spells makes its hourly returns as peaked as the
known market's."""

from __future__ import annotations

import math

import numpy as np
import pytest

from exchange.sim.calibrate import fit, simulate_panel
from exchange.sim.market_params import MarketParams
from exchange.sim.regime_fit import (
    MAX_DEFICIT_STEP,
    MAX_RATIO,
    corrected_multipliers,
    corrected_ratio,
    mixture_deficit,
    multipliers,
    peakedness_deficit,
    ratio_for_deficit,
    turbulent_share,
)
from exchange.sim.stylized_facts import stylized_facts
from tests.market_params_example import example_params

START_MS = 1_700_006_400_000
SHARE = 0.25  # turbulent 240 of every 960 minutes


def _mixture_sample(ratio: float, share: float, size: int, seed: int) -> np.ndarray:
    """Gaussians scaled by a two-regime volatility, standardized as the report does."""
    rng = np.random.default_rng(seed)
    calm, turbulent = multipliers(ratio, share)
    scale = np.where(rng.random(size) < share, turbulent, calm)
    values = scale * rng.standard_normal(size)
    return (values - values.mean()) / values.std()


@pytest.mark.parametrize("ratio", [1.0, 1.5, 2.5, 4.0])
@pytest.mark.parametrize("share", [0.1, 0.25, 0.5])
def test_the_deficit_of_a_mixture_inverts_to_its_ratio(ratio: float, share: float) -> None:
    assert ratio_for_deficit(mixture_deficit(ratio, share), share) == pytest.approx(ratio,
                                                                                    rel=1e-6)


def test_multipliers_keep_the_average_variance_and_give_the_ratio() -> None:
    calm, turbulent = multipliers(3.0, SHARE)
    assert (1 - SHARE) * calm**2 + SHARE * turbulent**2 == pytest.approx(1.0)
    assert turbulent / calm == pytest.approx(3.0)
    assert turbulent_share((720.0, 240.0)) == pytest.approx(SHARE)


def test_a_gaussian_sample_is_not_peaked() -> None:
    assert abs(peakedness_deficit(_mixture_sample(1.0, SHARE, 400_000, seed=1))) < 0.005
    assert math.isnan(peakedness_deficit(np.array([np.nan])))


@pytest.mark.parametrize("ratio", [2.0, 3.0])
def test_a_sampled_mixture_gives_back_its_ratio_within_5_percent(ratio: float) -> None:
    sample = _mixture_sample(ratio, SHARE, 400_000, seed=2)
    assert ratio_for_deficit(peakedness_deficit(sample), SHARE) == pytest.approx(ratio,
                                                                                 rel=0.05)


def test_a_round_moves_toward_the_target_by_at_most_one_step() -> None:
    # real returns far more peaked than simulated: the regimes' deficit rises one step
    moved = corrected_ratio(1.5, SHARE, target=0.30, simulated=0.02)
    assert mixture_deficit(moved, SHARE) == pytest.approx(
        mixture_deficit(1.5, SHARE) + MAX_DEFICIT_STEP, abs=1e-9)
    assert corrected_ratio(2.0, SHARE, target=0.05, simulated=0.08) < 2.0
    assert corrected_ratio(2.0, SHARE, target=float("nan"), simulated=0.08) == 2.0
    assert corrected_ratio(1.0, SHARE, target=0.0, simulated=0.05) == 1.0  # never below 1
    assert corrected_ratio(MAX_RATIO, SHARE, target=0.9, simulated=0.0) == MAX_RATIO
    peaked, flat = np.array([0.0, 0.0, 0.0, 2.0]), np.array([1.0, -1.0])
    calm, turbulent = corrected_multipliers((1.0, 1.0), (720.0, 240.0), peaked, flat)
    assert turbulent > calm and (1 - SHARE) * calm**2 + SHARE * turbulent**2 == \
        pytest.approx(1.0, rel=1e-5)


def test_the_fit_finds_turbulent_spells_where_there_are_some_and_none_where_there_are_none(
        ) -> None:
    # six coins, eight days, a turbulent regime 3x as volatile as the calm one, beside the
    # same market without regimes. The ratio is only partly identified on a panel this
    # small (the slow log-vol component makes hours peaked too: such fits read 1.8-2.3 for
    # 3), so the test holds the fit to a range, and to what the ratio is for: the fitted
    # market's standardized 1h returns nearly as peaked as the known market's
    turbulent = _fitted(_market(ratio=3.0))
    calm = _fitted(_market(ratio=1.0))
    assert 1.5 < _ratio(turbulent) < 4.0, turbulent.regime_vol_multiplier
    assert _ratio(calm) < 1.3, calm.regime_vol_multiplier
    seeds = (40, 41, 42, 43)
    known_deficit = np.mean([_hourly_deficit(_market(ratio=3.0), seed) for seed in seeds])
    fitted_deficit = np.mean([_hourly_deficit(turbulent, seed) for seed in seeds])
    assert known_deficit > 0.1  # a clearly peaked market (a Gaussian reads 0)
    # a panel this small moves the deficit +-0.02 with the seed, the fit's own three seeds
    # included
    assert abs(fitted_deficit - known_deficit) < 0.04, (known_deficit, fitted_deficit)


def _market(ratio: float) -> MarketParams:
    coins = 6
    return example_params(coins=coins, vol_fast_var=0.3, vol_slow_var=0.05,
                          tail_df=(30.0,) * coins, jump_prob=(0.0,) * coins,
                          regime_vol_multiplier=multipliers(ratio, SHARE),
                          regime_mean_minutes=(720.0, 240.0))


def _fitted(known: MarketParams) -> MarketParams:
    return fit(simulate_panel(known, minutes=8 * 1440, start_ms=START_MS, seed=31), rounds=6)


def _ratio(params: MarketParams) -> float:
    calm, turbulent = params.regime_vol_multiplier
    return turbulent / calm


def _hourly_deficit(params: MarketParams, seed: int) -> float:
    panel = simulate_panel(params, minutes=8 * 1440, start_ms=START_MS, seed=seed)
    return peakedness_deficit(stylized_facts(panel).standardized_1h)
