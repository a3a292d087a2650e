"""The portfolio league's arena: every player trades the very same portfolio episodes.

Pairing is the design, as in the single-coin arena (rl/arena.py): each player gets a fresh
`PortfolioEnv` from the same factory and seed, reset to the same pinned start rows, with
the same capital, fill model and risk rules and `auto_reset` off, so players differ only in
their actions and an episode's own difficulty (a crash, a dead market) cancels out of the
paired difference `rl.gates` tests.

The league: a candidate must beat, on the same episodes, the best player (the paired SPRT,
bootstrap CI, drawdown and CVaR checks of `gates.promotion_decision`) and every other
opponent given as a yardstick: past best players and the baselines below, which act in the
env's own action space and so pay the same costs and pass the same gate:

  flat          HOLD throughout (the score to beat is 0).
  equal_weight  risk-gated equal-weight buy-and-hold: a marketable BUY of every coin not yet
                held or being bought, then HOLD (the gate's 5 % cap, position count and VaR
                decide how much of the universe that buys).
  momentum      cross-sectional momentum: hold the `top` coins with the highest z-score
                of their 1-day return across the universe, rebalanced each step with
                marketable orders (a coin that leaves the top is sold).

and, where the caller can build their scores (rl/portfolio_scores.py), `ScoredTopK` players
on a side array of scores aligned to the env's grid rows: `forecast_topk` (an
out-of-sample forecast) and `rank` (the product's ranking, strategies/ranking.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from model import libm
from rl import gates
from rl.arena import EpisodeResults, judge
from rl.pool import LocalPool, WorkerPool
from rl.portfolio_env import PortfolioEnv, PortfolioObservation
from rl.portfolio_network import PortfolioPlayer
from rl.torch_threads import one_torch_thread

PortfolioPolicyFn = Callable[[PortfolioObservation, PortfolioEnv], np.ndarray]
PortfolioEnvFactory = Callable[[int, int], PortfolioEnv]


class PortfolioActor(Protocol):
    """What the arena needs of a network: `rl.portfolio_network.PortfolioPlayer.act`."""

    def act(self, coins: np.ndarray, portfolio: np.ndarray, mask: np.ndarray, *,
            greedy: bool, generator: torch.Generator | None = None
            ) -> tuple[np.ndarray, ...]: ...


def _marketable(env: PortfolioEnv, side: str) -> int:
    """Index of the most aggressive `side` order in the env's action set."""
    return env.action_names.index(f"{side}{max(env.config.offsets_ticks):+d}")


def _column(env: PortfolioEnv, name: str) -> int:
    return env.coin_feature_names.index(name)


def flat(observation: PortfolioObservation, env: PortfolioEnv) -> np.ndarray:
    """HOLD every coin."""
    return np.zeros(observation.mask.shape, np.int64)


def equal_weight(observation: PortfolioObservation, env: PortfolioEnv) -> np.ndarray:
    """A marketable BUY of every tradable coin neither held nor being bought, else HOLD."""
    coins = observation.coins
    idle = ((coins[:, :, _column(env, "position_share")] == 0)
            & (coins[:, :, _column(env, "has_buy")] == 0) & observation.mask)
    return np.where(idle, _marketable(env, "BUY"), 0).astype(np.int64)


def momentum(observation: PortfolioObservation, env: PortfolioEnv, top: int = 5) -> np.ndarray:
    """Hold the `top` coins by cross-sectional z-score of the 1-day return (ties by coin
    order); a marketable SELL of a held coin that left them, a marketable BUY of one of them
    neither held nor being bought."""
    coins = observation.coins
    strength = np.where(observation.mask, coins[:, :, _column(env, "z_ret_1d")], -np.inf)
    order = np.argsort(-strength, axis=1, kind="stable")
    chosen = np.zeros(strength.shape, bool)
    np.put_along_axis(chosen, order[:, :top], True, axis=1)
    chosen &= observation.mask
    held = coins[:, :, _column(env, "position_share")] > 0
    buying = coins[:, :, _column(env, "has_buy")] > 0
    actions = np.zeros(strength.shape, np.int64)
    actions[chosen & ~held & ~buying] = _marketable(env, "BUY")
    actions[held & ~chosen & observation.mask] = _marketable(env, "SELL")
    return actions


BASELINES: Mapping[str, PortfolioPolicyFn] = {"flat": flat, "equal_weight": equal_weight,
                                              "momentum": momentum}


@dataclass(frozen=True)
class ScoredTopK:
    """Hold the `k` coins with the highest score at the env's row (ties by coin order):
    a marketable BUY of a member neither held nor ordered where `enter` allows it (its edge
    clears the round trip's cost), a marketable SELL of a held coin that left the members;
    a coin with an order resting is left to it. A held member stays held whatever `enter`
    says, as `trading.topk_batch.TopKBatch` does.

    Why a side array: the score is not an observation column, and the networks' observation
    must not change for a baseline's sake. `scores` and `enter` are aligned to the env's
    grid rows and read at each env's current row (`PortfolioEnv.rows`)."""

    scores: np.ndarray  # float [T, N]; NaN: not a candidate at that row
    enter: np.ndarray  # bool [T, N]: an entry there clears its cost
    k: int = 3

    def __call__(self, observation: PortfolioObservation, env: PortfolioEnv) -> np.ndarray:
        if self.scores.shape != env.grid.close.shape or self.enter.shape != self.scores.shape:
            raise ValueError(f"scores {self.scores.shape} and enter {self.enter.shape} must "
                             f"match the env's grid {env.grid.close.shape}: build them on the "
                             "factory the league plays (rl/portfolio_scores.py)")
        rows, mask, coins = env.rows, observation.mask, observation.coins
        score = np.where(mask, self.scores[rows], np.nan)
        ranked = np.where(np.isfinite(score), score, -np.inf)
        members = np.zeros(score.shape, bool)
        np.put_along_axis(members, np.argsort(-ranked, axis=1, kind="stable")[:, :self.k],
                          True, axis=1)
        members &= np.isfinite(score)
        held = coins[:, :, _column(env, "position_share")] > 0
        ordered = ((coins[:, :, _column(env, "has_buy")] > 0)
                   | (coins[:, :, _column(env, "has_sell")] > 0))
        actions = np.zeros(score.shape, np.int64)
        actions[members & self.enter[rows] & ~held & ~ordered] = _marketable(env, "BUY")
        actions[held & ~members & ~ordered & mask] = _marketable(env, "SELL")
        return actions


def greedy(player: PortfolioActor) -> PortfolioPolicyFn:
    """A network's arg-max actions as a policy function (arena, live trading)."""
    def policy(observation: PortfolioObservation, env: PortfolioEnv) -> np.ndarray:
        actions, *_ = player.act(observation.coins, observation.portfolio, observation.mask,
                                 greedy=True)
        return np.asarray(actions, np.int64)
    return policy


def play_portfolio_episodes(player: PortfolioActor | PortfolioPolicyFn,
                            env_factory: PortfolioEnvFactory, starts: np.ndarray,
                            seed: int) -> EpisodeResults:
    """Play the pinned episodes once, all at once, and measure each (`EpisodeResults`, the
    single-coin arena's record: log growth, max drawdown, return, steps, fees and turnover
    as shares of capital). Same factory, starts and seed: the same episodes."""
    policy: PortfolioPolicyFn = greedy(player) if hasattr(player, "act") else player  # type: ignore[arg-type,assignment]
    starts = np.asarray(starts, np.int64)
    env = env_factory(starts.size, seed)
    observation = env.reset(starts=starts)
    capital = env.capital.copy()
    n = starts.size
    equity = [capital.copy()]
    done = np.zeros(n, bool)
    steps, fees, turnover = np.zeros(n, np.int64), np.zeros(n), np.zeros(n)
    while not done.all():
        observation, _, step_done, info = env.step(policy(observation, env))
        live = ~done
        steps += live
        fees += np.where(live, info["fees"], 0.0)
        turnover += np.where(live, info["turnover"], 0.0)
        equity.append(np.where(live, info["equity"], equity[-1]))
        done |= step_done
    curves = np.stack(equity, axis=1)
    final = curves[:, -1]
    return EpisodeResults(log_growth=libm.log(final / capital),
                          max_drawdown=gates.max_drawdown_paths(curves),
                          returns=final / capital - 1, steps=steps, fees=fees / capital,
                          turnover=turnover / capital)


@dataclass(frozen=True)
class PortfolioGame:
    """One player's games as a picklable task (for a Ray or process pool)."""

    player: Any  # a PortfolioPlayer payload dict, or a module-level policy function
    env_factory: PortfolioEnvFactory
    starts: np.ndarray
    seed: int


def play_portfolio_game(task: PortfolioGame) -> EpisodeResults:
    """Run one `PortfolioGame` (rebuilds a network from its payload)."""
    player = task.player
    if isinstance(player, dict):
        player = PortfolioPlayer.from_payload(player)
    with one_torch_thread():  # the same arg-max in every worker (any pool, any machine)
        return play_portfolio_episodes(player, task.env_factory, task.starts, task.seed)


def run_league(candidate: PortfolioActor | PortfolioPolicyFn,
               best: PortfolioActor | PortfolioPolicyFn, env_factory: PortfolioEnvFactory,
               n_episodes: int = 200, *, seed: int = 0,
               past_bests: Mapping[str, PortfolioActor] | None = None,
               baselines: Mapping[str, PortfolioPolicyFn] = BASELINES,
               drawdown_penalty: float = gates.DRAWDOWN_PENALTY, n_trials: int = 1,
               trial_sharpes: tuple[float, ...] | list[float] = (),
               pool: WorkerPool | None = None, **gate_options: Any) -> gates.GateReport:
    """Sample `n_episodes` start rows from the factory's env, play them with every player,
    and decide: the candidate must pass the paired gate against `best` and beat every past
    best and baseline on the mean paired score (`gates.promotion_decision`). `n_trials`
    counts every candidate ever tried, for the deflated Sharpe ratio. Each player's games
    are one `pool` task; any pool gives identical results. The report's
    `info["players"]` summarizes every player."""
    sampler = env_factory(1, seed)
    first, last = sampler.start_bounds()
    starts = np.random.default_rng(seed).integers(first, last + 1, n_episodes)
    opponents: dict[str, Any] = {**{f"past:{k}": v for k, v in (past_bests or {}).items()},
                                 **baselines}
    players = {"candidate": candidate, "best": best, **opponents}
    tasks = [PortfolioGame(_portable(p), env_factory, starts, seed) for p in players.values()]
    results = dict(zip(players, (pool or LocalPool()).map(play_portfolio_game, tasks)))
    return judge(results, list(opponents), drawdown_penalty=drawdown_penalty,
                 n_trials=n_trials, trial_sharpes=trial_sharpes, seed=seed, **gate_options)


def _portable(player: Any) -> Any:
    """A network as its payload (pickles small and rebuilds anywhere), else as it is."""
    return player.payload() if hasattr(player, "payload") else player


__all__ = ["BASELINES", "PortfolioGame", "PortfolioPolicyFn", "ScoredTopK", "equal_weight", "flat",
           "greedy", "momentum", "play_portfolio_episodes", "play_portfolio_game", "run_league"]
