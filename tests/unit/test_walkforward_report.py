"""Walk-forward figures (trading/walkforward_report.py) on return series worked by hand:
per fold, over the concatenated folds, across seeds, and the overfitting statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.timeframes import HOUR_MS
from trading import evaluation
from trading.walkforward_report import (
    FoldOutcome,
    annualization,
    equity_per_row,
    fold_figures,
    overall_figures,
    seed_average,
    summarize,
)

HOURLY = math.sqrt(365 * 24)


def _outcome(equity: list[float] | np.ndarray, *, policy: str = "sma", fold: int = 0,
             seed: int = 0, balance: float = 100.0, fees: float = 0.0, notional: float = 0.0,
             exposed: int = 0) -> FoldOutcome:
    values = np.asarray(equity, dtype=np.float64)
    return FoldOutcome(policy=policy, fold=fold, seed=seed, balance=balance,
                       equity_ms=HOUR_MS * np.arange(1, values.size + 1, dtype=np.int64),
                       equity=values, fees=fees, traded_notional=notional,
                       exposed_steps=exposed)


def test_returns_start_from_the_balance_so_the_first_bars_fees_count() -> None:
    # given a window that paid 1 in fees before its first mark
    outcome = _outcome([99.0, 99.0, 108.9])
    np.testing.assert_allclose(outcome.returns(), [-0.01, 0.0, 0.1])


def test_fold_figures_of_up_down_up() -> None:
    # given +10 %, -10 %, +10 % from a balance of 100, with 2 of 3 bars exposed
    figures = fold_figures(_outcome([110.0, 99.0, 108.9], fees=0.3, notional=209.0, exposed=2),
                           HOUR_MS)
    assert figures.total_return == pytest.approx(0.089)
    # mean 1/30, sample std 0.11547: per-bar Sharpe 0.288675, annualized by sqrt(8760)
    assert figures.sharpe == pytest.approx(0.288675 * HOURLY, rel=1e-5)
    # downside deviation sqrt(0.01 / 3)
    assert figures.sortino == pytest.approx((1 / 30) / math.sqrt(0.01 / 3) * HOURLY)
    assert figures.max_drawdown == pytest.approx(0.1)  # 110 -> 99
    assert figures.turnover == pytest.approx(209.0 / np.mean([100, 110, 99, 108.9]))
    assert (figures.fees, figures.bars) == (0.3, 3)
    assert figures.exposure == pytest.approx(2 / 3)


def test_a_flat_window_has_zero_return_sharpe_and_drawdown() -> None:
    figures = fold_figures(_outcome([100.0] * 5), HOUR_MS)
    assert (figures.total_return, figures.sharpe, figures.sortino, figures.max_drawdown) == (
        0.0, 0.0, 0.0, 0.0)


def test_annualization_follows_the_bar_length() -> None:
    assert annualization(HOUR_MS) == pytest.approx(HOURLY)
    assert annualization(24 * HOUR_MS) == pytest.approx(math.sqrt(365))


def test_the_aggregate_compounds_the_folds_and_sums_fees_and_turnover() -> None:
    # given two folds, each starting again from 100: +10 % then -10 %, +20 %
    folds = [_outcome([110.0], fold=0, fees=1.0, notional=100.0, exposed=1),
             _outcome([90.0, 108.0], fold=1, fees=2.0, notional=50.0, exposed=0)]
    overall = overall_figures(folds, HOUR_MS)
    assert overall.total_return == pytest.approx(1.1 * 0.9 * 1.2 - 1)
    # the drawdown runs across the fold boundary: peak 110, trough 99
    assert overall.max_drawdown == pytest.approx(0.1)
    assert overall.fees == 3.0 and overall.bars == 3
    assert overall.turnover == pytest.approx(100 / 105 + 50 / np.mean([100, 90, 108]))
    assert overall.exposure == pytest.approx(1 / 3)


def test_seeds_are_averaged_bar_by_bar_as_one_account_split_among_them() -> None:
    seeds = [_outcome([110.0, 110.0], seed=0, fees=1.0), _outcome([90.0, 99.0], seed=1, fees=3.0)]
    mixed = seed_average(seeds)
    # returns (+10 %, 0) and (-10 %, +10 %) average to (0, +5 %)
    np.testing.assert_allclose(mixed.returns(), [0.0, 0.05])
    assert mixed.fees == 2.0 and mixed.balance == 100.0
    with pytest.raises(evaluation.EvaluationInputError, match="different lengths"):
        seed_average([seeds[0], _outcome([1.0], seed=2)])


def test_equity_marked_only_at_some_closes_is_carried_forward_on_every_bar() -> None:
    # given marks at the closes of bars 1 and 3 of a 5-bar window
    equity = equity_per_row(np.array([2 * HOUR_MS, 4 * HOUR_MS]), np.array([101.0, 103.0]),
                            first_close_ms=HOUR_MS, bar_ms=HOUR_MS, rows=5, balance=100.0)
    np.testing.assert_array_equal(equity, [100.0, 101.0, 101.0, 103.0, 103.0])
    assert equity_per_row(np.zeros(0, np.int64), np.zeros(0), HOUR_MS, HOUR_MS, 3,
                          50.0).tolist() == [50.0] * 3
    with pytest.raises(evaluation.EvaluationInputError, match="do not fit"):
        equity_per_row(np.array([9 * HOUR_MS]), np.array([1.0]), HOUR_MS, HOUR_MS, 3, 50.0)


def _panel_outcomes(seed: int, folds: int = 4, bars: int = 64) -> list[FoldOutcome]:
    rng = np.random.default_rng(seed)
    outcomes = []
    for fold in range(folds):
        for name, drift in (("edge", 0.006), ("noise", 0.0), ("flat", None)):
            returns = (np.zeros(bars) if drift is None
                       else rng.normal(drift, 0.01, bars))
            outcomes.append(_outcome(100.0 * np.cumprod(1 + returns), policy=name, fold=fold))
    return outcomes


def test_summary_counts_trials_in_the_deflated_sharpe_and_ranks_with_pbo() -> None:
    outcomes = _panel_outcomes(3)
    alone = summarize(outcomes, HOUR_MS, n_trials=1, trial_sharpes=[], n_boot=200)
    searched = summarize(outcomes, HOUR_MS, n_trials=200, trial_sharpes=[0.0, 0.1, -0.1, 0.2],
                         n_boot=200)
    edge = alone.policies["edge"]
    # with one trial the DSR is the PSR against 0; two hundred tries raise the bar
    assert edge.deflated_sharpe > searched.policies["edge"].deflated_sharpe
    assert edge.deflated_sharpe > 0.99
    # every policy gets intervals around its own estimate
    for name, summary in alone.policies.items():
        low, high, estimate = summary.intervals["sharpe"]
        assert low <= estimate <= high, name
        assert estimate == pytest.approx(summary.overall.sharpe)
    # the clear winner in sample stays the winner out of sample: no overfitting
    assert alone.pbo is not None and alone.pbo.pbo == 0.0
    assert alone.pbo.n_configurations == 3 and alone.pbo.rows_used == 4 * 64


def test_the_same_outcomes_in_any_order_give_the_same_report() -> None:
    outcomes = _panel_outcomes(5)
    first = summarize(outcomes, HOUR_MS, n_trials=3, trial_sharpes=[0.1, 0.0, 0.2], n_boot=100)
    again = summarize(outcomes[::-1], HOUR_MS, n_trials=3, trial_sharpes=[0.1, 0.0, 0.2],
                      n_boot=100)
    assert {k: v.as_dict() for k, v in first.policies.items()} == {
        k: v.as_dict() for k, v in again.policies.items()}
    assert first.pbo_dict() == again.pbo_dict()


def test_too_few_bars_for_pbo_says_so_instead_of_failing() -> None:
    report = summarize(_panel_outcomes(1, folds=1, bars=8), HOUR_MS, n_trials=3,
                       trial_sharpes=[], n_boot=50)
    assert report.pbo is None and "blocks" in report.pbo_problem
    assert report.pbo_dict()["pbo"] is None
    assert set(report.policies) == {"edge", "flat", "noise"}
