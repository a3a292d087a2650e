"""`entasis league`: portfolio self-play generations on a folder of bars (rl/portfolio_league.py).

The folder's bars are split in time: the first part trains (best_player's memory, PPO), the
last `--validation-share` judges the league; every model goes to the data dir's
`portfolio_models.sqlite`, every generation's stages to `league/vNNNN/` (a killed run resumes
there). Memory shards and league games fan out on Ray: a local Ray by default
(`--ray-address` joins a cluster, `--no-ray` runs in-process; the results are the same).
Progress per stage on stderr; `--json` prints one JSON object on stdout.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import typer

from bot.cli.common import (
    ConfigOption,
    JsonOption,
    app,
    err,
    exclusive,
    fail,
    load,
    out,
    parse_time,
)
from bot.data_dir import DataDir
from model import errors


class LeagueBusy(errors.TemporaryError):
    """Another `entasis league` holds the data dir's lock."""


def league_lock(data_dir: Path) -> AbstractContextManager[None]:
    """One league run per data dir (two would both number their candidate v000N)."""
    lock = DataDir(data_dir).league_lock
    return exclusive(lock, LeagueBusy(f"another `entasis league` is running on {data_dir} "
                                      f"(lock {lock}); try again when it is done"))


@app.command()
def league(
    data: Path = typer.Option(..., "--data", help="Folder of <BASE>_<QUOTE>-<tf>.csv[.gz] files."),
    timeframe: str | None = typer.Option(None, "--timeframe",
                                         help="Bar size = decision cadence (default: the "
                                              "folder's only one)."),
    generations: int = typer.Option(1, "--generations", "-g", min=1),
    validation_share: float = typer.Option(0.25, "--validation-share", min=0.05, max=0.5,
                                           help="Last share of the bars that judges the league."),
    envs: int = typer.Option(32, "--envs", min=1),
    horizon: int = typer.Option(168, "--horizon", min=2, help="Bars per episode."),
    episodes: int = typer.Option(200, "--episodes", min=2, help="League episodes."),
    hidden: int = typer.Option(64, "--hidden", min=2),
    penalty: float = typer.Option(0.0, "--penalty", min=0.0, help="Drawdown penalty."),
    arena_penalty: float | None = typer.Option(
        None, "--arena-penalty", min=0.0,
        help="λ of the league's episode score, log growth − λ·max drawdown (default "
             "rl.gates.DRAWDOWN_PENALTY, 0.5; 0: growth alone; the drawdown and CVaR checks "
             "stay)."),
    every: int = typer.Option(1, "--every", min=1, help="Decide every K bars (HOLD between)."),
    offsets: str = typer.Option("-1+0+1", "--offsets",
                                help="Limit offsets in ticks, joined by + (1: marketable only)."),
    cost_margin: float = typer.Option(
        0.0, "--cost-margin", min=0.0,
        help="Training reward pays each bar's trading cost this many times more (0.5: a "
             "trade must promise its cost x 1.5); the league judges unshaped growth."),
    seed: int = typer.Option(0, "--seed"),
    start: str | None = typer.Option(None, "--from", help="Start (UTC ISO time or epoch ms)."),
    end: str | None = typer.Option(None, "--to", help="End (UTC ISO time or epoch ms)."),
    no_ray: bool = typer.Option(False, "--no-ray", help="Run in-process instead of on Ray."),
    ray_address: str | None = typer.Option(None, "--ray-address",
                                           help="Run on this Ray cluster (HOST:PORT)."),
    config_path: Path = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """Portfolio self-play: best_player plays, current_player trains and must beat the league."""
    from bot.research import walkforward as runner
    from bot.research.ray_session import RayChoice, RayUnavailable, connect_ray
    from bot.research.walkforward_league import LeagueSettings, league_factories
    from rl.gates import DRAWDOWN_PENALTY
    from rl.pool import LocalPool, RayPool
    from rl.portfolio_league import LeagueConfig, run_league
    from rl.portfolio_scores import league_baselines
    from rl.registry import ModelRegistry

    config = load(config_path)
    if no_ray and ray_address:
        raise fail("--no-ray runs in-process, --ray-address joins a cluster: give one", 2)
    data_dir = DataDir(config.data_dir)
    try:
        grid = runner.study_grid(data, timeframe, parse_time(start), parse_time(end))
        settings = runner.fast_settings(config, grid.bar_ms)
        rows = grid.close.shape[0]
        split = int(rows * (1 - validation_share))
        warmup = max(settings.limits.min_return_observations + 1,
                     min(settings.return_history_bars, split // 8))
        if split < warmup + horizon + 1 or rows - split < horizon + 1:
            raise errors.ConfigError(
                f"{rows} bars cannot hold {warmup} warm-up bars and {horizon}-bar episodes in "
                "both the training and the validation part; load more bars (--from/--to) or "
                "pass a shorter --horizon")
        shape = LeagueSettings(horizon=horizon, penalty=penalty, every=every, offsets=offsets,
                               cost_margin=cost_margin)
        train, judge = league_factories(grid, settings, (0, split, rows), warmup, shape)
        # The forecast top-k baseline's forecast trains on the training bars (before
        # `split`, the first league episode's row) and predicts the validation bars.
        baselines = league_baselines(judge, grid, split, seed=seed)
        if not no_ray:
            connect_ray(RayChoice(address=ray_address))
        pool = LocalPool() if no_ray else RayPool(ray_address)
        league_config = LeagueConfig(n_envs=envs, hidden=(hidden, hidden),
                                     arena_episodes=episodes,
                                     arena_drawdown_penalty=(DRAWDOWN_PENALTY
                                                             if arena_penalty is None
                                                             else arena_penalty))
        with league_lock(config.data_dir), \
                ModelRegistry.open(data_dir.portfolio_models) as registry:
            outcomes = run_league(registry, train, judge, data_dir.league,
                                  generations=generations, config=league_config, seed=seed,
                                  pool=pool, on_stage=lambda stage: err.print(f"league: {stage}"),
                                  baselines=baselines)
            best = registry.best()
    except LeagueBusy as exc:
        raise fail(str(exc), 75) from None
    except (errors.ConfigError, errors.DataError, RayUnavailable) as exc:
        raise fail(str(exc), 2) from None
    summary: dict[str, Any] = {
        "generations": [{"version": o.version, "promoted": o.promoted, "failed": list(o.failed),
                         "drawdown_penalty": o.stats.get("info", {}).get("drawdown_penalty"),
                         "players": o.stats.get("info", {}).get("players", {}),
                         "baselines_omitted": o.stats.get("baselines_omitted", {})}
                        for o in outcomes],
        "cost_margin": cost_margin,
        "best": None if best is None else best.version,
        "registry": str(data_dir.portfolio_models)}
    console = err if as_json else out
    for o in outcomes:
        verdict = "promoted" if o.promoted else f"rejected ({', '.join(o.failed)})"
        console.print(f"{o.version}: {verdict}")
    for name, why in baselines.omitted.items():
        console.print(f"baseline {name} left out of the league: {why}")
    console.print(f"best: {summary['best']}  (registry {summary['registry']})")
    if as_json:
        print(json.dumps(summary, allow_nan=False, default=float), flush=True)


__all__ = ["league"]
