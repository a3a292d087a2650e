"""Rollout memory: npz round trip, shard joining, shape checks."""

from __future__ import annotations

import numpy as np
import pytest

from rl.memory import RolloutBuffer, RolloutMemory


def filled_memory(n_steps: int = 5, n_envs: int = 3, obs_size: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    buffer = RolloutBuffer(n_steps, n_envs, obs_size)
    for _ in range(n_steps):
        buffer.add(rng.standard_normal((n_envs, obs_size)), rng.integers(0, 9, n_envs),
                   -rng.random(n_envs), rng.standard_normal(n_envs),
                   rng.standard_normal(n_envs), rng.random(n_envs) < 0.3)
    return buffer.finish(rng.standard_normal(n_envs))


def test_memory_round_trips_through_npz_with_its_dtypes(tmp_path):
    memory = filled_memory()
    loaded = RolloutMemory.load(memory.save(tmp_path / "memory.npz"))
    for name in ("observations", "actions", "log_probs", "rewards", "values", "dones",
                 "last_values"):
        original, restored = getattr(memory, name), getattr(loaded, name)
        np.testing.assert_array_equal(original, restored)
        assert original.dtype == restored.dtype
    assert loaded.observations.dtype == np.float32 and loaded.dones.dtype == np.bool_
    assert not list(tmp_path.glob("*.tmp*"))


def test_shards_join_side_by_side_on_the_env_axis():
    joined = RolloutMemory.concat_envs([filled_memory(n_envs=2), filled_memory(n_envs=3, seed=1)])
    assert (joined.n_steps, joined.n_envs) == (5, 5) and joined.last_values.shape == (5,)


def test_an_unfilled_buffer_cannot_become_memory():
    buffer = RolloutBuffer(3, 2, 4)
    with pytest.raises(ValueError, match="1 of 3"):
        buffer.add(np.zeros((2, 4)), np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2),
                   np.zeros(2, bool))
        buffer.finish(np.zeros(2))


def test_memory_with_inconsistent_shapes_is_refused():
    memory = filled_memory()
    with pytest.raises(ValueError, match="rewards"):
        RolloutMemory(memory.observations, memory.actions, memory.log_probs,
                      memory.rewards[:-1], memory.values, memory.dones, memory.last_values)
