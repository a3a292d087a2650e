"""`entasis anomalies`: report the top anomalies of a data folder; train and evaluate models.

- `entasis anomalies --data DIR [--top 20] [--out DIR]`: the top N distinct anomalies with
  context, as a table (and CSV) and a PNG of prices with the anomalies marked. Scores come
  from `--model PATH`, else the configured `[anomaly] model_path` if it exists, else a model
  fit on DIR itself (said so in the output: in-sample, "what is hardest to reconstruct").
- `entasis anomalies train --data DIR --out PATH`: fit and save a model (a subprocess job
  for the scheduler: CPU work never runs on the daemon's loop).
- `entasis anomalies evaluate --train DIR --test DIR`: AE and VAE against the baselines on
  events of the test period (the table in docs/results.md).
- `entasis anomalies backtest --train DIR --test DIR`: P&L of the baseline policy with
  detection off and on, beside buy-and-hold and SMA (bot/research/anomaly_backtest.py).

Kept apart from bot/cli/main.py so the daemon's commands do not import torch.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.cli.common import ConfigOption, JsonOption, app, err, load, out

anomalies_app = typer.Typer(no_args_is_help=False, help=__doc__)
app.add_typer(anomalies_app, name="anomalies")

DataOption = typer.Option(None, "--data", help="Folder of <BASE>_<QUOTE>-1m.csv[.gz] files.")
EpochsOption = typer.Option(8, "--epochs", min=1, help="Training passes over the data.")
SeedOption = typer.Option(0, "--seed", help="Seed of everything random.")


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                    console=err, transient=True)


def _grid(path: Path) -> Any:
    from bot.research.anomaly_io import load_grid
    from exchange.sim.replay import ReplayError

    try:
        return load_grid(path)
    except ReplayError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)  # tiny networks: one thread is fastest and shares the box


@anomalies_app.callback(invoke_without_command=True)
def report(
    ctx: typer.Context,
    data: Path | None = DataOption,
    top: int = typer.Option(20, "--top", min=1, help="How many distinct anomalies to list."),
    out_dir: Path = typer.Option(Path("var/anomalies"), "--out", help="Folder for PNG + CSV."),
    model: Path | None = typer.Option(None, "--model", help="Model file (default: config)."),
    config_path: Path = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """Top N anomalies of --data DIR with context: a table, a CSV and a PNG."""
    if ctx.invoked_subcommand is not None:
        return
    if data is None:
        err.print("[red]error:[/red] pass --data DIR (a folder of 1m OHLCV CSVs), or a "
                  "subcommand: train, evaluate")
        raise typer.Exit(2)
    from bot.app.anomaly_setup import model_path
    from bot.research.anomaly_report import (
        plot,
        report_rows_as_dicts,
        score_data,
        top_anomalies,
        write_csv,
    )
    from risk.anomaly import AnomalyBundle, AnomalyModelError, train_bundle

    config = load(config_path)
    settings = config.anomaly
    _one_thread()
    grid = _grid(data)
    path = model or model_path(config)
    with _progress() as bars:
        task = bars.add_task("loading")
        if model is not None or path.is_file():
            try:
                bundle, source = AnomalyBundle.load(path), str(path)
            except AnomalyModelError as exc:
                err.print(f"[red]error:[/red] {exc}", highlight=False)
                raise typer.Exit(2) from None
        else:
            bundle = train_bundle(grid.features, open_ms=grid.open_ms, symbols=grid.grid.symbols,
                                  progress=lambda text: bars.update(task, description=text))
            source = f"fit on {data} itself (in-sample: no model at {path})"
        bars.update(task, description="scoring")
        scored = score_data(grid, bundle, settings.kind, settings.threshold_method,
                            settings.rate, settings.market_rate)
        rows = top_anomalies(grid, scored, top)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = plot(grid, scored, rows, out_dir / "anomalies.png",
               f"Top {len(rows)} anomalies in {data.name} ({settings.kind}, {source})")
    table_csv = write_csv(rows, out_dir / "anomalies.csv")
    summary = {"model": source, "kind": settings.kind, "coin_threshold": scored.coin_threshold,
               "png": str(png), "csv": str(table_csv), "anomalies": report_rows_as_dicts(rows)}
    if as_json:
        print(json.dumps(summary))
        return
    table = Table(title=f"Top {len(rows)} anomalies ({settings.kind}; score = x threshold)")
    for column in ("#", "time (UTC)", "symbol", "score", "close", "15m move %",
                   "next 1h %", "volume x", "market"):
        table.add_column(column, justify="right" if column not in ("symbol",) else "left")
    for r in rows:
        table.add_row(str(r.rank), r.time_utc, r.symbol, f"{r.score:.2f}", f"{r.close:.8g}",
                      f"{r.move_15m_pct:+.2f}", f"{r.next_1h_pct:+.2f}", f"{r.volume_ratio:.1f}",
                      f"{r.market_score:.2f}")
    out.print(table)
    out.print(f"model: {source}\nchart: {png}\ntable: {table_csv}")


@anomalies_app.command("train")
def train(
    data: Path = typer.Option(..., "--data", help="Folder of 1m OHLCV CSVs to learn from."),
    out_path: Path | None = typer.Option(None, "--out", help="Model file (default: config)."),
    epochs: int = EpochsOption,
    seed: int = SeedOption,
    config_path: Path = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """Fit per-coin and market-wide AE and VAE on --data and save them to --out."""
    from bot.app.anomaly_setup import model_path
    from risk.anomaly import train_bundle
    from risk.anomaly_models import TrainSettings

    config = load(config_path)
    _one_thread()
    grid = _grid(data)
    started = time.perf_counter()
    with _progress() as bars:
        task = bars.add_task("training")
        bundle = train_bundle(grid.features, open_ms=grid.open_ms, symbols=grid.grid.symbols,
                              settings=TrainSettings(epochs=epochs, seed=seed),
                              progress=lambda text: bars.update(task, description=text))
    path = bundle.save(out_path or model_path(config))
    summary = {"path": str(path), "rows": bundle.info["rows"],
               "final_loss": {k: round(v[-1], 5) for k, v in bundle.info["losses"].items()},
               "wall_s": round(time.perf_counter() - started, 1)}
    if as_json:
        print(json.dumps(summary))
        return
    out.print(f"saved {path} in {summary['wall_s']} s; rows {summary['rows']}")


@anomalies_app.command("evaluate")
def evaluate(
    train_dir: Path = typer.Option(..., "--train", help="Training period (1m OHLCV folder)."),
    test_dir: Path = typer.Option(..., "--test", help="Later test period (1m OHLCV folder)."),
    epochs: int = EpochsOption,
    seed: int = SeedOption,
    as_json: bool = JsonOption,
) -> None:
    """AE and VAE beside vol z-score, Mahalanobis and IsolationForest, on test events."""
    from bot.research.anomaly_io import filled_close
    from risk.anomaly_compare import Period, compare
    from risk.anomaly_models import TrainSettings

    _one_thread()
    periods = [_grid(train_dir), _grid(test_dir)]
    started = time.perf_counter()
    with _progress() as bars:
        task = bars.add_task("evaluating")
        result = compare(*(Period(g.features, filled_close(g.grid), g.grid.quote_volume)
                           for g in periods),
                         settings=TrainSettings(epochs=epochs, seed=seed),
                         progress=lambda text: bars.update(task, description=text))
    result["wall_s"] = round(time.perf_counter() - started, 1)
    if not as_json:
        _print_comparison(result)
    print(json.dumps(result))


@anomalies_app.command("backtest")
def backtest(
    test_dir: Path = typer.Option(..., "--test", help="Period to backtest (1m OHLCV folder)."),
    train_dir: Path | None = typer.Option(None, "--train", help="Earlier period to fit on."),
    model: Path | None = typer.Option(None, "--model", help="A trained model (skips --train)."),
    out_dir: Path = typer.Option(Path("var/anomaly-backtest"), "--out",
                                 help="Folder for the model and the ledgers."),
    balance: str | None = typer.Option(None, "--balance", help="Starting balance (quote)."),
    variants: str = typer.Option("", "--variants", help="Indexes of variants, e.g. 0,1."),
    minutes: int | None = typer.Option(None, "--minutes", min=1,
                                       help="Trade only this many minutes after warm-up."),
    epochs: int = EpochsOption,
    seed: int = SeedOption,
    config_path: Path = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """Baseline P&L with detection off / in the gate / in gate and ranking, and baselines."""
    from bot.research.anomaly_backtest import run_cli

    code = run_cli(test_dir, out_dir, train_dir=train_dir, model=model,
                   config_path=config_path, balance=balance, epochs=epochs, seed=seed,
                   variants=variants, minutes=minutes, as_json=as_json)
    if code:
        raise typer.Exit(code)


def _print_comparison(result: dict[str, Any]) -> None:
    for scope, part in result["scopes"].items():
        for rule in result["rules"]:
            table = Table(title=f"{scope} anomalies, threshold {rule}: {part['events']} events")
            for column in ("scorer", "alarm rate", "recall move", "recall volume", "precision",
                           "episodes", "median lead (min)", "early share"):
                table.add_column(column, justify="left" if column == "scorer" else "right")
            for name, rules in part["scorers"].items():
                row = rules[rule]
                table.add_row(name, *(str(row[k]) for k in (
                    "alarm_rate", "recall_move", "recall_volume", "precision", "episodes",
                    "median_lead_min", "early_share")))
            out.print(table)
