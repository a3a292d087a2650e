"""Walk-forward evaluation: self-play on one period, one untouched look at the next.

Why this shape: the arena already decides promotions on
held-out days, but it is consulted once per generation, so the final best_player is
*selected* on it. The honest figure is the next period, looked at once, after all choices
are frozen. Per seed:

1. `MarketData.from_csv_dir(train_dir).split(...)`: train on the first part, arena on the last
   days after an embargo (`run_selfplay`, the product loop: random v0000, PPO generations,
   gated promotion, a per-seed registry so the deflated Sharpe counts every candidate).
2. The final best_player plays the test period ONCE, greedily, on pinned episodes: every
   usable symbol, back-to-back non-overlapping windows of one horizon covering the test
   period; buy-and-hold, flat and SMA-cross (`rl.arena.BASELINES`) play the very same
   episodes through the same env, so fees, sizing and fills are identical. When the arena
   rejected the last candidate, it plays them too (`last_candidate`): what training made,
   had the gate let it through — a diagnostic that chooses nothing.

Nothing here reads the test period before step 2, and nothing is tuned after it.

`--extra` adds the forecast and anomaly columns to every observation (rl/extra_inputs.py):
out of fold over the training folder, from models fit on all of it over the test folder
(rl/extra_folds.py). The candidates that read them face the same arena and the same test.

Reward scaling is `EnvConfig.reward_scale` (x1000 by default here, as in `entasis selfplay`):
with the env's 5% position cap a typical step's log reward is ~1e-4, far below the value
head's initial error, and PPO then learns nothing in a small budget (measured on a planted
edge). The scale multiplies rewards only; the arena and this evaluation read equity from
`info`, so they judge identical play at any scale. The registry records it with each model.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np

from model.costs import SPREAD_SOURCES
from rl import arena
from rl.env import TRAINING_REWARD_SCALE, EnvConfig
from rl.episodes import MarketData
from rl.extra_folds import ExtraSettings, FoldPlan, walkforward_extras
from rl.extra_training import PLAN_KNOBS, install_initial, plan_option, with_extra_columns
from rl.loop import GenerationOutcome, run_selfplay
from rl.networks import Player
from rl.ppo import PPOConfig
from rl.registry import ModelRegistry
from rl.selfplay import SelfPlayConfig
from rl.sim_pretrain import SimPretraining, install_pretrained, pretraining_from

Progress = Callable[[str, int, int], None]
RL_NAME = "rl"


# -- pinned test episodes -------------------------------------------------------------------
def sequential_episodes(data: MarketData, config: EnvConfig) -> tuple[np.ndarray, np.ndarray]:
    """(starts, symbols) of back-to-back, non-overlapping episodes of every symbol that has
    one, from its first usable minute (the env's rule: warm features, past the data's
    warm-up rows, a bar present) to the last start that still fits a whole horizon."""
    warm = data.features[:, :, -1]  # FEATURE_NAMES ends with warm_minutes
    ok = (warm >= config.warmup_minutes) & np.isfinite(data.close)
    ok[: data.warmup_minutes] = False
    last = len(data) - 1 - config.horizon_minutes
    starts, symbols = [], []
    for s in range(len(data.symbols)):
        if not ok[:, s].any():
            continue
        first = int(ok[:, s].argmax())
        run = np.arange(first, last + 1, config.horizon_minutes, dtype=np.int64)
        starts.append(run)
        symbols.append(np.full(run.size, s, np.int64))
    if not starts:
        raise ValueError("no symbol has a whole warm episode in the test data")
    return np.concatenate(starts), np.concatenate(symbols)


def episode_metrics(results: arena.EpisodeResults) -> dict[str, float]:
    """After-fee figures of one player over the pinned episodes (returns are per episode,
    Sharpe is mean/std of episode returns, not annualized)."""
    returns = results.returns
    std = float(returns.std(ddof=1)) if returns.size > 1 else 0.0
    return {
        "mean_return": float(returns.mean()),
        "sharpe": float(returns.mean() / std) if std > 0 else 0.0,
        "mean_max_drawdown": float(results.max_drawdown.mean()),
        "worst_max_drawdown": float(results.max_drawdown.max()),
        "win_rate": float(np.mean(returns > 0)),
        "turnover": float(results.turnover.mean()),
        "fees": float(results.fees.mean()),
        "episodes": int(returns.size),
    }


def evaluate_once(player: Player, test: MarketData, config: EnvConfig,
                  seed: int = 0, baselines: bool = True) -> dict[str, dict[str, float]]:
    """The player and (with `baselines`) every baseline on the same pinned test episodes
    (called once per trained player: this is the untouched look)."""
    factory = arena.arena_env_factory(test, config)
    starts, symbols = sequential_episodes(test, config)
    players: dict[str, Any] = {RL_NAME: player, **(arena.BASELINES if baselines else {})}
    return {name: episode_metrics(arena.play_episodes(policy, factory, starts, symbols, seed))
            for name, policy in players.items()}


def last_candidate_test(registry: ModelRegistry, outcomes: Sequence[GenerationOutcome],
                        best_version: str,
                        test: MarketData, config: EnvConfig, seed: int) -> dict[str, Any] | None:
    """The last generation's candidate on the same test episodes when the arena rejected
    it: what training produced, had the gate let it through. A diagnostic beside the
    product's figure (the best), never used to choose anything; None when it is the best."""
    if not outcomes or outcomes[-1].version == best_version:
        return None
    record = registry.get(outcomes[-1].version)
    if record is None:
        return None
    metrics = evaluate_once(Player.load(record.path), test, config, seed, baselines=False)
    return {"version": record.version, "test": metrics[RL_NAME]}


# -- the walk-forward -----------------------------------------------------------------------
def walk_forward(train_dir: str | Path, test_dir: str | Path, *, seeds: Sequence[int] = (0, 1, 2),
                 generations: int, config: SelfPlayConfig, arena_episodes: int = 200,
                 embargo_minutes: int = 1440, train_fraction: float = 0.7,
                 workdir: str | Path | None = None,
                 progress: Progress | None = None,
                 extra: tuple[ExtraSettings, FoldPlan] | None = None,
                 pretrain: SimPretraining | None = None,
                 spread: str = "estimated") -> list[dict[str, Any]]:
    """Train per seed on `train_dir` (arena on its embargoed last days), then evaluate the
    final best_player once on `test_dir`; one dict per seed (see module docstring).

    `config.env_config` (an `EnvConfig`) is used for training, arena and test alike.
    With `extra` (settings, fold plan) every player sees the forecast and anomaly columns
    (rl/extra_inputs.py): out of fold on the training folder, from models fit on all of it
    on the test folder (rl/extra_folds.py); the report's `extra` says how they were built.
    With `pretrain` each seed's first best_player is pre-trained on randomized simulated
    markets (rl/sim_pretrain.py) instead of starting random; each row's `pretraining` says
    what was done. The two options do not combine (a simulated market has no forecast).
    `spread` prices each symbol's bar book ("estimated" from its warm-up bars, or "fixed":
    one tick, the book before issue 16); the forecast columns' folders keep the estimate."""
    env_config = config.env_config or EnvConfig()
    if extra is not None and pretrain is not None:
        raise ValueError("--pretrain-sim and --extra do not combine: simulated markets have no "
                         "forecast or anomaly columns; drop one of them")
    if extra is not None and spread != "estimated":
        raise ValueError("--spread fixed reprices the plain walk-forward only; --extra builds "
                         "its folders with the estimated spreads: drop one of them")
    extra_report: dict[str, Any] | None = None
    if extra is not None:
        data, test, extra_report = walkforward_extras(train_dir, test_dir, settings=extra[0],
                                                      plan=extra[1], progress=progress)
        config = with_extra_columns(config, *extra)
    else:
        data, test = (MarketData.from_csv_dir(train_dir, spread=spread),
                      MarketData.from_csv_dir(test_dir, spread=spread))
    train, validation = data.split(train_fraction=train_fraction,
                                   embargo_minutes=embargo_minutes)
    rows = []
    with TemporaryDirectory(prefix="walkforward-") as scratch:
        root = Path(workdir) if workdir is not None else Path(scratch)
        for seed in seeds:
            began = time.perf_counter()
            seed_dir = root / f"seed{seed}"
            seed_dir.mkdir(parents=True, exist_ok=True)
            with ModelRegistry.open(seed_dir / "registry.db") as registry:
                pretraining = None
                if extra is not None:
                    install_initial(registry, seed_dir / "models", train, env_config, seed)
                elif pretrain is not None:
                    pretraining = install_pretrained(registry, seed_dir, train, pretrain,
                                                     config, env_config, seed, progress)
                outcomes = run_selfplay(data, registry, seed_dir, generations=generations,
                                        config=config, env_config=env_config,
                                        arena_episodes=arena_episodes,
                                        train_fraction=train_fraction,
                                        embargo_minutes=embargo_minutes, seed=seed,
                                        progress=progress)
                best = registry.best()
                assert best is not None  # run_selfplay installs v0000 at least
                player = Player.load(best.path)
                last = last_candidate_test(registry, outcomes, best.version, test, env_config,
                                           seed)
            trained_s = time.perf_counter() - began
            rows.append({
                "seed": seed, "best_version": best.version, "pretraining": pretraining,
                "generations": [{"version": o.version, "promoted": o.promoted,
                                 "failed": list(o.failed_checks)} for o in outcomes],
                "test": evaluate_once(player, test, env_config, seed),
                "last_candidate": last,
                "train_seconds": round(trained_s, 1),
                "test_seconds": round(time.perf_counter() - began - trained_s, 1),
            })
    info = {"train_dir": str(train_dir), "test_dir": str(test_dir),
            "train_rows": [_iso(train.open_ms[0]), _iso(train.open_ms[-1])],
            "arena_rows": [_iso(validation.open_ms[0]), _iso(validation.open_ms[-1])],
            "test_rows": [_iso(test.open_ms[0]), _iso(test.open_ms[-1])],
            "embargo_minutes": embargo_minutes, "extra": extra_report}
    return [{**row, "data": info} for row in rows]


def _iso(ms: int | np.integer) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(int(ms) / 1000))


# -- command line ---------------------------------------------------------------------------
METRICS = (("mean_return", "mean ret", "{:+.4%}"), ("sharpe", "Sharpe/ep", "{:+.3f}"),
           ("mean_max_drawdown", "mean maxDD", "{:.3%}"), ("worst_max_drawdown", "worst maxDD",
                                                            "{:.2%}"),
           ("win_rate", "win rate", "{:.1%}"), ("turnover", "turnover", "{:.3f}"),
           ("fees", "fees", "{:.5f}"))


def render_table(rows: list[dict[str, Any]]) -> Any:
    """A rich table: one line per (seed, player), then the RL mean over seeds."""
    from rich.table import Table

    table = Table(title="Walk-forward test (after fees), episode = one env horizon")
    for header in ("seed", "best", "player", *(m[1] for m in METRICS), "episodes"):
        table.add_column(header, justify="right" if header not in ("player", "best") else "left")
    for row in rows:
        for name, metrics in row["test"].items():
            table.add_row(str(row["seed"]), row["best_version"] if name == RL_NAME else "",
                          name, *(fmt.format(metrics[key]) for key, _, fmt in METRICS),
                          str(metrics["episodes"]))
        table.add_section()
    names = list(rows[0]["test"]) if rows else []
    for name in names:
        mean = {key: float(np.mean([r["test"][name][key] for r in rows])) for key, _, _ in METRICS}
        table.add_row("mean", "", name, *(fmt.format(mean[key]) for key, _, fmt in METRICS), "")
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m rl.walkforward --train DIR --test DIR --seeds 0 1 2 --generations G --json`"""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--generations", type=int, default=2)
    parser.add_argument("--updates", type=int, default=4, help="PPO updates per generation")
    parser.add_argument("--n-envs", type=int, default=128)
    parser.add_argument("--rollout-steps", type=int, default=64)
    parser.add_argument("--memory-steps", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=240, help="episode minutes")
    parser.add_argument("--arena-episodes", type=int, default=200)
    parser.add_argument("--embargo-minutes", type=int, default=1440)
    parser.add_argument("--train-fraction", type=float, default=0.7)
    parser.add_argument("--reward-scale", type=float, default=TRAINING_REWARD_SCALE,
                        help="EnvConfig.reward_scale (rewards only; arena and test read equity)")
    parser.add_argument("--extra", action="store_true",
                        help="add the forecast and anomaly columns (out of fold in training)")
    for field, text in PLAN_KNOBS:
        parser.add_argument(plan_option(field), type=int, default=getattr(FoldPlan, field),
                            help=text)
    parser.add_argument("--pretrain-sim", default=None, metavar="PARAMS",
                        help="pre-train the first best_player on simulated markets drawn around "
                        "these calibrated parameters (a shipped name or a file fitted before "
                        "the test period)")
    parser.add_argument("--pretrain-markets", type=int, default=SimPretraining.markets)
    parser.add_argument("--pretrain-coins", type=int, default=SimPretraining.coins)
    parser.add_argument("--pretrain-days", type=float, default=SimPretraining.minutes / 1440)
    parser.add_argument("--pretrain-scale", type=float, default=SimPretraining.scale,
                        help="log-normal sigma of each parameter's draw (0: the fit itself)")
    parser.add_argument("--pretrain-generations", type=int, default=SimPretraining.generations)
    parser.add_argument("--workdir", default=None, help="keep models here (default: temp)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--spread", choices=SPREAD_SOURCES, default="estimated",
                        help="each symbol's bar book: 'estimated' from its warm-up bars, or "
                             "'fixed' (one tick, as before issue 16)")
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    args = parser.parse_args(argv)
    if args.extra and args.spread != "estimated":
        parser.error("--spread fixed reprices the plain walk-forward only; --extra builds its "
                     "folders with the estimated spreads: drop one of them")

    import torch
    from rich.console import Console

    torch.set_num_threads(args.threads)
    console = Console(stderr=True, width=170)
    env_config = EnvConfig(horizon_minutes=args.horizon, reward_scale=args.reward_scale)
    config = SelfPlayConfig(n_envs=args.n_envs, memory_steps=args.memory_steps,
                            updates=args.updates, rollout_steps=args.rollout_steps,
                            env_config=env_config,
                            ppo=PPOConfig(minibatch_size=1024, learning_rate=1e-3))
    pretrain = None
    if args.pretrain_sim is not None:
        try:
            pretrain = pretraining_from(args.pretrain_sim, markets=args.pretrain_markets,
                                        coins=args.pretrain_coins, days=args.pretrain_days,
                                        scale=args.pretrain_scale,
                                        generations=args.pretrain_generations)
        except ValueError as exc:  # MarketParamsError is one too
            parser.error(str(exc))
    began = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        if done == total:
            console.log(f"{stage} {done}/{total} ({time.perf_counter() - began:.0f} s)")

    rows = walk_forward(args.train, args.test, seeds=args.seeds, generations=args.generations,
                        config=config, arena_episodes=args.arena_episodes,
                        embargo_minutes=args.embargo_minutes,
                        train_fraction=args.train_fraction, workdir=args.workdir,
                        progress=progress,
                        extra=(ExtraSettings(), FoldPlan(**{
                            field: getattr(args, f"extra_{field}") for field, _ in PLAN_KNOBS}))
                        if args.extra else None, pretrain=pretrain, spread=args.spread)
    console.print(render_table(rows))
    for row in rows:
        console.print(f"seed {row['seed']}: " + ", ".join(
            f"{g['version']} {'promoted' if g['promoted'] else 'rejected ' + str(g['failed'])}"
            for g in row["generations"]))
        if row["last_candidate"] is not None:
            last = row["last_candidate"]
            console.print(f"  rejected {last['version']} on the test episodes (diagnostic, not "
                          f"traded): mean ret {last['test']['mean_return']:+.4%}, Sharpe/ep "
                          f"{last['test']['sharpe']:+.3f}, turnover {last['test']['turnover']:.3f}")
    if rows:
        console.print(f"data: {rows[0]['data']}")
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "json"}
        print(json.dumps(_finite({"settings": settings, "seeds": rows,
                                  "wall_seconds": round(time.perf_counter() - began, 1)}),
                         allow_nan=False))
    return 0


def _finite(value: Any) -> Any:
    """NaN/inf to None so the JSON line is strict."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["evaluate_once", "sequential_episodes", "walk_forward"]
