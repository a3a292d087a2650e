"""Ledger schema: explicit tables, a version number, and forward-only migrations.

The version lives in SQLite's own header (`PRAGMA user_version`), so it is read without any
table existing and changes in the same transaction as the migration that bumps it: a crash
mid-migration leaves the file at the old version with the old tables, never in between.

Money is TEXT holding a plain decimal string (`format(Decimal, "f")`), never REAL: a float
cannot hold 0.1 exactly, and the ledger must reproduce amounts to the last digit. Tables are
STRICT so a stray float cannot slip into a TEXT column as a different type.

To change the schema, append a function to `MIGRATIONS`; never edit one that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable

from model import errors
from state.sqlite import Database


class SchemaError(errors.DataError):
    """The ledger file cannot be used by this version of Entasis; the message says why."""


class SchemaTooNew(SchemaError):
    """The file was written by a newer Entasis: refuse rather than misread or damage it."""


def _create_tables(db: Database) -> None:
    """Version 1: the event log, its projections, and the audit/report tables."""
    db.table("events").create(
        {"seq": int, "ts_event": int, "ts_recv": int, "kind": str, "client_order_id": str,
         "payload": str},
        pk="seq", not_null={"ts_event", "ts_recv", "kind", "payload"}, strict=True)
    # side/type/amount are NULL only for an order we first hear of by its rejection.
    # `locked` is what this order still holds of the account (quote for a buy, base for a
    # sell), so a fill or cancel releases exactly what the acceptance locked.
    db.table("orders").create(
        {"client_order_id": str, "symbol": str, "side": str, "type": str, "price": str,
         "amount": str, "filled": str, "locked": str, "status": str, "created_ts": int,
         "updated_ts": int},
        pk="client_order_id",
        not_null={"symbol", "filled", "locked", "status", "created_ts", "updated_ts"},
        strict=True)
    db.table("fills").create(
        {"trade_id": str, "client_order_id": str, "symbol": str, "side": str, "price": str,
         "amount": str, "fee": str, "liquidity": str, "ts_event": int},
        pk="trade_id", foreign_keys=[("client_order_id", "orders", "client_order_id")],
        not_null={"client_order_id", "symbol", "side", "price", "amount", "fee", "ts_event"},
        strict=True)
    db.table("positions").create(
        {"symbol": str, "amount": str, "avg_price": str, "realized_pnl": str,
         "updated_ts": int},
        pk="symbol", not_null={"amount", "avg_price", "realized_pnl", "updated_ts"},
        strict=True)
    db.table("balances").create(
        {"asset": str, "free": str, "locked": str, "updated_ts": int},
        pk="asset", not_null={"free", "locked", "updated_ts"}, strict=True)
    db.table("equity").create(
        {"ts": int, "equity": str, "cash": str, "positions_value": str},
        pk="ts", not_null={"equity", "cash", "positions_value"}, strict=True)
    db.table("decisions").create(
        {"id": int, "ts": int, "symbol": str, "score": float, "reasons": str, "action": str,
         "sizing": str, "verdict": str, "detail": str},
        pk="id", not_null={"ts", "symbol", "action", "verdict"}, strict=True)
    db.table("kv").create({"key": str, "value": str}, pk="key", not_null={"value"}, strict=True)


def _index_and_guard(db: Database) -> None:
    """Version 2: indexes for the ledger's own queries; the event log refuses edits.

    Append-only is enforced by the database, not by convention: replay and the determinism
    digest are only meaningful if no code path can rewrite history.
    """
    db.table("events").create_index(["client_order_id"])
    db.table("fills").create_index(["client_order_id"])
    db.table("fills").create_index(["ts_event"])
    db.table("orders").create_index(["status"])
    db.table("decisions").create_index(["ts"])
    for action in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER events_append_only_{action.lower()} BEFORE {action} ON events "
            "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END")


def _models_table(db: Database) -> None:
    """Version 3: the self-play model registry (`rl.registry`), beside the ledger it trades.

    The database, not the code, guarantees the invariants promotion relies on: a status is
    one of four words, and at most one row is `best` (a partial unique index), so a crash or
    a second process can never leave two best players for the daemon to choose between.
    """
    db.execute(
        "CREATE TABLE models ("
        " version TEXT PRIMARY KEY,"
        " parent TEXT REFERENCES models(version),"
        " created_ts INTEGER NOT NULL,"
        " updated_ts INTEGER NOT NULL,"
        " data_start_ms INTEGER,"
        " data_end_ms INTEGER,"
        " status TEXT NOT NULL"
        "  CHECK (status IN ('best', 'candidate', 'rejected', 'retired')),"
        " path TEXT NOT NULL,"
        " arena_stats TEXT"
        ") STRICT")
    db.execute("CREATE UNIQUE INDEX models_one_best ON models(status) WHERE status = 'best'")
    db.table("models").create_index(["created_ts"])


def _decisions_anomaly_score(db: Database) -> None:
    """Version 4: each decision records the coin's anomaly score (risk/anomaly.py) as a
    multiple of its alarm threshold (>= 1 = in alarm); NULL when detection is off."""
    db.execute("ALTER TABLE decisions ADD COLUMN anomaly_score REAL")


def _decisions_forecast(db: Database) -> None:
    """Version 5: each decision records the served forecast (strategies/forecast/) for the
    coin: expected log return over the served horizon and its calibrated confidence; NULL
    when the forecast is off or has no value for the coin."""
    db.execute("ALTER TABLE decisions ADD COLUMN forecast_return REAL")
    db.execute("ALTER TABLE decisions ADD COLUMN forecast_confidence REAL")


def _executions_table(db: Database) -> None:
    """Version 6: execution quality (trading/execution_quality.py), one row per order placed
    in paper or live trading: what the fill model expected at submission (reference mid,
    expected price and slippage, fill probability within a horizon) and, once the order
    ended, what happened (outcome, average fill price, filled share, slippage, time to
    fill). Realized columns are NULL while the order is open. Not a projection of `events`
    (the expectation needs the market at the decision), so `rebuild_projections` keeps it;
    no foreign key to `orders` for the same reason (a rebuild empties `orders` first)."""
    db.execute(
        "CREATE TABLE executions ("
        " client_order_id TEXT PRIMARY KEY,"
        " symbol TEXT NOT NULL,"
        " side TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),"
        " type TEXT NOT NULL,"
        " amount TEXT NOT NULL,"
        " limit_price TEXT,"
        " submitted_ts INTEGER NOT NULL,"
        " horizon_ms INTEGER NOT NULL,"
        " reference_price TEXT NOT NULL,"
        " expected_price TEXT NOT NULL,"
        " expected_slippage_bps REAL NOT NULL,"
        " fill_probability REAL NOT NULL,"
        " queue_ahead REAL,"
        " marketable INTEGER NOT NULL,"
        " outcome TEXT,"
        " completed_ts INTEGER,"
        " filled_amount TEXT,"
        " avg_fill_price TEXT,"
        " filled_share REAL,"
        " filled_share_in_horizon REAL,"
        " realized_slippage_bps REAL,"
        " time_to_fill_ms INTEGER"
        ") STRICT")
    db.execute("CREATE INDEX executions_completed ON executions(completed_ts)")


Migration = Callable[[Database], None]

MIGRATIONS: list[Migration] = [_create_tables, _index_and_guard, _models_table,
                               _decisions_anomaly_score, _decisions_forecast,
                               _executions_table]
"""Migration i takes a file from version i to i + 1. Append only."""

SCHEMA_VERSION = len(MIGRATIONS)

PROJECTION_TABLES = ("orders", "fills", "positions", "balances")
"""Tables derived from `events` alone; `rebuild_projections()` recomputes exactly these."""

ALL_TABLES = ("balances", "decisions", "equity", "events", "executions", "fills", "kv", "models",
              "orders", "positions")

DIGEST_SKIPS_WHEN_EMPTY = ("executions",)
"""Tables `Ledger.table_digest()` leaves out while they hold no row. A backtest never writes
execution quality, so its digest stays the one documented before the table existed; a row in
one of them counts like any other (a paper run's digest covers its executions)."""


def schema_version(db: Database) -> int:
    """The version recorded in the file's header (0 for a new, empty file)."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def check_not_newer(db: Database) -> None:
    """Refuse a file written by a newer Entasis, before anything touches it."""
    found = schema_version(db)
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"ledger schema version {found} is newer than this Entasis understands "
            f"({SCHEMA_VERSION}); upgrade Entasis or open a copy made for this version")


def migrate(db: Database, target: int = SCHEMA_VERSION) -> int:
    """Apply pending migrations up to `target`, each in its own transaction; return it.

    Each step takes the write lock (BEGIN IMMEDIATE) and re-reads the version inside it, so
    two processes opening the same old file never apply a step twice.
    """
    check_not_newer(db)
    conn = db.conn
    for version in range(schema_version(db), target):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(db) == version:  # another process may have done it meanwhile
                MIGRATIONS[version](db)
                conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return schema_version(db)
