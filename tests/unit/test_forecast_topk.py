"""Forecast top-k on the fast backtester: trained before its test rows only, trading the
coins its forecast ranks highest, at most once per horizon."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import numpy as np

from model.fills import FillParams
from model.timeframes import HOUR_MS
from risk.limits import RiskLimits
from strategies.features_batch import BarGrid
from trading.batch_policies import make_batch_policy
from trading.fast_backtest import FastSettings, run_fast
from trading.forecast_topk import ForecastTopKBatch, forecast_scores

START_MS = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS
ROWS, COINS, TRAIN_STOP = 1400, 6, 1000


def hourly_grid(seed: int = 5, reversal: float = 0.4) -> BarGrid:
    """1h bars whose next return undoes `reversal` of the last one: an edge to find."""
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0, 0.01, (ROWS, COINS))
    returns = shocks.copy()
    returns[1:] -= reversal * shocks[:-1]
    close = np.round(20.0 * np.exp(np.cumsum(returns, axis=0)), 3)
    open_ = np.vstack([close[:1], close[:-1]])
    high = np.maximum(open_, close) + 0.005
    low = np.minimum(open_, close) - 0.005
    volume = rng.lognormal(8, 0.3, (ROWS, COINS))
    return BarGrid(symbols=tuple(f"C{i}USDT" for i in range(COINS)), start_ms=START_MS,
                   open=open_, high=high, low=low, close=close, quote_volume=volume * close,
                   bar_ms=HOUR_MS)


def run(grid: BarGrid, policy: ForecastTopKBatch):  # type: ignore[no-untyped-def]
    policy.fit(grid, TRAIN_STOP)
    return run_fast(grid, policy, FastSettings(FillParams(), RiskLimits(), bar_ms=HOUR_MS),
                    start_row=TRAIN_STOP, balance=Decimal(10_000))


def test_it_is_listed_with_the_other_batch_policies() -> None:
    assert isinstance(make_batch_policy("forecast", k=2), ForecastTopKBatch)


def test_it_trades_the_held_forecast_from_the_training_stop_on_once_per_horizon() -> None:
    policy = ForecastTopKBatch(k=2, horizon_minutes=6 * 60)
    result = run(hourly_grid(), policy)
    scores = forecast_scores(policy)
    assert scores is not None and np.isnan(scores[:TRAIN_STOP]).all()
    assert np.isfinite(scores[TRAIN_STOP:]).any()
    assert len(result.fill_ts_ms) > 0
    first_trade_row = (result.fill_ts_ms.min() - START_MS) // HOUR_MS
    assert first_trade_row >= TRAIN_STOP
    # The score is sampled every 6 bars from the stop: it changes only at those rows.
    changes = np.flatnonzero(np.any(np.nan_to_num(scores[TRAIN_STOP + 1:])
                                    != np.nan_to_num(scores[TRAIN_STOP:-1]), axis=1))
    assert ((changes + 1) % 6 == 0).all()


def test_bars_after_the_training_stop_change_nothing_it_learned() -> None:
    """Moving every bar from row 1200 on changes no score before 1200: the model saw only
    rows before the stop (1000), and a score at row t reads bars up to t."""
    grid = hourly_grid()
    moved = replace(grid, close=np.where(np.arange(ROWS)[:, None] >= 1200, grid.close * 1.3,
                                         grid.close))
    first, second = ForecastTopKBatch(k=2), ForecastTopKBatch(k=2)
    run(grid, first)
    run(moved, second)
    a, b = forecast_scores(first), forecast_scores(second)
    assert a is not None and b is not None
    np.testing.assert_array_equal(a[:1200], b[:1200])
    assert not np.array_equal(a[1200:], b[1200:], equal_nan=True)


def test_without_a_fit_it_trains_on_the_rows_before_the_first_step() -> None:
    policy = ForecastTopKBatch(k=2)
    run_fast(hourly_grid(), policy, FastSettings(FillParams(), RiskLimits(), bar_ms=HOUR_MS),
             start_row=TRAIN_STOP, balance=Decimal(10_000))
    scores = forecast_scores(policy)
    assert scores is not None
    assert np.isnan(scores[:TRAIN_STOP]).all() and np.isfinite(scores[TRAIN_STOP:]).any()
