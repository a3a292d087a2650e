"""`entasis selfplay` and `entasis models`: train policies by self-play and list the registry.

Kept apart from bot/cli/main.py so the daemon's commands do not import torch. Training is CPU
work that belongs outside the daemon's loop: run it here, or from the daemon's scheduler in a
subprocess (`[scheduler] selfplay`), while the daemon trades and hot-swaps what it promotes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot import formatting as fmt
from bot.cli.common import ConfigOption, JsonOption, app, err, exclusive, fail, load, out
from bot.data_dir import DataDir
from model import errors
from rl.fold_plan import PLAN_KNOBS, FoldPlan, plan_option

TRAIN_FRACTION = 0.8  # of the usable rows; the arena plays the rest after the embargo
_KNOB_HELP = dict(PLAN_KNOBS)


class SelfPlayBusy(errors.TemporaryError):
    """Another `entasis selfplay` holds the data dir's lock."""


def selfplay_lock(data_dir: Path) -> AbstractContextManager[None]:
    """One self-play run per data dir at a time (a scheduled run and a manual one would
    otherwise both number their candidate v000N). Released on exit or when the process dies."""
    lock = DataDir(data_dir).selfplay_lock
    return exclusive(lock, SelfPlayBusy(f"another `entasis selfplay` is running on {data_dir} "
                                        f"(lock {lock}); try again when it is done"))


@app.command()
def selfplay(
    generations: int = typer.Option(1, "--generations", "-g", min=1, help="Generations to run."),
    data: Path | None = typer.Option(None, "--data", help="Folder of OHLCV CSVs to learn from."),
    sim: bool = typer.Option(False, "--sim", help="Learn on the seeded simulated market instead."),
    minutes: int = typer.Option(20_000, help="With --sim: minutes of market to generate."),
    coins: int = typer.Option(8, help="With --sim: number of coins."),
    envs: int = typer.Option(256, help="Episodes stepped at once."),
    updates: int = typer.Option(20, help="PPO updates of current_player per generation."),
    episodes: int = typer.Option(200, help="Arena episodes (>= 200 for the gates to mean much)."),
    horizon: int = typer.Option(240, help="Episode length in minutes."),
    reward_scale: float = typer.Option(1000.0, "--reward-scale", min=0.0,  # = TRAINING_REWARD_SCALE
                                       help="Training reward multiplier (EnvConfig.reward_scale)."),
    workers: int = typer.Option(1, "--workers", min=1,
                                help="Processes for episode generation and arena (1 = here)."),
    seed: int = typer.Option(0, help="Seed of everything random."),
    embargo_minutes: int = typer.Option(1440, "--embargo-minutes", min=0,
                                        help="Minutes between the training rows and the "
                                             "arena's held-out rows."),
    extra: bool = typer.Option(False, "--extra", help=(
        "With --data: the observation also gets the forecast and anomaly columns, built out "
        "of fold over DIR with the [forecast] and [anomaly] settings; the daemon trades such "
        "models only while it serves both.")),
    extra_min_train_minutes: int = typer.Option(
        FoldPlan.min_train_minutes, plan_option("min_train_minutes"), min=1,
        help=f"With --extra: {_KNOB_HELP['min_train_minutes']}."),
    extra_refit_minutes: int = typer.Option(
        FoldPlan.refit_minutes, plan_option("refit_minutes"), min=1,
        help=f"With --extra: {_KNOB_HELP['refit_minutes']}."),
    extra_embargo_minutes: int = typer.Option(
        FoldPlan.embargo_minutes, plan_option("embargo_minutes"), min=0,
        help=f"With --extra: {_KNOB_HELP['embargo_minutes']}."),
    extra_tiny: bool = typer.Option(False, "--extra-tiny", help=(
        "With --extra: seconds-to-train forecast and detector (smoke tests; the columns are "
        "then close to noise).")),
    pretrain_sim: str | None = typer.Option(None, "--pretrain-sim", metavar="PARAMS", help=(
        "With an empty registry: pre-train the first best_player on simulated markets drawn "
        "around these calibrated parameters (a shipped name such as bittrex_2017-11, or a "
        "file from `entasis sim calibrate`) instead of starting from random weights.")),
    pretrain_markets: int = typer.Option(4, "--pretrain-markets", min=1,
                                         help="With --pretrain-sim: markets drawn."),
    pretrain_days: float = typer.Option(10.0, "--pretrain-days", min=2.0,
                                        help="With --pretrain-sim: days of 1m bars a market."),
    pretrain_scale: float = typer.Option(0.25, "--pretrain-scale", min=0.0, help=(
        "With --pretrain-sim: log-normal sigma of each parameter's draw (0: the fit itself).")),
    pretrain_generations: int = typer.Option(2, "--pretrain-generations", min=1,
                                             help="With --pretrain-sim: PPO generations."),
    config_path: Path = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """best_player plays, current_player trains (PPO), the arena decides who stays best.

    Runs unattended too (the daemon's scheduler calls it with --json in a subprocess):
    progress goes to stderr only on a terminal, --json prints one JSON object on stdout, and
    the exit code is 0 when every generation was judged (promoted or not), 1 on an error,
    75 when another self-play run holds the data dir."""
    config = load(config_path)
    if (data is None) == (not sim):
        _fail("pass exactly one of --data DIR or --sim", as_json, code=2)
    if data is not None and not data.is_dir():
        _fail(f"--data {data}: not a folder of OHLCV CSVs", as_json, code=2)
    if extra and sim:
        _fail("--extra needs --data DIR: the forecast and anomaly columns are trained on a "
              "folder of OHLCV CSVs, and a generated market has none; drop --extra or pass "
              "--data instead of --sim", as_json, code=2)
    if extra and pretrain_sim is not None:
        _fail("--pretrain-sim and --extra do not combine: a simulated market has no forecast or "
              "anomaly columns; drop one of them", as_json, code=2)
    pretrain = None
    if pretrain_sim is not None:
        pretrain = _pretraining(pretrain_sim, pretrain_markets, coins, pretrain_days,
                                pretrain_scale, pretrain_generations, as_json)
    plan = FoldPlan(extra_min_train_minutes, extra_refit_minutes, extra_embargo_minutes)
    try:
        plan.blocks(0)  # refuses an inconsistent plan now, not after minutes of loading
    except ValueError as exc:
        _fail(f"the --extra-* minutes: {exc}", as_json, code=2)
    started = time.perf_counter()
    try:
        with selfplay_lock(config.data_dir):
            summary = _run_selfplay(config, data, generations=generations, minutes=minutes,
                                    coins=coins, envs=envs, updates=updates, episodes=episodes,
                                    horizon=horizon, reward_scale=reward_scale,
                                    workers=workers, seed=seed, embargo_minutes=embargo_minutes,
                                    extra=(_extra_settings(config, extra_tiny, seed), plan)
                                    if extra else None, pretrain=pretrain)
    except SelfPlayBusy as exc:
        _fail(str(exc), as_json, code=75)
    except (ValueError, OSError, RuntimeError, sqlite3.Error) as exc:  # data, model, registry
        _fail(f"{type(exc).__name__}: {exc}", as_json, code=1)
    summary["wall_s"] = round(time.perf_counter() - started, 1)
    if as_json:
        print(json.dumps(summary))
        return
    for outcome in summary["generations"]:
        verdict = "[green]promoted[/green]" if outcome["promoted"] else "[yellow]rejected[/yellow]"
        failed = ", ".join(outcome["failed_checks"]) or "none"
        out.print(f"{outcome['version']}: {verdict} (failed checks: {failed})")
    if summary["pretraining"] is not None:
        done = summary["pretraining"]
        out.print(f"v0000 pre-trained on {done['markets']} simulated markets "
                  f"({done['symbols']} coins, scale {done['scale']:g}) in {done['seconds']} s")
    elif pretrain is not None:
        out.print("[yellow]not pre-trained: the registry already has a best player[/yellow] "
                  "(pre-training only ever makes the first one)")
    out.print(f"best is {summary['best_version']}; done in {summary['wall_s']} s; "
              "`entasis models` lists the registry")


def _fail(message: str, as_json: bool, *, code: int) -> NoReturn:
    """Say what went wrong (bot.cli.fail: one JSON object on stdout with --json, else a line
    on stderr); exit with `code`. `as_json` is read from the command's own parameters."""
    raise fail(message, code)


def _extra_settings(config: Any, tiny: bool, seed: int) -> Any:
    """How the extra columns' forecast and detector are trained: served the way this
    config's daemon serves them ([forecast] horizon and weights, [anomaly] network and
    threshold), so the policy learns the numbers it will read live."""
    from rl.extra_folds import ExtraSettings
    from rl.extra_training import tiny_settings

    settings = ExtraSettings(horizon=config.forecast.horizon,
                             weights_mode=config.forecast.weights_mode,
                             anomaly_kind=config.anomaly.kind,
                             anomaly_method=config.anomaly.threshold_method,
                             anomaly_rate=config.anomaly.rate)
    return tiny_settings(settings, seed) if tiny else settings


def _pretraining(value: str, markets: int, coins: int, days: float, scale: float,
                 generations: int, as_json: bool) -> Any:
    """The `--pretrain-*` options as `SimPretraining`, or exit 2 saying what is wrong."""
    from rl.sim_pretrain import pretraining_from

    try:
        return pretraining_from(value, markets=markets, coins=coins, days=days, scale=scale,
                                generations=generations)
    except ValueError as exc:  # MarketParamsError is one too
        _fail(str(exc), as_json, code=2)


def _run_selfplay(config: Any, data: Path | None, *, generations: int, minutes: int, coins: int,
                  envs: int, updates: int, episodes: int, horizon: int, reward_scale: float,
                  workers: int, seed: int, embargo_minutes: int,
                  extra: tuple[Any, FoldPlan] | None, pretrain: Any = None) -> dict[str, Any]:
    """Load the market (with `extra`: and build its forecast and anomaly columns; with
    `pretrain` and an empty registry: pre-train the first best on simulated markets), run
    the generations with progress on a terminal, summarize."""
    from rl.env import EnvConfig
    from rl.episodes import MarketData
    from rl.extra_training import (
        check_registry_layout,
        install_initial,
        training_market,
        with_extra_columns,
    )
    from rl.loop import run_selfplay
    from rl.pool import make_pool
    from rl.registry import ModelRegistry
    from rl.selfplay import SelfPlayConfig
    from rl.sim_pretrain import install_pretrained

    # Rewards x1000 in training: a 5%-capped step's log return (~1e-4) is below the value
    # head's starting error, and unscaled PPO learned nothing (rl/env.py EnvConfig).
    env_config = EnvConfig(horizon_minutes=horizon, reward_scale=reward_scale,
                           risk_per_trade_pct=config.risk.risk_per_trade_pct,
                           max_position_pct=config.risk.max_position_pct,
                           maker_fee_bps=config.fills.maker_fee_bps,
                           taker_fee_bps=config.fills.taker_fee_bps,
                           max_volume_share=config.fills.max_volume_share)
    sp_config = SelfPlayConfig(n_envs=envs, updates=updates, env_config=env_config)
    registry_path = DataDir(config.data_dir).models
    workdir = DataDir(config.data_dir).selfplay
    extra_report: dict[str, Any] | None = None
    with ModelRegistry.open(registry_path) as registry, Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal,
    ) as bars:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=total)

        check_registry_layout(registry, extra is not None)  # before minutes of columns
        if extra is None:
            market = (MarketData.from_csv_dir(data) if data is not None
                      else MarketData.from_generator(seed, coins, minutes))
        else:
            assert data is not None  # the command refuses --extra with --sim
            market, extra_report = training_market(data, *extra, progress=progress)
            sp_config = with_extra_columns(sp_config, *extra)
            train, _ = market.split(train_fraction=TRAIN_FRACTION,
                                    embargo_minutes=embargo_minutes)
            install_initial(registry, workdir / "models", train, env_config, seed)
        pretraining = None
        if pretrain is not None:
            train, _ = market.split(train_fraction=TRAIN_FRACTION,
                                    embargo_minutes=embargo_minutes)
            pretraining = install_pretrained(registry, workdir, train, pretrain, sp_config,
                                             env_config, seed, progress)
        outcomes = run_selfplay(
            market, registry, workdir, generations=generations,
            config=sp_config, env_config=env_config, arena_episodes=episodes,
            train_fraction=TRAIN_FRACTION, embargo_minutes=embargo_minutes, seed=seed,
            progress=progress, pool=make_pool(workers),
        )
        best = registry.best()
    return {"ok": True, "generations": [
        {"version": o.version, "promoted": o.promoted, "failed_checks": list(o.failed_checks)}
        for o in outcomes], "best_version": best.version if best else None,
        "registry": str(registry_path), "extra": extra_report, "pretraining": pretraining}


@app.command()
def models(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Model versions with their status and arena results."""
    from rl.registry import ModelRegistry

    config = load(config_path)
    path = DataDir(config.data_dir).models
    records: list[Any] = []
    if path.exists():  # a fresh install has no registry yet: that is an empty list, not an error
        with ModelRegistry.open(path) as registry:
            records = registry.list()
    rows: list[dict[str, Any]] = [
        {"version": r.version, "status": r.status.value, "parent": r.parent,
         "created_ts": r.created_ts, "path": r.path,
         "failed_checks": (r.arena_stats or {}).get("failed"),
         "checks": {k: v.get("passed") for k, v in (r.arena_stats or {}).get("checks", {}).items()}}
        for r in records]
    if as_json:
        print(json.dumps({"models": rows}))
        return
    if not rows:
        out.print("no models yet — run `entasis selfplay`", highlight=False)
        return
    table = Table(title="Model registry")
    for column in ("version", "status", "parent", "created (UTC)", "arena checks"):
        table.add_column(column)
    for row in rows:
        created = fmt.when(row["created_ts"])
        checks = " ".join(f"{k}:{'ok' if v else 'FAIL'}" for k, v in row["checks"].items()) or "-"
        table.add_row(row["version"], row["status"], row["parent"] or "-", created, checks)
    out.print(table)
