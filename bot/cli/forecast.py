"""`entasis forecast train` and `entasis forecast evaluate`: the ensemble forecast offline.

Kept apart from bot/cli/main.py so the daemon's commands do not import torch, xgboost or
lightgbm. Training is CPU work for a terminal or for the scheduler's subprocess
(`[schedule] train_commands = [["forecast", "train", "--data", DIR]]`), never the daemon's
loop.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.app.forecast_service import bundle_path
from bot.cli.common import ConfigOption, JsonOption, app, err, load, out
from bot.config import Config

forecast_app = typer.Typer(no_args_is_help=True,
                           help="Ensemble forecast: train a bundle, evaluate it out of sample.")
app.add_typer(forecast_app, name="forecast")

DataOption = typer.Option(..., "--data", help="Folder of <BASE>_<QUOTE>-1m.csv[.gz] files.")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                    console=err, transient=True)


def _train_config(config: Config, horizons: list[int] | None, folds: int, seed: int,
                  tiny: bool) -> Any:
    from strategies.forecast.models import ModelParams
    from strategies.forecast.training import TrainConfig

    return TrainConfig(horizons=tuple(horizons or config.forecast.horizons), folds=folds,
                       seed=seed, params=ModelParams.tiny() if tiny else ModelParams())


def _check_dir(path: Path, option: str) -> None:
    if not path.is_dir():
        err.print(f"[red]error:[/red] {option} {path}: not a folder of OHLCV CSVs")
        raise typer.Exit(2)


def _train(data: Path, train_config: Any) -> dict[int, Any]:
    """Panel from `data`, then walk-forward training of every horizon with a progress bar."""
    import torch

    from exchange.sim.replay import load_grid
    from strategies.forecast.dataset import build_panel
    from strategies.forecast.training import train

    torch.set_num_threads(1)  # small nets: one thread is fastest, and it leaves a core free
    panel = build_panel(load_grid(data))
    with _progress() as bars:
        task = bars.add_task("training", total=len(train_config.horizons) * (train_config.folds + 1))
        offset = {h: i * (train_config.folds + 1) for i, h in enumerate(train_config.horizons)}

        def progress(stage: str, done: int, total: int) -> None:
            horizon = int(stage.split("m", 1)[0].removeprefix("h="))
            bars.update(task, description=stage, completed=offset[horizon] + done)

        return train(panel, train_config, progress)


@forecast_app.command("train")
def train_command(
    data: Path = DataOption,
    out_dir: Path | None = typer.Option(None, "--out", help="Bundle folder (default: "
                                           "[forecast] bundle under data_dir)."),
    horizons: list[int] | None = typer.Option(None, "--horizon", help="Horizon in minutes "
                                                  "(repeat; default [forecast] horizons)."),
    folds: int = typer.Option(3, min=1, help="Walk-forward folds."),
    seed: int = typer.Option(0, help="Seed of every model."),
    tiny: bool = typer.Option(False, "--tiny", help="Seconds-to-train models (smoke tests)."),
    replace: bool = typer.Option(False, "--replace", help="Replace an existing bundle (the "
                                 "scheduler's retraining); the swap is a rename."),
    config_path: Path = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """Train the four models walk-forward on --data and save a bundle."""
    from strategies.forecast.bundle import BundleError, save_bundle

    config = load(config_path)
    _check_dir(data, "--data")
    target = out_dir or bundle_path(config)
    if (target / "manifest.json").exists() and not replace:  # refuse before hours of work
        err.print(f"[red]error:[/red] {target} already holds a bundle; pass --replace or "
                  "choose another --out")
        raise typer.Exit(2)
    train_config = _train_config(config, horizons, folds, seed, tiny)
    started = time.perf_counter()
    trained = _train(data, train_config)
    try:
        if replace:
            _save_replacing(target, trained, train_config, str(data))
        else:
            save_bundle(target, trained, train_config, data_source=str(data))
    except BundleError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    summary = {"bundle": str(target), "wall_s": round(time.perf_counter() - started, 1),
               "horizons": {str(h): {"validation_mse": m.validation, "weights": m.weights,
                                     "fold_seconds": m.fold_seconds, "train_rows": m.train_rows}
                            for h, m in trained.items()}}
    if as_json:
        print(json.dumps(summary))
        return
    for horizon, model in trained.items():
        table = Table(title=f"h = {horizon} min: walk-forward validation (out of fold)")
        table.add_column("forecaster")
        table.add_column("MSE / zero-forecast MSE", justify="right")
        for name, mse in model.validation.items():
            table.add_row(name, f"{mse / model.validation['zero']:.4f}")
        out.print(table)
    out.print(f"bundle saved to {target} in {summary['wall_s']} s")


def _save_replacing(target: Path, trained: dict[int, Any], train_config: Any,
                    data_source: str) -> None:
    """Write the new bundle beside `target`, then swap it in with renames, so a reader sees
    the old bundle or the new one, never half of one (a running daemon swaps it in between
    decision steps: ADR-043)."""
    import os
    import shutil

    from strategies.forecast.bundle import save_bundle

    fresh = target.with_name(f"{target.name}.new-{os.getpid()}")
    old = target.with_name(f"{target.name}.old-{os.getpid()}")
    save_bundle(fresh, trained, train_config, data_source=data_source)
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)


@forecast_app.command("evaluate")
def evaluate_command(
    data: Path = DataOption,
    bundle: Path | None = typer.Option(None, "--bundle", help="Evaluate this bundle "
                                          "(default: [forecast] bundle)."),
    train_dir: Path | None = typer.Option(None, "--train", help="Train on this folder first "
                                             "instead of loading a bundle."),
    save_to: Path | None = typer.Option(None, "--out", help="With --train: save the bundle."),
    horizons: list[int] | None = typer.Option(None, "--horizon", help="With --train: horizon "
                                                  "(repeat)."),
    folds: int = typer.Option(3, min=1, help="With --train: walk-forward folds."),
    seed: int = typer.Option(0, help="With --train: seed."),
    tiny: bool = typer.Option(False, "--tiny", help="With --train: seconds-to-train models."),
    backtest: bool = typer.Option(True, "--backtest/--no-backtest",
                                  help="Top-decile long backtest through the engine."),
    backtest_horizon: int | None = typer.Option(None, help="Horizon whose forecasts the "
                                                   "backtest trades (default [forecast] horizon)."),
    only: list[str] | None = typer.Option(None, "--backtest-only", help="Backtest only these "
                                             "forecasters (repeat); default all."),
    config_path: Path = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """Every metric for each model, ensemble and naive baseline on --data (out of sample)."""
    import torch

    from exchange.sim.replay import load_grid
    from strategies.forecast.bundle import BundleError, load_bundle, save_bundle, update_manifest
    from strategies.forecast.dataset import build_panel
    from strategies.forecast.evaluation import evaluate_horizon, winner

    torch.set_num_threads(1)
    config = load(config_path)
    _check_dir(data, "--data")
    started = time.perf_counter()
    if train_dir is not None:
        _check_dir(train_dir, "--train")
        train_config = _train_config(config, horizons, folds, seed, tiny)
        trained = _train(train_dir, train_config)
        seq: tuple[int, int] = (train_config.seq_len, train_config.seq_stride)
        if save_to is not None:
            save_bundle(save_to, trained, train_config, data_source=str(train_dir))
            bundle = save_to
    else:
        path = bundle or bundle_path(config)
        try:
            loaded = load_bundle(path)
        except BundleError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        trained, seq, bundle = loaded.horizons, (loaded.seq_len, loaded.seq_stride), path
    panel = build_panel(load_grid(data))
    report: dict[str, Any] = {"data": str(data), "train": str(train_dir or ""), "horizons": {}}
    grids_by_horizon = {}
    with _progress() as bars:
        for horizon, model in trained.items():
            task = bars.add_task(f"h={horizon}m forecasting", total=1)
            rep, grids = evaluate_horizon(model, panel, *seq, progress=_updater(bars, task))
            rep["winner"] = winner(rep)
            report["horizons"][str(horizon)] = rep
            grids_by_horizon[horizon] = grids
    if backtest:
        horizon = backtest_horizon or (config.forecast.horizon if config.forecast.horizon in
                                       trained else next(iter(trained)))
        report["backtest"] = _backtests(config, data, panel, grids_by_horizon[horizon], horizon,
                                        only)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    if bundle is not None and (bundle / "manifest.json").is_file():
        update_manifest(bundle, test_metrics=_without_bins(report))
    if as_json:
        print(json.dumps(report, default=_json_default))
        return
    _print_report(report)


def _backtests(config: Config, data: Path, panel: Any, grids: dict[str, Any], horizon: int,
               only: list[str] | None) -> dict[str, Any]:
    """Top-decile long through the trading-core backtester, one run per forecaster."""
    from bot.research.backtest import run_backtest
    from strategies.forecast.policy import TopDecilePolicy

    names = [n for n in grids if ":" not in n and (not only or n in only)]
    results: dict[str, Any] = {"horizon_minutes": horizon, "runs": {}}
    with _progress() as bars, tempfile.TemporaryDirectory() as scratch:
        for name in names:
            grid = grids[name]
            forecasts = {int(ms): grid[t] for t, ms in enumerate(panel.open_ms)}
            confidence_grid = grids.get(f"{name}:confidence")
            confidence = (None if confidence_grid is None else
                          {int(ms): confidence_grid[t] for t, ms in enumerate(panel.open_ms)})
            policy = TopDecilePolicy(forecasts, panel.symbols, rebalance_minutes=horizon,
                                     confidence=confidence,
                                     stop_return_pct=config.strategy.stop_return_pct,
                                     name=f"top_decile:{name}")
            task = bars.add_task(f"backtest {name}", total=1)
            result = run_backtest(config, data, Path(scratch) / f"{name}.sqlite", policy=policy,
                                  balance=Decimal(1),
                                  progress=_updater(bars, task))
            results["runs"][name] = result.as_dict()
    return results


def _updater(bars: Progress, task: Any) -> Callable[[int, int], None]:
    """A (done, total) callback that moves one progress bar."""
    def update(done: int, total: int) -> None:
        bars.update(task, completed=done, total=total)

    return update


def _without_bins(report: dict[str, Any]) -> dict[str, Any]:
    """The report minus the per-bin calibration tables (kept short for the manifest), as
    plain JSON data (non-finite numbers become null)."""
    data = json.loads(json.dumps(report, default=_json_default).replace("NaN", "null"))
    for horizon in data["horizons"].values():
        for metrics in horizon["forecasters"].values():
            metrics.get("calibration", {}).pop("bins", None)
    return data


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def _fmt(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _print_report(report: dict[str, Any]) -> None:
    runs = report.get("backtest", {}).get("runs", {})
    for horizon, rep in report["horizons"].items():
        table = Table(title=f"h = {horizon} min on {report['data']} ({rep['rows']} rows)")
        for column in ("forecaster", "MSE", "MAE", "R²", "MAPE %", "dir. acc.", "IC mean",
                       "IC t", "ECE", "top-decile return"):
            table.add_column(column, justify="left" if column == "forecaster" else "right")
        for name, m in rep["forecasters"].items():
            same_horizon = report.get("backtest", {}).get("horizon_minutes") == int(horizon)
            run = runs.get(name) if same_horizon else None
            table.add_row(name, _fmt(m["mse"], ".3e"), _fmt(m["mae"], ".3e"), _fmt(m["r2"], ".4f"),
                          _fmt(m["mape_pct"], ".0f"), _fmt(m["directional_accuracy"], ".4f"),
                          _fmt(m["ic_mean"], ".4f"), _fmt(m["ic_t"], ".2f"),
                          _fmt(m.get("calibration", {}).get("ece"), ".4f"),
                          "–" if run is None else f"{run['total_return'] * 100:+.2f}%")
        out.print(table)
        out.print(f"winner by MSE: {rep['winner']['by_mse']}, by IC: {rep['winner']['by_ic']}")
    out.print(f"done in {report['wall_s']} s")
