"""Rollout memory: what a player saw, did and got, time-major, on disk as npz.

Why on disk: best_player's self-play memory is the hand-off between episode generation
(possibly on other workers) and training, and it must survive a killed run so that a
resumed generation trains on the same memory instead of replaying new episodes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

_DTYPES: dict[str, type] = {
    "observations": np.float32,
    "actions": np.int64,
    "log_probs": np.float32,
    "rewards": np.float32,
    "values": np.float32,
    "dones": np.bool_,
    "last_values": np.float32,
}


@dataclass(frozen=True)
class RolloutMemory:
    """Time-major rollout of a batched env: arrays [T, n_envs, ...].

    `dones[t, e]` means the episode of env e ended with the reward of step t (the env
    auto-reset, so `observations[t + 1, e]` starts a new episode). `last_values[e]` is
    the value of the observation after the final step: the bootstrap for GAE.
    """

    observations: np.ndarray    # [T, N, obs_size] float32
    actions: np.ndarray         # [T, N] int64
    log_probs: np.ndarray       # [T, N] float32, log pi_behaviour(action | obs)
    rewards: np.ndarray         # [T, N] float32
    values: np.ndarray          # [T, N] float32, V_behaviour(obs)
    dones: np.ndarray           # [T, N] bool
    last_values: np.ndarray     # [N] float32

    def __post_init__(self) -> None:
        steps, n_envs = self.actions.shape
        for f in fields(self):
            array = getattr(self, f.name)
            expected = (n_envs,) if f.name == "last_values" else (steps, n_envs)
            if array.shape[: len(expected)] != expected:
                raise ValueError(f"{f.name} has shape {array.shape}, expected {expected}[...]")

    @property
    def n_steps(self) -> int:
        """Steps per env (T)."""
        return int(self.actions.shape[0])

    @property
    def n_envs(self) -> int:
        """Parallel envs (N)."""
        return int(self.actions.shape[1])

    def save(self, path: str | Path) -> Path:
        """Write atomically (tmp then rename), uncompressed: memory is re-read soon, not archived."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **{f.name: getattr(self, f.name) for f in fields(self)})
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> RolloutMemory:
        """Read a memory written by `save`, with the canonical dtypes."""
        with np.load(Path(path)) as archive:
            return cls(**{name: archive[name].astype(dtype, copy=False)
                          for name, dtype in _DTYPES.items()})

    @classmethod
    def concat_envs(cls, parts: list[RolloutMemory]) -> RolloutMemory:
        """Join shards played on different workers side by side (same T, envs appended)."""
        if not parts:
            raise ValueError("no rollout shards to join")
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts],
                                             axis=0 if f.name == "last_values" else 1)
                      for f in fields(cls)})


class RolloutBuffer:
    """Preallocated writer for one rollout: `add` each step, `finish` with the bootstrap."""

    def __init__(self, n_steps: int, n_envs: int, obs_size: int):
        self.observations = np.zeros((n_steps, n_envs, obs_size), np.float32)
        self.actions = np.zeros((n_steps, n_envs), np.int64)
        self.log_probs = np.zeros((n_steps, n_envs), np.float32)
        self.rewards = np.zeros((n_steps, n_envs), np.float32)
        self.values = np.zeros((n_steps, n_envs), np.float32)
        self.dones = np.zeros((n_steps, n_envs), np.bool_)
        self.step = 0

    def add(self, obs: np.ndarray, actions: np.ndarray, log_probs: np.ndarray,
            rewards: np.ndarray, values: np.ndarray, dones: np.ndarray) -> None:
        """Record one batched step (the observation is the one the action was taken on)."""
        t = self.step
        self.observations[t] = obs
        self.actions[t] = actions
        self.log_probs[t] = log_probs
        self.rewards[t] = rewards
        self.values[t] = values
        self.dones[t] = dones
        self.step += 1

    def finish(self, last_values: np.ndarray) -> RolloutMemory:
        """Freeze into a `RolloutMemory`; refuses a buffer that was not filled."""
        if self.step != self.actions.shape[0]:
            raise ValueError(f"rollout has {self.step} of {self.actions.shape[0]} steps")
        return RolloutMemory(self.observations, self.actions, self.log_probs, self.rewards,
                             self.values, self.dones, np.asarray(last_values, np.float32))
