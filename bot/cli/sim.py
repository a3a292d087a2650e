"""`entasis sim`: the simulated market measured against real bars.

- `entasis sim report --data DIR [--data DIR2] [--sim DIR | --seed S [--seeds K]] [--png PATH]
  [--json]`:
  the gap between simulated and real 1m bars, statistic by statistic, beside the distance
  between two real sets (or the two halves of one) as the yardstick for "close".
- `entasis sim report --ledger PATH [--json]`: the fill model against real outcomes, from a
  paper or live ledger: realized vs modeled slippage and fill rate, and their drift
  (bot/cli/sim_ledger.py).

Kept apart from bot/cli/main.py so the daemon's commands do not import scipy or matplotlib.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from bot.cli.common import ConfigOption, JsonOption, app, err, fail, out

if TYPE_CHECKING:
    from exchange.sim.fact_gap import GapRow

sim_app = typer.Typer(no_args_is_help=True, help=__doc__)
app.add_typer(sim_app, name="sim")

VERDICT_STYLE = {"within": "green", "outside": "red", "n/a": "dim"}


@sim_app.command("report")
def report_command(
    data: list[str] = typer.Option([], "--data", help="Folder of real <BASE>_<QUOTE>-1m.csv"
                                   "[.gz] files; give a second --data as the yardstick. "
                                   "DIR@START..END uses that UTC window of the folder only."),
    sim_dir: Path | None = typer.Option(None, "--sim", help="Folder of simulated 1m bars in "
                                        "the same format (default: the embedded generator)."),
    seed: int | None = typer.Option(None, "--seed", help="The generator's seed (default 7)."),
    seeds: int = typer.Option(1, "--seeds", help="Average the simulated statistics over this "
                              "many seeds from --seed on: the model's expected reading, not "
                              "one draw's."),
    params: Path | None = typer.Option(None, "--params", help="The generator draws from this "
                                       "calibrated MarketParams file (`entasis sim calibrate`)."),
    png: Path | None = typer.Option(None, "--png", help="Write a chart of ACF|r| by lag and "
                                    "the hour-of-day volume profiles here."),
    ledger: Path | None = typer.Option(None, "--ledger", help="Instead of --data: a paper or "
                                       "live ledger; realized vs modeled execution."),
    config_path: Path = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """The gap between simulated and real 1m bars, statistic by statistic, beside the
    real-vs-real distance (the two --data sets, else the two halves of one) as the
    yardstick; a row is within when its gap is at most max(1.5 x yardstick, floor).
    With --ledger instead: the fill model's expected execution against the realized one
    (slippage, fill rate, drift; the drift limits are the execution section of --config)."""
    if ledger is not None or not data:
        if ledger is None:
            raise fail("give --data DIR (simulated vs real bars) or --ledger PATH (fills vs "
                       "the fill model)", 2)
        if (data or sim_dir is not None or seed is not None or png is not None or params
                or seeds != 1):
            raise fail("--data, --sim, --seed, --seeds, --params and --png belong to the bars "
                       "report; "
                       "--ledger is the other report: give one or the other", 2)
        from bot.cli.sim_ledger import print_ledger_report

        print_ledger_report(ledger, config_path, as_json)
        return
    from bot.research.sim_report import DEFAULT_SEED, SimReportError, build_report, gap_chart
    from exchange.sim.bar_files import BarFileError
    from exchange.sim.market_params import MarketParamsError

    if sim_dir is not None and (seed is not None or params is not None):
        raise fail("give --sim DIR or the generator's --seed S / --params P, not both", 2)
    try:
        report = build_report(data, sim_dir, DEFAULT_SEED if seed is None else seed, params,
                              seeds)
    except (SimReportError, BarFileError, MarketParamsError) as exc:
        raise fail(str(exc), 2) from None
    if png is not None:
        from bot.research.charts import save

        save(gap_chart(report), png)
    if as_json:
        print(json.dumps(report.as_json() | ({"png": str(png)} if png else {})))
        return
    table = Table(title=f"{report.sim_label} vs {report.real_label} ({report.coins} coins x "
                        f"{report.minutes} minutes); yardstick: {report.yardstick_label}")
    for column in ("statistic", "sim", "real", "gap", "yardstick", "verdict"):
        table.add_column(column, no_wrap=True, justify="left" if column == "statistic"
                         else "right")
    for row in report.rows:
        table.add_row(*_cells(row))
    out.print(table)
    out.print(f"{report.within} of {len(report.rows)} statistics within max(1.5 x yardstick, "
              "floor); floors KS 0.05, ACF 0.05, Hill 10 %, volume-|r| 0.10")
    for note in report.notes:
        err.print(f"[yellow]{note}[/yellow]")
    if png is not None:
        err.print(f"chart: {png}")


def _cells(row: GapRow) -> list[str]:
    """A row's values in its unit, and the verdict with the limit it was held to."""
    style = VERDICT_STYLE[row.verdict]
    sign = {"within": "<=", "outside": ">"}.get(row.verdict, "")
    verdict = f"[{style}]{row.verdict} {sign} {_shown(row.limit, row.unit)}[/{style}]"
    return [row.statistic, _shown(row.sim, row.unit), _shown(row.real, row.unit),
            _shown(row.gap, row.unit), _shown(row.yardstick, row.unit),
            verdict if sign else f"[{style}]n/a[/{style}]"]


def _shown(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if math.isnan(value):  # too little data for this statistic
        return "n/a"
    if unit == "%":
        return f"{value * 100:.1f} %"
    if unit == "bps":
        return f"{value * 1e4:.1f} bps"
    return f"{value:.3f}"
