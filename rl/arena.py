"""The arena: candidate, best player and baselines play the very same held-out episodes.

Pairing is the whole design. Each player gets a fresh `BatchedEnv` built by the same factory
with the same seed, reset to the same pinned (start minute, symbol) pairs, starting capital
1.0 and the same fill model, with `auto_reset` off so every env plays exactly one episode.
The players therefore differ only in their actions, and an episode's own difficulty (a crash,
a dead market) cancels out of the paired difference that `rl.gates` tests.

Baselines are expressed in the env's own action space (HOLD / BUY±k / SELL±k), so they pay
the same fees, sizing caps and fill rules as the networks:
  flat          HOLD throughout (score exactly 0: "do nothing" must be beaten).
  buy_and_hold  a marketable BUY (most aggressive offset) whenever flat, then HOLD; under the
                env's risk sizing this holds the largest position a single entry may take.
  sma_cross     SMA(20) vs SMA(50) of minute closes known at the decision (no look-ahead):
                marketable BUY when flat and fast > slow, marketable SELL when long and
                fast < slow, else HOLD (as `strategies.baselines`' SMA cross).

The validation data must come from a period disjoint from training with an embargo at least
the longest feature window (`MarketData.split(..., embargo_minutes=...)`); the arena trusts
its caller on that and only samples starts inside what it is given.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from model import libm
from rl import gates
from rl.env import BatchedEnv, EnvConfig
from rl.episodes import MarketData
from rl.pool import LocalPool, WorkerPool


class ActingPlayer(Protocol):
    """What the arena needs of a network: `rl.networks.Player.act`."""

    def act(self, obs: np.ndarray, *, greedy: bool,
            generator: torch.Generator | None = None) -> tuple[np.ndarray, ...]: ...


@dataclass(frozen=True, slots=True)
class EpisodeView:
    """What a policy function may look at besides the observation: the env (for its data
    and action names), the pinned episodes, the step number and the current position."""

    env: BatchedEnv
    starts: np.ndarray
    symbols: np.ndarray
    step: int
    position: np.ndarray

    @property
    def minute(self) -> np.ndarray:
        """Row of `env.data` each env decides at (bars up to and including it are closed)."""
        return self.starts + self.step


PolicyFn = Callable[[np.ndarray, EpisodeView], np.ndarray]
EnvFactory = Callable[[int, int], BatchedEnv]


@dataclass(frozen=True, slots=True)
class EpisodeResults:
    """Per-episode outcomes of one player, index i = episode i of the arena."""

    log_growth: np.ndarray  # log(final / starting equity)
    max_drawdown: np.ndarray  # positive fraction of the running peak
    returns: np.ndarray  # final / starting equity − 1
    steps: np.ndarray  # decision steps played (fewer on ruin)
    fees: np.ndarray  # quote paid in fees (starting capital 1.0)
    turnover: np.ndarray  # traded notional / starting capital

    def scores(self, drawdown_penalty: float = gates.DRAWDOWN_PENALTY) -> np.ndarray:
        """Episode score = log growth − λ·max drawdown."""
        return gates.episode_score(self.log_growth, self.max_drawdown, drawdown_penalty)

    def summary(self, drawdown_penalty: float = gates.DRAWDOWN_PENALTY) -> dict[str, float]:
        """Means and risk figures for the arena report."""
        return {"mean_score": float(self.scores(drawdown_penalty).mean()),
                "mean_log_growth": float(self.log_growth.mean()),
                "mean_max_drawdown": float(self.max_drawdown.mean()),
                "cvar95": gates.cvar(self.returns, 0.95),
                "mean_turnover": float(self.turnover.mean()),
                "mean_fees": float(self.fees.mean())}


def _action(env: BatchedEnv, side: str) -> int:
    """Index of the most aggressive `side` order ("BUY" or "SELL") in the env's action set."""
    offset = max(env.config.offsets_ticks)
    return env.action_names.index(f"{side}{offset:+d}")


def flat(obs: np.ndarray, view: EpisodeView) -> np.ndarray:
    """Never trade."""
    return np.full(view.starts.size, view.env.action_names.index("HOLD"), np.int64)


def buy_and_hold(obs: np.ndarray, view: EpisodeView) -> np.ndarray:
    """Buy (marketable) while flat, then hold to the end."""
    hold = view.env.action_names.index("HOLD")
    return np.where(view.position > 0, hold, _action(view.env, "BUY")).astype(np.int64)


def sma_cross(obs: np.ndarray, view: EpisodeView, fast: int = 20,
              slow: int = 50) -> np.ndarray:
    """Long while SMA(fast) > SMA(slow) of closes up to the decision minute, flat otherwise."""
    close = view.env.data.close
    rows = view.minute[:, None] - np.arange(slow)[None, :]  # [n, slow], newest first
    window = close[np.maximum(rows, 0), view.symbols[:, None]]
    with warnings.catch_warnings():  # a symbol with no closes yet: NaN, which means HOLD
        warnings.simplefilter("ignore", RuntimeWarning)
        fast_ma = np.nanmean(window[:, :fast], axis=1)
        slow_ma = np.nanmean(window, axis=1)
    long, holding = fast_ma > slow_ma, view.position > 0
    actions = np.full(view.starts.size, view.env.action_names.index("HOLD"), np.int64)
    actions[long & ~holding] = _action(view.env, "BUY")
    actions[(fast_ma < slow_ma) & holding] = _action(view.env, "SELL")
    return actions


BASELINES: dict[str, PolicyFn] = {"buy_and_hold": buy_and_hold, "flat": flat,
                                  "sma_cross": sma_cross}


def greedy_policy(player: ActingPlayer, seed: int = 0) -> PolicyFn:
    """A network's arg-max actions (the arena judges the policy it would trade live)."""
    generator = torch.Generator().manual_seed(seed)

    def policy(obs: np.ndarray, view: EpisodeView) -> np.ndarray:
        return np.asarray(player.act(obs, greedy=True, generator=generator)[0], np.int64)
    return policy


@dataclass(frozen=True)
class ArenaEnvFactory:
    """Envs over `data` that play exactly one episode each (auto-reset off); a picklable
    callable, so arena games can run in worker processes."""

    data: MarketData
    config: EnvConfig

    def __call__(self, n_envs: int, seed: int) -> BatchedEnv:
        one_episode = dataclasses.replace(self.config, auto_reset=False)
        return BatchedEnv(self.data, n_envs, one_episode, seed)


def arena_env_factory(data: MarketData, config: EnvConfig) -> EnvFactory:
    """Envs over `data` that play exactly one episode each (auto-reset off)."""
    return ArenaEnvFactory(data, config)


@dataclass(frozen=True)
class GameTask:
    """One player's games on the pinned episodes: a `WorkerPool` task. A network travels as
    its payload (`Player.payload()`), a baseline as its module-level function."""

    player: Any  # Player payload dict, a PolicyFn, or an ActingPlayer (in-process only)
    env_factory: EnvFactory
    starts: np.ndarray
    symbols: np.ndarray
    seed: int


def play_game_task(task: GameTask) -> EpisodeResults:
    """Run one `GameTask` (in this process or a worker)."""
    player = task.player
    if isinstance(player, dict):
        from rl.networks import Player

        player = Player.from_payload(player, source="arena task")
    return play_episodes(player, task.env_factory, task.starts, task.symbols, task.seed)


def _portable(player: ActingPlayer | PolicyFn) -> Any:
    """What a task carries for `player`: its payload when it has one (networks)."""
    payload = getattr(player, "payload", None)
    return payload() if callable(payload) else player


def play_episodes(player_or_policy_fn: ActingPlayer | PolicyFn, env_factory: EnvFactory,
                  starts: np.ndarray, symbols: np.ndarray, seed: int) -> EpisodeResults:
    """Play the pinned episodes once, all at once in one batched env, and measure each.

    Two calls with the same factory, starts, symbols and seed give identical episodes; only
    the actions differ. Each env is followed until its first `done` (horizon or ruin).
    """
    starts, symbols = np.asarray(starts, np.int64), np.asarray(symbols, np.int64)
    policy: PolicyFn = (greedy_policy(player_or_policy_fn, seed)
                        if hasattr(player_or_policy_fn, "act") else player_or_policy_fn)
    env = env_factory(starts.size, seed)
    obs = env.reset(starts=starts, symbols=symbols)
    n = starts.size
    capital = env.capital.copy()  # each env's starting capital (quote units)
    equity = [capital.copy()]
    position, done = np.zeros(n), np.zeros(n, bool)
    steps, fees, turnover = np.zeros(n, np.int64), np.zeros(n), np.zeros(n)
    step = 0
    while not done.all():
        actions = policy(obs, EpisodeView(env, starts, symbols, step, position))
        obs, _, step_done, info = env.step(actions)
        live = ~done
        steps += live
        fees += np.where(live, info["fees"], 0.0)
        turnover += np.where(live, info["fill_notional"], 0.0)
        equity.append(np.where(live, info["equity"], equity[-1]))
        position = info["position"]
        done = done | step_done
        step += 1
    curves = np.stack(equity, axis=1)  # [n, steps + 1]
    final = curves[:, -1]
    return EpisodeResults(
        log_growth=libm.log(final / capital),
        max_drawdown=gates.max_drawdown_paths(curves),
        returns=final / capital - 1, steps=steps,
        fees=fees / capital, turnover=turnover / capital)


def run_arena(candidate: ActingPlayer | PolicyFn, best: ActingPlayer | PolicyFn,
              data_validation: MarketData, n_episodes: int = 200, *,
              config: EnvConfig | None = None, seed: int = 0,
              drawdown_penalty: float = gates.DRAWDOWN_PENALTY,
              baselines: Mapping[str, PolicyFn] = BASELINES,
              n_trials: int = 1, trial_sharpes: tuple[float, ...] | list[float] = (),
              env_factory: EnvFactory | None = None,
              pool: WorkerPool | None = None,
              **gate_options: Any) -> gates.GateReport:
    """Sample `n_episodes` validation episodes, play them with every player, and decide.

    `n_trials` must count every candidate ever tried, this one included (the registry's
    `trial_count()`), and `trial_sharpes` their recorded Sharpes (`trial_sharpes()`), for
    the deflated Sharpe ratio. `gate_options` pass through to `gates.promotion_decision`
    (p0, p1, alpha, beta, n_boot, drawdown_ratio, ...). The report's `info["players"]`
    summarizes each player and baseline. Each player's games are one `pool` task (default:
    in-process); any pool gives identical results.
    """
    factory = env_factory or arena_env_factory(data_validation, config or EnvConfig())
    sampler = factory(1, seed)
    starts, symbols = sampler.sample_starts(n_episodes, np.random.default_rng(seed))
    # i.i.d. draws in draw order: the SPRT reads the games in this (exchangeable) order

    players = {"candidate": candidate, "best": best, **baselines}
    tasks = [GameTask(_portable(player), factory, starts, symbols, seed)
             for player in players.values()]
    results = dict(zip(players, (pool or LocalPool()).map(play_game_task, tasks)))
    return judge(results, list(baselines), drawdown_penalty=drawdown_penalty,
                 n_trials=n_trials, trial_sharpes=trial_sharpes, seed=seed, **gate_options)


def judge(results: Mapping[str, EpisodeResults], opponents: Sequence[str], *,
          drawdown_penalty: float, n_trials: int, trial_sharpes: Sequence[float], seed: int,
          **gate_options: Any) -> gates.GateReport:
    """The gate on paired results: "candidate" against "best" (SPRT, bootstrap, drawdown,
    CVaR) and against every name in `opponents` (mean paired score), the deflated Sharpe
    recorded; `info` gets every player's summary. Both arenas (single coin, portfolio)."""
    cand, best_results = results["candidate"], results["best"]
    report = gates.promotion_decision(
        cand.scores(drawdown_penalty), best_results.scores(drawdown_penalty),
        cand.max_drawdown, best_results.max_drawdown,
        gates.cvar(cand.returns), gates.cvar(best_results.returns),
        {name: results[name].scores(drawdown_penalty) for name in opponents},
        candidate_returns=cand.log_growth, n_trials=n_trials,
        trial_sharpes=tuple(trial_sharpes), seed=seed, **gate_options)
    info = {**report.info, "drawdown_penalty": drawdown_penalty,
            "episodes": int(cand.log_growth.size), "seed": seed,
            "players": {k: v.summary(drawdown_penalty) for k, v in results.items()}}
    return dataclasses.replace(report, info=info)
