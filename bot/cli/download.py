"""`entasis download`: fetch OHLCV candles through ccxt into CSV files, resumably.

Kept apart from bot/cli/main.py so the daemon's commands do not import ccxt's exchange classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from bot.cli.common import JsonOption, app, err, out


@app.command()
def download(
    symbols: list[str] = typer.Option(..., "--symbols", "-s",
                                      help="Symbols as BASE/QUOTE; repeat or comma-separate."),
    exchange: str = typer.Option("binance", "--exchange", "-e", help="ccxt exchange id."),
    timeframe: str = typer.Option("1m", "--timeframe", "-t", help="Candle length, e.g. 1m, 1h."),
    days: float = typer.Option(30.0, "--days", "-d", help="How far back, from now."),
    out_dir: Path = typer.Option(Path("data"), "--out", "-o", help="Folder for the CSV files."),
    rest_url: str | None = typer.Option(
        None, "--rest-url", help="Send REST calls here instead (e.g. http://127.0.0.1:PORT "
        "of `entasis sim-server`)."),
    as_json: bool = JsonOption,
) -> None:
    """Download candles into <BASE>_<QUOTE>-<tf>.csv; re-running continues each file."""
    from bot.research.download import DownloadError, run_download

    wanted = [s.strip().upper() for item in symbols for s in item.split(",") if s.strip()]
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=as_json) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(symbol: str, done: int, expected: int) -> None:
            if symbol not in tasks:
                tasks[symbol] = bar.add_task(symbol, total=max(expected, 1))
            bar.update(tasks[symbol], completed=done if expected else 1, total=max(expected, 1))

        try:
            summary = run_download(exchange, wanted, timeframe, days, out_dir,
                                   rest_url=rest_url, progress=progress)
        except DownloadError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
        except Exception as exc:  # noqa: BLE001  network trouble, exchange errors: say so
            err.print(f"[red]error:[/red] download failed: {type(exc).__name__}: {exc}; "
                      "re-run the same command to continue where it stopped", highlight=False)
            raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(summary), flush=True)
        return
    table = Table(title=f"{exchange} {timeframe} -> {out_dir}")
    for column in ("symbol", "rows before", "rows added", "first", "last", "file"):
        table.add_column(column)
    for row in summary["symbols"]:
        table.add_row(row["symbol"], str(row["rows_before"]), str(row["rows_added"]),
                      str(row["first_ms"]), str(row["last_ms"]), row["file"])
    out.print(table)
