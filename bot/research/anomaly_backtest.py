"""P&L with and without anomaly detection: train on one period, replay a later one.

Does the detector earn its keep? Event-level recall (risk/anomaly_compare.py) says what it
sees; only a backtest says what it is worth. This module trains the detector on `--train`
(as `entasis anomalies train` does), then replays `--test` through the trading-core
backtester (bot/research/backtest.py: same engine, risk gate, paper broker and fill model as the
daemon) with the same policy, fees and seed, once per variant:

- the baseline policy with detection off;
- with detection on, effects in the risk gate only (a coin in alarm gets no new entry, a
  market-wide alarm moves trading to REDUCING);
- with detection on and its scores in the ranking as well (ADR-035);
- buy-and-hold (risk-gated) and the SMA(20/50) cross beside them; flat is 0 by definition.

"Entries blocked" are BUY decisions the risk gate denied with ANOMALY; TRADING_STATE
denials (REDUCING/HALTED: the drawdown breaker and market alarms) are counted apart.

    python -m bot.research.anomaly_backtest --train DIR --test DIR [--model PATH] [--json]
    entasis anomalies backtest --train DIR --test DIR [--json]

Progress goes to stderr; with `--json` the last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from bot.config import Config, load_config

Detection = Literal["off", "gate", "gate+ranking"]
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class Variant:
    """One backtest: a policy and how anomaly detection takes part."""

    name: str
    policy: str
    detection: Detection = "off"


VARIANTS: tuple[Variant, ...] = (
    Variant("baseline, detection off", "baseline"),
    Variant("baseline + detection (gate)", "baseline", "gate"),
    Variant("baseline + detection (gate + ranking)", "baseline", "gate+ranking"),
    Variant("buy-and-hold, risk-gated", "buyhold"),
    Variant("SMA(20/50) cross", "sma"),
)


def train_model(train_dir: Path, out_path: Path, *, epochs: int = 8, seed: int = 0,
                progress: Callable[[str], None] | None = None) -> Path:
    """Fit the detector on `train_dir` with `entasis anomalies train`'s defaults; save it."""
    from bot.research.anomaly_io import load_grid
    from risk.anomaly import train_bundle
    from risk.anomaly_models import TrainSettings

    grid = load_grid(train_dir)
    bundle = train_bundle(grid.features, open_ms=grid.open_ms, symbols=grid.grid.symbols,
                          settings=TrainSettings(epochs=epochs, seed=seed), progress=progress)
    return bundle.save(out_path)


def variant_config(config: Config, variant: Variant, model: Path | None) -> Config:
    """`config` with `[anomaly]` set for the variant; everything else untouched."""
    if variant.detection == "off":
        anomaly = config.anomaly.model_copy(update={"enabled": False})
    else:
        if model is None:
            raise ValueError(f"variant {variant.name!r} needs a model; pass --model or --train")
        anomaly = config.anomaly.model_copy(update={
            "enabled": True, "model_path": model.resolve(),
            "in_ranking": variant.detection == "gate+ranking"})
    return config.model_copy(update={"anomaly": anomaly})


def decision_counts(db_path: Path) -> dict[str, int]:
    """BUY decisions and their verdicts, from a backtest's ledger."""
    with sqlite3.connect(db_path) as conn:
        rows = dict(conn.execute(
            "SELECT verdict, COUNT(*) FROM decisions WHERE action = 'BUY' GROUP BY verdict"))
        blocked = dict(conn.execute(
            "SELECT symbol, COUNT(*) FROM decisions WHERE verdict = 'DENIED:ANOMALY' "
            "GROUP BY symbol ORDER BY symbol"))
        scored = conn.execute("SELECT COUNT(*), SUM(anomaly_score > 1.0) FROM decisions "
                              "WHERE anomaly_score IS NOT NULL").fetchone()
    return {"buy_decisions": sum(rows.values()),
            "entries_approved": rows.get("APPROVED", 0),
            "entries_blocked_anomaly": rows.get("DENIED:ANOMALY", 0),
            "blocked_by_symbol": blocked,
            "entries_denied_trading_state": rows.get("DENIED:TRADING_STATE", 0),
            "decisions_scored": int(scored[0] or 0),
            "decisions_above_threshold": int(scored[1] or 0)}


def hours_to_drawdown(db_path: Path, drawdown_pct: float) -> float | None:
    """Hours from the first equity snapshot until the drawdown first reached `drawdown_pct`
    (where the breaker moves trading to REDUCING), or None if it never did."""
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT ts, equity FROM equity ORDER BY ts").fetchall()
    peak = -math.inf
    for ts, equity in rows:
        peak = max(peak, float(equity))
        if float(equity) <= peak * (1 - drawdown_pct / 100):
            return round((ts - rows[0][0]) / 3_600_000, 1)
    return None


def run_variant(config: Config, test_dir: Path, db_path: Path, variant: Variant,
                model: Path | None, *, balance: Decimal | None = None,
                to_ms: int | None = None,
                progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Backtest one variant on `test_dir`; its figures as plain data."""
    from bot.research.backtest import run_backtest

    result = run_backtest(variant_config(config, variant, model), test_dir, db_path,
                          policy=variant.policy, balance=balance, to_ms=to_ms,
                          progress=progress)
    return {"variant": variant.name, "policy": variant.policy, "detection": variant.detection,
            **result.as_dict(), **decision_counts(db_path),
            "hours_to_drawdown_breaker": hours_to_drawdown(db_path,
                                                           config.risk.drawdown_reduce_pct),
            "ledger": str(db_path)}


def compare(config: Config, test_dir: Path, work_dir: Path, *, train_dir: Path | None = None,
            model: Path | None = None, variants: Sequence[Variant] = VARIANTS,
            balance: Decimal | None = None, epochs: int = 8, seed: int = 0,
            minutes: int | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Train (unless `model` is given), then backtest every variant on `test_dir` (the
    first `minutes` after its warm-up day, or all of it)."""
    started = time.perf_counter()
    work_dir.mkdir(parents=True, exist_ok=True)
    to_ms = None
    if minutes is not None:
        from exchange.sim.replay import ReplaySource
        from model.market import MINUTE_MS

        to_ms = ReplaySource.from_dir(test_dir).now_ms + minutes * MINUTE_MS
    if model is None and any(v.detection != "off" for v in variants):
        if train_dir is None:
            raise ValueError("pass --train DIR to fit a model, or --model PATH")
        model = train_model(train_dir, work_dir / "anomaly.pt", epochs=epochs, seed=seed,
                            progress=(lambda text: progress(f"training: {text}", 0, 0))
                            if progress else None)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs = []
    for i, variant in enumerate(variants):
        db = work_dir / f"{stamp}-{i}-{variant.policy}-{variant.detection.replace('+', '-')}.sqlite"

        def report(done: int, total: int, name: str = variant.name) -> None:
            if progress:
                progress(name, done, total)

        runs.append(run_variant(config, test_dir, db, variant, model, balance=balance,
                                to_ms=to_ms, progress=report))
    flat = {"variant": "flat (no trades)", "policy": "flat", "detection": "off",
            "total_return": 0.0, "sharpe": None, "max_drawdown": 0.0, "trades": 0, "fees": 0.0}
    return {"train": str(train_dir) if train_dir else None, "test": str(test_dir),
            "model": str(model) if model else None,
            "anomaly": {k: v for k, v in config.anomaly.model_dump(mode="json").items()
                        if k not in ("enabled", "model_path", "in_ranking")},
            "fees_bps": {"maker": config.fills.maker_fee_bps, "taker": config.fills.taker_fee_bps},
            "runs": runs + [flat], "wall_s": round(time.perf_counter() - started, 1)}


def table_lines(result: dict[str, Any]) -> list[str]:
    """The comparison as a Markdown table (what docs/results.md shows)."""
    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value * 100:+.2f}%"

    header = ("| variant | total return | Sharpe | max drawdown | round trips | fees | "
              "entries approved | blocked (ANOMALY) | denied (TRADING_STATE) | "
              "hours to breaker |")
    lines = [header, "|---|---|---|---|---|---|---|---|---|---|"]
    for run in result["runs"]:
        sharpe = "–" if run.get("sharpe") is None else f"{run['sharpe']:.1f}"
        lines.append(
            f"| {run['variant']} | {pct(run['total_return'])} | {sharpe} | "
            f"{run['max_drawdown'] * 100:.2f}% | {run['trades']} | {run['fees']:.4f} | "
            f"{run.get('entries_approved', 0)} | {run.get('entries_blocked_anomaly', 0)} | "
            f"{run.get('entries_denied_trading_state', 0)} | "
            f"{run.get('hours_to_drawdown_breaker') or '–'} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m bot.research.anomaly_backtest",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, help="period to fit the detector on")
    parser.add_argument("--test", type=Path, required=True, help="later period to backtest")
    parser.add_argument("--model", type=Path, help="a trained model (skips --train)")
    parser.add_argument("--out", type=Path, default=Path("var/anomaly-backtest"),
                        help="folder for the model and the ledgers")
    parser.add_argument("--config", type=Path, default=Path("config.toml"),
                        help="config file (TOML); defaults apply when it does not exist")
    parser.add_argument("--balance", type=str, default=None, help="starting balance (quote)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=int, default=None,
                        help="trade only this many minutes after the warm-up day")
    parser.add_argument("--variants", type=str, default="",
                        help="comma-separated indexes into the variant list (default: all)")
    parser.add_argument("--json", action="store_true", help="last stdout line = JSON")
    args = parser.parse_args(argv)
    return run_cli(args.test, args.out, train_dir=args.train, model=args.model,
                   config_path=args.config, balance=args.balance, epochs=args.epochs,
                   seed=args.seed, variants=args.variants, minutes=args.minutes,
                   as_json=args.json)


def run_cli(test_dir: Path, out_dir: Path, *, train_dir: Path | None, model: Path | None,
            config_path: Path | None, balance: str | None, epochs: int, seed: int,
            variants: str, as_json: bool, minutes: int | None = None) -> int:
    """Shared by `python -m bot.research.anomaly_backtest` and `entasis anomalies backtest`."""
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from bot.app.assembly import BacktestError
    from bot.config import ConfigError
    from exchange.sim.replay import ReplayError

    torch.set_num_threads(1)  # tiny networks: one thread is fastest and shares the box
    err = Console(stderr=True)
    chosen = [VARIANTS[int(i)] for i in variants.split(",") if i.strip()] or list(VARIANTS)
    try:
        config = load_config(config_path if config_path and config_path.exists() else None)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        return 2
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}"
                  "/{task.total} min"), TimeElapsedColumn(), console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(name: str, done: int, total: int) -> None:
            key = name if total else "training"
            if key not in tasks:
                tasks[key] = bar.add_task(name, total=total or None)
            bar.update(tasks[key], completed=done, total=total or None,
                       description=name)

        try:
            result = compare(config, test_dir, out_dir, train_dir=train_dir, model=model,
                             variants=chosen, balance=Decimal(balance) if balance else None,
                             epochs=epochs, seed=seed, minutes=minutes, progress=progress)
        except (ValueError, ReplayError, BacktestError) as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            return 2
    if not as_json:
        print("\n".join(table_lines(result)))
        print(f"model: {result['model']}; wall {result['wall_s']} s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
