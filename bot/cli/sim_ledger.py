"""`entasis sim report --ledger PATH [--json]`: the fill model against real outcomes.

Paper and live trading record every order's expected execution (the fill model's price,
slippage and fill probability at submission) beside the realized one in the ledger's
`executions` table (trading/execution_monitor.py). This prints, per symbol and side and
overall, realized vs modeled slippage and fill rate, and which of them drift (the drift rule
and its `[execution]` limits: trading/execution_drift.py). The ledger is opened read-only,
so it is safe while the daemon runs, and an older file is reported on, never migrated.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

from bot.cli.common import fail, load, out, rows_table
from state.executions import ExecutionTable
from trading.execution_drift import FILL_RATE, SLIPPAGE, DriftLimits
from trading.execution_monitor import execution_report


def drift_limits(config_path: Path) -> DriftLimits:
    """The `[execution]` drift limits of `config_path`, or the defaults without that file."""
    if not config_path.is_file():
        return DriftLimits()
    section = load(config_path).execution
    return DriftLimits(window_orders=section.window_orders, min_orders=section.min_orders,
                       z=section.z, slippage_floor_bps=section.slippage_floor_bps,
                       fill_rate_floor=section.fill_rate_floor)


def ledger_report(ledger: Path, limits: DriftLimits) -> dict[str, Any]:
    """The report of `ledger`'s executions as plain data; raises `typer.Exit` (via `fail`)
    for a missing file or one without the table."""
    if not ledger.is_file():
        raise fail(f"no ledger at {ledger}", 1, "give the daemon's ledger file (data_dir/"
                   "ledger.sqlite) with --ledger")
    conn = sqlite3.connect(f"{ledger.resolve().as_uri()}?mode=ro", uri=True)
    try:
        known = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                             " AND name = 'executions'").fetchone()
        if known is None:
            raise fail(f"{ledger} has no executions table", 1,
                       "it was written by an Entasis before execution recording; the daemon "
                       "adds the table when it next opens the ledger, and fills it from then on")
        table = ExecutionTable(conn)
        total, still_open = table.count()
        report = execution_report(table.completed(), limits)
    except sqlite3.DatabaseError as exc:
        raise fail(f"cannot read {ledger}: {exc}", 1,
                   "check it with `entasis ledger check`") from None
    finally:
        conn.close()
    return {"ok": True, "ledger": str(ledger), "orders": total, "open": still_open, **report}


def print_ledger_report(ledger: Path, config_path: Path, as_json: bool) -> None:
    """`sim report --ledger`: the report as one JSON object, or as a table."""
    report = ledger_report(ledger, drift_limits(config_path))
    if as_json:
        print(json.dumps(report))
        return
    least = report["limits"]["min_orders"]
    rows = [_row(f"{r['symbol']} {r['side']}", r, _drift_words(r["drift"], least))
            for r in report["by_symbol_side"]]
    if rows:
        rows.append(_row("all", report["total"], f"{len(report['drifting'])} drifting"))
    out.print(f"{report['ledger']}: {report['orders']} orders recorded, {report['open']} "
              f"still open; outcomes {report['outcomes'] or 'none yet'}", highlight=False)
    out.print(rows_table(
        "Execution: realized vs modeled (slippage in bps of the decision mid, over orders "
        "with a fill; fill rate = filled share within the horizon)",
        ("symbol side", "orders", "filled", "slippage model", "slippage real",
         "fill rate model", "fill rate real", "drift"), rows,
        empty="no completed order yet"))


def _row(label: str, summary: dict[str, Any], drift: str) -> list[Any]:
    return [label, str(summary["orders"]), str(summary["filled_orders"]),
            _number(summary["modeled_slippage_bps"], "{:+.2f}"),
            _number(summary["realized_slippage_bps"], "{:+.2f}"),
            _number(summary["modeled_fill_rate"], "{:.0%}"),
            _number(summary["realized_fill_rate"], "{:.0%}"), drift]


def _drift_words(drift: dict[str, dict[str, Any]], min_orders: int) -> str:
    """DRIFT and the mean gaps in drift; else ok, or why there is no verdict yet."""
    words = [f"{name} {_number(drift[metric]['mean_gap'], fmt)}"
             for metric, name, fmt in ((SLIPPAGE, "slippage", "{:+.1f} bps"),
                                       (FILL_RATE, "fill rate", "{:+.0%}"))
             if drift.get(metric, {}).get("drifting")]
    if words:
        return "DRIFT: " + ", ".join(words)
    orders = drift.get(FILL_RATE, {}).get("orders", 0)
    return "ok" if orders >= min_orders else f"no verdict ({orders} of {min_orders} orders)"


def _number(value: float | None, pattern: str) -> str:
    return "-" if value is None or not math.isfinite(value) else pattern.format(value)
