"""The portfolio env's compiled risk rules equal the risk package's own, case by case.

`rl.portfolio_risk` restates `risk.state.evaluate` (the breaker) and `risk.var`'s
post-trade VaR/ES in floats for the compiled env; these tests drive both with the same
random inputs (the parity test then covers them inside whole episodes)."""

from __future__ import annotations

from decimal import Decimal
from statistics import NormalDist

import numpy as np
import pytest

from risk.limits import RiskLimits
from risk.state import TradingMode, TradingState, evaluate
from risk.var import ReturnHistory, post_trade_risk
from rl.portfolio_risk import ACTIVE, HALTED, REDUCING, breaker_step, post_trade_var_es

MODES = {ACTIVE: TradingMode.ACTIVE, REDUCING: TradingMode.REDUCING, HALTED: TradingMode.HALTED}
LIMITS = RiskLimits(daily_loss_reduce_pct=Decimal(3), daily_loss_halt_pct=Decimal(5),
                    drawdown_reduce_pct=Decimal(10), drawdown_halt_pct=Decimal(15))


def test_the_breaker_moves_as_risk_state_evaluate_does_over_a_random_equity_path() -> None:
    rng = np.random.default_rng(4)
    now = 1_700_000_000_000
    equity = 1000.0
    state = TradingState.initial(Decimal(repr(equity)), now)
    mode, day_ms, day_equity, peak = ACTIVE, state.day_start_ms, equity, equity
    seen = set()
    for _ in range(3000):
        now += 3_600_000  # hourly decisions: days roll over, REDUCING can lift
        equity *= float(np.exp(rng.normal(0.0, 0.012)))
        state, _ = evaluate(state, Decimal(repr(equity)), now, False, LIMITS)
        mode, day_ms, day_equity, peak = breaker_step(mode, day_ms, day_equity, peak, equity,
                                                      now, 3.0, 5.0, 10.0, 15.0)
        assert MODES[mode] is state.mode
        assert day_ms == state.day_start_ms
        assert peak == pytest.approx(float(state.peak_equity), rel=1e-15)
        seen.add(mode)
        if mode == HALTED:  # sticky: start again to cover more transitions
            state = TradingState.initial(Decimal(repr(equity)), now)
            mode, day_ms, day_equity, peak = ACTIVE, state.day_start_ms, equity, equity
    assert seen == {ACTIVE, REDUCING, HALTED}


@pytest.mark.parametrize("confidence", [0.95, 0.99, 0.975])
def test_post_trade_var_and_es_equal_risk_var_with_gaps(confidence: float) -> None:
    rng = np.random.default_rng(7)
    rows, n = 300, 5
    returns = rng.standard_t(4, (rows, n)) * 0.01
    returns[:40, 3] = np.nan  # a late listing
    returns[rng.random((rows, n)) < 0.02] = np.nan  # scattered gaps
    symbols = tuple(f"C{j}" for j in range(n))
    held = {"C0": 120.0, "C3": 80.0}
    equity, scale = 2000.0, float(np.sqrt(24.0))
    expected = post_trade_risk(held, equity, ReturnHistory(symbols, returns, 1 / 24), "C2",
                               95.0, confidence, 1.0)
    values = np.zeros(n)
    values[0], values[3] = 120.0, 80.0
    var, es, normal_var, observations = post_trade_var_es(
        values, 2, 95.0, returns, 0, rows, equity, confidence, scale,
        NormalDist().inv_cdf(confidence))
    assert observations == expected.observations
    assert var == pytest.approx(expected.var_hist_frac, rel=1e-12)
    assert es == pytest.approx(expected.es_hist_frac, rel=1e-12)
    assert normal_var == pytest.approx(expected.var_param_frac, rel=1e-12)


def test_adding_to_a_held_coin_counts_its_whole_value() -> None:
    rng = np.random.default_rng(2)
    returns = rng.normal(0, 0.01, (200, 3))
    expected = post_trade_risk({"C0": 50.0, "C1": 30.0}, 1000.0,
                               ReturnHistory(("C0", "C1", "C2"), returns, 1.0), "C1", 20.0)
    var, es, _, observations = post_trade_var_es(
        np.array([50.0, 30.0, 0.0]), 1, 20.0, returns, 0, 200, 1000.0, 0.95, 1.0, 1.645)
    assert observations == expected.observations == 200
    assert var == pytest.approx(expected.var_hist_frac, rel=1e-12)
    assert es == pytest.approx(expected.es_hist_frac, rel=1e-12)


def test_too_little_history_reports_its_count_and_no_figures() -> None:
    returns = np.full((50, 2), np.nan)
    returns[-1] = 0.01
    var, es, normal_var, observations = post_trade_var_es(
        np.array([0.0, 0.0]), 0, 10.0, returns, 0, 50, 100.0, 0.95, 1.0, 1.645)
    assert observations == 1
    assert np.isnan(var) and np.isnan(es) and np.isnan(normal_var)
