"""`entasis sim calibrate` and `entasis sim generate`: the calibrated market model's file.

- `entasis sim calibrate --data DIR[@START..END] --out PARAMS.json [--refine N]`: fit
  `MarketParams` to a folder of 1m bar files, or a time window of it (exchange/sim/calibrate.py),
  then, on 1h bars, refine the fit by simulated method of moments with N simulations
  (exchange/sim/calibrate_refine.py; default 600 on 1h bars, 0 on 1m; a progress bar on
  stderr), and write them (atomically).
- `entasis sim generate --params PARAMS.json --coins N --minutes M --seed S --out DIR`: write
  the market those parameters generate as 1m bar files in the shared format, readable by
  `entasis backtest --data DIR` and `entasis sim report`.

Registered on the `sim` group of bot/cli/sim.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from bot.cli.common import JsonOption, err, fail, out, parse_time
from bot.cli.sim import sim_app
from exchange.sim.shipped_params import DEFAULT_PARAMS

if TYPE_CHECKING:
    from exchange.sim.calibrate_refine import Refinement
    from exchange.sim.market_params import MarketParams
    from exchange.sim.stylized_facts import Panel

#: `sim generate`'s default first minute: a whole UTC day (2023-11-15 00:00).
DEFAULT_START_MS = 1_700_006_400_000


@sim_app.command("calibrate")
def calibrate(
    data: str = typer.Option(..., "--data", help="Folder of <BASE>_<QUOTE>-1m.csv[.gz] files "
                             "(or, without any, -1h files: a fit on 1h bars); DIR@START..END "
                             "fits on that UTC window only (e.g. DIR@2018-01-01..2020-01-01)."),
    out_path: Path = typer.Option(..., "--out", help="The MarketParams JSON file to write."),
    seed: int = typer.Option(0, help="Seed of the simulations the fit corrects with."),
    refine: int | None = typer.Option(None, "--refine", min=0, help="Simulations the "
                                      "simulated-method-of-moments refinement may run "
                                      "(default: 600 on 1h bars, 0 on 1m bars; 0 = none)."),
    as_json: bool = JsonOption,
) -> None:
    """Fit the market model to real 1m bars (else 1h bars) and write its parameters."""
    from exchange.sim.bar_files import BarFileError
    from exchange.sim.calibrate import REFINE_EVALUATIONS_1H, CalibrationError, fit
    from exchange.sim.fact_panels import panel_from_spec
    from model.timeframes import HOUR_MS, TimeframeError

    try:
        panel, note = panel_from_spec(data)
        evaluations = refine if refine is not None else (
            REFINE_EVALUATIONS_1H if panel.bar_ms == HOUR_MS else 0)
        source = f"entasis sim calibrate --data {data} --seed {seed}" + (
            f" --refine {evaluations}" if evaluations else "")
        params = fit(panel, seed=seed, source=source)
    except (BarFileError, CalibrationError, TimeframeError) as exc:
        raise fail(str(exc), 2) from None
    refined = _refined(params, panel, seed, evaluations) if evaluations else None
    if refined is not None:
        params = refined.params
    params.save(out_path)
    summary = {"ok": True, "out": str(out_path), "coins": params.coins,
               "minutes": panel.minutes, "symbols": list(params.symbols), "note": note,
               "refine": None if refined is None else {
                   "evaluations": refined.evaluations, "score_before": refined.score_before,
                   "score": refined.score, "within_before": refined.within_before,
                   "within": refined.within}}
    if as_json:
        print(json.dumps(summary))
        return
    if note:
        out.print(f"[yellow]{note}[/yellow]")
    if refined is not None:
        out.print(f"refined by simulated method of moments ({refined.evaluations} simulations): "
                  f"score {refined.score_before:.2f} -> {refined.score:.2f}, report rows "
                  f"within against the fitted data {refined.within_before} -> "
                  f"{refined.within}", highlight=False)
    table = Table(title=f"market model fitted on {data} ({panel.minutes} minutes) -> {out_path}")
    for column in ("symbol", "vol bps/min", "half-spread bps", "quote refresh", "no-trade",
                   "beta"):
        table.add_column(column, justify="right")
    for i, symbol in enumerate(params.symbols):
        table.add_row(symbol, f"{params.vol_per_min[i] * 1e4:.1f}",
                      f"{params.half_spread_bps[i]:.1f}", f"{params.quote_refresh_prob[i]:.2f}",
                      f"{params.no_trade_prob[i]:.3f}", f"{params.beta[i]:.2f}")
    out.print(table)


def _refined(params: MarketParams, panel: Panel, seed: int, evaluations: int
             ) -> Refinement:
    """The refinement of `params` on `panel`, with a progress bar on stderr."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from exchange.sim.calibrate_refine import refine

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task("refining (simulations)", total=evaluations)
        return refine(params, panel, seed=seed, evaluations=evaluations,
                      progress=lambda done, total: bar.update(task, completed=done))


@sim_app.command("generate")
def generate(
    params_name: str = typer.Option(DEFAULT_PARAMS, "--params",
                                    help="A shipped parameter set (bittrex_2017-12, "
                                         "bittrex_2017-11) or a MarketParams JSON file."),
    coins: int = typer.Option(20, "--coins", min=1, max=2000, help="Symbols to generate."),
    minutes: int = typer.Option(14_400, "--minutes", min=1, max=3_000_000,
                                help="1m bars per symbol."),
    seed: int = typer.Option(7, "--seed", min=0, help="Same seed, same market."),
    out_dir: Path = typer.Option(..., "--out", help="Folder for the bar files."),
    start: str | None = typer.Option(None, "--start",
                                     help="First minute (ISO UTC or epoch ms); default "
                                          "2023-11-15T00:00."),
    as_json: bool = JsonOption,
) -> None:
    """Write the calibrated model's market as 1m bar files (one per symbol)."""
    from exchange.sim.market_csv import write_generated_market
    from exchange.sim.market_params import MarketParamsError
    from exchange.sim.shipped_params import load_params

    start_ms = parse_time(start) if start is not None else DEFAULT_START_MS
    assert start_ms is not None
    if start_ms % 60_000:
        raise fail(f"--start {start}: not a whole minute", 2)
    if not params_name:
        raise fail("--params \"\": `sim generate` writes the calibrated model's market; name a "
                   "shipped parameter set or a file", 2)
    try:
        params = load_params(params_name, "--params")
    except MarketParamsError as exc:
        raise fail(str(exc), 2) from None
    assert params is not None
    if params.bar_minutes != 1:
        raise fail(f"--params {params_name}: fitted on {params.bar_minutes:g}-minute bars; "
                   "`sim generate` writes 1m bars: name a fit on 1m bars", 2)
    written = write_generated_market(out_dir, params, coins=coins, minutes=minutes, seed=seed,
                                     start_ms=start_ms)
    summary = {"ok": True, "out": str(out_dir), "files": [p.name for p in written],
               "minutes": minutes, "seed": seed, "start_ms": start_ms}
    if as_json:
        print(json.dumps(summary))
        return
    out.print(f"{len(written)} files of {minutes} minutes (seed {seed}) in {out_dir}")
