"""`entasis selfplay` and `entasis models`: train policies by self-play and list the registry.

Kept apart from bot/cli.py so the daemon's commands do not import torch. Training is CPU
work that belongs outside the daemon's loop: run it here, or (issue 4 item 6, later) from the
daemon's scheduler in a subprocess.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli import JsonOption, ConfigOption, _load, app, err, out

REGISTRY_FILE = "models.sqlite"


@app.command()
def selfplay(
    generations: int = typer.Option(1, "--generations", "-g", min=1, help="Generations to run."),
    data: Optional[Path] = typer.Option(None, "--data", help="Folder of OHLCV CSVs to learn from."),
    sim: bool = typer.Option(False, "--sim", help="Learn on the seeded simulated market instead."),
    minutes: int = typer.Option(20_000, help="With --sim: minutes of market to generate."),
    coins: int = typer.Option(8, help="With --sim: number of coins."),
    envs: int = typer.Option(256, help="Episodes stepped at once."),
    updates: int = typer.Option(20, help="PPO updates of current_player per generation."),
    episodes: int = typer.Option(200, help="Arena episodes (>= 200 for the gates to mean much)."),
    horizon: int = typer.Option(240, help="Episode length in minutes."),
    seed: int = typer.Option(0, help="Seed of everything random."),
    config_path: Path = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """best_player plays, current_player trains (PPO), the arena decides who stays best."""
    from rl.env import EnvConfig
    from rl.episodes import MarketData
    from rl.loop import run_selfplay
    from rl.registry import ModelRegistry
    from rl.selfplay import SelfPlayConfig
    from rl.walkforward import scaled_env_factory

    config = _load(config_path)
    if (data is None) == (not sim):
        err.print("[red]error:[/red] pass exactly one of --data DIR or --sim")
        raise typer.Exit(2)
    if data is not None and not data.is_dir():
        err.print(f"[red]error:[/red] --data {data}: not a folder of OHLCV CSVs")
        raise typer.Exit(2)
    market = (MarketData.from_csv_dir(data) if data is not None
              else MarketData.from_generator(seed, coins, minutes))
    env_config = EnvConfig(horizon_minutes=horizon,
                           risk_per_trade_pct=config.risk.risk_per_trade_pct,
                           max_position_pct=config.risk.max_position_pct,
                           maker_fee_bps=config.fills.maker_fee_bps,
                           taker_fee_bps=config.fills.taker_fee_bps,
                           max_volume_share=config.fills.max_volume_share)
    # Rewards x1000 in training only: a 5%-capped step's log return (~1e-4) is below the value
    # head's starting error, and unscaled PPO learned nothing (measured, rl/walkforward.py).
    sp_config = SelfPlayConfig(n_envs=envs, updates=updates, env_config=env_config,
                               env_factory=scaled_env_factory(1000.0))
    config.data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with ModelRegistry.open(config.data_dir / REGISTRY_FILE) as registry, Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err, transient=True,
    ) as bars:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=total)

        outcomes = run_selfplay(
            market, registry, config.data_dir / "selfplay", generations=generations,
            config=sp_config, env_config=env_config, arena_episodes=episodes, seed=seed,
            progress=progress,
        )
    summary = {"generations": [
        {"version": o.version, "promoted": o.promoted, "failed_checks": list(o.failed_checks)}
        for o in outcomes], "wall_s": round(time.perf_counter() - started, 1)}
    if as_json:
        print(json.dumps(summary))
        return
    for outcome in outcomes:
        verdict = "[green]promoted[/green]" if outcome.promoted else "[yellow]rejected[/yellow]"
        failed = ", ".join(outcome.failed_checks) or "none"
        out.print(f"{outcome.version}: {verdict} (failed checks: {failed})")
    out.print(f"done in {summary['wall_s']} s; `entasis models` lists the registry")


@app.command()
def models(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Model versions with their status and arena results."""
    from rl.registry import ModelRegistry

    config = _load(config_path)
    path = config.data_dir / REGISTRY_FILE
    if not path.exists():
        err.print(f"no models yet ({path} does not exist); train some with `entasis selfplay`")
        raise typer.Exit(1)
    with ModelRegistry.open(path) as registry:
        records = registry.list()
    rows = [{"version": r.version, "status": r.status.value, "parent": r.parent,
             "created_ts": r.created_ts, "path": r.path,
             "failed_checks": (r.arena_stats or {}).get("failed"),
             "checks": {k: v.get("passed") for k, v in (r.arena_stats or {}).get("checks", {}).items()}}
            for r in records]
    if as_json:
        print(json.dumps({"models": rows}))
        return
    table = Table(title="Model registry")
    for column in ("version", "status", "parent", "created (UTC)", "arena checks"):
        table.add_column(column)
    for row in rows:
        created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(row["created_ts"] / 1000))
        checks = " ".join(f"{k}:{'ok' if v else 'FAIL'}" for k, v in row["checks"].items()) or "-"
        table.add_row(row["version"], row["status"], row["parent"] or "-", created, checks)
    out.print(table)
