"""Portfolio self-play throughput for `python -m bench rl` (issue 17's targets).

On a seeded synthetic market of `COINS` coins of hourly bars (a common factor plus per-coin
noise; no data file needed), with the env and league defaults a research run uses:

1. env: `rl.portfolio_env.PortfolioEnv`, `ENVS` portfolios x `COINS` coins stepped with
   pre-drawn uniform random actions (every order through the gate's rules and the fill
   model), and HOLD-only (the floor of a step), in coin-steps/s (one coin of one portfolio
   for one bar);
2. training end to end: `rl.portfolio_league.run_generation`'s memory and training stages
   (best_player's shards, PPO on them, then on current_player's own rollouts) with
   `LeagueConfig()` defaults, coin-steps played over the stages' wall time. Baseline in the
   same run: the single-coin self-play trainer's rate from bench/rl.py, in its env steps/s
   (one coin-step each), so the ratio says what the portfolio form costs per coin-step;
3. one whole generation: memory + training + a `ARENA_EPISODES`-episode league (candidate,
   best and the five baselines a walk-forward league plays on the same episodes — flat,
   equal weight, momentum, rank and forecast top-k, its forecast fitted on the training
   rows — and the gates), measured in full, the forecast's fit included.

Targets: training >= 50,000 coin-steps/s end to end on 2 cores; a generation with a
200-episode league <= 10 minutes.
"""

from __future__ import annotations

import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

SEED = 7
COINS, ROWS, TRAIN_ROWS, HOUR_MS = 30, 3000, 2000, 3_600_000
ENVS, ENV_STEPS = 64, 200
HORIZON = 168  # one week of hourly decisions per episode
ARENA_EPISODES = 200
TARGET_COIN_STEPS_PER_S = 50_000
TARGET_GENERATION_S = 600.0


def synthetic_factories() -> tuple[Any, Any, Any]:
    """(training, validation) env factories on disjoint rows of one seeded hourly market,
    and the whole market's grid (the forecast top-k baseline fits on its training rows)."""
    from model.fills import FillParams
    from model.instruments import Instrument
    from risk.limits import RiskLimits
    from rl.portfolio_env import PortfolioConfig, PortfolioEnvFactory
    from strategies.features_batch import BarGrid
    from trading.fast_market import FastMarket, FastSettings, spreads_before

    rng = np.random.default_rng(SEED)
    factor = rng.normal(0.0, 0.008, ROWS)[:, None]
    close = 10.0 * np.exp(np.cumsum(factor + rng.normal(0.0, 0.01, (ROWS, COINS)), axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.003, (ROWS, COINS))))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.003, (ROWS, COINS))))
    volume = rng.lognormal(9.0, 0.5, (ROWS, COINS))
    symbols = tuple(f"S{j:02d}USDT" for j in range(COINS))
    instruments = tuple(Instrument(symbol=s, base=s.removesuffix("USDT"), quote="USDT",
                                   tick=Decimal("0.0001"), lot=Decimal("0.001"),
                                   min_notional=Decimal(5), min_qty=Decimal("0.001"),
                                   max_qty=Decimal(9_000_000)) for s in symbols)
    settings = FastSettings(fill_params=FillParams(), limits=RiskLimits(), bar_ms=HOUR_MS,
                            return_history_bars=24 * 30, spread="estimated")
    config = PortfolioConfig(horizon_steps=HORIZON, warmup_rows=24 * 31, reward_scale=1000.0)

    def grid(first: int, stop: int) -> Any:
        return BarGrid(symbols=symbols, start_ms=1_600_041_600_000 + first * HOUR_MS,
                       open=open_[first:stop], high=high[first:stop], low=low[first:stop],
                       close=close[first:stop], quote_volume=(volume * close)[first:stop],
                       bar_ms=HOUR_MS)

    def rows(first: int, stop: int) -> Any:
        bars = grid(first, stop)
        market = FastMarket.from_grid(bars, instruments, spread=spreads_before(bars, 24 * 31))
        return PortfolioEnvFactory(bars, market, settings, config)

    return rows(0, TRAIN_ROWS), rows(TRAIN_ROWS - 24 * 31, ROWS), grid(0, ROWS)


def env_rates(train: Any) -> dict[str, float]:
    """Coin-steps/s of random and HOLD-only actions (best of three rounds each)."""
    env = train(ENVS, SEED)
    rng = np.random.default_rng(SEED)
    random_actions = rng.integers(0, len(env.action_names), (ENV_STEPS, ENVS, COINS))
    hold = np.zeros((ENVS, COINS), np.int64)
    rates: dict[str, float] = {}
    for name, pick in (("random", lambda k: random_actions[k]), ("hold", lambda k: hold)):
        best = 0.0
        for _ in range(3):
            env.reset()
            env.step(pick(0))
            started = time.perf_counter()
            for k in range(ENV_STEPS):
                env.step(pick(k))
            best = max(best, ENV_STEPS * ENVS * COINS / (time.perf_counter() - started))
        rates[name] = round(best)
    return rates


def league_figures() -> dict[str, Any]:
    """Env rates, training coin-steps/s and one whole generation's stage times."""
    import torch

    from rl.portfolio_league import LeagueConfig, run_generation
    from rl.portfolio_network import PortfolioPlayer
    from rl.portfolio_scores import league_baselines

    # Once per process, not per generation: the first optimizer built imports torch._dynamo
    # (1.1 s measured here), which a league run pays once before its first generation.
    torch.optim.Adam(torch.nn.Linear(1, 1).parameters())
    built = time.perf_counter()
    train, validation, whole = synthetic_factories()
    train.features(), validation.features()  # once per process; not a training cost
    build_s = time.perf_counter() - built
    env = env_rates(train)
    config = LeagueConfig(arena_episodes=ARENA_EPISODES)
    probe = train(1, 0)
    best = PortfolioPlayer.create(len(probe.coin_feature_names),
                                  len(probe.portfolio_feature_names), len(probe.action_names),
                                  config.hidden, seed=SEED)
    stamps: dict[str, float] = {}

    def stamp(stage: str) -> None:
        stamps.setdefault(stage, time.perf_counter())

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-league-") as tmp:
        baselines = league_baselines(validation, whole, TRAIN_ROWS, seed=SEED)
        stamps["baselines"] = time.perf_counter()
        run_generation(best, {}, train, validation, config, SEED, Path(tmp), on_stage=stamp,
                       baselines=baselines)
    baselines_s = stamps["baselines"] - started
    memory_s = stamps["memory"] - stamps["baselines"]
    train_s = stamps["trained"] - stamps["memory"]
    league_s = stamps["league"] - stamps["trained"]
    played = (config.memory_shards + config.own_rollouts) * config.n_envs * config.rollout_steps
    coin_steps = played * COINS
    rate = coin_steps / (memory_s + train_s)
    return {"coins": COINS, "envs": ENVS, "build_s": round(build_s, 1),
            "env_random_coin_steps_per_s": env["random"],
            "env_hold_coin_steps_per_s": env["hold"],
            "train_coin_steps": coin_steps, "train_s": round(memory_s + train_s, 1),
            "train_coin_steps_per_s": round(rate),
            "memory_s": round(memory_s, 1), "ppo_s": round(train_s, 1),
            "league_s": round(league_s, 1), "baselines_s": round(baselines_s, 1),
            "league_players": sorted(["candidate", "best", *baselines.players]),
            "generation_s": round(stamps["league"] - started, 1),
            "config": {"n_envs": config.n_envs, "rollout_steps": config.rollout_steps,
                       "memory_shards": config.memory_shards,
                       "own_rollouts": config.own_rollouts, "hidden": list(config.hidden),
                       "horizon_steps": HORIZON, "arena_episodes": ARENA_EPISODES},
            "met": {"train": rate >= TARGET_COIN_STEPS_PER_S,
                    "generation": stamps["league"] - started <= TARGET_GENERATION_S}}


def show_league(figures: dict[str, Any], single_coin_steps_per_s: float) -> None:
    """The table of `league_figures`, beside the single-coin trainer's env steps/s."""
    from bench.common import show

    def met(ok: bool) -> str:
        return "[green]met[/green]" if ok else "[red]NOT met[/red]"

    f = figures
    ratio = f["train_coin_steps_per_s"] / single_coin_steps_per_s
    show(f"Portfolio self-play ({f['coins']} synthetic coins, 1h bars, torch threads 1)",
         ["measure", "value", "vs baseline", "target"],
         [["env coin-steps/s, random actions", f"{f['env_random_coin_steps_per_s']:,}", "", ""],
          ["env coin-steps/s, HOLD", f"{f['env_hold_coin_steps_per_s']:,}", "", ""],
          [f"training coin-steps/s end to end ({f['train_coin_steps']:,} in {f['train_s']} s)",
           f"{f['train_coin_steps_per_s']:,}",
           f"{ratio:.2f}x single-coin env steps/s",
           f"{met(f['met']['train'])} (>= {TARGET_COIN_STEPS_PER_S:,})"],
          ["generation: baselines' fit / memory / PPO / 200-episode league (s)",
           f"{f['baselines_s']} / {f['memory_s']} / {f['ppo_s']} / {f['league_s']}", "",
           ", ".join(f["league_players"])],
          ["generation wall s", f"{f['generation_s']}", "",
           f"{met(f['met']['generation'])} (<= {TARGET_GENERATION_S:.0f} s)"]])


__all__ = ["TARGET_COIN_STEPS_PER_S", "TARGET_GENERATION_S", "league_figures", "show_league"]
