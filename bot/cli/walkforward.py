"""`entasis walkforward`: rolling train/test folds of batch policies, with overfitting statistics.

Kept apart from bot/cli/main.py so the daemon's commands never import Ray or the fast
backtester. Tables go to stdout (stderr with `--json`, whose stdout is one JSON object on one
line); progress per fold and policy goes to stderr.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from bot.cli.common import (
    PIPED_WIDTH,
    ConfigOption,
    JsonOption,
    app,
    err,
    fail,
    load,
    out,
    parse_time,
)
from bot.data_dir import DataDir


def parse_policies(text: str) -> list[Any]:
    """`sma,topk:k=5:momentum_bars=24` -> PolicySpecs (label = the text of each item);
    parameter values are read as int, then float, else kept as text."""
    from bot.research.walkforward import PolicySpec
    from bot.research.walkforward_auto import parse_number

    specs = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, *assignments = item.split(":")
        params: list[tuple[str, Any]] = []
        for assignment in assignments:
            key, sep, value = assignment.partition("=")
            if not sep or not key:
                raise fail(f"--policies {item!r}: write parameters as NAME:KEY=VALUE[:KEY=VALUE]"
                           " (e.g. sma:fast=10:slow=40)", 2)
            params.append((key, parse_number(value)))
        specs.append(PolicySpec(item, name, tuple(params)))
    if not specs:
        raise fail("--policies: name at least one policy (e.g. sma,baseline,topk)", 2)
    return specs


@app.command()
def walkforward(
    data: Path = typer.Option(..., "--data", help="Folder of <BASE>_<QUOTE>-<tf>.csv[.gz] files."),
    timeframe: str | None = typer.Option(None, "--timeframe",
                                         help="Bar size (default: the folder's only one)."),
    policies: str = typer.Option(..., "--policies",
                                 help="Comma-separated batch policies, e.g. sma,baseline,topk "
                                      "(parameters: sma:fast=10:slow=40); auto chooses among "
                                      "them inside every fold (auto:candidates=sma+baseline)."),
    train_days: float = typer.Option(..., "--train-days", help="Training window, days."),
    test_days: float = typer.Option(..., "--test-days",
                                    help="Test window, days (the folds roll by it)."),
    embargo_days: float = typer.Option(0.0, "--embargo-days",
                                       help="Gap between training and test, days."),
    seeds: int = typer.Option(1, "--seeds", help="Seeds per fold and policy (0..K-1)."),
    balance: float | None = typer.Option(None, "--balance",
                                         help="Starting balance of every test window."),
    start: str | None = typer.Option(None, "--from", help="Start (UTC ISO time or epoch ms)."),
    end: str | None = typer.Option(None, "--to", help="End (UTC ISO time or epoch ms)."),
    use_ray: bool = typer.Option(False, "--ray", help="Fan out on a local Ray (all CPUs)."),
    ray_address: str | None = typer.Option(None, "--ray-address",
                                           help="Fan out on this Ray cluster (HOST:PORT)."),
    record: bool = typer.Option(False, "--record",
                                help="Record each policy's verdict for its market (exchange, "
                                     "quote, timeframe): what the daemon's policy = \"auto\" "
                                     "trades on."),
    exchange: str | None = typer.Option(None, "--exchange",
                                        help="With --record: the exchange the bars came from "
                                             "(default: the folder name's first word)."),
    config_path: Path = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """Walk-forward: fit on each training window, test once after fees; tables, deflated
    Sharpe and PBO beside flat, BTC and equal-weight buy-and-hold."""
    from bot.research import verdicts
    from bot.research import walkforward as runner
    from bot.research.ray_session import RayChoice, RayUnavailable
    from model.errors import ConfigError, DataError

    config = load(config_path)
    if seeds < 1:
        raise fail(f"--seeds must be ≥ 1, got {seeds}", 2)
    if use_ray and ray_address:
        raise fail("--ray starts a local Ray, --ray-address joins a cluster: give one", 2)
    specs = parse_policies(policies)
    start_ms, end_ms = parse_time(start), parse_time(end)
    recorded: dict[str, Any] | None = None
    try:
        source = verdicts.data_exchange(data, exchange) if record else ""
        runner.check_policies(specs)
        grid = runner.study_grid(data, timeframe, start_ms, end_ms)
        folds = runner.grid_folds(grid, train_days, test_days, embargo_days)
        tf = timeframe or _timeframe_name(grid.bar_ms)
        ray = RayChoice(address=ray_address) if (use_ray or ray_address) else None
        with _progress(len(folds), len(specs) + 3, seeds) as progress:
            result = runner.run_walkforward(
                grid, folds, specs, trials_path=DataDir(config.data_dir).walkforward_trials,
                scope=runner.trial_scope(data, tf),
                fold_settings={"train_days": train_days, "test_days": test_days,
                               "embargo_days": embargo_days, "from": start_ms, "to": end_ms},
                seeds=range(seeds), balance=balance or config.trading.starting_balance,
                settings=runner.fast_settings(config, grid.bar_ms), ray=ray,
                progress=progress)
        if record:
            quote = runner.btc_pair(grid.symbols)[len(runner.BTC_BASE):]
            market = verdicts.market_id(source, quote, _timeframe_name(grid.bar_ms))
            path = DataDir(config.data_dir).walkforward_trials
            count = verdicts.record_verdicts(
                path, verdicts.result_verdicts(result, market, data, tf))
            recorded = {"market": market, "verdicts": count, "path": str(path)}
    except RayUnavailable as exc:
        raise fail(str(exc), 2) from None
    except (ConfigError, DataError) as exc:
        raise fail(str(exc), 2) from None
    console = _wide_stderr() if as_json else out
    for table in tables(result):
        console.print(table)
    if recorded is not None:
        console.print(f"recorded {recorded['verdicts']} verdicts for market "
                      f"{recorded['market']} in {recorded['path']}")
    if as_json:
        print(json.dumps({**runner.result_json(result), "recorded": recorded},
                         allow_nan=False), flush=True)


def _wide_stderr() -> Console:
    """stderr for the tables under `--json`; as wide as `out` when piped (never cut a number)."""
    console = Console(stderr=True)
    return console if console.is_terminal else Console(stderr=True, width=PIPED_WIDTH)


def _timeframe_name(bar_ms: int) -> str:
    from model.timeframes import duration_text

    return duration_text(bar_ms)


class _progress:
    """A rich progress bar per fold on stderr, advanced as each (policy, seed) finishes."""

    def __init__(self, n_folds: int, n_policies: int, n_seeds: int) -> None:
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            console=err, transient=False)
        self.per_fold = n_policies * n_seeds
        self.n_folds = n_folds
        self.tasks: dict[int, TaskID] = {}

    def __enter__(self) -> _progress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(None, None, None)

    def __call__(self, outcome: Any, done: int, total: int) -> None:
        fold = outcome.fold
        if fold not in self.tasks:
            self.tasks[fold] = self.bar.add_task(f"fold {fold + 1}/{self.n_folds}",
                                                 total=self.per_fold)
        self.bar.update(self.tasks[fold], advance=1,
                        description=f"fold {fold + 1}/{self.n_folds} {outcome.policy} "
                                    f"seed {outcome.seed}")


def _pct(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:+.2%}"


def _num(value: float, digits: int = 2) -> str:
    return "–" if not math.isfinite(value) else f"{value:.{digits}f}"


def _ci(low: float, high: float, pct: bool) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "–"
    return f"[{_pct(low)}, {_pct(high)}]" if pct else f"[{_num(low)}, {_num(high)}]"


def _bounds(interval: Any) -> tuple[float, float]:
    return interval.low, interval.high


def tables(result: Any) -> list[Table | str]:
    """Per-fold figures of every policy, the aggregate with 95 % intervals, and the PBO."""
    report = result.report
    order = [p.label for p in result.policies if p.label in report.policies]
    per_fold = Table(title="Walk-forward per fold (test windows, after fees)")
    for column in ("fold", "test window", "policy", "return", "Sharpe", "Sortino", "max DD",
                   "turnover", "fees", "exposure"):
        per_fold.add_column(column, justify="left" if column in ("test window", "policy")
                            else "right", no_wrap=True)
    for fold in result.folds:
        window = fold.as_dict()
        for label in order:
            f = report.policies[label].folds[fold.index]
            per_fold.add_row(str(fold.index + 1), f"{window['test_start']} → {window['test_end']}",
                             label, _pct(f.total_return), _num(f.sharpe), _num(f.sortino),
                             _pct(-f.max_drawdown), _num(f.turnover), _num(f.fees),
                             f"{f.exposure:.0%}")
        per_fold.add_section()
    overall = Table(title=f"Walk-forward over {len(result.folds)} folds (concatenated test "
                          f"windows; 95 % stationary-bootstrap intervals; {report.n_trials} "
                          "configurations tried)")
    for column in ("policy", "return", "95 % CI", "Sharpe", "95 % CI", "deflated Sharpe",
                   "Sortino", "max DD", "turnover", "fees", "exposure"):
        overall.add_column(column, justify="left" if column == "policy" else "right",
                           no_wrap=True)
    for label in order:
        summary = report.policies[label]
        o, ci = summary.overall, summary.intervals
        overall.add_row(label, _pct(o.total_return), _ci(*_bounds(ci["total_return"]), pct=True),
                        _num(o.sharpe), _ci(*_bounds(ci["sharpe"]), pct=False),
                        _num(summary.deflated_sharpe, 3), _num(o.sortino), _pct(-o.max_drawdown),
                        _num(o.turnover), _num(o.fees), f"{o.exposure:.0%}")
    pbo = report.pbo
    line = (f"PBO (CSCV, {pbo.n_splits} blocks, {pbo.n_configurations} configurations): "
            f"{pbo.pbo:.1%}; probability of loss of the in-sample best {pbo.probability_of_loss:.1%}"
            if pbo is not None else f"PBO not computed: {report.pbo_problem}")
    return [per_fold, *selection_tables(result), overall, line]


def selection_tables(result: Any) -> list[Table]:
    """Per `auto` policy: what it picked on each fold and seed, and every candidate's return
    and Sharpe on that fold's selection window (the end of its training window)."""
    from bot.research.walkforward_auto import selections_json

    shown = []
    bar_ms = result.folds[0].bar_ms if result.folds else 0
    for label, rows in selections_json(result.outcomes, bar_ms).items():
        table = Table(title=f"{label}: the pick per fold (candidates on the selection window "
                            "of the training data, after fees; flat when none beat flat)")
        for column in ("fold", "seed", "picked", "candidates: return / Sharpe", "not fitted"):
            table.add_column(column, justify="right" if column in ("fold", "seed") else "left")
        for row in rows:
            figures = ", ".join(f"{name} {_pct(f['total_return'])} / {_num(f['sharpe'])}"
                                for name, f in row["candidates"].items())
            table.add_row(str(row["fold"] + 1), str(row["seed"]), row["picked"], figures,
                          ", ".join(row["unfit"]) or "–")
        shown.append(table)
    return shown
