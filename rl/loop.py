"""The best_player / current_player loop: generate, train, play the arena, promote or reject.

One call runs G generations. Each: best_player's memory -> current_player trained by PPO
(resumable) -> a paired arena on held-out, embargoed episodes -> the registry records the
candidate with every statistic, and promotes it only if every gate passed. The first run
installs a freshly initialized network as the first best (version `v0000`), so "better"
always means better than something that was itself measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rl.arena import run_arena
from rl.env import BatchedEnv, EnvConfig
from rl.episodes import MarketData
from rl.networks import Player
from rl.registry import ModelRegistry
from rl.selfplay import SelfPlayConfig, run_generation

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class GenerationOutcome:
    version: str
    promoted: bool
    failed_checks: tuple[str, ...]
    report: dict[str, Any]


def _version(number: int) -> str:
    return f"v{number:04d}"


def ensure_best(registry: ModelRegistry, models_dir: Path, data: MarketData,
                env_config: EnvConfig, seed: int) -> tuple[Player, str]:
    """The registered best player, or a fresh network installed as v0000."""
    record = registry.best()
    if record is not None:
        return Player.load(record.path), record.version
    probe = BatchedEnv(data, 1, env_config, seed)
    player = Player.create(probe.observation_size, probe.n_actions,
                           feature_names=probe.observation_names, seed=seed)
    path = models_dir / f"{_version(0)}.pt"
    player.save(path)
    registry.register(_version(0), path, data_start_ms=int(data.open_ms[0]),
                      data_end_ms=int(data.open_ms[-1]))
    registry.promote(_version(0), {"note": "initial network: random weights, no arena"})
    return player, _version(0)


def run_selfplay(data: MarketData, registry: ModelRegistry, workdir: Path, *,
                 generations: int, config: SelfPlayConfig, env_config: EnvConfig,
                 arena_episodes: int = 200, train_fraction: float = 0.8,
                 embargo_minutes: int = 1440, seed: int = 0,
                 progress: Progress | None = None) -> list[GenerationOutcome]:
    """Run `generations` generations; returns what each concluded."""
    train, validation = data.split(train_fraction=train_fraction, embargo_minutes=embargo_minutes)
    models_dir = workdir / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    best, best_version = ensure_best(registry, models_dir, train, env_config, seed)
    outcomes = []
    for _ in range(generations):
        number = registry.trial_count()
        version = _version(number)
        candidate = run_generation(best, train, config, workdir / version, seed + number,
                                   progress=progress)
        path = models_dir / f"{version}.pt"
        candidate.save(path)
        registry.register(version, path, parent=best_version,
                          data_start_ms=int(train.open_ms[0]), data_end_ms=int(train.open_ms[-1]))
        if progress:
            progress("arena", 0, 1)
        report = run_arena(candidate, best, validation, arena_episodes, config=env_config,
                           seed=seed + number, n_trials=registry.trial_count(),
                           trial_sharpes=registry.trial_sharpes())
        if progress:
            progress("arena", 1, 1)
        stats = report.as_dict()
        if report.promote:
            registry.promote(version, stats)
            best, best_version = candidate, version
        else:
            registry.reject(version, stats)
        outcomes.append(GenerationOutcome(version, report.promote, tuple(report.failed), stats))
    return outcomes
