"""`entasis sim fills`: the fill model's resting-order fill rate against a real trade tape.

`entasis sim fills --trades FILE [--quotes FILE] [--bars DIR] [--horizon-min N ...]
[--bar-s S] [--amount A] [--at-bar-open] [--spread estimated|fixed] [--through volume|whole]
[--events bars|ticks] [--json]`: at each bar's open a buy at the bid and a sell at the ask
rest for each horizon; the tape says how much of them filled (model/tape_fills.py), the
fill model predicts it from the bars (model/tape_compare.py), its touch priced with the
spread a backtest would use (estimated from the bars before the judged half; `fixed`: one
tick).
`--at-bar-open` rests the tape's orders at the model's own touch instead, to tell where
orders stand apart from how they fill. `--through whole` replays the tape with the older
rule that a trade through an order's price fills it whole (default: by that trade's amount).
`--events ticks` has the fill model meet the orders on the tape's own ticks at the same
touch (model/tape_ticks.py): its queue rule judged alone, as in paper trading on a live feed.
The queue parameter `bar_book_share` and the passive cap `max_volume_share` are each fitted
on the first half of the placement times and shown on the second half too (out of sample).
Nothing changes the fill model's defaults: the fitted values are evidence for whoever decides
them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from bot import formatting as fmt
from bot.cli.common import JsonOption, fail, out
from bot.cli.sim import sim_app
from model.costs import SPREAD_SOURCES
from model.tape_fills import THROUGH_RULES

MINUTE_MS = 60_000


@sim_app.command("fills")
def fills_command(
    trades: Path = typer.Option(..., "--trades", help="Trade tape CSV: timestamp_ms,trade_id,"
                                "price,amount,side (the taker's side)."),
    quotes: Path | None = typer.Option(None, "--quotes", help="Best bid/ask CSV: timestamp_ms,"
                                       "bid,bid_size,ask,ask_size (else the touch is inferred "
                                       "from the tape)."),
    bars: Path | None = typer.Option(None, "--bars", help="Folder with the tape's pair in 1m "
                                     "bars (else bars are built from the tape)."),
    horizon_min: list[float] = typer.Option([1.0], "--horizon-min", help="How long an order "
                                            "rests, in minutes; repeat for several."),
    bar_s: int = typer.Option(60, "--bar-s", min=1, help="Bar length in seconds when bars are "
                              "built from the tape (a short tape: fewer seconds)."),
    amount: float | None = typer.Option(None, "--amount", help="Order size in the base coin "
                                        "(default: the tape's median trade)."),
    at_bar_open: bool = typer.Option(False, "--at-bar-open", help="Rest the tape's orders "
                                     "where the model rests its own (bid = bar open, ask = "
                                     "open + the spread): compares how they fill only."),
    spread: str = typer.Option("estimated", "--spread", help="The model's bar spread: "
                               "'estimated' from the bars before the judged half (as a "
                               "backtest prices it) or 'fixed' (one tick)."),
    through: str = typer.Option("volume", "--through", help="The tape's rule for a trade "
                                "through an order's price: 'volume' (it fills the order by "
                                "its amount) or 'whole' (the older rule: all of it)."),
    events: str = typer.Option("bars", "--events", help="What the fill model meets the orders "
                               "on: 'bars' (its touch guessed from each open, as a backtest "
                               "does) or 'ticks' (the tape's trades, the touch known: its "
                               "queue rule alone)."),
    as_json: bool = JsonOption,
) -> None:
    """Resting orders at the touch: the tape's fill rate beside the fill model's, and the
    queue parameter fitted on one half and checked on the other."""
    from bot.research.tape_io import read_bars, read_quotes, read_tape, setup
    from model.fills import FillParams
    from model.tape_compare import compare
    from model.tape_fills import TapeError

    if bars is not None and bar_s != 60:
        raise fail("--bars gives 1m bars: leave --bar-s at 60 with it", 2)
    if amount is not None and not amount > 0:
        raise fail(f"--amount must be > 0, got {amount}", 2)
    if spread not in SPREAD_SOURCES:
        raise fail(f"--spread must be one of {', '.join(SPREAD_SOURCES)}, got {spread!r}", 2)
    if through not in THROUGH_RULES:
        raise fail(f"--through must be one of {', '.join(THROUGH_RULES)}, got {through!r}", 2)
    horizons_ms = tuple(round(h * MINUTE_MS) for h in horizon_min)
    params = FillParams()
    try:
        tape = read_tape(trades)
        made = setup(tape, read_quotes(quotes) if quotes else None,
                     read_bars(bars, trades) if bars else None, bar_s * 1000, horizons_ms,
                     amount, at_bar_open, params, spread, events)
    except TapeError as exc:
        raise fail(str(exc), 2) from None
    result = compare(made.tape, made.bars, made.orders, horizons_ms, params, made.tick,
                     made.lot, spread=made.spread, through=through, ticks=made.ticks)
    report = {
        "ok": True, "trades": str(trades), "tape_trades": len(made.tape),
        "orders": len(made.orders), "amount": made.amount, "tick": made.tick, "lot": made.lot,
        "bars": "file" if bars else f"built from the tape, {bar_s} s",
        "touch_from": made.touch_from, "queue_from": made.queue_from,
        "spread_from": spread, "model_spread_bps": _bps(made.spread), "through": through,
        "events": events,
        "params": {"bar_book_share": params.bar_book_share,
                   "max_volume_share": params.max_volume_share,
                   "bar_spread_ticks": params.bar_spread_ticks},
        "fits": [{"horizon_min": f.horizon_ms / MINUTE_MS, "parameter": f.name,
                  "value": f.value, "train_tape_amount_share": f.train_tape_share,
                  "train_model_amount_share": f.train_model_share, "reached": f.reached}
                 for f in result.fits],
        "rows": [{"horizon_min": r.horizon_ms / MINUTE_MS, "set": r.subset, "side": r.side,
                  "tape": r.tape.as_dict(), "model": r.model.as_dict(), "gap": r.gap(),
                  "fitted": {name: {**rate.as_dict(), "gap": r.gap(rate)}
                             for name, rate in r.fitted.items()}} for r in result.rows],
    }
    if as_json:
        print(json.dumps(_finite(report)))
        return
    _print(report)


def _finite(value: Any) -> Any:
    """NaN and inf become null, so --json stays JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _print(report: dict[str, Any]) -> None:
    out.print(f"{report['trades']}: {report['tape_trades']} trades, {report['orders']} orders "
              f"of {fmt.text(report['amount'])} · bars {report['bars']} · touch from "
              f"{report['touch_from']} · queue ahead from {report['queue_from']} · model on "
              f"{'the tape' + chr(39) + 's ticks' if report['events'] == 'ticks' else 'bars'}, "
              f"bar_book_share {report['params']['bar_book_share']:g}, max_volume_share "
              f"{report['params']['max_volume_share']:g}, spread "
              f"{_spread_words(report) if report['events'] == 'bars' else 'the tape touch'}"
              f" · a trade through an order fills it by "
              f"{'its amount' if report['through'] == 'volume' else 'all of it'}",
              highlight=False)
    fitted = [fit["parameter"] for fit in report["fits"]][: len(report["rows"][0]["fitted"])]
    table = Table(title="Filled-amount share of resting orders at the touch (orders filled "
                        "completely in brackets); gap = model / tape - 1")
    for column in ("horizon", "set", "side", "orders", "tape", "model", "gap",
                   *(f"fitted {name}" for name in fitted)):
        table.add_column(column, no_wrap=True)
    for row in report["rows"]:
        table.add_row(_horizon(row["horizon_min"]), row["set"], row["side"],
                      str(row["tape"]["orders"]), _rate(row["tape"]), _rate(row["model"]),
                      fmt.pct(row["gap"], 1),
                      *(f"{_rate(row['fitted'][name])} {fmt.pct(row['fitted'][name]['gap'], 1)}"
                        for name in fitted))
    out.print(table)
    fits = Table(title="Fitted on the training half (both sides), one parameter at a time")
    for column in ("horizon", "parameter", "value", "tape", "model", "agrees"):
        fits.add_column(column, no_wrap=True)
    for fit in report["fits"]:
        fits.add_row(_horizon(fit["horizon_min"]), fit["parameter"], f"{fit['value']:.4g}",
                     fmt.share(fit["train_tape_amount_share"], 1),
                     fmt.share(fit["train_model_amount_share"], 1),
                     "yes" if fit["reached"] else "no: out of reach, a bound")
    out.print(fits)


def _bps(spread: float | None) -> float | None:
    """A relative spread in basis points (None: the one-tick book)."""
    return None if spread is None else spread * 1e4


def _spread_words(report: dict[str, Any]) -> str:
    """`12.3 bps (estimated)`, or the one tick it falls back to."""
    bps = report["model_spread_bps"]
    if report["spread_from"] == "fixed":
        return "one tick (fixed)"
    return f"{bps:.1f} bps (estimated)" if bps else "one tick (too few bars to estimate)"


def _horizon(minutes: float) -> str:
    """`15 min`, or `5 s` under a minute."""
    return f"{minutes:g} min" if minutes >= 1 else f"{minutes * 60:.3g} s"


def _rate(rate: dict[str, Any]) -> str:
    """`41.2% (39.0%)`: the filled-amount share and the share of orders filled completely."""
    return f"{fmt.share(rate['amount_share'], 1)} ({fmt.share(rate['filled_share'], 1)})"
