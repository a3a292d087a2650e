"""The SQLite ledger: every state change is an event, committed with its projection.

`record(event)` appends the event to `events` and updates `orders`, `fills`, `positions`
and `balances` in one transaction, so after any crash the file holds either both or neither.
`rebuild_projections()` recomputes those tables from `events` alone; a test checks the
result is byte-identical (`table_digest()`), which is what makes the log the truth.

Durability: the file is in WAL mode, so readers (CLI status, reports) never block the
writer and a killed process loses nothing it committed. `durable=True` (the default, for
live and paper money) sets `synchronous=FULL`: every commit is fsynced and survives power
loss too. `durable=False` sets `synchronous=NORMAL` for replay and backtests: commits
survive a process crash but the last few may be lost on power loss (the file is never
corrupted), which costs nothing there because a backtest is rerun, not recovered.

The per-event write path uses plain sqlite3 prepared statements (see `state.stores`);
schema, reads and reports use sqlite-utils.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from model.instruments import Instrument
from state.batch import Batch
from state.codec import LedgerEvent, canonical_json, decimal_text, decode
from state.decision_rows import DECISIONS_PER_INSERT, HOLD_FIELDS, decision_row, decisions_insert
from state.executions import ExecutionTable
from state.files import make_private
from state.integrity import preflight, shm_path, wal_path
from state.kv_epoch import KvEpochMemo
from state.ledger_queries import LedgerQueries
from state.new_file import create_ledger_file
from state.pending_rows import UPSERT_EQUITY, PendingRows, write_holds
from state.projection import AssetsOf, Projector
from state.schema import (
    ALL_TABLES,
    DIGEST_SKIPS_WHEN_EMPTY,
    PROJECTION_TABLES,
    check_not_newer,
    migrate,
)
from state.sqlite import Database
from state.stores import Sqlite3Store

T = TypeVar("T")


def assets_from(instruments: Mapping[str, Instrument]) -> AssetsOf:
    """A symbol -> (base, quote) lookup over known instruments (None for others)."""
    def assets_of(symbol: str) -> tuple[str, str] | None:
        instrument = instruments.get(symbol)
        return None if instrument is None else (instrument.base, instrument.quote)
    return assets_of


def _no_assets(symbol: str) -> None:
    return None


class Ledger(LedgerQueries):
    """One open ledger file. Not thread-safe: it belongs to the engine's loop thread.

    Its read-side queries (`order`, `fills`, `decisions`, `equity_curve`, ...) are in
    `LedgerQueries` (state/ledger_queries.py)."""

    def __init__(self, db: Database, path: Path, assets_of: AssetsOf) -> None:
        """Use `Ledger.open`; this only wires an already prepared connection."""
        self.db = db
        self.path = path
        self._conn = db.conn
        self._store = Sqlite3Store(self._conn)
        self._projector = Projector(assets_of)
        # Expected vs realized execution of each order (state/executions.py)
        self.executions = ExecutionTable(self._conn)
        self._kv = KvEpochMemo()  # kv texts known committed (set_kv_unless_same)
        # HOLD rows and equity snapshots held back until the commit (state/pending_rows.py)
        self._pending = PendingRows()
        self.hold_back_rows = False  # a replay's choice; the daemon writes them at once

    @classmethod
    def open(cls, path: str | Path, *, instruments: Mapping[str, Instrument] | None = None,
             durable: bool = True, assets_of: AssetsOf | None = None) -> Ledger:
        """Open (creating or migrating) the ledger at `path`.

        `instruments` tells the balance projection each symbol's base and quote asset;
        without it balances change only through `BalanceSet` events (`assets_of` gives the
        same lookup directly, for a check that has no instruments). Raises `LedgerDamaged`
        (state/integrity.py) for a damaged, empty or unreadable file and `SchemaTooNew` for
        a file written by a newer Entasis, both before writing a byte to it. Files are 0600.
        """
        path = Path(path)
        if not preflight(path):  # read-only checks first: a damaged file is never written
            create_ledger_file(path)
        for file in (path, wal_path(path), shm_path(path)):
            make_private(file)  # one made 0644 before this rule; new ones are 0600 already
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, sqlite-utils does the same
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            db = Database(conn)
            check_not_newer(db)
            db.enable_wal()
            conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA busy_timeout = 5000")
            migrate(db)
        except BaseException:
            conn.close()
            raise
        if assets_of is None:
            assets_of = assets_from(instruments) if instruments else _no_assets
        return cls(db, path, assets_of)

    def use_instruments(self, instruments: Mapping[str, Instrument]) -> None:
        """Tell the balance projection each symbol's base and quote asset, for a ledger opened
        before they were known: the daemon opens (and so checks) its ledger first, before it
        starts the market that lists the instruments. Applies to events recorded from now on."""
        self._projector = Projector(assets_from(instruments))

    def close(self) -> None:
        """Close the file (a clean close also checkpoints the WAL into the main file)."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------------------

    def batch(self) -> Batch:
        """One transaction around many writes (a whole decision step: its events, decisions,
        equity and cursor): all of it commits, or none of it, and one commit is cheaper than
        one per row. Writes inside join it. A nested `batch` is a savepoint of the outer
        one: it too keeps all of its writes or none (an error inside it undoes them and
        goes on up), and they commit with the outer transaction (a replay groups many
        decision steps in one, bot/research/backtest.py)."""
        return Batch(self._conn, self._kv, self._pending)

    def _transaction(self, work: Callable[[], T]) -> T:
        """Run `work` in one write transaction: all of it commits, or none of it."""
        if self._conn.in_transaction:  # inside `batch()`: part of the caller's transaction
            return work()
        with self.batch():
            return work()

    def _append(self, event: LedgerEvent) -> int:
        seq = self._store.append_event(event)
        self._projector.apply(event, self._store)
        return seq

    def record(self, event: LedgerEvent) -> int:
        """Append one event and its projection in one committed transaction; return its seq.

        A duplicate trade id raises `sqlite3.IntegrityError` and records nothing, so a fill
        replayed by a reconnecting broker cannot be counted twice.
        """
        return self._transaction(lambda: self._append(event))

    def record_all(self, events: Iterable[LedgerEvent]) -> list[int]:
        """Append many events in one transaction (replay speed); all or none commit."""
        return self._transaction(lambda: [self._append(event) for event in events])

    def record_decision(self, ts: int, symbol: str, action: str | Enum, verdict: str | Enum,
                        *, score: float | None = None, reasons: Any = None,
                        sizing: Any = None, detail: str | None = None,
                        anomaly_score: float | None = None,
                        forecast_return: float | None = None,
                        forecast_confidence: float | None = None) -> int:
        """Audit one decision (taken or denied, and why); return its id."""
        self._pending.write(self._conn)  # after the rows held back: ids in order
        cursor = self._conn.execute(*decisions_insert([decision_row(
            ts, symbol, action, verdict, score=score, reasons=reasons, sizing=sizing,
            detail=detail, anomaly_score=anomaly_score, forecast_return=forecast_return,
            forecast_confidence=forecast_confidence)]))
        return int(cursor.lastrowid or 0)

    def record_decisions(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Audit many decisions, in order (`decision_row` makes each), a multi-row INSERT
        per `DECISIONS_PER_INSERT` rows: state/decision_rows.py says why."""
        batch = rows if isinstance(rows, list) else list(rows)
        self._pending.write(self._conn)  # after the rows held back: ids in order
        for start in range(0, len(batch), DECISIONS_PER_INSERT):
            self._conn.execute(*decisions_insert(batch[start:start + DECISIONS_PER_INSERT]))

    def record_holds(self, values: list[Any]) -> None:
        """Audit HOLD decisions without sizing, anomaly score or forecast, in order, from
        `values`: each row's ts, symbol, score, reasons' JSON text and detail, one row after
        the other (`insert_holds`). The rows `record_decisions` stores for them, five values
        bound a row instead of seven (a quiet decision step's every row); held back to the
        commit when `hold_back_rows` (state/pending_rows.py). Raises ValueError for values
        that are not a whole number of rows."""
        if self._holding():
            if len(values) % HOLD_FIELDS:
                raise ValueError(f"HOLD rows have {HOLD_FIELDS} values each, not {len(values)}")
            self._pending.holds.extend(values)
            return
        write_holds(self._conn, values)

    def _holding(self) -> bool:
        """Whether rows are held back now: asked to, in a transaction this ledger began."""
        return self.hold_back_rows and self._pending.open and self._conn.in_transaction

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open on this connection (a caller's `batch`)."""
        return self._conn.in_transaction

    def snapshot_equity(self, ts: int, *, equity: Decimal, cash: Decimal,
                        positions_value: Decimal) -> None:
        """Store the account value at `ts` (a second snapshot at the same ts replaces it);
        held back to the commit when `hold_back_rows` (state/pending_rows.py)."""
        row = (ts, decimal_text(equity), decimal_text(cash), decimal_text(positions_value))
        if self._holding():
            self._pending.equity.append(row)
            return
        self._conn.execute(UPSERT_EQUITY, row)

    def set_kv(self, key: str, value: Any) -> None:
        """Store a small JSON value under `key` (trading state, cursors, model ids)."""
        self._kv.forget(key)
        self._write_kv(key, canonical_json(value))

    def set_kv_unless_same(self, key: str, value: Any) -> None:
        """`set_kv`, but inside a `batch` no write when this ledger has committed (or
        written in the open batch) the same JSON text under `key`: for a key only this
        ledger object writes, saved at every step with mostly unchanged values (the
        trader's cursor). A rollback forgets what it knew (state/kv_memo.py)."""
        self._set_text_unless_same(key, canonical_json(value))

    def set_kv_made_from(self, key: str, source: Any, to_value: Callable[[Any], Any]) -> None:
        """`set_kv_unless_same(key, to_value(source))` for an immutable `source`, whose text
        is kept with it (KvMemo.text_made_from): an unchanged object (the trader's trading
        state on most steps) is neither converted nor encoded again."""
        self._set_text_unless_same(key, self._kv.text_made_from(
            key, source, lambda: canonical_json(to_value(source))))

    def kv_epoch(self) -> int | None:
        """Inside a transaction the ledger began: a number that stays the same while every
        kv text it knows holds there stays known (state/kv_epoch.py), so a writer whose
        `set_kv_unless_same`/`set_kv_made_from` saves of the same texts came at this epoch
        knows that saving them again writes nothing. None outside one (a save there is
        always written)."""
        kv = self._kv
        return kv.epoch if kv.in_transaction and self._conn.in_transaction else None

    def _set_text_unless_same(self, key: str, text: str) -> None:
        if not self._kv.unchanged(key, text, self._conn.in_transaction):
            self._write_kv(key, text)
            self._kv.wrote(key, text, self._conn.in_transaction)

    def _write_kv(self, key: str, text: str) -> None:
        self._conn.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, text))

    def get_kv(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under `key`, or `default` (Decimals come back as str)."""
        row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    # -- replay and checks ----------------------------------------------------------------

    def rebuild_projections(self) -> int:
        """Recompute orders, fills, positions and balances from `events` alone, in one
        transaction; return the number of events replayed."""
        def replay() -> int:
            for table in ("fills", *[t for t in PROJECTION_TABLES if t != "fills"]):
                self._conn.execute(f"DELETE FROM {table}")  # fills first: they point at orders
            count = 0
            cursor = self._conn.execute("SELECT kind, payload FROM events ORDER BY seq")
            for kind, payload in cursor:
                self._projector.apply(decode(kind, payload), self._store)
                count += 1
            return count
        return self._transaction(replay)

    def table_digest(self, tables: Iterable[str] | None = None) -> str:
        """SHA-256 over every row of `tables` in primary-key order: equal digests mean equal
        ledgers, which is how determinism tests compare two runs. By default every table in
        the file, so a table added later can never be left out of a comparison silently;
        only a table of `DIGEST_SKIPS_WHEN_EMPTY` is, while it holds no row (a backtest's
        digest stays the one documented before that table existed)."""
        if tables is None:
            tables = [row[0] for row in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                if row[0] not in DIGEST_SKIPS_WHEN_EMPTY or self._has_rows(row[0])]
        self._pending.write(self._conn)  # rows a replay holds back in its open hour count
        digest = hashlib.sha256()
        for name in sorted(tables):
            table = self.db.table(name)
            order = ", ".join(table.pks)
            cursor = self._conn.execute(f"SELECT * FROM {name} ORDER BY {order}")
            header = [name, [d[0] for d in cursor.description]]
            digest.update(canonical_json(header).encode())
            for row in cursor:
                digest.update(b"\n")
                digest.update(canonical_json(list(row)).encode())
            digest.update(b"\n\n")
        return digest.hexdigest()

    def _has_rows(self, table: str) -> bool:
        self._pending.write(self._conn)
        return self._conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None

    def integrity_check(self) -> str:
        """SQLite's own verdict on the file ("ok" when sound), foreign keys included."""
        self._pending.write(self._conn)
        verdict = self._conn.execute("PRAGMA integrity_check").fetchone()[0]
        broken = self._conn.execute("PRAGMA foreign_key_check").fetchall()
        return verdict if not broken else f"foreign key violations: {broken[:5]}"

    def counts(self) -> dict[str, int]:
        """Rows per table, for status reports."""
        self._pending.write(self._conn)
        return {name: self.db.table(name).count for name in ALL_TABLES}
