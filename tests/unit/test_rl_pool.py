"""The worker pool is pluggable: episode generation and the arena give the
same results in-process and in local worker processes, so a Ray pool can replace either."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rl.arena import run_arena
from rl.env import BatchedEnv, EnvConfig
from rl.episodes import MarketData
from rl.networks import Player
from rl.pool import LocalPool, ProcessPool, make_pool
from rl.selfplay import SelfPlayConfig, generate_memory

CONFIG = EnvConfig(horizon_minutes=60, warmup_minutes=120)


@pytest.fixture(scope="module")
def data() -> MarketData:
    return MarketData.from_generator(seed=5, coins=3, minutes=900, warmup_minutes=150)


def player(data: MarketData, seed: int) -> Player:
    probe = BatchedEnv(data, 1, CONFIG, 0)
    return Player.create(probe.observation_size, probe.n_actions, hidden=(16,),
                         feature_names=probe.observation_names, seed=seed)


def test_make_pool_is_in_process_for_one_worker() -> None:
    assert isinstance(make_pool(1), LocalPool)
    assert isinstance(make_pool(2), ProcessPool) and make_pool(2).workers == 2


@pytest.mark.slow
def test_episode_generation_is_identical_in_process_and_in_worker_processes(
        data: MarketData, one_torch_thread: None) -> None:
    config = SelfPlayConfig(n_envs=24, memory_steps=16, memory_shards=3, env_config=CONFIG)
    best = player(data, seed=1)
    here = generate_memory(best, data, config, seed=9, pool=LocalPool())
    there = generate_memory(best, data, config, seed=9, pool=ProcessPool(workers=2))
    for field in dataclasses.fields(here):
        np.testing.assert_array_equal(getattr(here, field.name), getattr(there, field.name),
                                      err_msg=field.name)
    assert here.n_envs == 24 and here.rewards.any()


@pytest.mark.slow
def test_arena_is_identical_in_process_and_in_worker_processes(
        data: MarketData, one_torch_thread: None) -> None:
    candidate, best = player(data, seed=2), player(data, seed=3)
    here = run_arena(candidate, best, data, 40, config=CONFIG, seed=4, n_boot=200,
                     pool=LocalPool())
    there = run_arena(candidate, best, data, 40, config=CONFIG, seed=4, n_boot=200,
                      pool=ProcessPool(workers=2))
    assert here.as_dict() == there.as_dict()
    assert set(here.info["players"]) == {"candidate", "best", "buy_and_hold", "flat",
                                         "sma_cross"}
