"""A gymnasium view of one `rl.env.BatchedEnv` episode, for the stable-baselines3 baseline.

`SingleMarketEnv` is the same environment logic as the batched env (it *is* a `BatchedEnv`
with `n_envs=1` and auto-reset off underneath): same market data, observations, actions, fill
model, sizing and reward; only the interface differs (one env per object, gymnasium's
`reset`/`step` tuple conventions), which is what SB3's `DummyVecEnv` steps one by one.
Imported only when gymnasium is installed (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np

from rl.env import BatchedEnv, EnvConfig
from rl.episodes import MarketData


class SingleMarketEnv(gym.Env):
    """One episode at a time over `data`; `terminated` at the horizon or on ruin."""

    def __init__(self, data: MarketData, config: EnvConfig | None = None, seed: int = 0):
        super().__init__()
        one_episode = dataclasses.replace(config or EnvConfig(), auto_reset=False)
        self._env = BatchedEnv(data, 1, one_episode, seed)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self._env.observation_size,),
                                                np.float32)
        self.action_space = gym.spaces.Discrete(self._env.n_actions)

    def reset(self, *, seed: int | None = None, options: dict | None = None
              ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self._env._rng = np.random.default_rng(seed)  # episode starts follow gym's seed
        return self._env.reset()[0], {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs, reward, done, _info = self._env.step(np.asarray([action], np.int64))
        return obs[0], float(reward[0]), bool(done[0]), False, {}
