"""Two implementations of the projection `Store`: plain sqlite3 and sqlite-utils.

The ledger writes with `Sqlite3Store`: each event is one committed transaction, and on that
path sqlite-utils' per-call overhead (table introspection, a savepoint per insert/upsert,
SQL built per call) costs several times the work SQLite itself does (`python -m bench
ledger` measures both on the same events). `SqliteUtilsStore` is kept as the readable
reference the benchmark compares against, and must produce identical tables.
"""

from __future__ import annotations

import sqlite3

from state.codec import LedgerEvent, encode
from state.projection import Row
from state.sqlite import Database, NotFoundError

_ORDER_COLUMNS = ("client_order_id", "symbol", "side", "type", "price", "amount", "filled",
                  "locked", "status", "created_ts", "updated_ts")
_FILL_COLUMNS = ("trade_id", "client_order_id", "symbol", "side", "price", "amount", "fee",
                 "liquidity", "ts_event")
_POSITION_COLUMNS = ("symbol", "amount", "avg_price", "realized_pnl", "updated_ts")
_BALANCE_COLUMNS = ("asset", "free", "locked", "updated_ts")


def _upsert_sql(table: str, columns: tuple[str, ...]) -> str:
    """INSERT ... ON CONFLICT DO UPDATE (not INSERT OR REPLACE, which deletes the row first
    and so would trip the foreign key from fills to orders)."""
    names = ", ".join(columns)
    marks = ", ".join(f":{c}" for c in columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
    return (f"INSERT INTO {table} ({names}) VALUES ({marks}) "
            f"ON CONFLICT({columns[0]}) DO UPDATE SET {updates}")


def event_row(event: LedgerEvent) -> tuple[int, int, str, str | None, str]:
    """(ts_event, ts_recv, kind, client_order_id, payload) of one event."""
    kind, payload = encode(event)
    ts_recv = getattr(event, "ts_recv", event.ts_event)  # a request has only its own time
    return event.ts_event, ts_recv, kind, getattr(event, "client_order_id", None), payload


class Sqlite3Store:
    """Projection rows through prepared statements on a plain sqlite3 connection."""

    _INSERT_EVENT = ("INSERT INTO events (ts_event, ts_recv, kind, client_order_id, payload) "
                     "VALUES (?, ?, ?, ?, ?)")
    _PUT_ORDER = _upsert_sql("orders", _ORDER_COLUMNS)
    _ADD_FILL = (f"INSERT INTO fills ({', '.join(_FILL_COLUMNS)}) "
                 f"VALUES ({', '.join(':' + c for c in _FILL_COLUMNS)})")
    _PUT_POSITION = _upsert_sql("positions", _POSITION_COLUMNS)
    _PUT_BALANCE = _upsert_sql("balances", _BALANCE_COLUMNS)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def append_event(self, event: LedgerEvent) -> int:
        """Insert the event row; return its sequence number."""
        cursor = self._conn.execute(self._INSERT_EVENT, event_row(event))
        return int(cursor.lastrowid or 0)

    def _one(self, sql: str, key: str) -> Row | None:
        cursor = self._conn.execute(sql, (key,))
        values = cursor.fetchone()
        if values is None:
            return None
        return dict(zip((d[0] for d in cursor.description), values))

    def order(self, client_order_id: str) -> Row | None:
        return self._one("SELECT * FROM orders WHERE client_order_id = ?", client_order_id)

    def put_order(self, row: Row) -> None:
        self._conn.execute(self._PUT_ORDER, row)

    def add_fill(self, row: Row) -> None:
        self._conn.execute(self._ADD_FILL, row)

    def position(self, symbol: str) -> Row | None:
        return self._one("SELECT * FROM positions WHERE symbol = ?", symbol)

    def put_position(self, row: Row) -> None:
        self._conn.execute(self._PUT_POSITION, row)

    def balance(self, asset: str) -> Row | None:
        return self._one("SELECT * FROM balances WHERE asset = ?", asset)

    def put_balance(self, row: Row) -> None:
        self._conn.execute(self._PUT_BALANCE, row)


class SqliteUtilsStore:
    """The same rows through sqlite-utils' table API (the benchmark's reference path)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def append_event(self, event: LedgerEvent) -> int:
        ts_event, ts_recv, kind, client_order_id, payload = event_row(event)
        table = self._db.table("events")
        table.insert({"ts_event": ts_event, "ts_recv": ts_recv, "kind": kind,
                      "client_order_id": client_order_id, "payload": payload})
        return int(table.last_pk or 0)

    def _get(self, table: str, key: str) -> Row | None:
        try:
            return self._db.table(table).get(key)
        except NotFoundError:
            return None

    def order(self, client_order_id: str) -> Row | None:
        return self._get("orders", client_order_id)

    def put_order(self, row: Row) -> None:
        self._db.table("orders").upsert(row, pk="client_order_id")

    def add_fill(self, row: Row) -> None:
        self._db.table("fills").insert(row)

    def position(self, symbol: str) -> Row | None:
        return self._get("positions", symbol)

    def put_position(self, row: Row) -> None:
        self._db.table("positions").upsert(row, pk="symbol")

    def balance(self, asset: str) -> Row | None:
        return self._get("balances", asset)

    def put_balance(self, row: Row) -> None:
        self._db.table("balances").upsert(row, pk="asset")
