"""The report's HTML page: one self-contained file, every chart inlined as base64 PNG.

Self-contained so it can be mailed, sent to Telegram as a document, or opened on a phone
without a web server; nothing in it is fetched from elsewhere (no scripts, no links).
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bot import formatting as fmt

if TYPE_CHECKING:
    from bot.research.report_data import HourStats, Report

# The headline table's rows: summary key -> (label a reader understands, how to show it).
# Keys not listed (added later) still show, under their name, through fmt.text.
_Shower = Callable[[Any, dict[str, Any]], str]
LABELS: dict[str, tuple[str, _Shower]] = {
    "from_ms": ("From", lambda v, s: fmt.when(v, s.get("clock"))),
    "to_ms": ("To", lambda v, s: fmt.when(v, s.get("clock"))),
    "start_equity": ("Starting equity", lambda v, s: _money(v, s)),
    "end_equity": ("Ending equity", lambda v, s: _money(v, s)),
    "total_return_pct": ("Total return", lambda v, s: fmt.pct(None if v is None else v / 100)),
    "max_drawdown_pct": ("Max drawdown", lambda v, s: fmt.share(None if v is None else v / 100)),
    "fills": ("Fills", lambda v, s: fmt.text(v)),
    "buys": ("Buys", lambda v, s: fmt.text(v)),
    "sells": ("Sells", lambda v, s: fmt.text(v)),
    "round_trips": ("Round trips", lambda v, s: fmt.text(v) if v else "no trades yet"),
    "wins": ("Winning round trips", lambda v, s: fmt.text(v)),
    "losses": ("Losing round trips", lambda v, s: fmt.text(v)),
    "win_rate": ("Win rate", lambda v, s: fmt.share(v)),
    "realized_pnl": ("Realized PnL", lambda v, s: _money(v, s)),
    "fees": ("Fees paid", lambda v, s: _money(v, s)),
    "hours": ("Hours with equity snapshots", lambda v, s: fmt.text(v)),
    "quote_asset": ("Account currency", lambda v, s: fmt.text(v)),
    "clock": ("Clock", lambda v, s: "simulated market (runs ahead of real time)" if v == "sim"
              else "wall clock (UTC)"),
}
HIDDEN = ("regimes", "charts", "html")  # shown as their own sections, or not at all


def _money(value: Any, summary: dict[str, Any]) -> str:
    return fmt.money(value, summary.get("quote_asset"), unit=True)


def headline_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, shown value) of every headline figure, in the summary's order."""
    rows = []
    for key, value in summary.items():
        if key in HIDDEN:
            continue
        label, show = LABELS.get(key, (key, lambda v, s: fmt.text(v)))
        rows.append((label, show(value, summary)))
    return rows


def render_html(title: str, report: Report, hours: Sequence[HourStats], has_prices: bool) -> str:
    """One self-contained page: headline table, every chart inlined, regime and hour tables."""
    esc = html.escape
    summary = report.summary
    clock = summary.get("clock")
    rows = "".join(f"<tr><th>{esc(label)}</th><td>{esc(shown)}</td></tr>"
                   for label, shown in headline_rows(summary))
    images = "".join(
        f'<figure><img alt="{esc(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(path.read_bytes()).decode()}"><figcaption>{esc(name)}</figcaption>'
        f"</figure>" for name, path in report.charts.items())
    regimes = "".join(
        f"<tr><td>{esc(window)}</td><td>{esc(name)}</td><td>{o['wins']}</td><td>{o['losses']}</td>"
        f"<td>{esc(fmt.pct(o['mean_return_pct'] / 100))}</td>"
        f"<td>{esc(_money(o['total_pnl'], summary))}</td></tr>"
        for window, by_name in summary.get("regimes", {}).items() for name, o in by_name.items())
    regime_part = (
        "<h2>Round trips by regime at entry</h2><table><tr><th>window</th><th>regime</th>"
        f"<th>wins</th><th>losses</th><th>mean return</th><th>PnL</th></tr>{regimes}</table>"
        if has_prices else
        "<p>No price source was given, so regime charts are left out: pass "
        "<code>--data DIR</code> (OHLCV folder) or <code>--rest-url URL</code>.</p>")
    hour_rows = "".join(
        f"<tr><td>{esc(fmt.when(h.hour_ms, clock))}</td><td>{esc(_money(h.equity, summary))}</td>"
        f"<td>{esc(fmt.pct(h.return_pct / 100))}</td>"
        f"<td>{h.buys}</td><td>{h.sells}</td><td>{h.closed_trips}</td>"
        f"<td>{esc(fmt.share(h.win_rate))}</td></tr>"
        for h in list(hours)[-48:][::-1])
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "img{max-width:100%}table{border-collapse:collapse}td,th{padding:2px 8px;"
        "border-bottom:1px solid #ddd;text-align:right}</style></head><body>"
        f"<h1>{esc(title)}</h1><p>generated {_utc(int(time.time() * 1000))} UTC (wall clock)"
        + (f"; the figures' times are simulated-market time, marked {esc(fmt.SIM_LABEL.strip())}"
           if clock == "sim" else "") + "</p>"
        f"<table>{rows}</table>{images}{regime_part}"
        "<h2>Last 48 hours</h2><table><tr><th>hour (UTC)</th><th>equity</th><th>return</th>"
        f"<th>buys</th><th>sells</th><th>closed</th><th>win rate</th></tr>{hour_rows}</table>"
        "</body></html>")


def _utc(ts_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts_ms / 1000))

