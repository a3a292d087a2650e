"""Reports from a ledger: hourly statistics, round trips, regimes, charts and one HTML page.

Everything is read from the ledger file (state/ledger.py) through a read-only connection, so
a report can be made while the daemon writes (WAL readers never block the writer). Prices
for the regime charts come from outside the ledger, which stores only our own fills: an
OHLCV folder (the backtest's data) or the exchange's REST klines (`prices_from_rest`).

Regimes use the live features' own rule (`features_from_history`, strategies/regime.py),
so a chart shows exactly the bull/bear label the ranking saw at that minute.

The HTML page is self-contained (every PNG inlined as base64), so it can be mailed, sent to
Telegram as a document or opened from a phone without a web server.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from bot.research.report_data import (
    Fill,
    HourStats,
    LedgerView,
    RegimeOutcome,
    RegimeSeries,
    Report,
    Trip,
)
from model import errors
from model.instruments import Side
from model.market import BarHistory
from state.projection import next_position

HOUR_MS = 3_600_000
REGIME_WINDOWS: tuple[tuple[str, str], ...] = (
    ("1h", "regime_1h"), ("6h", "regime_6h"), ("12h", "regime_12h"), ("24h", "regime_1d"))
"""(label shown, feature column) of the four regime windows the issue asks for."""
REGIME_NAMES = {1: "bull", 0: "sideways", -1: "bear"}
HISTORY_BEFORE_MS = 24 * HOUR_MS  # the 24h regime needs a day of bars before the first trade


class ReportError(errors.OperatorError):
    """The report cannot be made; the message says what to pass or fix."""


def load_ledger(path: Path | str, since_ms: int | None = None) -> LedgerView:
    """Equity snapshots and fills of the ledger at `path` (read-only; the daemon may write)."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"ledger {path} not found; pass --ledger PATH (a daemon or backtest "
                          "ledger, e.g. var/ledger.sqlite)")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        since = since_ms if since_ms is not None else -(2**63)
        equity = conn.execute("SELECT ts, equity FROM equity WHERE ts >= ? ORDER BY ts",
                              (since,)).fetchall()
        rows = conn.execute(
            "SELECT ts_event, symbol, side, price, amount, fee FROM fills "
            "ORDER BY ts_event, trade_id").fetchall()
    except sqlite3.DatabaseError as exc:
        raise ReportError(f"{path} is not an Entasis ledger ({exc})") from None
    finally:
        conn.close()
    all_fills = [Fill(ts, sym, Side(side), Decimal(p), Decimal(a), Decimal(f))
                 for ts, sym, side, p, a, f in rows]
    trips = [t for t in round_trips(all_fills) if t.closed_ms >= since]
    fills = [f for f in all_fills if f.ts_ms >= since]
    return LedgerView(np.array([r[0] for r in equity], dtype=np.int64),
                      np.array([float(r[1]) for r in equity], dtype=np.float64), fills, trips)


def latest_equity_ms(path: Path | str) -> int | None:
    """Time of the ledger's newest equity snapshot (its own clock: market time in the sim)."""
    if not Path(path).is_file():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT max(ts) FROM equity").fetchone()[0]
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()


def ledger_quote(path: Path | str, symbols: Sequence[str]) -> str | None:
    """The account's quote asset: the ledger's balance asset that every traded symbol ends
    with (the report prints money to its precision); None when that cannot be told."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        assets = [row[0] for row in conn.execute("SELECT asset FROM balances")]
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()
    fitting = [a for a in assets if symbols and all(s.endswith(a) for s in symbols)]
    return max(fitting, key=len) if fitting else None


def clock_of(to_ms: int | None, now_ms: int | None = None) -> str:
    """`sim` when the ledger's newest snapshot lies more than an hour after the wall clock
    (only the simulated market, 60x ahead, writes the future), else `wall`."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    return "sim" if to_ms is not None and to_ms > now + HOUR_MS else "wall"


def round_trips(fills: Sequence[Fill]) -> list[Trip]:
    """Flat-to-flat round trips, with the ledger's own position rule (`next_position`)."""
    state: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
    opened: dict[str, tuple[int, Decimal, Decimal]] = {}  # symbol -> (ts, realized at open, cost)
    trips: list[Trip] = []
    for fill in fills:
        amount, avg, realized = state.get(fill.symbol, (Decimal(0), Decimal(0), Decimal(0)))
        if amount == 0:
            opened[fill.symbol] = (fill.ts_ms, realized, Decimal(0))
        start_ts, realized_at_open, cost = opened[fill.symbol]
        if fill.side is Side.BUY:
            cost += fill.price * fill.amount
        opened[fill.symbol] = (start_ts, realized_at_open, cost)
        amount, avg, realized = next_position(amount, avg, realized, fill.side, fill.price,
                                              fill.amount, fill.fee)
        state[fill.symbol] = (amount, avg, realized)
        if amount == 0:
            trips.append(Trip(fill.symbol, start_ts, fill.ts_ms, realized - realized_at_open, cost))
    return trips


def hourly_stats(view: LedgerView) -> list[HourStats]:
    """Per hour with an equity snapshot: last equity, return, buy/sell fills, closed trips."""
    if view.equity_ts.size == 0:
        return []
    hours = view.equity_ts // HOUR_MS
    last = np.flatnonzero(np.r_[hours[1:] != hours[:-1], True])
    previous = np.r_[view.equity[0], view.equity[last][:-1]]
    returns = np.divide(view.equity[last], previous, out=np.ones(last.size),
                        where=previous > 0) - 1
    per_hour: dict[int, list[int]] = {}
    fees: dict[int, Decimal] = {}
    for fill in view.fills:
        hour = fill.ts_ms // HOUR_MS
        counts = per_hour.setdefault(hour, [0, 0, 0, 0])
        counts[0 if fill.side is Side.BUY else 1] += 1
        fees[hour] = fees.get(hour, Decimal(0)) + fill.fee
    for trip in view.trips:
        counts = per_hour.setdefault(trip.closed_ms // HOUR_MS, [0, 0, 0, 0])
        counts[2] += 1
        counts[3] += trip.pnl > 0
    stats = []
    for i, index in enumerate(last):
        hour = int(hours[index])
        buys, sells, closed, wins = per_hour.get(hour, [0, 0, 0, 0])
        stats.append(HourStats(hour * HOUR_MS, float(view.equity[index]),
                               float(returns[i] * 100), buys, sells, closed, wins,
                               fees.get(hour, Decimal(0))))
    return stats


# --- prices and regimes --------------------------------------------------------------------

def prices_from_ohlcv_dir(directory: Path, symbols: Sequence[str],
                          start_ms: int | None = None, end_ms: int | None = None
                          ) -> dict[str, BarHistory]:
    """1m bars of `symbols` from an OHLCV folder (`<BASE>_<QUOTE>-1m.csv[.gz]`)."""
    from exchange.sim.replay import FILE_PATTERN, read_ohlcv

    if not directory.is_dir():
        raise ReportError(f"--data {directory}: not a folder of <BASE>_<QUOTE>-1m.csv[.gz] files")
    wanted = set(symbols)
    histories: dict[str, BarHistory] = {}
    for file in sorted(directory.iterdir()):
        match = FILE_PATTERN.match(file.name)
        symbol = f"{match.group(1)}{match.group(2)}".upper() if match else ""
        if symbol not in wanted:
            continue
        frame = read_ohlcv(file)
        ts = frame["timestamp_ms"].to_numpy(np.int64)
        keep = np.ones(ts.size, dtype=bool)
        if start_ms is not None:
            keep &= ts >= start_ms
        if end_ms is not None:
            keep &= ts < end_ms
        cols = {c: frame[c].to_numpy(np.float64)[keep] for c in ("open", "high", "low", "close",
                                                                  "volume")}
        histories[symbol] = BarHistory(symbol, ts[keep], cols["open"], cols["high"], cols["low"],
                                       cols["close"], cols["volume"],
                                       cols["volume"] * cols["close"])
    return histories


async def prices_from_rest(rest_url: str, symbols: Sequence[str], start_ms: int,
                           end_ms: int) -> dict[str, BarHistory]:
    """1m bars of `symbols` from a Binance-protocol REST endpoint (the sim or Binance)."""
    import aiohttp

    from exchange.feeds.binance_rest import fetch_klines

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        return {s: await fetch_klines(session, rest_url, s, start_ms, end_ms) for s in symbols}


def regime_series(histories: Mapping[str, BarHistory]) -> dict[str, RegimeSeries]:
    """Closes and the four regime labels per minute, by the live features' rule."""
    from strategies.feature_columns import FEATURE_INDEX
    from strategies.features_batch import MinuteGrid, features_from_history

    present = {s: h for s, h in histories.items() if len(h)}
    if not present:
        return {}
    grid = MinuteGrid.from_histories(present)
    features = features_from_history(grid)
    closes = _forward_filled(grid.close)
    series = {}
    for col, symbol in enumerate(grid.symbols):
        regimes = {label: features[:, col, FEATURE_INDEX[name]] for label, name in REGIME_WINDOWS}
        series[symbol] = RegimeSeries(symbol, grid.open_ms, closes[:, col], regimes)
    return series


def _forward_filled(close: np.ndarray) -> np.ndarray:
    """A minute without a trade keeps the previous close (the features' flat-bar rule)."""
    index = np.where(np.isfinite(close), np.arange(close.shape[0])[:, None], 0)
    np.maximum.accumulate(index, axis=0, out=index)
    filled = np.take_along_axis(close, index, axis=0)
    return filled


def regime_outcomes(trips: Sequence[Trip], series: Mapping[str, RegimeSeries]
                    ) -> dict[str, dict[str, RegimeOutcome]]:
    """Wins, losses and returns of round trips by the regime their symbol was in at entry."""
    result: dict[str, dict[str, RegimeOutcome]] = {}
    for window, _ in REGIME_WINDOWS:
        groups: dict[str, list[Trip]] = {name: [] for name in REGIME_NAMES.values()}
        for trip in trips:
            if trip.symbol not in series:
                continue
            label = series[trip.symbol].at(window, trip.opened_ms)
            if np.isfinite(label):
                groups[REGIME_NAMES[int(label)]].append(trip)
        result[window] = {
            name: RegimeOutcome(
                wins=sum(1 for t in group if t.pnl > 0),
                losses=sum(1 for t in group if t.pnl <= 0),
                mean_return_pct=float(np.mean([t.return_pct for t in group])) if group else 0.0,
                total_pnl=sum((t.pnl for t in group), Decimal(0)))
            for name, group in groups.items()}
    return result


# --- the report ------------------------------------------------------------------------------

def summarize(view: LedgerView) -> dict[str, Any]:
    """Headline figures of a ledger (JSON-ready)."""
    wins = sum(1 for t in view.trips if t.pnl > 0)
    start = float(view.equity[0]) if view.equity.size else None
    end = float(view.equity[-1]) if view.equity.size else None
    peaks = np.maximum.accumulate(view.equity) if view.equity.size else view.equity
    return {
        "from_ms": int(view.equity_ts[0]) if view.equity_ts.size else None,
        "to_ms": int(view.equity_ts[-1]) if view.equity_ts.size else None,
        "start_equity": start, "end_equity": end,
        "total_return_pct": (end / start - 1) * 100 if start and end else 0.0,
        "max_drawdown_pct": float(np.max(1 - view.equity / peaks) * 100) if peaks.size else 0.0,
        "fills": len(view.fills),
        "buys": sum(1 for f in view.fills if f.side is Side.BUY),
        "sells": sum(1 for f in view.fills if f.side is Side.SELL),
        "round_trips": len(view.trips), "wins": wins, "losses": len(view.trips) - wins,
        "win_rate": wins / len(view.trips) if view.trips else None,
        "realized_pnl": str(sum((t.pnl for t in view.trips), Decimal(0))),
        "fees": str(sum((f.fee for f in view.fills), Decimal(0))),
    }


def build_report(ledger_path: Path, out_dir: Path, *,
                 prices: Mapping[str, BarHistory] | None = None, title: str = "Entasis report",
                 regime_symbols: int = 3, since_ms: int | None = None) -> Report:
    """Write every chart as PNG and `report.html` (charts inlined) into `out_dir`.

    Without `prices` the regime charts and the per-regime table are left out, and the page
    says how to get them (pass an OHLCV folder or a REST URL).
    """
    from bot.research import charts
    from bot.research.report_html import render_html

    view = load_ledger(ledger_path, since_ms)
    if view.equity_ts.size == 0:
        raise ReportError(f"ledger {ledger_path} has no equity snapshots yet; run the daemon or "
                          "a backtest for at least one decision step first")
    out_dir.mkdir(parents=True, exist_ok=True)
    hours = hourly_stats(view)
    report = Report(out_dir / "report.html", summary=summarize(view))
    report.summary["quote_asset"] = ledger_quote(ledger_path, view.symbols_by_activity)
    report.summary["clock"] = clock_of(report.summary["to_ms"])
    report.charts["equity"] = charts.save(charts.equity_chart(view), out_dir / "equity.png")
    report.charts["hourly_activity"] = charts.save(charts.hourly_activity_chart(hours),
                                                   out_dir / "hourly_activity.png")
    report.charts["hourly_returns"] = charts.save(charts.hourly_returns_chart(hours),
                                                  out_dir / "hourly_returns.png")
    series = regime_series(prices) if prices else {}
    outcomes = regime_outcomes(view.trips, series) if series else {}
    for symbol in [s for s in view.symbols_by_activity if s in series][:regime_symbols]:
        fills = [f for f in view.fills if f.symbol == symbol]
        report.charts[f"regime_{symbol}"] = charts.save(
            charts.regime_chart(series[symbol], fills), out_dir / f"regime_{symbol}.png")
    if outcomes:
        report.charts["regime_outcomes"] = charts.save(charts.regime_outcomes_chart(outcomes),
                                                       out_dir / "regime_outcomes.png")
    report.summary["regimes"] = {
        window: {name: {"wins": o.wins, "losses": o.losses,
                        "mean_return_pct": round(o.mean_return_pct, 6),
                        "total_pnl": str(o.total_pnl)} for name, o in by_name.items()}
        for window, by_name in outcomes.items()}
    report.summary["hours"] = len(hours)
    report.summary["charts"] = {name: str(path) for name, path in report.charts.items()}
    report.html_path.write_text(render_html(title, report, hours, bool(series)),
                                encoding="utf-8")
    report.summary["html"] = str(report.html_path)
    return report
