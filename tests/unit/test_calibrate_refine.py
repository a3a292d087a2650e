"""Refining a 1h fit by simulated method of moments (exchange/sim/calibrate_refine.py): the
multipliers it searches, its budget, and on a small market of known parameters that it
ends no farther from the data than the fit it started from, the same way every time."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from exchange.sim.calibrate import fit, simulate_panel
from exchange.sim.calibrate_refine import (
    MARKET_VOL_START,
    RESOLUTION,
    SEARCHED,
    moved,
    refine,
    score,
    with_market_start,
)
from exchange.sim.fact_gap import GapRow
from exchange.sim.market_params import MarketParams
from tests.market_params_example import example_params

START_MS = 1_700_006_400_000  # 2023-11-15 00:00 UTC
HOURS = 60 * 24


def known_market() -> MarketParams:
    """Four coins of 1h bars whose volatility is mostly the market's."""
    return example_params(coins=4, bar_minutes=60.0, vol_per_min=(0.004,) * 4,
                          no_trade_prob=(0.0,) * 4, factor_vol_per_min=0.006, factor_lag_min=30.0,
                          regime_vol_multiplier=(1.0, 1.0), market_vol_var=0.6,
                          market_vol_persistence=0.97)


def x_for(**moves: float) -> np.ndarray:
    """A search point: log-multipliers by SEARCHED name, 0 elsewhere."""
    x = np.zeros(len(SEARCHED))
    for name, value in moves.items():
        x[SEARCHED.index(name.replace("__", ":"))] = value
    return x


def test_the_start_moves_nothing_and_a_multiplier_moves_its_field_alone() -> None:
    params = known_market()
    assert moved(params, np.zeros(len(SEARCHED))) == params
    doubled = moved(params, x_for(factor_vol_per_min=math.log(2)))
    assert doubled.factor_vol_per_min == pytest.approx(2 * params.factor_vol_per_min)
    assert doubled.vol_fast_var == params.vol_fast_var


def test_persistences_move_by_half_life_and_probabilities_by_odds() -> None:
    params = known_market()
    slower = moved(params, x_for(half_life__vol_fast_persistence=math.log(2)))
    # half-life h: phi = 2^(-1/h); doubling h takes phi to its square root
    assert slower.vol_fast_persistence == pytest.approx(math.sqrt(params.vol_fast_persistence))
    rarer = moved(params, x_for(odds__quote_refresh_prob=math.log(0.5)))
    odds = params.quote_refresh_prob[0] / (1 - params.quote_refresh_prob[0])
    assert rarer.quote_refresh_prob[0] == pytest.approx(0.5 * odds / (1 + 0.5 * odds))


def test_a_move_stays_within_the_fields_range() -> None:
    far = moved(known_market(), x_for(odds__quote_refresh_prob=10.0, market_vol_var=10.0))
    assert far.quote_refresh_prob[0] <= 1.0 and far.market_vol_var <= 10.0
    MarketParams.from_dict(far.as_dict())  # still a valid parameter set


@pytest.fixture(scope="module")
def refined():  # type: ignore[no-untyped-def]
    panel = simulate_panel(known_market(), minutes=HOURS, start_ms=START_MS, seed=11)
    fitted = fit(panel, seed=0, rounds=3)
    return fitted, panel, refine(fitted, panel, seed=0, evaluations=40)


def test_the_refinement_ends_no_farther_from_the_data_within_its_budget(refined) -> None:  # type: ignore[no-untyped-def]
    fitted, _, result = refined
    assert fitted.market_vol_var == 0.0  # the fit has no market state; the search starts one
    assert result.evaluations == 40
    assert result.score <= result.score_before
    assert result.within >= 0 and result.params.market_vol_var > 0
    assert result.params.symbols == fitted.symbols


def test_the_same_data_seed_and_budget_give_the_same_parameters(refined) -> None:  # type: ignore[no-untyped-def]
    fitted, panel, result = refined
    assert refine(fitted, panel, seed=0, evaluations=40).params == result.params


def test_progress_counts_the_simulations_and_a_budget_below_one_is_refused(refined) -> None:  # type: ignore[no-untyped-def]
    fitted, panel, _ = refined
    seen: list[tuple[int, int]] = []
    refine(fitted, panel, evaluations=3, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(ValueError, match="at least 1"):
        refine(fitted, panel, evaluations=0)


def test_the_search_starts_the_market_state_where_the_fit_left_none() -> None:
    fitted = replace(known_market(), market_vol_var=0.0, market_vol_persistence=0.0)
    assert moved(fitted, np.zeros(len(SEARCHED))).market_vol_var == 0.0  # a zero stays
    started = with_market_start(fitted)
    variance, half_life = MARKET_VOL_START
    assert started.market_vol_var == variance
    assert started.market_vol_persistence == pytest.approx(2 ** (-1 / half_life))
    assert with_market_start(known_market()) == known_market()  # a fit with one keeps it


def row(real: float | None, gap: float, limit: float) -> GapRow:
    return GapRow("a statistic", None if real is None else real + gap, real, gap, limit / 1.5,
                  limit, "within" if gap <= limit else "outside")


def test_a_rows_scale_is_its_halves_limit_capped_by_the_resolution_never_below_its_floor(
        ) -> None:
    # a correlation of 0.6 whose halves set a limit of 0.3: held to RESOLUTION (0.05)
    assert score([row(0.6, 0.1, 0.3)], [0.0]) == pytest.approx((0.1 / RESOLUTION) ** 2)
    # a spread of 10 bps whose halves set a limit of 24 bps: held to that limit
    assert score([row(0.001, 0.0016, 0.0024)], [0.0]) == pytest.approx((0.0016 / 0.0024) ** 2)
    # never below the report's own floor (an ACF row: 0.05), a distance row (no value) alike
    assert score([row(0.03, 0.05, 0.2)], [0.05]) == pytest.approx(1.0)
    assert score([row(None, 0.04, 0.08)], [0.05]) == pytest.approx((0.04 / 0.05) ** 2)
    # a row without a number counts as 5 scales off; the hour-of-day row is left out
    assert score([row(0.5, math.nan, 0.1)], [0.0]) == 25.0
    hours = GapRow("hour-of-day volume profile, 1 - correlation", None, None, 0.9, 0.1, 0.15,
                   "outside")
    assert score([hours], [0.0]) == 0.0
