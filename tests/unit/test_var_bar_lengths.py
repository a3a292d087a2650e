"""VaR/ES horizons scale from the bar length of the return history: a day is 1440 one-minute
returns, 288 five-minute ones or 24 hourly ones, never "one row = one minute"."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.market import MINUTE_MS
from model.timeframes import DAY_MS, HOUR_MS
from risk.var import ReturnHistory, period_days_of, portfolio_risk
from strategies.features import FeatureBook

RETURNS = np.array([[-0.01], [0.004], [-0.002], [0.006], [0.001]])


@pytest.mark.parametrize(("bar_ms", "bars_per_day"),
                         [(MINUTE_MS, 1440), (5 * MINUTE_MS, 288), (HOUR_MS, 24), (DAY_MS, 1)])
def test_a_one_day_var_scales_the_bar_losses_by_root_bars_per_day(bar_ms: int,
                                                                   bars_per_day: int) -> None:
    history = ReturnHistory.of_bars(("BTCUSDT",), RETURNS, bar_ms)
    assert history.period_days == pytest.approx(1 / bars_per_day, rel=1e-15)
    risk = portfolio_risk({"BTCUSDT": 1000.0}, 10_000.0, history, horizon_days=1.0)
    per_bar = portfolio_risk({"BTCUSDT": 1000.0}, 10_000.0, history,
                             horizon_days=history.period_days)
    assert risk.var_hist_frac == pytest.approx(per_bar.var_hist_frac * math.sqrt(bars_per_day))
    assert risk.es_param_frac == pytest.approx(per_bar.es_param_frac * math.sqrt(bars_per_day))


def test_the_one_minute_period_is_exactly_the_one_the_trader_always_used() -> None:
    assert period_days_of(MINUTE_MS) == 1 / 1440  # bit for bit: unchanged 1m VaR figures
    assert FeatureBook(["BTCUSDT"]).bar_ms == MINUTE_MS


def test_the_same_random_walk_gives_about_the_same_daily_var_on_1m_and_1h_bars() -> None:
    rng = np.random.default_rng(3)
    log_minutes = rng.standard_normal((30 * 1440, 1)) * 1e-3
    minute_returns = np.expm1(log_minutes)
    hour_returns = np.expm1(log_minutes.reshape(-1, 60, 1).sum(axis=1))
    daily = {
        bar_ms: portfolio_risk({"X": 1.0}, 1.0, ReturnHistory.of_bars(("X",), returns, bar_ms))
        for bar_ms, returns in ((MINUTE_MS, minute_returns), (HOUR_MS, hour_returns))
    }
    # sigma per day = 1e-3 * sqrt(1440) = 3.8 %; 720 hourly returns estimate it to ~3 %
    expected = 1.6449 * 1e-3 * math.sqrt(1440)
    for risk in daily.values():
        assert risk.var_param_frac == pytest.approx(expected, rel=0.06)
    # read as 1m returns, the hourly history would overstate a day's VaR sqrt(60) times
    misread = portfolio_risk({"X": 1.0}, 1.0, ReturnHistory(("X",), hour_returns, 1 / 1440))
    assert misread.var_param_frac == pytest.approx(daily[HOUR_MS].var_param_frac * math.sqrt(60))


def test_a_bar_length_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="bar length must be > 0 ms, got 0"):
        period_days_of(0)
