"""The ledger's read side: the projection tables, the event log, decisions and the equity
curve, each as typed rows (state/records.py).

Why apart from ledger.py: the writes (events with their projections, decisions, equity, kv),
the replay and the checks are the ledger's job and its transactions; these queries only read
what they wrote, through the same connection. They are a base class of `Ledger`, not a
separate object, so every caller keeps asking the ledger (`ledger.fills()`,
`ledger.decisions()`), and a read still sees the rows a replay holds back until its commit
(`_rows` writes them first, as it always did).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from state.codec import decode
from state.pending_rows import PendingRows
from state.projection import OPEN_STATUSES
from state.records import (
    BalanceRow,
    DecisionRow,
    EquityPoint,
    FillRow,
    OrderRow,
    PositionRow,
    StoredEvent,
)
from state.sqlite import Database


class LedgerQueries:
    """The read-only queries of `Ledger` (state/ledger.py), over the attributes it sets:
    `db` and `_conn` (the open file) and `_pending` (rows held back to the commit)."""

    db: Database
    _conn: sqlite3.Connection
    _pending: PendingRows

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> Iterator[dict[str, Any]]:
        self._pending.write(self._conn)  # a read sees every row written so far
        return self.db.query(sql, list(params))

    def order(self, client_order_id: str) -> OrderRow | None:
        """One order by its client id, or None."""
        rows = list(self._rows("SELECT * FROM orders WHERE client_order_id = ?",
                               [client_order_id]))
        return OrderRow.from_row(rows[0]) if rows else None

    def open_orders(self) -> list[OrderRow]:
        """Orders that may still trade (submitted, accepted, partially filled), oldest first."""
        marks = ", ".join("?" for _ in OPEN_STATUSES)
        return [OrderRow.from_row(r) for r in self._rows(
            f"SELECT * FROM orders WHERE status IN ({marks}) "
            "ORDER BY created_ts, client_order_id", OPEN_STATUSES)]

    def positions(self) -> list[PositionRow]:
        """Every symbol ever traded, by symbol (closed ones have amount 0 and their PnL)."""
        return [PositionRow.from_row(r)
                for r in self._rows("SELECT * FROM positions ORDER BY symbol")]

    def balances(self) -> list[BalanceRow]:
        """Every asset's free and locked amounts, by asset."""
        return [BalanceRow.from_row(r)
                for r in self._rows("SELECT * FROM balances ORDER BY asset")]

    def fills(self, since: int | None = None) -> list[FillRow]:
        """Fills in time order, optionally only those with ts_event >= `since` (ms)."""
        rows = self._rows("SELECT * FROM fills WHERE ts_event >= ? ORDER BY ts_event, trade_id",
                          [since if since is not None else -(2**63)])
        return [FillRow.from_row(r) for r in rows]

    def fills_of(self, client_order_id: str) -> list[FillRow]:
        """One order's fills in time order."""
        rows = self._rows("SELECT * FROM fills WHERE client_order_id = ? ORDER BY ts_event,"
                          " trade_id", [client_order_id])
        return [FillRow.from_row(r) for r in rows]

    def events(self, after_seq: int = 0) -> Iterator[StoredEvent]:
        """The event log in order, decoded, starting after `after_seq`."""
        for r in self._rows("SELECT * FROM events WHERE seq > ? ORDER BY seq", [after_seq]):
            yield StoredEvent(r["seq"], r["ts_event"], r["ts_recv"], r["kind"],
                              decode(r["kind"], r["payload"]))

    def decisions(self, limit: int = 100) -> list[DecisionRow]:
        """The latest `limit` decisions, newest first."""
        return [DecisionRow.from_row(r) for r in self._rows(
            "SELECT * FROM decisions ORDER BY ts DESC, id DESC LIMIT ?", [limit])]

    def equity_curve(self) -> list[EquityPoint]:
        """Every equity snapshot in time order."""
        return [EquityPoint.from_row(r) for r in self._rows("SELECT * FROM equity ORDER BY ts")]

    def equity_series(self) -> tuple[list[int], list[float]]:
        """(times, equity as floats) of every snapshot in time order: what a backtest's
        statistics read, without three Decimals a row (a month's curve: 0.24 s -> ~0.03).
        `float` of the stored text is `float` of its Decimal: both round the same value."""
        self._pending.write(self._conn)
        rows = self._conn.execute("SELECT ts, equity FROM equity ORDER BY ts").fetchall()
        return [row[0] for row in rows], [float(row[1]) for row in rows]

    def highest_id_numbers(self, order_stem: str, trade_stem: str) -> tuple[int, int]:
        """The highest number after `order_stem` among client order ids and after
        `trade_stem` among trade ids (0 when none): what a broker's id counters must be at
        least on resume, whatever cursor was saved (an older Entasis saved it apart from the
        fills, and a crash between the two left it behind them)."""
        return (self._highest_number("orders", "client_order_id", order_stem),
                self._highest_number("fills", "trade_id", trade_stem))

    def _highest_number(self, table: str, column: str, stem: str) -> int:
        rest = f"substr({column}, {len(stem) + 1})"
        row = self._conn.execute(
            f"SELECT max(CAST({rest} AS INTEGER)) FROM {table} WHERE substr({column}, 1, ?) = ?"
            f" AND {rest} GLOB '[0-9]*' AND {rest} NOT GLOB '*[^0-9]*'",
            (len(stem), stem)).fetchone()
        return int(row[0] or 0)
