"""Evaluation metrics, ensemble weights and the top-decile policy, on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from model.market import MINUTE_MS
from strategies.forecast.ensemble import (
    Calibration,
    combine,
    inverse_error_weights,
    stacking_weights,
)
from strategies.forecast.evaluation import baseline_forecasts
from strategies.forecast.metrics import calibration, information_coefficient, point_metrics
from strategies.forecast.policy import TopDecilePolicy
from strategies.policy import Action, DecisionView, Holding, Quote, RestingOrder


def test_point_metrics_of_a_perfect_and_a_zero_forecast() -> None:
    realized = np.array([0.01, -0.02, 0.0, 0.03, -0.00001])
    perfect = point_metrics(realized.copy(), realized)
    assert perfect["mse"] == 0 and perfect["r2"] == 1 and perfect["directional_accuracy"] == 1
    assert perfect["mape_pct"] == 0
    zero = point_metrics(np.zeros(5), realized)
    assert zero["directional_accuracy"] is None  # a zero forecast has no direction
    assert zero["mape_pct"] == 100  # rows under the 1 bp floor are left out
    assert zero["r2"] < 0


def test_information_coefficient_is_rank_correlation_per_minute() -> None:
    rng = np.random.default_rng(0)
    realized = rng.normal(size=(300, 10))
    assert information_coefficient(realized * 3 + 1, realized, 5)["ic_mean"] == pytest.approx(1)
    assert information_coefficient(-realized, realized, 5)["ic_mean"] == pytest.approx(-1)
    noise = information_coefficient(rng.normal(size=(300, 10)), realized, 5)
    assert abs(noise["ic_mean"]) < 0.05 and noise["ic_periods"] == 60
    gappy = realized.copy()
    gappy[:, :8] = np.nan  # fewer than 3 symbols: no IC for those minutes
    assert information_coefficient(gappy, realized, 1)["ic_mean"] is None


def test_calibration_of_a_calibrated_confidence_has_small_error() -> None:
    rng = np.random.default_rng(1)
    strength = rng.uniform(0, 3, 20_000)
    p_right = 0.5 + 0.1 * strength
    forecast = strength * 1e-3
    realized = np.where(rng.random(20_000) < p_right, 1.0, -1.0) * 1e-3
    fitted = Calibration.fit(forecast, realized)
    result = calibration(fitted.confidence(forecast), forecast, realized)
    assert result["ece"] < 0.02 and len(result["bins"]) >= 5
    constant = calibration(np.full(20_000, 0.95), forecast, realized)
    assert constant["ece"] > 0.1  # overconfident: 95% claimed, ~65% right


def test_weights_inverse_error_shrinks_toward_equal_and_stacking_is_nonnegative() -> None:
    mse = {"lstm": 1.0, "random_forest": 2.0, "xgboost": 4.0, "lightgbm": 4.0}
    weights = inverse_error_weights(mse, shrink=0.5)
    assert sum(weights.values()) == pytest.approx(1)
    assert weights["lstm"] > weights["random_forest"] > weights["xgboost"] > 0.125
    rng = np.random.default_rng(2)
    target = rng.normal(size=5000)
    oof = {"lstm": target + rng.normal(0, 0.1, 5000), "random_forest": -target,
           "xgboost": rng.normal(size=5000), "lightgbm": target * 0.5 + rng.normal(0, 1, 5000)}
    stacked = stacking_weights(oof, target)
    assert stacked["random_forest"] == 0 and stacked["lstm"] > 0.8
    assert all(w >= 0 for w in stacked.values())
    assert combine(oof, stacked).shape == target.shape


def test_baselines_are_trailing_only() -> None:
    from strategies.forecast.dataset import Panel

    close = np.exp(np.cumsum(np.random.default_rng(3).normal(0, 1e-3, (50, 2)), axis=0))
    panel = Panel(("A", "B"), np.arange(50), np.zeros((50, 2, 1), np.float32), close,
                  np.full((50, 2), 2000.0))
    base = baseline_forecasts(panel, 5)
    np.testing.assert_allclose(base["last_return"][10], np.log(close[10] / close[5]))
    np.testing.assert_allclose(base["ma_momentum"][10], np.log(close[10] / close[6:11].mean(0)))
    changed = close.copy()
    changed[11:] *= 2  # the future changes; the forecast at minute 10 must not
    again = baseline_forecasts(Panel(("A", "B"), np.arange(50), panel.inputs, changed,
                                     panel.warm), 5)
    for name in base:
        np.testing.assert_array_equal(base[name][:11], again[name][:11])


def _view(minute_ms: int, holdings: dict, orders: tuple = ()) -> DecisionView:
    symbols = tuple(f"S{i:02d}" for i in range(20))
    return DecisionView(ts_ms=minute_ms + MINUTE_MS, symbols=symbols,
                        features=np.zeros((20, 1)), feature_names=("x",), ranking=(),
                        quotes={s: Quote(1.0, 0.99, 1.01) for s in symbols},
                        holdings=holdings, open_orders=orders, equity=1.0)


def test_top_decile_policy_buys_the_best_two_of_twenty_and_rotates_at_the_horizon() -> None:
    symbols = tuple(f"S{i:02d}" for i in range(20))
    first = np.linspace(-0.01, 0.01, 20)  # S19 then S18 are best
    later = first[::-1].copy()  # now S00 then S01
    policy = TopDecilePolicy({0: first, 60 * MINUTE_MS: later}, symbols, rebalance_minutes=60,
                             confidence={0: np.full(20, 0.55)})
    actions = policy.decide(_view(0, {}))
    assert {(a.symbol, a.action) for a in actions} == {("S18", Action.BUY), ("S19", Action.BUY)}
    assert all(a.confidence == 0.55 and a.stop_price < a.limit_price for a in actions)
    assert policy.decide(_view(30 * MINUTE_MS, {})) == []  # between rebalances: nothing
    held = {"S19": Holding(1.0, 1.0, 0), "S18": Holding(1.0, 1.0, 0)}
    stale = (RestingOrder("o1", "S05", "BUY", 0.9, 1.0, 0),)
    actions = policy.decide(_view(60 * MINUTE_MS, held, stale))
    kinds = {(a.symbol, a.action) for a in actions}
    assert kinds == {("S05", Action.CANCEL_BUY), ("S18", Action.SELL), ("S19", Action.SELL),
                     ("S00", Action.BUY), ("S01", Action.BUY)}
    assert all(a.exit for a in actions if a.action is Action.SELL)


def test_top_decile_policy_stays_flat_when_no_forecast_is_positive() -> None:
    symbols = tuple(f"S{i:02d}" for i in range(20))
    policy = TopDecilePolicy({0: np.full(20, -0.001)}, symbols)
    assert policy.decide(_view(0, {})) == []
