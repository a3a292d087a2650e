"""The market model's transient pricing error (schema 2): trades print off the quote by a
short-lived error that scales with volatility, so 1m price changes revert beyond the bounce
(a lower variance ratio) and a spike and its reversal cluster |r| at lag 1."""

from __future__ import annotations

import numpy as np
import pytest

from exchange.sim.calibrate import simulate_panel
from exchange.sim.market_model import MarketModel
from exchange.sim.stylized_facts import StylizedFacts, stylized_facts
from tests.market_params_example import example_params

START_MS = 1_700_006_400_000  # 2023-11-15 00:00 UTC
WITH_ERROR = {"transient_vol_ratio": 1.0, "transient_persistence": 0.3}


def test_advancing_one_minute_at_a_time_equals_one_block_with_a_pricing_error() -> None:
    def model() -> MarketModel:
        return MarketModel(example_params(coins=3, **WITH_ERROR), seed=5,
                           tick=np.full(3, 1e-8), lot=np.full(3, 0.01), price=np.full(3, 0.04),
                           quote_volume_per_min=np.full(3, 0.5), start_ms=START_MS)

    block = model().generate(300)
    stepper = model()
    steps = [stepper.generate(1) for _ in range(120)] + [stepper.generate(180)]
    for name, values in block.columns.items():
        assert np.array_equal(values, np.vstack([step.columns[name] for step in steps])), name
    assert np.array_equal(block.traded, np.vstack([s.traded for s in steps]))


def _facts(**changes: float) -> StylizedFacts:
    panel = simulate_panel(example_params(coins=6, **changes), minutes=4 * 1440,
                           start_ms=START_MS, seed=11)
    return stylized_facts(panel)


@pytest.fixture(scope="module")
def without_and_with() -> tuple[StylizedFacts, StylizedFacts]:
    return _facts(), _facts(**WITH_ERROR)


def test_a_pricing_error_lowers_the_variance_ratio_and_clusters_abs_returns_at_lag_1(
        without_and_with: tuple[StylizedFacts, StylizedFacts]) -> None:
    without, with_error = without_and_with
    assert with_error.variance_ratio_1h < without.variance_ratio_1h - 0.1
    assert with_error.abs_return_acf[0] > without.abs_return_acf[0] + 0.03
    assert with_error.lag1_acf_1m < without.lag1_acf_1m  # more reversal at one minute


def test_bars_spread_estimators_agree_when_trades_carry_the_pricing_error(
        without_and_with: tuple[StylizedFacts, StylizedFacts]) -> None:
    # the error is in the trade prints, not in the mid path that bounds the range, so the
    # close-high-low estimator sees it as Roll does (on Bittrex both read ~34 bps)
    _, with_error = without_and_with
    assert with_error.abdi_ranaldo_spread == pytest.approx(with_error.roll_spread, rel=0.25)
