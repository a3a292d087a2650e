"""The best_player / current_player loop: generate, train, play the arena, promote or reject.

One call runs G generations. Each: best_player's memory -> current_player trained by PPO
(resumable) -> a paired arena on held-out, embargoed episodes -> the registry records the
candidate with every statistic, and promotes it only if every gate passed. The first run
installs a freshly initialized network as the first best (version `v0000`), so "better"
always means better than something that was itself measured.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rl.arena import run_arena
from rl.env import BatchedEnv, EnvConfig
from rl.episodes import MarketData
from rl.networks import Player
from rl.pool import WorkerPool
from rl.registry import ModelRegistry, ModelStatus
from rl.selfplay import SelfPlayConfig, plain_config, run_generation

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class GenerationOutcome:
    version: str
    promoted: bool
    failed_checks: tuple[str, ...]
    report: dict[str, Any]


def _version(number: int) -> str:
    return f"v{number:04d}"


def training_record(config: SelfPlayConfig, env_config: EnvConfig, seed: int) -> dict[str, Any]:
    """How a candidate was trained (env incl. reward scale, PPO, generation sizes, seed), as
    stored with its arena statistics in the registry."""
    sizes = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
             if f.name not in ("ppo", "env_config", "env_factory")}
    return {"env_config": plain_config(config.env_config or env_config),
            "ppo": plain_config(config.ppo), "selfplay": sizes,
            "env_factory": plain_config(config.env_factory), "seed": seed}


def ensure_best(registry: ModelRegistry, models_dir: Path, data: MarketData,
                env_config: EnvConfig, seed: int) -> tuple[Player, str]:
    """The registered best player, or a fresh network installed as v0000. A v0000 left a
    candidate by a run killed between registering and promoting it is promoted now (its
    weights are the seeded init, re-created if the file is missing)."""
    record = registry.best()
    if record is not None:
        return Player.load(record.path), record.version
    probe = BatchedEnv(data, 1, env_config, seed)
    player = Player.create(probe.observation_size, probe.n_actions,
                           feature_names=probe.observation_names, seed=seed)
    undecided = registry.get(_version(0))
    path = Path(undecided.path) if undecided else models_dir / f"{_version(0)}.pt"
    player.save(path)
    if undecided is None:
        registry.register(_version(0), path, data_start_ms=int(data.open_ms[0]),
                          data_end_ms=int(data.open_ms[-1]))
    registry.promote(_version(0), {"note": "initial network: random weights, no arena",
                                   "training": {"env_config": plain_config(env_config)}})
    return player, _version(0)


def reject_abandoned(registry: ModelRegistry) -> list[str]:
    """Candidates a killed run registered but never judged: rejected, with the reason, so the
    registry holds no undecided rows (they still count as trials for the deflated Sharpe).
    Safe because one self-play run at a time owns a registry (`entasis selfplay`'s lock)."""
    abandoned = [r.version for r in registry.list(ModelStatus.CANDIDATE)]
    for version in abandoned:
        registry.reject(version, {"note": "abandoned: its run stopped before the arena",
                                  "failed": ["abandoned"]})
    return abandoned


def run_selfplay(data: MarketData, registry: ModelRegistry, workdir: Path, *,
                 generations: int, config: SelfPlayConfig, env_config: EnvConfig,
                 arena_episodes: int = 200, train_fraction: float = 0.8,
                 embargo_minutes: int = 1440, seed: int = 0,
                 progress: Progress | None = None,
                 pool: WorkerPool | None = None) -> list[GenerationOutcome]:
    """Run `generations` generations; returns what each concluded. Episode generation and
    arena games go through `pool` (default in-process). Each registry write is one short
    transaction, so a daemon reading the same file (hot swap) is never blocked for long."""
    train, validation = data.split(train_fraction=train_fraction, embargo_minutes=embargo_minutes)
    models_dir = workdir / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    best, best_version = ensure_best(registry, models_dir, train, env_config, seed)
    reject_abandoned(registry)
    outcomes = []
    for _ in range(generations):
        number = registry.trial_count()
        version = _version(number)
        candidate = run_generation(best, train, config, workdir / version, seed + number,
                                   progress=progress, pool=pool)
        path = models_dir / f"{version}.pt"
        candidate.save(path)
        registry.register(version, path, parent=best_version,
                          data_start_ms=int(train.open_ms[0]), data_end_ms=int(train.open_ms[-1]))
        if progress:
            progress("arena", 0, 1)
        report = run_arena(candidate, best, validation, arena_episodes, config=env_config,
                           seed=seed + number, n_trials=registry.trial_count(),
                           trial_sharpes=registry.trial_sharpes(), pool=pool)
        if progress:
            progress("arena", 1, 1)
        stats = {**report.as_dict(),
                 "training": training_record(config, env_config, seed + number)}
        if report.promote:
            registry.promote(version, stats)
            best, best_version = candidate, version
        else:
            registry.reject(version, stats)
        outcomes.append(GenerationOutcome(version, report.promote, tuple(report.failed), stats))
    return outcomes
