"""The ledger's `executions` table: each order's expected and realized execution side by side.

Written by the execution monitor (trading/execution_monitor.py) inside the trader's ledger
transactions: the expectation in the same transaction as the order it belongs to, the
realization in the same one as the event that ended the order, so a crash never leaves an
order without its expectation or a booked end without its realization. Prices are TEXT like
all money in the ledger; model figures (bps, probabilities) are REAL.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from state.codec import decimal_text, optional_decimal

_COLUMNS = ("client_order_id", "symbol", "side", "type", "amount", "limit_price",
            "submitted_ts", "horizon_ms", "reference_price", "expected_price",
            "expected_slippage_bps", "fill_probability", "queue_ahead", "marketable",
            "outcome", "completed_ts", "filled_amount", "avg_fill_price", "filled_share",
            "filled_share_in_horizon", "realized_slippage_bps", "time_to_fill_ms")


@dataclass(frozen=True, slots=True)
class ExecutionRow:
    """One order's execution: the expectation, and the realization once it ended (None
    before, and for the figures an order without a fill has not)."""

    client_order_id: str
    symbol: str
    side: str  # BUY or SELL
    type: str  # LIMIT or MARKET
    amount: Decimal
    limit_price: Decimal | None
    submitted_ts: int
    horizon_ms: int
    reference_price: Decimal
    expected_price: Decimal
    expected_slippage_bps: float
    fill_probability: float
    queue_ahead: float | None
    marketable: bool
    outcome: str | None = None
    completed_ts: int | None = None
    filled_amount: Decimal | None = None
    avg_fill_price: Decimal | None = None
    filled_share: float | None = None
    filled_share_in_horizon: float | None = None
    realized_slippage_bps: float | None = None
    time_to_fill_ms: int | None = None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> ExecutionRow:
        """A row as `SELECT <the columns in order>` returns it."""
        v = dict(zip(_COLUMNS, row, strict=True))
        return cls(
            v["client_order_id"], v["symbol"], v["side"], v["type"], Decimal(v["amount"]),
            optional_decimal(v["limit_price"]), v["submitted_ts"], v["horizon_ms"],
            Decimal(v["reference_price"]), Decimal(v["expected_price"]),
            v["expected_slippage_bps"], v["fill_probability"], v["queue_ahead"],
            bool(v["marketable"]), v["outcome"], v["completed_ts"],
            optional_decimal(v["filled_amount"]), optional_decimal(v["avg_fill_price"]),
            v["filled_share"], v["filled_share_in_horizon"], v["realized_slippage_bps"],
            v["time_to_fill_ms"])


class ExecutionTable:
    """Writes and reads of `executions` on the ledger's connection (`Ledger.executions`).
    Writes join the caller's open transaction (the trader's `Ledger.batch`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def record_expected(self, row: ExecutionRow) -> None:
        """Store an order's expectation (its realized columns stay NULL until it ends); a
        second expectation for the same order is ignored (a restart resubmits nothing)."""
        self._conn.execute(
            "INSERT INTO executions (client_order_id, symbol, side, type, amount, limit_price,"
            " submitted_ts, horizon_ms, reference_price, expected_price, expected_slippage_bps,"
            " fill_probability, queue_ahead, marketable) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?, ?) ON CONFLICT (client_order_id) DO NOTHING",
            (row.client_order_id, row.symbol, row.side, row.type, decimal_text(row.amount),
             None if row.limit_price is None else decimal_text(row.limit_price),
             row.submitted_ts, row.horizon_ms, decimal_text(row.reference_price),
             decimal_text(row.expected_price), row.expected_slippage_bps,
             row.fill_probability, row.queue_ahead, int(row.marketable)))

    def record_realized(self, client_order_id: str, *, outcome: str, completed_ts: int,
                        filled_amount: Decimal, avg_fill_price: Decimal | None,
                        filled_share: float, filled_share_in_horizon: float,
                        realized_slippage_bps: float | None,
                        time_to_fill_ms: int | None) -> bool:
        """Store how an order ended; False when the table has no open expectation for it
        (an order placed before the table existed, or already completed)."""
        cursor = self._conn.execute(
            "UPDATE executions SET outcome = ?, completed_ts = ?, filled_amount = ?,"
            " avg_fill_price = ?, filled_share = ?, filled_share_in_horizon = ?,"
            " realized_slippage_bps = ?, time_to_fill_ms = ?"
            " WHERE client_order_id = ? AND outcome IS NULL",
            (outcome, completed_ts, decimal_text(filled_amount),
             None if avg_fill_price is None else decimal_text(avg_fill_price), filled_share,
             filled_share_in_horizon, realized_slippage_bps, time_to_fill_ms, client_order_id))
        return cursor.rowcount > 0

    def get(self, client_order_id: str) -> ExecutionRow | None:
        """One order's row, or None."""
        row = self._conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM executions"
                                 " WHERE client_order_id = ?", (client_order_id,)).fetchone()
        return None if row is None else ExecutionRow.from_row(row)

    def completed(self, limit: int | None = None) -> list[ExecutionRow]:
        """Orders that ended, oldest end first; with `limit`, only the newest `limit`."""
        sql = (f"SELECT {', '.join(_COLUMNS)} FROM executions WHERE outcome IS NOT NULL"
               " ORDER BY completed_ts DESC, client_order_id DESC")
        rows = self._conn.execute(sql + (" LIMIT ?" if limit else ""),
                                  (limit,) if limit else ()).fetchall()
        return [ExecutionRow.from_row(r) for r in reversed(rows)]

    def count(self) -> tuple[int, int]:
        """(orders recorded, of which still open)."""
        total, still_open = self._conn.execute(
            "SELECT count(*), count(*) - count(outcome) FROM executions").fetchone()
        return int(total), int(still_open)
