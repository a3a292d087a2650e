"""Trades and profit, read from the ledger: the answers of `entasis trades` and `profit`.

Plain data out (strings for Decimals), so the CLI, the control API and Telegram
print the very same numbers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from state.ledger import Ledger
from trading.performance import HOUR_MS, RoundTrip

DAY_MS = 24 * HOUR_MS


def recent_trades(ledger: Ledger, limit: int = 50) -> dict[str, Any]:
    """The newest fills, newest first."""
    fills = ledger.fills()[-limit:][::-1]
    return {
        "fills": [
            {"trade_id": f.trade_id, "client_order_id": f.client_order_id, "symbol": f.symbol,
             "side": f.side.value, "price": str(f.price), "amount": str(f.amount),
             "fee": str(f.fee), "liquidity": f.liquidity.value if f.liquidity else None,
             "ts": f.ts_event}
            for f in fills
        ]
    }


def _period_returns(points: list[tuple[int, Decimal]], period_ms: int) -> list[dict[str, Any]]:
    """Return of each period from the last equity of the previous period to its own last."""
    last_of: dict[int, Decimal] = {}
    for ts, equity in points:
        last_of[ts // period_ms] = equity
    rows, previous = [], points[0][1] if points else None
    for period in sorted(last_of):
        equity = last_of[period]
        change = float(equity / previous - 1) if previous else 0.0
        rows.append({"start_ms": period * period_ms, "equity": str(equity), "return": round(change, 8)})
        previous = equity
    return rows


def profit(ledger: Ledger, round_trips: list[RoundTrip], periods: int = 24) -> dict[str, Any]:
    """Hourly and daily returns of the equity curve, win rate and trade counts."""
    points = [(p.ts, p.equity) for p in ledger.equity_curve()]
    fills = ledger.fills()
    wins = sum(1 for t in round_trips if t.pnl > 0)
    return {
        "start_equity": str(points[0][1]) if points else None,
        "equity": str(points[-1][1]) if points else None,
        "total_return": float(points[-1][1] / points[0][1] - 1) if points else 0.0,
        "hourly": _period_returns(points, HOUR_MS)[-periods:],
        "daily": _period_returns(points, DAY_MS)[-periods:],
        "round_trips": len(round_trips),
        "wins": wins,
        "losses": len(round_trips) - wins,
        "win_rate": wins / len(round_trips) if round_trips else 0.0,
        "buys": sum(1 for f in fills if f.side.value == "BUY"),
        "sells": sum(1 for f in fills if f.side.value == "SELL"),
        "fees": str(sum((f.fee for f in fills), Decimal(0))),
    }
