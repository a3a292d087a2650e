"""The portfolio league: a planted cross-sectional edge is learned and promoted, a worse
candidate is rejected, Ray and in-process give the same generation, and a generation killed
with SIGKILL resumes to the result an uninterrupted run reaches (the same episodes, verdict
and weights, bit for bit, see `assert_same_players`).

The market (tests/portfolio_markets.py) hides a persistent per-coin regime that drives the
next bar and serves it as an observation column; training and league episodes come from
disjoint rows."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from rl.pool import LocalPool, RayPool
from rl.portfolio_arena import run_league as play_league
from rl.portfolio_league import (
    PORTFOLIO_REGISTRY_FILE,
    LeagueConfig,
    StageHook,
    run_generation,
    run_league,
)
from rl.portfolio_network import PortfolioPlayer
from rl.portfolio_scores import league_baselines
from rl.ppo import PPOConfig
from rl.registry import ModelRegistry, ModelStatus
from tests.portfolio_markets import planted_factories, planted_market

# A guard for a loaded machine (whole generations of training and a league per test;
# ~35 s per test on an idle 2-core machine).
pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
PLANTED_ROWS, PLANTED_SPLIT = 1500, 900  # planted_factories' defaults: validation from 900
CONFIG = LeagueConfig(n_envs=32, rollout_steps=48, memory_shards=2, own_rollouts=6,
                      ppo=PPOConfig(minibatch_size=256, epochs=4, learning_rate=1e-3),
                      hidden=(64, 64), arena_episodes=100)


@pytest.fixture(scope="module")
def league(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    """One generation on the planted market, from a fresh registry, against the whole
    league a walk-forward plays: flat, equal weight, momentum, the product's ranking and
    forecast top-k (its forecast fitted on the training rows, before the league's)."""
    workdir = tmp_path_factory.mktemp("league")
    train, validation = planted_factories()
    grid, _, _ = planted_market(1, PLANTED_ROWS)
    baselines = league_baselines(validation, grid, PLANTED_SPLIT)
    assert baselines.omitted == {}
    with ModelRegistry.open(workdir / PORTFOLIO_REGISTRY_FILE) as registry:
        outcomes = run_league(registry, train, validation, workdir, generations=1,
                              config=CONFIG, seed=0, baselines=baselines)
    return workdir, outcomes


def test_a_planted_cross_sectional_edge_is_learned_and_promoted(league: tuple[Path, list]
                                                                 ) -> None:
    workdir, outcomes = league
    assert [o.version for o in outcomes] == ["v0001"]
    assert outcomes[0].promoted, outcomes[0].failed
    players = outcomes[0].stats["info"]["players"]
    # It beats the untrained best and every baseline on the same episodes, and makes money
    # after costs.
    assert set(players) == {"candidate", "best", "flat", "equal_weight", "momentum", "rank",
                            "forecast_topk"}
    for rival in ("best", "flat", "equal_weight", "momentum", "rank", "forecast_topk"):
        assert players["candidate"]["mean_score"] > players[rival]["mean_score"], rival
    assert players["candidate"]["mean_log_growth"] > 0
    with ModelRegistry.open(workdir / PORTFOLIO_REGISTRY_FILE) as registry:
        best, first = registry.best(), registry.get("v0000")
        assert best is not None and best.version == "v0001" and best.arena_stats is not None
        assert first is not None and first.status is ModelStatus.RETIRED
        # Every statistic is recorded, the deflated Sharpe counting both models tried.
        assert best.arena_stats["info"]["n_trials"] == 2
        assert "deflated_sharpe_ratio" in best.arena_stats["info"]


def test_a_worse_candidate_is_rejected_by_the_league(league: tuple[Path, list]) -> None:
    workdir, _ = league
    _, validation = planted_factories()
    with ModelRegistry.open(workdir / PORTFOLIO_REGISTRY_FILE) as registry:
        record = registry.best()
        assert record is not None
        trained = PortfolioPlayer.load(record.path)
    untrained = PortfolioPlayer(trained.spec, seed=5)
    report = play_league(untrained, trained, validation, 100, seed=3)
    assert not report.promote
    assert {"sprt", "bootstrap"} <= set(report.failed)


SMALL = LeagueConfig(n_envs=8, rollout_steps=16, memory_shards=2, own_rollouts=1,
                     ppo=PPOConfig(minibatch_size=64, epochs=1), hidden=(32, 32),
                     arena_episodes=20)


def small_generation(workdir: Path, pool: object, on_stage: StageHook | None = None,
                     config: LeagueConfig = SMALL) -> tuple[PortfolioPlayer, dict]:
    train, validation = planted_factories()
    env = train(1, 0)
    best = PortfolioPlayer.create(len(env.coin_feature_names),
                                  len(env.portfolio_feature_names), len(env.action_names),
                                  config.hidden, seed=0)
    result = run_generation(best, {}, train, validation, config, 11, workdir,
                            pool=pool, on_stage=on_stage)  # type: ignore[arg-type]
    return result.candidate, result.report


def test_the_league_can_judge_on_growth_alone_leaving_drawdown_to_its_own_check(
        tmp_path: Path) -> None:
    growth_only = dataclasses.replace(SMALL, arena_drawdown_penalty=0.0)
    _, report = small_generation(tmp_path, LocalPool(), config=growth_only)
    assert report["info"]["drawdown_penalty"] == 0.0
    players = report["info"]["players"]
    assert set(players) == {"candidate", "best", "flat", "equal_weight", "momentum"}
    for figures in players.values():
        assert figures["mean_score"] == figures["mean_log_growth"]
    assert {"drawdown", "cvar"} <= set(report["checks"])  # risk still has its own checks


def assert_same_players(first: PortfolioPlayer, second: PortfolioPlayer) -> None:
    """The same weights, bit for bit: every torch sum of the league runs on one thread
    (rl/torch_threads.py), so neither the process nor the pool changes an addition order."""
    for (name, a), (_, b) in zip(first.net.state_dict().items(),
                                 second.net.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def assert_same_verdict(first: dict, second: dict) -> None:
    """The same league decision, check by check, with the same figures to the bit."""
    assert (first["promote"], first["failed"]) == (second["promote"], second["failed"])
    assert first["info"]["n_trials"] == second["info"]["n_trials"]
    assert first["info"]["players"] == second["info"]["players"]


def test_same_seeds_give_the_same_generation_in_process_and_on_ray(
        tmp_path: Path, ray_session: None) -> None:
    here, here_report = small_generation(tmp_path / "local", LocalPool())
    there, there_report = small_generation(tmp_path / "ray", RayPool())
    assert_same_players(here, there)
    assert_same_verdict(here_report, there_report)
    for i in range(SMALL.memory_shards):
        with np.load(tmp_path / "local" / f"memory_{i}.npz") as a, \
                np.load(tmp_path / "ray" / f"memory_{i}.npz") as b:
            for key in ("actions", "mask", "dones", "coins", "portfolio", "rewards",
                        "log_probs", "values", "last_values"):
                np.testing.assert_array_equal(a[key], b[key])  # the same episodes played


#: A process that runs the same small generation and kills itself (SIGKILL: no clean-up,
#: as kill -9 or a power cut) right after the named stage was saved.
KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from rl.pool import LocalPool
    from tests.integration.test_portfolio_league import small_generation

    def on_stage(stage):
        if stage == {stage!r}:
            os.kill(os.getpid(), signal.SIGKILL)

    small_generation(Path({workdir!r}), LocalPool(), on_stage)
""")


@pytest.mark.parametrize("stage", ["memory", "trained"])
def test_a_generation_killed_mid_way_resumes_to_the_uninterrupted_result(
        tmp_path: Path, stage: str) -> None:
    whole, whole_report = small_generation(tmp_path / "whole", LocalPool())
    workdir = tmp_path / "killed"
    script = KILLED_RUN.format(root=str(ROOT), stage=stage, workdir=str(workdir))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          timeout=600)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    assert not (workdir / "league.json").exists()  # it really died before the end
    resumed, resumed_report = small_generation(workdir, LocalPool())
    assert_same_players(whole, resumed)
    assert_same_verdict(whole_report, resumed_report)
