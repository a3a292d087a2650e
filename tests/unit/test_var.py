"""VaR / ES: hand-checked examples, horizon scaling, post-trade and vectorized forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from risk.var import (
    ReturnHistory,
    historical_es,
    historical_var,
    horizon_scale,
    parametric_es,
    parametric_var,
    portfolio_risk,
    post_trade_risk,
)

Z95 = 1.6448536269514722  # standard normal 95% quantile

# 20 daily returns, shuffled; sorted worst first: -5%, -3%, -2%, -1.5%, ...
TWENTY = np.array(
    [0.01, -0.03, 0.02, 0.0, -0.05, 0.015, -0.01, 0.005, 0.03, -0.02,
     0.004, -0.015, 0.012, 0.007, -0.005, 0.025, 0.001, -0.002, 0.009, 0.018]
)  # fmt: skip


def test_historical_var_of_twenty_returns_is_the_second_worst_loss() -> None:
    # 1000 held: losses are 50, 30, 20, ... One scenario in 20 (5%) is worse than 30.
    assert historical_var([1000.0], TWENTY[:, None]) == pytest.approx(30.0)


def test_historical_es_of_twenty_returns_is_the_worst_loss() -> None:
    # The worst 5% of 20 scenarios is exactly one scenario: the -5% day.
    assert historical_es([1000.0], TWENTY[:, None]) == pytest.approx(50.0)


def test_historical_var_matches_the_inverted_cdf_quantile() -> None:
    losses = -1000.0 * TWENTY
    expected = np.quantile(losses, 0.95, method="inverted_cdf")
    assert historical_var([1000.0], TWENTY[:, None]) == pytest.approx(expected)


def test_es_over_100_scenarios_is_the_mean_of_the_worst_five() -> None:
    returns = -np.arange(1, 101) / 1000.0  # losses 1..100 per unit held
    assert historical_var([1.0], returns[:, None]) == pytest.approx(0.095)  # 95th smallest
    worst_five_mean = np.mean([96, 97, 98, 99, 100]) / 1000
    assert historical_es([1.0], returns[:, None]) == pytest.approx(worst_five_mean)


def test_es_weighs_the_boundary_scenario_when_the_tail_is_fractional() -> None:
    # 30 scenarios: the tail is 1.5 scenarios = the worst plus half of the second-worst.
    returns = -np.arange(1, 31, dtype=float)
    assert historical_var([1.0], returns[:, None]) == pytest.approx(29.0)
    assert historical_es([1.0], returns[:, None]) == pytest.approx((30 + 0.5 * 29) / 1.5)


# Two assets with zero means: var(a) = var(b) = 10e-4/3, cov(a, b) = -6e-4/3 (ddof = 1).
TWO_ASSETS = np.array([[0.01, 0.01], [-0.01, -0.01], [0.02, -0.02], [-0.02, 0.02]])


def test_parametric_var_of_two_assets_by_hand() -> None:
    variance = 1000.0**2 * (10e-4 / 3 + 10e-4 / 3 + 2 * (-6e-4 / 3))  # = 266.67
    assert np.cov(TWO_ASSETS, rowvar=False, ddof=1)[0, 1] == pytest.approx(-2e-4)
    assert parametric_var([1000.0, 1000.0], TWO_ASSETS) == pytest.approx(Z95 * math.sqrt(variance))
    assert parametric_var([1000.0, 1000.0], TWO_ASSETS) == pytest.approx(26.861, abs=1e-3)


def test_parametric_es_is_sigma_times_density_over_tail() -> None:
    sigma = 1000.0 * math.sqrt(10e-4 / 3)
    density = math.exp(-(Z95**2) / 2) / math.sqrt(2 * math.pi)
    assert parametric_es([1000.0, 0.0], TWO_ASSETS) == pytest.approx(sigma * density / 0.05)


def test_horizon_scaling_is_square_root_of_time() -> None:
    assert horizon_scale(1 / 1440, 1.0) == pytest.approx(math.sqrt(1440))
    minute = ReturnHistory(("X",), TWENTY[:, None], period_days=1 / 1440)
    daily = ReturnHistory(("X",), TWENTY[:, None], period_days=1.0)
    scaled = portfolio_risk({"X": 1000.0}, 10_000.0, minute)
    plain = portfolio_risk({"X": 1000.0}, 10_000.0, daily)
    assert plain.var_hist_frac == pytest.approx(0.003)
    assert scaled.var_hist_frac == pytest.approx(0.003 * math.sqrt(1440))
    assert scaled.es_hist_frac == pytest.approx(0.005 * math.sqrt(1440))


def test_portfolio_risk_is_a_fraction_of_equity() -> None:
    history = ReturnHistory(("X",), TWENTY[:, None])
    risk = portfolio_risk({"X": 1000.0}, 10_000.0, history)
    assert (risk.var_hist_frac, risk.es_hist_frac, risk.observations) == pytest.approx(
        (0.003, 0.005, 20)
    )


def test_post_trade_risk_adds_the_candidate_to_what_is_held() -> None:
    history = ReturnHistory(("A", "B"), TWO_ASSETS)
    after = post_trade_risk({"A": 1000.0}, 10_000.0, history, "B", 1000.0)
    same = portfolio_risk({"A": 1000.0, "B": 1000.0}, 10_000.0, history)
    assert after == same
    assert after.var_param_frac == pytest.approx(26.861 / 10_000, abs=1e-7)


def test_empty_portfolio_has_zero_risk() -> None:
    history = ReturnHistory(("A",), TWENTY[:, None])
    assert portfolio_risk({}, 10_000.0, history).var_hist_frac == 0.0


def test_missing_history_names_the_symbol() -> None:
    history = ReturnHistory(("A",), TWENTY[:, None])
    with pytest.raises(KeyError, match="NOPE"):
        portfolio_risk({"NOPE": 1.0}, 10_000.0, history)


def test_rows_with_missing_returns_are_dropped_for_the_selected_symbols_only() -> None:
    returns = np.column_stack([TWENTY, TWENTY])
    returns[:5, 1] = np.nan
    history = ReturnHistory(("A", "B"), returns)
    only_a = portfolio_risk({"A": 1000.0}, 10_000.0, history)
    assert (only_a.observations, only_a.var_hist_frac, only_a.es_hist_frac) == pytest.approx(
        (20, 0.003, 0.005)
    )
    both = portfolio_risk({"A": 1000.0, "B": 1000.0}, 10_000.0, history)
    kept = TWENTY[5:]
    assert both.observations == 15
    assert both.var_hist_frac == pytest.approx(historical_var([2000.0], kept[:, None]) / 10_000)


@pytest.mark.parametrize("gap", [np.nan, np.inf, -np.inf])
def test_a_gap_in_an_unheld_symbol_never_poisons_the_held_ones(gap: float) -> None:
    returns = np.column_stack([TWENTY, TWENTY])
    returns[3, 1] = gap
    risk = portfolio_risk({"A": 1000.0}, 10_000.0, ReturnHistory(("A", "B"), returns))
    assert np.isfinite([risk.var_hist_frac, risk.es_hist_frac, risk.var_param_frac]).all()
    assert risk.var_hist_frac == pytest.approx(0.003)


def test_many_candidate_portfolios_at_once_equal_one_at_a_time() -> None:
    rng = np.random.default_rng(1)
    returns = rng.normal(0, 0.02, size=(500, 3))
    values = rng.uniform(-1000, 1000, size=(7, 3))
    for fn in (historical_var, historical_es, parametric_var):
        batch = fn(values, returns)
        assert np.allclose(batch, [fn(v, returns) for v in values])


@settings(max_examples=60, deadline=None)
@given(
    returns=arrays(np.float64, (40, 2), elements=st.floats(-0.5, 0.5)),
    values=arrays(np.float64, 2, elements=st.floats(0, 1e6)),
)
def test_es_is_never_below_var(returns: np.ndarray, values: np.ndarray) -> None:
    var = historical_var(values, returns)
    es = historical_es(values, returns)
    assert es >= var - 1e-9 * max(1.0, abs(var))


def test_a_history_vouched_complete_measures_what_the_scanned_one_does() -> None:
    # ReturnHistory.complete skips the gap scan for returns known to be finite; the risk
    # it gives must be the constructor's to the bit.
    returns = np.random.default_rng(3).normal(0.0, 0.01, (300, 3))
    scanned = ReturnHistory(("A", "B", "C"), returns, 1 / 1440)
    vouched = ReturnHistory.complete(("A", "B", "C"), returns, 1 / 1440)
    assert vouched == scanned
    held = {"A": 1200.0, "C": -300.0}
    assert portfolio_risk(held, 10_000.0, vouched) == portfolio_risk(held, 10_000.0, scanned)
    with pytest.raises(ValueError, match="returns must be"):
        ReturnHistory.complete(("A", "B"), returns)
