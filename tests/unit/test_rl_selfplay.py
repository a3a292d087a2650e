"""Self-play generation: memory from best_player, PPO for current_player, kill -9 and resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from rl.memory import RolloutMemory
from rl.networks import ModelMismatchError, Player
from rl.ppo import PPOConfig
from rl.selfplay import (
    CURRENT_NAME,
    MEMORY_NAME,
    LocalPool,
    SelfPlayConfig,
    read_checkpoint,
    run_generation,
)
from tests.unit.test_rl_ppo import PlantedEdgeEnv, planted_edge_env

REPO_ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def slow_planted_edge_env(data, n_envs, config, seed):
    """The planted-edge env at ~10 ms a step, so a run can be killed mid-training."""
    return PlantedEdgeEnv(data, n_envs, config, seed, step_delay_s=0.01)


def small_config(**overrides) -> SelfPlayConfig:
    base = SelfPlayConfig(n_envs=64, memory_steps=8, memory_shards=2, updates=12,
                          rollout_steps=8, env_factory=planted_edge_env,
                          ppo=PPOConfig(epochs=4, minibatch_size=256, learning_rate=3e-3,
                                        gamma=0.9))
    return replace(base, **overrides)


def edge_probability(player: Player) -> float:
    probe = PlantedEdgeEnv(None, 512, seed=99)
    return float(player.probabilities(probe.reset())[:, probe.edge_action].mean())


class CountingPool(LocalPool):
    """A pool that records how many tasks it was handed."""

    def __init__(self) -> None:
        self.tasks = 0

    def map(self, fn, tasks):
        self.tasks += len(tasks)
        return super().map(fn, tasks)


def test_generation_writes_memory_and_checkpoints_and_current_learns_from_best(tmp_path):
    best = Player.create(6, 4, hidden=(32, 32), seed=0)
    best_before = edge_probability(best)
    pool, stages = CountingPool(), []
    current = run_generation(best, None, small_config(), tmp_path, seed=1, pool=pool,
                             progress=lambda stage, done, total: stages.append((stage, done)))
    memory = RolloutMemory.load(tmp_path / MEMORY_NAME)
    assert (memory.n_steps, memory.n_envs) == (8, 64) and pool.tasks == 2
    assert (tmp_path / CURRENT_NAME).exists()
    checkpoint = read_checkpoint(tmp_path)
    assert checkpoint["update"] == 12 and checkpoint["resumes"] == [0]
    assert len(checkpoint["history"]) == 12 and ("train", 12) in stages
    assert edge_probability(best) == best_before, "best_player must not be trained in place"
    assert edge_probability(current) > max(0.6, best_before + 0.3)


def test_rerunning_a_finished_generation_trains_no_further(tmp_path):
    best = Player.create(6, 4, hidden=(16,), seed=0)
    config = small_config(updates=2)
    first = run_generation(best, None, config, tmp_path, seed=1)
    again = run_generation(best, None, config, tmp_path, seed=1)
    assert read_checkpoint(tmp_path)["update"] == 2   # nothing trained, nothing rewritten
    for a, b in zip(first.net.state_dict().values(), again.net.state_dict().values()):
        assert torch.equal(a, b)


def test_a_checkpoint_from_another_seed_is_refused(tmp_path):
    best = Player.create(6, 4, hidden=(16,), seed=0)
    run_generation(best, None, small_config(updates=1), tmp_path, seed=1)
    with pytest.raises(ValueError, match="seed"):
        run_generation(best, None, small_config(updates=2), tmp_path, seed=2)


def test_a_best_player_that_does_not_fit_the_env_is_refused(tmp_path):
    with pytest.raises(ModelMismatchError, match="obs"):
        run_generation(Player.create(7, 4, hidden=(16,)), None, small_config(updates=1),
                       tmp_path, seed=1)


RESUMABLE_RUN = """
import sys
from rl.networks import Player
from rl.ppo import PPOConfig
from rl.selfplay import SelfPlayConfig, run_generation
from tests.unit.test_rl_selfplay import slow_planted_edge_env
config = SelfPlayConfig(n_envs=32, memory_steps=4, memory_shards=2, updates=20, rollout_steps=8,
                        ppo=PPOConfig(epochs=1, minibatch_size=256), env_factory=slow_planted_edge_env)
run_generation(Player.create(6, 4, hidden=(16,), seed=0), None, config, sys.argv[1], seed=5,
               progress=lambda stage, done, total: print(stage, done, total, flush=True))
"""


def start_run(workdir: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", RESUMABLE_RUN, str(workdir)], cwd=REPO_ROOT,
                            env=env, stdout=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.integration  # training runs in a subprocess that is killed
@pytest.mark.timeout(60)
def test_a_run_killed_mid_training_resumes_from_its_checkpoint(tmp_path):
    """Given a generation SIGKILLed after a few updates, when it is rerun with the same
    arguments, then training continues from the checkpoint's update count, not from zero."""
    run = start_run(tmp_path)
    assert run.stdout is not None
    for line in run.stdout:
        stage, done, _total = line.split()
        if stage == "train" and int(done) >= 3:
            break
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=10)
    killed_at = read_checkpoint(tmp_path)["update"]
    assert 3 <= killed_at < 20

    rerun = start_run(tmp_path)
    output, _ = rerun.communicate(timeout=50)
    assert rerun.returncode == 0
    train_lines = [line for line in output.splitlines() if line.startswith("train")]
    assert train_lines[0] == f"train {killed_at} 20" and train_lines[-1] == "train 20 20"
    checkpoint = read_checkpoint(tmp_path)
    assert checkpoint["update"] == 20 and checkpoint["resumes"] == [0, killed_at]
    assert len(checkpoint["history"]) == 20
    assert not list(tmp_path.glob("*.tmp")), "no half-written checkpoint may remain"


def test_generation_runs_on_the_real_batched_env(tmp_path):
    episodes = pytest.importorskip("rl.episodes")
    env_module = pytest.importorskip("rl.env")
    data = episodes.MarketData.from_generator(0, 3, 2000)
    env_config = env_module.EnvConfig(horizon_minutes=60, warmup_minutes=200)
    probe = env_module.BatchedEnv(data, 1, env_config, 0)
    best = Player.create(probe.observation_size, probe.n_actions, hidden=(32, 32),
                         feature_names=probe.observation_names)
    config = SelfPlayConfig(n_envs=32, memory_steps=16, updates=2, rollout_steps=16,
                            ppo=PPOConfig(epochs=2, minibatch_size=256), env_config=env_config)
    current = run_generation(best, data, config, tmp_path, seed=3)
    assert current.spec == best.spec
    assert np.isfinite(read_checkpoint(tmp_path)["history"][-1]["value_loss"])
