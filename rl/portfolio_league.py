"""Self-play league for the portfolio policy: best_player plays, current_player trains and
must beat best_player, past best players and the baselines to replace it.

One generation (`run_generation`), each stage saved in the generation's folder so a killed
run resumes where it stopped (same seeds: the same result as an uninterrupted run):

1. **memory**: best_player (sampling) plays `memory_shards` shards of portfolio episodes on
   the training market, one pool task per shard with its own seed (Ray or in-process alike);
2. **train**: current_player starts from best_player's weights and is trained by PPO on that
   memory, then on `own_rollouts` rollouts of its own (rl/portfolio_ppo.py);
3. **league**: candidate, best, past bests and baselines play the same `arena_episodes`
   episodes of the validation market (rl/portfolio_arena.py) and `gates.promotion_decision`
   decides, with the deflated Sharpe counting every candidate the registry ever saw. The
   baselines are the caller's `LeagueBaselines` (rl/portfolio_scores.league_baselines adds
   rank and forecast top-k to flat, equal weight and momentum); the report names the ones
   left out and why (`baselines_omitted`).

`run_league` runs generations against a `ModelRegistry` of its own file
(`PORTFOLIO_REGISTRY_FILE`; the daemon's single-coin registry is not touched) and returns
what each concluded. Nothing here reads a validation row while training.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rl.gates import DRAWDOWN_PENALTY
from rl.pool import LocalPool, WorkerPool
from rl.portfolio_arena import run_league as play_league
from rl.portfolio_env import PortfolioEnvFactory
from rl.portfolio_network import PortfolioPlayer
from rl.portfolio_ppo import PortfolioMemory, collect, update
from rl.portfolio_scores import LeagueBaselines
from rl.ppo import PPOConfig
from rl.registry import PORTFOLIO_REGISTRY_FILE, ModelRegistry
from rl.selfplay import derive_seed, plain_config
from rl.torch_threads import one_torch_thread

#: Told each stage a generation finished ("memory", "trained", "league"): progress bars, and
#: the crash test's place to kill the process.
StageHook = Callable[[str], None]


@dataclass(frozen=True)
class LeagueConfig:
    """Sizes of one generation (defaults: a few minutes on 2 cores at 30 coins, 1h bars)."""

    n_envs: int = 32
    rollout_steps: int = 64
    memory_shards: int = 2  # best_player's rollouts, one pool task each
    own_rollouts: int = 4  # current_player's on-policy rollouts after the memory
    ppo: PPOConfig = field(default_factory=lambda: PPOConfig(minibatch_size=256, epochs=4))
    hidden: tuple[int, ...] = (64, 64)
    arena_episodes: int = 200
    past_bests: int = 3  # the most recent former bests that stay in the league
    #: λ of the league's episode score (log growth − λ·max drawdown). The default charges
    #: every exposed player for its drawdown, so flat's 0 is hard to beat even in a bull
    #: window; 0 judges on growth alone and leaves risk to the separate drawdown (≤ 1.1×
    #: best's) and CVaR checks (ADR-097).
    arena_drawdown_penalty: float = DRAWDOWN_PENALTY


@dataclass(frozen=True)
class MemoryTask:
    """One shard of best_player's play, as a picklable pool task."""

    player: dict[str, Any]  # PortfolioPlayer payload
    env_factory: PortfolioEnvFactory
    n_envs: int
    steps: int
    seed: int


def play_memory(task: MemoryTask) -> PortfolioMemory:
    """best_player samples `steps` steps of `n_envs` portfolios (seeded env and generator)."""
    player = PortfolioPlayer.from_payload(task.player)
    env = task.env_factory(task.n_envs, task.seed)
    generator = torch.Generator().manual_seed(task.seed)
    with one_torch_thread():  # the same sums in every worker (any pool, any machine)
        memory, _ = collect(env, player, env.reset(), task.steps, generator)
    return memory


@dataclass(frozen=True)
class GenerationResult:
    """What one generation produced: the trained candidate and the league's report."""

    candidate: PortfolioPlayer
    report: dict[str, Any]  # gates.GateReport.as_dict() plus the league's info

    @property
    def promote(self) -> bool:
        return bool(self.report["promote"])


def run_generation(best: PortfolioPlayer, past_bests: dict[str, PortfolioPlayer],
                   train: PortfolioEnvFactory, validation: PortfolioEnvFactory,
                   config: LeagueConfig, seed: int, workdir: Path, *, n_trials: int = 1,
                   trial_sharpes: Sequence[float] = (), pool: WorkerPool | None = None,
                   on_stage: StageHook | None = None,
                   baselines: LeagueBaselines | None = None) -> GenerationResult:
    """One generation (module docstring); resumes from what `workdir` already holds.
    `baselines`: flat, equal weight and momentum when not given."""
    pool = pool or LocalPool()
    yardsticks = baselines or LeagueBaselines()
    told = on_stage or (lambda stage: None)
    workdir.mkdir(parents=True, exist_ok=True)
    shards = [workdir / f"memory_{i}.npz" for i in range(config.memory_shards)]
    missing = [i for i, path in enumerate(shards) if not path.exists()]
    tasks = [MemoryTask(best.payload(), train, config.n_envs, config.rollout_steps,
                        derive_seed(seed, 1, i)) for i in missing]
    for i, memory in zip(missing, pool.map(play_memory, tasks)):
        memory.save(shards[i])
    told("memory")
    candidate_path = workdir / "candidate.pt"
    if candidate_path.exists():
        candidate = PortfolioPlayer.load(candidate_path, best.spec)
    else:
        candidate = train_candidate(best, [PortfolioMemory.load(p) for p in shards], train,
                                    config, derive_seed(seed, 2))
        candidate.save(candidate_path)
    told("trained")
    report_path = workdir / "league.json"
    if report_path.exists():
        return GenerationResult(candidate, json.loads(report_path.read_text()))
    report = play_league(candidate, best, validation, config.arena_episodes,
                         seed=derive_seed(seed, 3), past_bests=past_bests,
                         baselines=yardsticks.players,
                         drawdown_penalty=config.arena_drawdown_penalty, n_trials=n_trials,
                         trial_sharpes=list(trial_sharpes), pool=pool)
    stats = {**report.as_dict(), "training": {"seed": seed, **plain_config(config)},
             "baselines_omitted": dict(yardsticks.omitted)}
    tmp = report_path.with_name(report_path.name + ".tmp")
    tmp.write_text(json.dumps(stats, sort_keys=True, default=float))
    tmp.replace(report_path)
    told("league")
    return GenerationResult(candidate, json.loads(report_path.read_text()))


def train_candidate(best: PortfolioPlayer, memories: list[PortfolioMemory],
                    train: PortfolioEnvFactory, config: LeagueConfig, seed: int
                    ) -> PortfolioPlayer:
    """current_player = best's weights, PPO on best's memory, then on its own rollouts
    (on one torch thread: the result must not depend on the machine)."""
    with one_torch_thread():
        return _train(best, memories, train, config, seed)


def _train(best: PortfolioPlayer, memories: list[PortfolioMemory], train: PortfolioEnvFactory,
           config: LeagueConfig, seed: int) -> PortfolioPlayer:
    current = best.clone()
    optimizer = torch.optim.Adam(current.net.parameters(), lr=config.ppo.learning_rate,
                                 eps=1e-5)
    generator = torch.Generator().manual_seed(seed)
    update(current, optimizer, memories, config.ppo, generator)
    env = train(config.n_envs, seed)
    observation = env.reset()
    for _ in range(config.own_rollouts):
        memory, observation = collect(env, current, observation, config.rollout_steps,
                                      generator)
        update(current, optimizer, [memory], config.ppo, generator)
    return current


@dataclass(frozen=True)
class LeagueOutcome:
    """One generation's verdict, as the registry recorded it."""

    version: str
    promoted: bool
    failed: tuple[str, ...]
    stats: dict[str, Any]


def ensure_best(registry: ModelRegistry, models_dir: Path, train: PortfolioEnvFactory,
                config: LeagueConfig, seed: int) -> tuple[PortfolioPlayer, str]:
    """The registry's best player, or a freshly initialized v0000 registered as best (it is
    best only because nothing was compared yet: the live `auto` never trades it)."""
    record = registry.best()
    if record is not None:
        return PortfolioPlayer.load(record.path), record.version
    env = train(1, seed)
    player = PortfolioPlayer.create(len(env.coin_feature_names),
                                    len(env.portfolio_feature_names), len(env.action_names),
                                    config.hidden, env.coin_feature_names,
                                    env.portfolio_feature_names, seed=seed)
    player.trained_on = trained_on(train)
    path = player.save(models_dir / "v0000.pt")
    registry.register("v0000", path)
    registry.promote("v0000", {"promote": False, "reason": "initial network, never compared"})
    return player, "v0000"


def run_league(registry: ModelRegistry, train: PortfolioEnvFactory,
               validation: PortfolioEnvFactory, workdir: Path, *, generations: int,
               config: LeagueConfig, seed: int = 0, pool: WorkerPool | None = None,
               on_stage: StageHook | None = None,
               baselines: LeagueBaselines | None = None) -> list[LeagueOutcome]:
    """`generations` generations against `registry`; a generation's folder is named by its
    version, so rerunning after a kill resumes the unfinished one. `baselines` (default
    flat, equal weight, momentum) must be built on `validation`."""
    models_dir = workdir / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    best, best_version = ensure_best(registry, models_dir, train, config, seed)
    outcomes = []
    for _ in range(generations):
        pending = [r for r in registry.list() if r.status.value == "candidate"]
        version = pending[0].version if pending else f"v{registry.trial_count():04d}"
        retired = [r for r in registry.list() if r.status.value == "retired"]
        past = {r.version: PortfolioPlayer.load(r.path)
                for r in retired[-config.past_bests:]}
        number = int(version[1:])
        # Every candidate ever tried counts, this one included (registered after its league).
        trials = registry.trial_count() + (0 if pending else 1)
        result = run_generation(best, past, train, validation, config, seed + number,
                                workdir / version, n_trials=trials,
                                trial_sharpes=registry.trial_sharpes(), pool=pool,
                                on_stage=on_stage, baselines=baselines)
        if not pending:
            result.candidate.trained_on = {**trained_on(train), **result.candidate.trained_on}
            path = result.candidate.save(models_dir / f"{version}.pt")
            registry.register(version, path, parent=best_version)
        if result.promote:
            registry.promote(version, result.report)
            best, best_version = result.candidate, version
        else:
            registry.reject(version, result.report)
        outcomes.append(LeagueOutcome(version, result.promote,
                                      tuple(_failed(result.report)), result.report))
    return outcomes


def trained_on(train: PortfolioEnvFactory) -> dict[str, Any]:
    """What live trading must know of the training env (saved with every model the league
    registers; rl/portfolio_live_policy.py reads it): the bar length, the decision cadence
    in bars, the limit offsets and the sizing stop distance."""
    return {"bar_ms": int(train.grid.bar_ms), "decision_every": int(train.config.decision_every),
            "offsets_ticks": [int(k) for k in train.config.offsets_ticks],
            "stop_pct": float(train.config.stop_pct)}


def _failed(report: dict[str, Any]) -> list[str]:
    return [name for name, check in report.get("checks", {}).items() if not check["passed"]]


__all__ = ["PORTFOLIO_REGISTRY_FILE", "GenerationResult", "LeagueConfig", "LeagueOutcome",
           "ensure_best", "run_generation", "run_league", "train_candidate", "trained_on"]
