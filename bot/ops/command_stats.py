"""The statistics behind the operator commands, as pure functions of ledger rows.

Round trips are rebuilt from the ledger's fills with the ledger's own position rule
(`state.projection.next_position`), not taken from the trader's memory, so the answers are
the same before and after a restart: the ledger is the truth. Output is plain JSON-safe data
(Decimals as strings, rates as floats) so the CLI and Telegram render the same numbers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from model.instruments import Side
from state.projection import next_position
from state.records import EquityPoint, FillRow
from trading.performance import HOUR_MS

DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# Epoch day 0 (1970-01-01) was a Thursday; 1970-01-05 a Monday: weeks start Monday 00:00 UTC.
WEEK_OFFSET_MS = -4 * DAY_MS
PERIODS = {"hourly": (HOUR_MS, 0), "daily": (DAY_MS, 0), "weekly": (WEEK_MS, WEEK_OFFSET_MS)}
REGIME_WINDOWS = (("1h", "1h"), ("6h", "6h"), ("12h", "12h"), ("24h", "1d"))
REGIME_WORDS = {1.0: "bull", -1.0: "bear", 0.0: "sideways"}


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """A position opened from flat and closed back to flat, with its realized PnL net of
    every fee paid on the way."""

    symbol: str
    opened_ms: int
    closed_ms: int
    pnl: Decimal


def closed_trades(fills: Iterable[FillRow]) -> list[ClosedTrade]:
    """Round trips in the order they closed, replayed from fills (oldest first)."""
    book: dict[str, tuple[Decimal, Decimal, Decimal, Decimal, int]] = {}
    trades: list[ClosedTrade] = []
    for fill in fills:
        amount, avg, realized, realized_at_open, opened = book.get(
            fill.symbol, (Decimal(0), Decimal(0), Decimal(0), Decimal(0), 0))
        was_flat = amount == 0
        if was_flat:
            realized_at_open, opened = realized, fill.ts_event
        amount, avg, realized = next_position(amount, avg, realized, fill.side, fill.price,
                                              fill.amount, fill.fee)
        if not was_flat and amount == 0:
            trades.append(ClosedTrade(fill.symbol, opened, fill.ts_event,
                                      realized - realized_at_open))
        book[fill.symbol] = (amount, avg, realized, realized_at_open, opened)
    return trades


def period_returns(points: Sequence[EquityPoint], period: str, count: int) -> list[dict[str, Any]]:
    """The last `count` periods: each one's closing equity and return from the previous
    period's close (the first from the first equity point)."""
    period_ms, offset_ms = PERIODS[period]
    last_of: dict[int, Decimal] = {}
    for point in points:
        last_of[(point.ts + offset_ms) // period_ms] = point.equity
    rows: list[dict[str, Any]] = []
    previous = points[0].equity if points else None
    for index in sorted(last_of):
        equity = last_of[index]
        change = float(equity / previous - 1) if previous else 0.0
        rows.append({"start_ms": index * period_ms - offset_ms, "equity": str(equity),
                     "return": round(change, 8)})
        previous = equity
    return rows[-count:] if count > 0 else []


def _win_figures(trades: Sequence[ClosedTrade]) -> dict[str, Any]:
    wins = [t.pnl for t in trades if t.pnl > 0]
    losses = [t.pnl for t in trades if t.pnl <= 0]
    gross_win = sum(wins, Decimal(0))
    gross_loss = -sum(losses, Decimal(0))
    return {
        "round_trips": len(trades),
        "wins": len(wins),
        "losses": len(losses),
        "win_rate": round(len(wins) / len(trades), 6) if trades else None,
        "pnl": str(gross_win - gross_loss),
        "avg_win": str(gross_win / len(wins)) if wins else None,
        "avg_loss": str(-gross_loss / len(losses)) if losses else None,
        "profit_factor": (round(float(gross_win / gross_loss), 6) if gross_loss > 0
                          else None),
    }


def win_rate(trades: Sequence[ClosedTrade], fills: Sequence[FillRow], days: int = 7) -> dict[str, Any]:
    """Overall wins and losses, and per UTC day (the last `days` days with activity):
    round trips, wins, win rate, buys and sells."""
    per_day: dict[int, list[ClosedTrade]] = defaultdict(list)
    for trade in trades:
        per_day[trade.closed_ms // DAY_MS].append(trade)
    sides: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for fill in fills:
        sides[fill.ts_event // DAY_MS][0 if fill.side is Side.BUY else 1] += 1
    day_rows = []
    for day in sorted(set(per_day) | set(sides))[-days:] if days > 0 else []:
        figures = _win_figures(per_day.get(day, []))
        day_rows.append({"start_ms": day * DAY_MS, "round_trips": figures["round_trips"],
                         "wins": figures["wins"], "losses": figures["losses"],
                         "win_rate": figures["win_rate"], "buys": sides[day][0],
                         "sells": sides[day][1]})
    return {**_win_figures(trades), "daily": day_rows}


def per_coin(trades: Sequence[ClosedTrade], fills: Sequence[FillRow],
             open_pnl: dict[str, str]) -> list[dict[str, Any]]:
    """Per symbol: round trips, wins, realized PnL, fees, volume, and unrealized PnL if
    held; best realized PnL first."""
    by_symbol: dict[str, list[ClosedTrade]] = defaultdict(list)
    for trade in trades:
        by_symbol[trade.symbol].append(trade)
    fees: dict[str, Decimal] = defaultdict(Decimal)
    volume: dict[str, Decimal] = defaultdict(Decimal)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for fill in fills:
        fees[fill.symbol] += fill.fee
        volume[fill.symbol] += fill.price * fill.amount
        counts[fill.symbol][0 if fill.side is Side.BUY else 1] += 1
    rows = []
    for symbol in sorted(set(by_symbol) | set(counts) | set(open_pnl)):
        figures = _win_figures(by_symbol.get(symbol, []))
        rows.append({"symbol": symbol, "round_trips": figures["round_trips"],
                     "wins": figures["wins"], "losses": figures["losses"],
                     "win_rate": figures["win_rate"], "realized_pnl": figures["pnl"],
                     "fees": str(fees[symbol]), "volume": str(volume[symbol]),
                     "buys": counts[symbol][0], "sells": counts[symbol][1],
                     "unrealized_pnl": open_pnl.get(symbol)})
    rows.sort(key=lambda row: (-Decimal(row["realized_pnl"]), row["symbol"]))
    return rows


def regimes(symbols: Sequence[str], features: np.ndarray,
            feature_names: Sequence[str]) -> dict[str, Any]:
    """Bull/bear/sideways per symbol at 1h, 6h, 12h and 24h (strategies/regime.py's rule)
    from the live feature matrix, and how many coins are in each per window."""
    index = {name: i for i, name in enumerate(feature_names)}
    rows = []
    summary = {label: {"bull": 0, "bear": 0, "sideways": 0, "unknown": 0}
               for label, _ in REGIME_WINDOWS}
    for row_index, symbol in enumerate(symbols):
        row: dict[str, Any] = {"symbol": symbol}
        for label, column in REGIME_WINDOWS:
            value = float(features[row_index, index[f"regime_{column}"]])
            z = float(features[row_index, index[f"trend_z_{column}"]])
            word = REGIME_WORDS.get(value, "unknown") if math.isfinite(value) else "unknown"
            summary[label][word] += 1
            row[label] = word
            row[f"z_{label}"] = round(z, 3) if math.isfinite(z) else None
        rows.append(row)
    market = {label: max(("bull", "bear", "sideways"), key=lambda w: counts[w])
              if any(counts[w] for w in ("bull", "bear", "sideways")) else "unknown"
              for label, counts in summary.items()}
    return {"windows": [label for label, _ in REGIME_WINDOWS], "market": market,
            "summary": summary, "symbols": rows}
