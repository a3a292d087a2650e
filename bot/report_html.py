"""The report's HTML page: one self-contained file, every chart inlined as base64 PNG.

Self-contained so it can be mailed, sent to Telegram as a document, or opened on a phone
without a web server; nothing in it is fetched from elsewhere (no scripts, no links).
"""

from __future__ import annotations

import base64
import html
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.report import HourStats, Report


def render_html(title: str, report: Report, hours: Sequence[HourStats], has_prices: bool) -> str:
    """One self-contained page: headline table, every chart inlined, regime and hour tables."""
    esc = html.escape
    summary = report.summary
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(_fmt(v))}</td></tr>"
                   for k, v in summary.items() if k not in ("regimes", "charts", "html"))
    images = "".join(
        f'<figure><img alt="{esc(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(path.read_bytes()).decode()}"><figcaption>{esc(name)}</figcaption>'
        f"</figure>" for name, path in report.charts.items())
    regimes = "".join(
        f"<tr><td>{esc(window)}</td><td>{esc(name)}</td><td>{o['wins']}</td><td>{o['losses']}</td>"
        f"<td>{o['mean_return_pct']:+.3f}%</td><td>{esc(o['total_pnl'])}</td></tr>"
        for window, by_name in summary.get("regimes", {}).items() for name, o in by_name.items())
    regime_part = (
        "<h2>Round trips by regime at entry</h2><table><tr><th>window</th><th>regime</th>"
        f"<th>wins</th><th>losses</th><th>mean return</th><th>PnL</th></tr>{regimes}</table>"
        if has_prices else
        "<p>No price source was given, so regime charts are left out: pass "
        "<code>--data DIR</code> (OHLCV folder) or <code>--rest-url URL</code>.</p>")
    hour_rows = "".join(
        f"<tr><td>{_utc(h.hour_ms)}</td><td>{h.equity:.4f}</td><td>{h.return_pct:+.4f}%</td>"
        f"<td>{h.buys}</td><td>{h.sells}</td><td>{h.closed_trips}</td>"
        f"<td>{'' if h.win_rate is None else f'{h.win_rate * 100:.0f}%'}</td></tr>"
        for h in list(hours)[-48:][::-1])
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "img{max-width:100%}table{border-collapse:collapse}td,th{padding:2px 8px;"
        "border-bottom:1px solid #ddd;text-align:right}</style></head><body>"
        f"<h1>{esc(title)}</h1><p>generated {_utc(int(time.time() * 1000))} UTC</p>"
        f"<table>{rows}</table>{images}{regime_part}"
        "<h2>Last 48 hours</h2><table><tr><th>hour (UTC)</th><th>equity</th><th>return</th>"
        f"<th>buys</th><th>sells</th><th>closed</th><th>win rate</th></tr>{hour_rows}</table>"
        "</body></html>")


def _utc(ts_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts_ms / 1000))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, int) and value > 10**12:  # epoch ms
        return _utc(value)
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)
