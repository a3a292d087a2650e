"""The generation loop survives runs killed at a bad moment (the scheduler kills a run that
outlives its timeout): nothing stays undecided in the registry and numbering goes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from rl.env import BatchedEnv, EnvConfig
from rl.episodes import MarketData
from rl.loop import run_selfplay
from rl.networks import Player
from rl.registry import ModelRegistry, ModelStatus
from rl.selfplay import SelfPlayConfig

ENV = EnvConfig(horizon_minutes=60, warmup_minutes=120)
SMALL = SelfPlayConfig(n_envs=16, memory_steps=8, memory_shards=1, updates=1, rollout_steps=8,
                       env_config=ENV)


@pytest.fixture(scope="module")
def data() -> MarketData:
    return MarketData.from_generator(seed=2, coins=2, minutes=1_400, warmup_minutes=150)


def one_generation(data: MarketData, registry: ModelRegistry, workdir: Path) -> str:
    [outcome] = run_selfplay(data, registry, workdir, generations=1, config=SMALL,
                             env_config=ENV, arena_episodes=20, embargo_minutes=60)
    return outcome.version


def test_an_undecided_first_network_is_promoted_not_registered_twice(
        data: MarketData, tmp_path: Path, one_torch_thread: None) -> None:
    with ModelRegistry.open(tmp_path / "models.sqlite") as registry:
        registry.register("v0000", tmp_path / "missing.pt")  # killed before the promotion
        version = one_generation(data, registry, tmp_path / "run")
        best = registry.best()
        assert best is not None and best.version == "v0000"
        assert Path(best.path).is_file()  # the seeded init, re-created
        assert version == "v0001" and registry.get("v0001").status is not ModelStatus.CANDIDATE


def test_a_candidate_left_by_a_killed_run_is_rejected_as_abandoned(
        data: MarketData, tmp_path: Path, one_torch_thread: None) -> None:
    probe = BatchedEnv(data, 1, ENV, 0)
    player = Player.create(probe.observation_size, probe.n_actions,
                           feature_names=probe.observation_names)
    with ModelRegistry.open(tmp_path / "models.sqlite") as registry:
        registry.register("v0000", player.save(tmp_path / "v0000.pt"))
        registry.promote("v0000")
        registry.register("v0001", player.save(tmp_path / "v0001.pt"), parent="v0000")
        version = one_generation(data, registry, tmp_path / "run")
        abandoned = registry.get("v0001")
        assert abandoned.status is ModelStatus.REJECTED
        assert abandoned.arena_stats["failed"] == ["abandoned"]
        assert version == "v0002" and registry.get("v0002").parent == "v0000"
        assert not registry.list(ModelStatus.CANDIDATE)
