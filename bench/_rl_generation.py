"""One self-play generation as `entasis selfplay --sim` runs it, for `python -m bench rl`.

Section 3 of bench/rl.py: the market built from the generator (timed apart, not counted),
then one whole generation (best_player's memory, PPO training, the 200-episode arena and
its gates, registry writes) measured in full, never extrapolated, and its table. Kept apart
from bench/rl.py (the throughput rows and the report) because it is self-contained: its own
sizes (the CLI's defaults), its own market, nothing shared with the throughput runs.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import show

# `entasis selfplay --sim` defaults (bot/cli/models.py)
GEN_COINS, GEN_MINUTES, GEN_ENVS, GEN_UPDATES, GEN_EPISODES, GEN_SEED = 8, 20_000, 256, 20, 200, 0
TARGET_GENERATION_S = 600.0


def generation_figures() -> dict[str, Any]:
    """Stage times of one generation (memory, training, arena) and its wall time."""
    from rl.env import TRAINING_REWARD_SCALE, EnvConfig
    from rl.episodes import MarketData
    from rl.loop import run_selfplay
    from rl.registry import ModelRegistry
    from rl.selfplay import SelfPlayConfig

    started = time.perf_counter()
    data = MarketData.from_generator(GEN_SEED, GEN_COINS, GEN_MINUTES)
    data_s = time.perf_counter() - started
    env_config = EnvConfig(reward_scale=TRAINING_REWARD_SCALE)  # as `entasis selfplay`
    config = SelfPlayConfig(n_envs=GEN_ENVS, updates=GEN_UPDATES, env_config=env_config)
    marks: dict[str, list[float]] = {}

    def progress(stage: str, done: int, total: int) -> None:
        marks.setdefault(stage, []).append(time.perf_counter())

    with tempfile.TemporaryDirectory(prefix="bench-rl-gen-") as tmp, \
            ModelRegistry.open(Path(tmp) / "models.sqlite") as registry:
        started = time.perf_counter()
        outcome = run_selfplay(data, registry, Path(tmp) / "selfplay", generations=1,
                               config=config, env_config=env_config,
                               arena_episodes=GEN_EPISODES, seed=GEN_SEED,
                               progress=progress)[0]
        wall = time.perf_counter() - started

    def span(stage: str) -> float:
        times = marks.get(stage, [])
        return round(times[-1] - times[0], 2) if len(times) > 1 else 0.0

    steps = config.n_envs * (config.memory_steps + config.updates * config.rollout_steps)
    return {"wall_s": round(wall, 2), "market_build_s": round(data_s, 2),
            "memory_s": span("memory"), "train_s": span("train"), "arena_s": span("arena"),
            "env_steps_trained": steps, "promoted": outcome.promoted,
            "config": {"coins": GEN_COINS, "minutes": GEN_MINUTES, "n_envs": GEN_ENVS,
                       "memory_steps": config.memory_steps, "updates": GEN_UPDATES,
                       "rollout_steps": config.rollout_steps,
                       "horizon_minutes": env_config.horizon_minutes,
                       "arena_episodes": GEN_EPISODES, "extrapolated": False}}


def show_generation(g: dict[str, Any], ok: bool) -> None:
    """The table of `generation_figures`; `ok`: whether its wall time met the target."""
    status = "[green]met[/green]" if ok else "[red]NOT met[/red]"
    show("One generation incl. 200-episode arena (measured in full)",
         ["stage", "seconds"],
         [["market build (not counted)", f"{g['market_build_s']:.1f}"],
          ["best_player memory", f"{g['memory_s']:.1f}"],
          [f"PPO training ({GEN_UPDATES} updates)", f"{g['train_s']:.1f}"],
          ["arena 5 players x 200 + gates", f"{g['arena_s']:.1f}"],
          ["generation wall", f"{g['wall_s']:.1f}"],
          [f"target <= {TARGET_GENERATION_S:.0f} s", status]])
