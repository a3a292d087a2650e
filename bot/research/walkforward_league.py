"""`rl_portfolio` in a walk-forward: the portfolio self-play league, trained inside every fold.

`--policies rl_portfolio[:generations=G:envs=B:horizon=H:episodes=E:hidden=W:penalty=P:
every=K:offsets=a+b:arena_penalty=L:cost_margin=M]`
runs, in the fold's task (in-process or on Ray alike), the league of rl/portfolio_league.py
on the fold's training window only: best_player's memory and current_player's PPO on its
first three quarters, the league (best, past bests, flat, equal weight, momentum, rank and
forecast top-k on the same episodes; the forecast fit on the first three quarters only, so
it is out of sample on the league's episodes: rl/portfolio_scores.py) on its last quarter.
Then it trades the registry's best on the test window in the
portfolio env, which the parity test holds to the fast backtester (same fills, fees and
equity for the same actions), from the fold's own capital; if no candidate ever won its
league, the best is the untrained network, which must not trade: the fold stays flat.

No row at or after the training stop is read while training or judging; the test window is
played once. The per-fold verdict (the version traded, or flat, and how many candidates were
promoted) comes back as the outcome's `Selection`.

`cost_margin=M` shapes the training reward only (`PortfolioConfig.cost_margin`: each bar's
trading cost paid M times more, the RL form of the entries' edge-over-cost gate); the league
and the test window play unshaped envs, so they judge real growth after real costs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model import errors
from rl.gates import DRAWDOWN_PENALTY
from strategies.features_batch import BarGrid
from trading.fast_market import FastMarket, FastSettings, spreads_before
from trading.folds import grid_rows
from trading.walkforward_report import FoldOutcome, Selection

RL_PORTFOLIO = "rl_portfolio"
TRAIN_SHARE = 0.75  # of the training window: memory and PPO; the rest judges the league


class LeagueSettingsError(errors.ConfigError, ValueError):
    """`rl_portfolio` parameters that cannot run; the message says what to write."""


@dataclass(frozen=True, slots=True)
class LeagueSettings:
    """What one fold's league runs: generations, envs, episode length (bars), league
    episodes, network width, the reward's drawdown penalty, the decision cadence (every
    `every` bars), the action set's limit offsets in ticks (`offsets=1`: marketable
    orders only; the default -1+0+1 also rests) and the league score's drawdown penalty
    (`arena_penalty=0`: judged on growth, drawdown by its own check) and the training
    reward's cost margin (`cost_margin=0.5`: a trade must promise its cost x 1.5)."""

    generations: int = 2
    envs: int = 32
    horizon: int = 168
    episodes: int = 200
    hidden: int = 64
    penalty: float = 0.0
    every: int = 1
    offsets: str = "-1+0+1"
    arena_penalty: float = DRAWDOWN_PENALTY
    cost_margin: float = 0.0

    def offsets_ticks(self) -> tuple[int, ...]:
        try:
            ticks = tuple(int(x) for x in str(self.offsets).split("+") if x)
        except ValueError:
            ticks = ()
        if not ticks or len(set(ticks)) != len(ticks):
            raise LeagueSettingsError(f"--policies {RL_PORTFOLIO}: offsets={self.offsets!r}: "
                                      "write distinct tick offsets joined by +, e.g. -1+0+1")
        return ticks

    @classmethod
    def parse(cls, params: Mapping[str, Any]) -> LeagueSettings:
        known: dict[str, Any] = {"generations": int, "envs": int, "horizon": int,
                                 "episodes": int, "hidden": int, "penalty": float, "every": int,
                                 "offsets": str, "arena_penalty": float,
                                 "cost_margin": float}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise LeagueSettingsError(
                f"--policies {RL_PORTFOLIO}: no parameter {', '.join(map(repr, unknown))}; it "
                f"takes {', '.join(f'{k}=N' for k in known)}")
        try:
            settings = cls(**{k: known[k](v) for k, v in params.items()})
        except ValueError as exc:
            raise LeagueSettingsError(f"--policies {RL_PORTFOLIO}: {exc}") from None
        if min(settings.generations, settings.envs, settings.horizon, settings.episodes,
               settings.hidden, settings.every) < 1 or min(settings.penalty,
                                                           settings.arena_penalty) < 0:
            raise LeagueSettingsError(f"--policies {RL_PORTFOLIO}: counts must be >= 1 and "
                                      "penalty and arena_penalty >= 0")
        if not settings.cost_margin >= 0:
            raise LeagueSettingsError(
                f"--policies {RL_PORTFOLIO}: cost_margin={settings.cost_margin:g}: write a "
                "margin >= 0 (0: the reward pays each cost once; 0.5: a trade must promise "
                "its cost x 1.5)")
        settings.offsets_ticks()
        return settings


def factory(grid: BarGrid, settings: FastSettings, warmup: int, horizon: int,
            penalty: float, every: int = 1,
            offsets: tuple[int, ...] = (-1, 0, 1), cost_margin: float = 0.0) -> Any:
    """A `PortfolioEnvFactory` on `grid`, spreads estimated from its warm-up rows."""
    from rl.portfolio_env import PortfolioConfig, PortfolioEnvFactory

    spread = spreads_before(grid, warmup) if settings.spread == "estimated" else None
    config = PortfolioConfig(horizon_steps=horizon, warmup_rows=warmup, reward_scale=1000.0,
                             drawdown_penalty=penalty, decision_every=every,
                             offsets_ticks=offsets, cost_margin=cost_margin)
    return PortfolioEnvFactory(grid, FastMarket.from_grid(grid, spread=spread), settings,
                               config)


def league_factories(universe: BarGrid, settings: FastSettings, rows: tuple[int, int, int],
                     warmup: int, chosen: LeagueSettings) -> tuple[Any, Any]:
    """The league's (training, judging) factories over rows (start, split, stop): training
    on [start, split), the league on [split - warmup, stop) (its warm-up rows are training
    rows: read, never traded). Only training pays `chosen.cost_margin`: the league judges
    real log growth after real costs, not the shaped reward."""
    start, split, stop = rows
    shape = (chosen.every, chosen.offsets_ticks())
    train = factory(grid_rows(universe, start, split), settings, warmup, chosen.horizon,
                    chosen.penalty, *shape, cost_margin=chosen.cost_margin)
    judge = factory(grid_rows(universe, split - warmup, stop), settings, warmup,
                    chosen.horizon, chosen.penalty, *shape)
    return train, judge


def league_evaluator(grid: BarGrid, task: Any) -> FoldOutcome:
    """Train the league on the fold's training window, trade its best on the test window
    (see the module docstring). `task` is the runner's `WalkForwardTask`; `grid` holds the
    policy's symbols only."""
    from rl.portfolio_league import LeagueConfig, run_league
    from rl.portfolio_network import PortfolioPlayer
    from rl.portfolio_scores import league_baselines
    from rl.registry import PORTFOLIO_REGISTRY_FILE, ModelRegistry

    chosen = LeagueSettings.parse(dict(task.policy.params))
    fold, settings = task.fold, task.settings
    universe = grid  # the runner cut it to the policy's symbols
    train_rows = fold.train_stop_row - fold.train_start_row
    warmup = max(settings.limits.min_return_observations + 1, min(settings.return_history_bars,
                                                                 train_rows // 8))
    split = fold.train_start_row + int(train_rows * TRAIN_SHARE)
    if split - fold.train_start_row < warmup + chosen.horizon + 1 or (
            fold.train_stop_row - split < chosen.horizon + 1):
        raise LeagueSettingsError(
            f"fold {fold.index}: a training window of {train_rows} bars cannot hold "
            f"{warmup} warm-up bars and {chosen.horizon}-bar episodes in both its training "
            "and league parts; lengthen --train-days or pass a shorter horizon=")
    shape = (chosen.every, chosen.offsets_ticks())
    train, judge = league_factories(universe, settings,
                                    (fold.train_start_row, split, fold.train_stop_row), warmup,
                                    chosen)
    config = LeagueConfig(n_envs=chosen.envs, hidden=(chosen.hidden, chosen.hidden),
                          arena_episodes=chosen.episodes,
                          arena_drawdown_penalty=chosen.arena_penalty)
    # The forecast trains on the training part (rows before `split`, the judge's first
    # episode row) of the fold's training window; the test window is not handed to it.
    baselines = league_baselines(
        judge, grid_rows(universe, fold.train_start_row, fold.train_stop_row),
        split - fold.train_start_row, seed=task.seed)
    with (tempfile.TemporaryDirectory(prefix=f"league-fold{fold.index}-") as tmp,
          ModelRegistry.open(Path(tmp) / PORTFOLIO_REGISTRY_FILE) as registry):
        outcomes = run_league(registry, train, judge, Path(tmp),
                              generations=chosen.generations, config=config, seed=task.seed,
                              baselines=baselines)
        best = registry.best()
        assert best is not None  # run_league installs v0000 at least
        player = None if best.version == "v0000" else PortfolioPlayer.load(best.path)
        version = best.version
    promoted = sum(o.promoted for o in outcomes)
    picked = (f"{version} ({promoted} of {len(outcomes)} promoted)" if player is not None
              else f"flat (0 of {len(outcomes)} promoted)")
    return _trade_test_window(universe, task, player, picked, *shape)


def _trade_test_window(universe: BarGrid, task: Any, player: Any, picked: str, every: int,
                       offsets: tuple[int, ...]) -> FoldOutcome:
    """One episode over the test window in the portfolio env, from the fold's training rows
    as warm-up, deciding every `every` bars (HOLD between); equity at the close of each
    test bar, as the fast evaluator reports it."""
    from rl.portfolio_arena import flat, greedy

    fold = task.fold
    rows = fold.test_stop_row - fold.test_start_row
    warmup = fold.test_start_row - fold.train_start_row
    env = traded_window_factory(universe, task, offsets)(1, task.seed)
    env.capital[:] = task.balance
    policy = flat if player is None else greedy(player)
    observation = env.reset(starts=np.array([warmup]))
    equity, fees, traded, exposed = [float(task.balance)], 0.0, 0.0, 0
    for bar in range(rows - 1):
        actions = (policy(observation, env) if bar % every == 0
                   else np.zeros(observation.mask.shape, np.int64))
        observation, _, _, info = env.step(actions)
        equity.append(float(info["equity"][0]))
        fees += float(info["fees"][0])
        traded += float(info["turnover"][0])
        exposed += int(observation.portfolio[0, 1] > 0)  # exposure column
    first_close_ms = fold.open_ms(fold.test_start_row) + universe.bar_ms
    return FoldOutcome(policy=task.policy.label, fold=fold.index, seed=task.seed,
                       balance=task.balance,
                       equity_ms=first_close_ms + universe.bar_ms * np.arange(rows,
                                                                              dtype=np.int64),
                       equity=np.asarray(equity), fees=fees, traded_notional=traded,
                       exposed_steps=exposed, selection=Selection(picked=picked, candidates=()))


def traded_window_factory(universe: BarGrid, task: Any, offsets: tuple[int, ...]) -> Any:
    """The factory of the test window's one episode: the fold's training rows as warm-up,
    every test bar a step (the caller HOLDs between decisions), no drawdown penalty and no
    cost margin (the fold is scored on its equity, after real costs only)."""
    fold = task.fold
    window = grid_rows(universe, fold.train_start_row, fold.test_stop_row)
    return factory(window, task.settings, fold.test_start_row - fold.train_start_row,
                   fold.test_stop_row - fold.test_start_row - 1, 0.0, 1, offsets)


__all__ = ["RL_PORTFOLIO", "LeagueSettings", "LeagueSettingsError", "league_evaluator",
           "league_factories", "traded_window_factory"]
