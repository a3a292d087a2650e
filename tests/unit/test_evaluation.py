"""Backtest statistics (trading/evaluation.py), checked on cases whose answer we know: a tiny
panel worked by hand, pure noise, a real edge, and an AR(1) process with a known mean."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

from model.errors import DataError
from rl import gates
from trading import evaluation
from trading.evaluation import (
    EvaluationInputError,
    bootstrap_ci,
    deflated_sharpe_ratio,
    max_drawdown_of_rows,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    series_bootstrap_ci,
    sharpe_of_rows,
    stationary_indices,
)
from trading.performance import HOURS_PER_YEAR, max_drawdown, sharpe_sortino

LOG2 = math.log(2)


def _noise_panel(seed: int, rows: int = 1_600, configurations: int = 20) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.01, size=(rows, configurations))


# -- probability of backtest overfitting -------------------------------------------------------


def test_pbo_of_a_tiny_panel_matches_the_hand_computation() -> None:
    # S = 4 blocks of one row each, N = 2 configurations. A half is two rows a, b whose Sharpe
    # is (a + b) / (√2·|a − b|); ranking needs only q = (a + b) / |a − b|.
    a = [1, 2, 3, 4]  # q over block pairs: 01→3, 02→2, 03→5/3, 12→5, 13→3, 23→7
    b = [4, 1, 1, 3]  # q: 01→5/3, 02→5/3, 03→7, 12→flat (Sharpe 0), 13→2, 23→2
    result = probability_of_backtest_overfitting(np.array([a, b]).T * 0.01, n_splits=4)
    # in-sample (out-of-sample): IS winner → its OOS rank among 2 → ω = rank/3 → λ
    #   01 (23): A 3 > 5/3,  OOS A 7 > 2     → rank 2, λ = log 2
    #   02 (13): A 2 > 5/3,  OOS A 3 > 2     → rank 2, λ = log 2
    #   03 (12): B 7 > 5/3,  OOS B 0 < 5     → rank 1, λ = −log 2
    #   12 (03): A 5 > 0,    OOS A 5/3 < 7   → rank 1, λ = −log 2
    #   13 (02): A 3 > 2,    OOS A 2 > 5/3   → rank 2, λ = log 2
    #   23 (01): A 7 > 2,    OOS A 3 > 5/3   → rank 2, λ = log 2
    assert result.in_sample_blocks.tolist() == [list(c) for c in itertools.combinations(range(4), 2)]
    assert result.lambdas == pytest.approx([LOG2, LOG2, -LOG2, -LOG2, LOG2, LOG2])
    assert result.pbo == pytest.approx(2 / 6)
    assert result.probability_of_loss == 0.0  # every winner stayed positive out of sample
    assert result.best_out_of_sample_sharpe[2] == 0.0  # B's flat half
    assert result.best_out_of_sample_sharpe[0] == pytest.approx(7 / math.sqrt(2))
    assert (result.n_combinations, result.n_combinations_total) == (6, 6)


def test_pbo_of_pure_noise_is_a_coin_flip() -> None:
    panels = [_noise_panel(seed, rows=800) for seed in range(12)]
    results = [probability_of_backtest_overfitting(panel) for panel in panels]
    pbos = [r.pbo for r in results]
    assert 0.35 <= float(np.mean(pbos)) <= 0.65
    assert all(0.0 < p < 1.0 for p in pbos)
    # the luckier a configuration looked in sample, the worse it did out of sample
    assert float(np.mean([r.degradation_slope for r in results])) < 0


def test_pbo_of_a_configuration_with_a_real_edge_in_every_block_is_zero() -> None:
    panel = _noise_panel(7)
    panel[:, 3] += 0.01  # a Sharpe of 1 per bar: the best in any half, in or out of sample
    result = probability_of_backtest_overfitting(panel)
    assert result.pbo == 0.0
    assert result.probability_of_loss == 0.0
    assert result.lambdas == pytest.approx(math.log(20))  # rank N of N: ω = 20/21


def test_pbo_counts_a_flat_configuration_as_sharpe_zero() -> None:
    panel = _noise_panel(3, configurations=4)
    panel[:, 0] = 0.0  # the flat baseline
    panel[:, 1] = 0.002  # a constant return: its variance is rounding, not risk
    result = probability_of_backtest_overfitting(panel, n_splits=8)
    assert np.isfinite(result.best_in_sample_sharpe).all()
    assert result.best_in_sample_sharpe.max() < 1  # no 1e13 Sharpe from a rounding-error std


def test_pbo_drops_the_oldest_rows_that_do_not_fill_a_block() -> None:
    panel = _noise_panel(5, rows=1_610)
    result = probability_of_backtest_overfitting(panel)
    assert result.rows_used == 1_600
    assert result.pbo == probability_of_backtest_overfitting(panel[10:]).pbo


def test_pbo_samples_a_seeded_subset_when_there_are_too_many_combinations() -> None:
    panel = _noise_panel(1, rows=2_000)
    result = probability_of_backtest_overfitting(panel, n_splits=20, max_combinations=300, seed=4)
    assert result.n_combinations == 300 and result.n_combinations_total == math.comb(20, 10)
    assert result.as_dict()["sampled"] is True
    assert len({tuple(row) for row in result.in_sample_blocks}) == 300  # distinct
    again = probability_of_backtest_overfitting(panel, n_splits=20, max_combinations=300, seed=4)
    assert np.array_equal(result.lambdas, again.lambdas)


def test_pbo_as_dict_is_plain_json_scalars() -> None:
    summary = probability_of_backtest_overfitting(_noise_panel(2), n_splits=8).as_dict()
    assert summary["n_combinations"] == 70 and summary["sampled"] is False
    assert all(isinstance(v, (int, float, bool)) or v is None for v in summary.values())


@pytest.mark.parametrize(("panel", "n_splits", "says"), [
    (np.zeros((100, 1)), 16, "at least 2 configurations"),
    (np.zeros((100, 3)), 5, "even number"),
    (np.zeros((10, 3)), 16, "cannot be cut into 16 blocks"),
    (np.r_[np.zeros((99, 3)), [[0.0, math.nan, 0.0]]], 4, "NaN or inf in configuration column(s) [1]"),
    (np.zeros(100), 4, "2-D panel"),
])
def test_pbo_refuses_input_it_cannot_judge_and_says_why(panel: np.ndarray, n_splits: int,
                                                       says: str) -> None:
    with pytest.raises(EvaluationInputError, match=re.escape(says)) as caught:
        probability_of_backtest_overfitting(panel, n_splits=n_splits)
    assert isinstance(caught.value, DataError) and isinstance(caught.value, ValueError)


# -- deflated Sharpe ratio -----------------------------------------------------------------------


def test_deflated_sharpe_falls_as_more_configurations_are_tried() -> None:
    values = [deflated_sharpe_ratio(0.1, n, 500, 0.0, 3.0, 0.002) for n in (1, 5, 50, 500)]
    assert all(a > b for a, b in itertools.pairwise(values))


def test_deflated_sharpe_of_one_trial_is_the_probabilistic_sharpe_ratio() -> None:
    assert deflated_sharpe_ratio(0.08, 1, 300, -0.4, 5.0, 0.01) == probabilistic_sharpe_ratio(
        0.08, 0.0, 300, -0.4, 5.0)


def test_the_arena_gate_uses_these_functions_not_a_copy() -> None:
    assert gates.deflated_sharpe_ratio is evaluation.deflated_sharpe_ratio
    assert gates.expected_max_sharpe is evaluation.expected_max_sharpe
    assert gates.sharpe_moments is evaluation.sharpe_moments
    assert gates.bootstrap_ci is evaluation.bootstrap_ci


# -- bootstrap -----------------------------------------------------------------------------------


def _ar1(rng: np.random.Generator, n: int, mean: float, phi: float) -> np.ndarray:
    shocks = rng.normal(0.0, 1.0, n)
    series = np.empty(n)
    series[0] = shocks[0] / math.sqrt(1 - phi**2)  # start in the stationary distribution
    for t in range(1, n):
        series[t] = phi * series[t - 1] + shocks[t]
    return mean + series


def _coverage(mean_block_length: float | None, trials: int = 150) -> float:
    rng = np.random.default_rng(2024)
    covered = 0
    for trial in range(trials):
        series = _ar1(rng, 400, 0.2, 0.5)
        low, high, _ = series_bootstrap_ci(series, n_boot=400, seed=trial,
                                           mean_block_length=mean_block_length)
        covered += low <= 0.2 <= high
    return covered / trials


def test_block_bootstrap_covers_the_mean_of_an_ar1_process_near_the_nominal_rate() -> None:
    assert 0.85 <= _coverage(None) <= 0.99  # n^(1/3) ≈ 7.4-bar blocks


def test_single_bar_bootstrap_is_overconfident_on_autocorrelated_returns() -> None:
    # why blocks: with φ = 0.5 the mean's true variance is 3× what i.i.d. resampling sees
    assert _coverage(1.0) < 0.85


def test_mean_block_length_one_is_the_iid_bootstrap_draw() -> None:
    drawn = stationary_indices(np.random.default_rng(8), 50, 30, 1.0)
    assert np.array_equal(drawn, np.random.default_rng(8).integers(0, 50, size=(30, 50)))


def test_stationary_blocks_continue_with_probability_one_minus_one_over_length() -> None:
    indices = stationary_indices(np.random.default_rng(0), 1_000, 200, 10.0)
    continues = np.diff(indices, axis=1) % 1_000 == 1
    assert float(continues.mean()) == pytest.approx(0.9, abs=0.01)


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    series = _ar1(np.random.default_rng(1), 300, 0.0, 0.3)
    first = series_bootstrap_ci(series, sharpe_of_rows, seed=5)
    assert first == series_bootstrap_ci(series, sharpe_of_rows, seed=5)
    assert first.low < first.estimate < first.high


def test_row_statistics_match_the_backtesters_definitions() -> None:
    returns = np.random.default_rng(6).normal(0.001, 0.01, size=(3, 500))
    equity = np.cumprod(np.c_[np.ones(3), 1 + returns], axis=1)
    assert max_drawdown_of_rows(returns) == pytest.approx([max_drawdown(e) for e in equity])
    annual = math.sqrt(HOURS_PER_YEAR)
    assert sharpe_of_rows(returns) * annual == pytest.approx(
        [sharpe_sortino(r)[0] for r in returns])
    assert sharpe_of_rows(np.full((1, 10), 0.003))[0] == 0.0  # no risk taken: undefined, 0


def test_empty_sample_gives_nan_interval() -> None:
    assert all(math.isnan(v) for v in bootstrap_ci([]))
