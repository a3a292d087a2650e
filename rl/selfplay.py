"""One self-play generation: best_player plays → memory on disk → current_player trains (PPO).

Why this shape: best_player's exploratory episodes are the shared memory a generation
trains on (and what a worker fleet would produce); current_player starts from best's
weights and improves with PPO on that memory plus its own on-policy rollouts. No search
over replayed history (it would peek at future prices): only model-free policy learning.

A generation is restartable. The memory is written once (atomically) and reused; every
PPO update writes `checkpoint.pt` (weights, optimiser, sampling-generator state, update
count) atomically, so a SIGKILL loses at most the update in flight and a rerun with the
same arguments continues from the checkpoint's update count. A resumed run continues the
same optimisation but its env episodes restart, so it is not bitwise identical to an
uninterrupted one.

Episode generation goes through a `WorkerPool` (`rl.pool`: `map(fn, tasks)`); `LocalPool`
runs the shards in-process, `ProcessPool` in local processes. Tasks and the shard function
are picklable, so a Ray pool can replace them without touching this module.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rl.memory import RolloutMemory
from rl.networks import ModelMismatchError, Player, feature_names_hash
from rl.pool import LocalPool, WorkerPool
from rl.ppo import PPOConfig, VecEnv, collect_rollout, make_batch, make_optimizer, ppo_update

EnvFactory = Callable[[Any, int, Any, int], VecEnv]
Progress = Callable[[str, int, int], None]

CHECKPOINT_NAME = "checkpoint.pt"
MEMORY_NAME = "memory.npz"
CURRENT_NAME = "current.pt"


def make_batched_env(data: Any, n_envs: int, env_config: Any, seed: int) -> VecEnv:
    """The default factory: `rl.env.BatchedEnv` (imported lazily; module-level so it pickles)."""
    from rl.env import BatchedEnv, EnvConfig

    return BatchedEnv(data, n_envs, env_config if env_config is not None else EnvConfig(), seed)


@dataclass(frozen=True)
class SelfPlayConfig:
    """Sizes of one generation. Steps are per env; total samples = n_envs x steps."""

    n_envs: int = 256
    memory_steps: int = 256            # best_player's exploratory steps per env → memory
    memory_shards: int = 2             # episode-generation tasks handed to the worker pool
    updates: int = 20                  # PPO updates of current_player (one checkpoint each)
    rollout_steps: int = 128           # current_player's on-policy steps per env per update
    # Updates that also train on best's memory. Few on purpose: PPO's clipped objective is a
    # pessimistic bound around the *behaviour* policy, so stale memory kept in every update
    # anchors current_player within ~clip of best_player and stalls learning (measured: a
    # planted edge reached p=0.31 after 30 updates with memory always on, 0.99 with it early).
    memory_updates: int | None = 2     # None = every update

    ppo: PPOConfig = field(default_factory=PPOConfig)
    env_config: Any = None             # rl.env.EnvConfig; None = its defaults
    env_factory: EnvFactory = make_batched_env


@dataclass(frozen=True)
class EpisodeTask:
    """One shard of exploratory play; self-contained and picklable for remote workers."""

    player_payload: dict
    data: Any
    env_config: Any
    env_factory: EnvFactory
    n_envs: int
    n_steps: int
    seed: int


def play_episodes(task: EpisodeTask) -> RolloutMemory:
    """Play one shard with the policy sampled (exploration), recording behaviour log-probs."""
    player = Player.from_payload(task.player_payload)
    env = task.env_factory(task.data, task.n_envs, task.env_config, task.seed)
    generator = torch.Generator().manual_seed(task.seed)
    obs = np.asarray(env.reset(), dtype=np.float32)
    memory, _ = collect_rollout(env, player, obs, task.n_steps, generator)
    return memory


def plain_config(value: Any) -> Any:
    """A (nested) dataclass config as JSON-ready data: tuples to lists, callables by name.
    Stored in checkpoints and the registry so a model says how it was trained."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain_config(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [plain_config(v) for v in value]
    if callable(value):
        return str(getattr(value, "__qualname__", type(value).__name__))
    return value


def derive_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (so shard/update seeds never collide)."""
    return int(np.random.SeedSequence([abs(int(p)) for p in parts]).generate_state(1, np.uint64)[0]
               >> np.uint64(1))


def generate_memory(best: Player, data: Any, config: SelfPlayConfig, seed: int,
                    pool: WorkerPool) -> RolloutMemory:
    """best_player's exploratory memory, split into `memory_shards` pool tasks."""
    shards = max(1, min(config.memory_shards, config.n_envs))
    sizes = [len(part) for part in np.array_split(np.arange(config.n_envs), shards)]
    payload = best.payload()
    tasks = [EpisodeTask(payload, data, config.env_config, config.env_factory, size,
                         config.memory_steps, derive_seed(seed, 1, shard))
             for shard, size in enumerate(sizes)]
    return RolloutMemory.concat_envs(pool.map(play_episodes, tasks))


def _check_fits(player: Player, env: VecEnv) -> None:
    """Refuse a player whose input/output layout differs from the environment's."""
    if player.spec.obs_size != env.observation_size or player.spec.n_actions != env.n_actions:
        raise ModelMismatchError(
            f"player expects obs {player.spec.obs_size} / actions {player.spec.n_actions}, "
            f"env gives {env.observation_size} / {env.n_actions}")
    names = getattr(env, "observation_names", None)
    if names is not None and player.spec.feature_hash \
            and player.spec.feature_hash != feature_names_hash(names):
        raise ModelMismatchError("player was trained on a different observation layout "
                                 f"(hash {player.spec.feature_hash})")


def _save_checkpoint(path: Path, state: dict) -> None:
    """Atomic write: a kill leaves either the previous checkpoint or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def run_generation(
    best: Player,
    data_train: Any,
    config: SelfPlayConfig,
    workdir: str | Path,
    seed: int,
    progress: Progress | None = None,
    pool: WorkerPool | None = None,
) -> Player:
    """Run (or resume) one generation in `workdir`; returns the trained current_player.

    Files: memory.npz (best's play), checkpoint.pt (after every update), current.pt (final).
    `progress(stage, done, total)` is called with stage "memory" and "train".
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda stage, done, total: None)
    pool = pool or LocalPool()
    checkpoint_path = workdir / CHECKPOINT_NAME

    memory_path = workdir / MEMORY_NAME
    if memory_path.exists():
        memory = RolloutMemory.load(memory_path)
    else:
        report("memory", 0, 1)
        memory = generate_memory(best, data_train, config, seed, pool)
        memory.save(memory_path)
    report("memory", 1, 1)

    current = best.clone()
    optimizer = make_optimizer(current.net, config.ppo)
    generator = torch.Generator().manual_seed(derive_seed(seed, 2))
    start_update, resumes, history = 0, [], []
    if checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        if state["seed"] != seed:
            raise ValueError(f"{checkpoint_path} belongs to seed {state['seed']}, not {seed}; "
                             "use a fresh workdir")
        current = Player.from_payload(state["player"], expected=best.spec,
                                      source=str(checkpoint_path))
        optimizer = make_optimizer(current.net, config.ppo)
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        start_update, resumes, history = state["update"], list(state["resumes"]), \
            list(state["history"])
    resumes.append(start_update)

    if start_update < config.updates:
        env = config.env_factory(data_train, config.n_envs, config.env_config,
                                 derive_seed(seed, 3, start_update))
        _check_fits(current, env)
        obs = np.asarray(env.reset(), dtype=np.float32)
        report("train", start_update, config.updates)
        for update in range(start_update, config.updates):
            rollout, obs = collect_rollout(env, current, obs, config.rollout_steps, generator)
            memories = [rollout]
            if config.memory_updates is None or update < config.memory_updates:
                memories.append(memory)
            stats = ppo_update(current.net, optimizer, make_batch(memories, config.ppo),
                               config.ppo, generator)
            stats["mean_reward"] = float(rollout.rewards.mean())
            history.append(stats)
            _save_checkpoint(checkpoint_path, {
                "seed": seed, "update": update + 1, "resumes": resumes, "history": history,
                "env_config": plain_config(config.env_config), "ppo": plain_config(config.ppo),
                "player": current.payload(), "optimizer": optimizer.state_dict(),
                "generator": generator.get_state()})
            report("train", update + 1, config.updates)
    current.save(workdir / CURRENT_NAME)
    return current


def read_checkpoint(workdir: str | Path) -> dict:
    """The generation's checkpoint (update count, resume points, per-update loss history)."""
    return torch.load(Path(workdir) / CHECKPOINT_NAME, map_location="cpu", weights_only=True)
