"""Arena gate statistics, checked on distributions whose answer we know."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from rl.gates import (
    bootstrap_ci,
    cvar,
    deflated_sharpe_ratio,
    episode_score,
    expected_max_sharpe,
    max_drawdown_paths,
    naive_majority_gate,
    paired_wins,
    promotion_decision,
    sprt,
    sprt_bounds,
)

TOURNAMENTS = 400
GAMES = 200


def _acceptance_rate(p_win: float, games: int = GAMES) -> float:
    rng = np.random.default_rng(12345)
    results = [sprt(rng.random(games) < p_win).decision for _ in range(TOURNAMENTS)]
    return results.count("accept_h1") / TOURNAMENTS


def test_sprt_bounds_are_walds() -> None:
    lower, upper = sprt_bounds(0.05, 0.2)
    assert upper == pytest.approx(math.log(16))
    assert lower == pytest.approx(math.log(0.2 / 0.95))


def test_a_no_better_candidate_is_promoted_at_most_about_alpha_of_the_time() -> None:
    assert _acceptance_rate(0.5) <= 0.07  # α = 0.05, plus sampling noise over 400 tournaments


def test_a_clearly_better_candidate_is_promoted_most_of_the_time() -> None:
    assert _acceptance_rate(0.65) >= 0.8


def test_a_clearly_worse_candidate_is_rejected_not_left_undecided() -> None:
    rng = np.random.default_rng(7)
    assert sprt(rng.random(GAMES) < 0.35).decision == "accept_h0"


def test_naive_20_game_gate_passes_a_no_better_net_a_quarter_of_the_time_sprt_does_not() -> None:
    # exact: P(Binomial(20, 0.5) >= 12) = 0.2517, the "25%"
    exact = sum(math.comb(20, k) for k in range(12, 21)) / 2**20
    assert exact == pytest.approx(0.2517, abs=1e-4)
    rng = np.random.default_rng(2024)
    naive = sprt_passes = 0
    for _ in range(TOURNAMENTS):
        games = rng.random(GAMES) < 0.5
        naive += naive_majority_gate(games[:20])
        sprt_passes += sprt(games).decision == "accept_h1"
    assert abs(naive / TOURNAMENTS - exact) < 0.06
    assert sprt_passes / TOURNAMENTS <= 0.07
    assert naive > 3 * sprt_passes


def test_sprt_stops_at_the_first_crossing_and_reports_what_it_used() -> None:
    result = sprt([True] * 100)
    assert result.decision == "accept_h1"
    assert result.n == math.ceil(math.log(16) / math.log(1.1))  # 30 straight wins
    assert result.wins == result.n and result.losses == 0
    assert sprt([]).decision == "continue" and sprt([]).n == 0


def test_ties_are_dropped_from_paired_wins() -> None:
    wins = paired_wins([0.1, 0.0, -0.2, 0.3], [0.0, 0.0, 0.0, 0.3])
    assert wins.tolist() == [True, False]


def test_bootstrap_ci_covers_the_true_mean_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(99)
    covered = 0
    for trial in range(TOURNAMENTS):
        sample = rng.normal(0.3, 1.0, size=200)
        low, high, mean = bootstrap_ci(sample, n_boot=1000, seed=trial)
        assert low < mean < high
        covered += low <= 0.3 <= high
    assert 0.91 <= covered / TOURNAMENTS <= 0.98


def test_bootstrap_ci_is_deterministic_for_a_seed() -> None:
    sample = np.random.default_rng(1).normal(size=50)
    assert bootstrap_ci(sample, seed=3) == bootstrap_ci(sample, seed=3)


def test_cvar_is_the_mean_loss_of_the_worst_tail() -> None:
    returns = np.r_[np.full(19, 0.01), -0.1]  # worst 5% of 20 is one episode
    assert cvar(returns, 0.95) == pytest.approx(0.1)
    assert cvar(np.linspace(-0.1, 0.1, 200), 0.95) == pytest.approx(
        -np.linspace(-0.1, 0.1, 200)[:10].mean())


def test_max_drawdown_paths_matches_the_backtester_definition() -> None:
    from trading.performance import max_drawdown
    curves = np.array([[100, 120, 90, 130], [100, 100, 100, 100], [100, 50, 75, 40.0]])
    expected = [max_drawdown(c) for c in curves]
    assert max_drawdown_paths(curves) == pytest.approx(expected)


def test_episode_score_penalizes_drawdown() -> None:
    assert episode_score([0.1], [0.2], drawdown_penalty=0.5)[0] == pytest.approx(0.0)


def test_deflated_sharpe_falls_as_more_candidates_are_tried() -> None:
    values = [deflated_sharpe_ratio(0.15, n, 200, -0.3, 4.0, 0.005)
              for n in (1, 2, 10, 100, 1000)]
    assert all(a > b for a, b in itertools.pairwise(values))
    assert 0 < values[-1] < values[0] < 1


def test_deflated_sharpe_with_one_trial_is_the_probabilistic_sharpe_ratio() -> None:
    # PSR(0) for normal returns: Φ(SR·√(T−1) / √(1 + SR²/2))
    expected = 0.5 * math.erfc(-(0.1 * math.sqrt(99) / math.sqrt(1 + 0.01 / 2)) / math.sqrt(2))
    assert deflated_sharpe_ratio(0.1, 1, 100, 0.0, 3.0, 0.01) == pytest.approx(expected)


def test_expected_max_sharpe_matches_the_papers_approximation() -> None:
    # N = 1000 trials, V = 1 → E[max] ≈ 3.26 standard deviations (Bailey & López de Prado)
    assert expected_max_sharpe(1000, 1.0) == pytest.approx(3.2552, abs=2e-3)


def _paired(rng: np.random.Generator, edge: float, n: int = GAMES) -> tuple[np.ndarray, ...]:
    common = rng.normal(0, 0.02, n)  # the episode's own difficulty, shared by both players
    best = common + rng.normal(0, 0.01, n)
    candidate = common + edge + rng.normal(0, 0.01, n)
    return candidate, best


def test_promotion_passes_a_clearly_better_candidate_and_records_every_statistic() -> None:
    rng = np.random.default_rng(5)
    candidate, best = _paired(rng, edge=0.01)
    dd = np.full(GAMES, 0.05)
    report = promotion_decision(
        candidate, best, dd, dd, 0.03, 0.035,
        {"flat": np.zeros(GAMES), "buy_and_hold": best - 0.001},
        candidate_returns=candidate, n_trials=5, trial_sharpes=[0.1, 0.0, -0.1, 0.2],
        n_boot=2000)
    assert report.promote, report.failed
    assert set(report.checks) == {"sprt", "bootstrap", "drawdown", "cvar", "baseline:flat",
                                  "baseline:buy_and_hold"}
    assert 0 <= report.info["deflated_sharpe_ratio"] <= 1
    json.dumps(report.as_dict(), allow_nan=False)


def test_promotion_rejects_a_no_better_candidate_and_says_which_checks_failed() -> None:
    rng = np.random.default_rng(6)
    candidate, best = _paired(rng, edge=0.0)
    report = promotion_decision(candidate, best, np.full(GAMES, 0.05), np.full(GAMES, 0.03),
                                0.05, 0.03, {"flat": np.zeros(GAMES)}, n_boot=2000)
    assert not report.promote
    assert {"sprt", "bootstrap", "drawdown", "cvar"} <= set(report.failed)
    assert report.checks["drawdown"].stats["candidate_mean"] == pytest.approx(0.05)


def test_paired_arrays_must_be_the_same_episodes() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        promotion_decision([0.1, 0.2], [0.1], [0], [0], 0, 0, {})
