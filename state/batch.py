"""`Ledger.batch`'s transaction context: BEGIN IMMEDIATE ... COMMIT, or a SAVEPOINT inside
an open transaction.

Apart from state/ledger.py to keep that module to its writes and queries; the ledger's only
way into it is `Ledger.batch()`.
"""

from __future__ import annotations

import sqlite3
from types import TracebackType

from state.kv_memo import KvMemo
from state.pending_rows import PendingRows


class Batch:
    """`Ledger.batch`'s context: BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any error, the
    cursor memo told), or inside an open transaction SAVEPOINT ... RELEASE (ROLLBACK TO on
    an error, the memo forgetting all). Rows the ledger held back (state/pending_rows.py)
    are written before the COMMIT, dropped with a rollback, and those held since a
    savepoint with its rollback. A class, not a generator context manager: a replay
    opens one per minute with fills, and the generator's machinery cost more than the
    savepoint's two statements (tests/unit/test_ledger_nested_batch.py)."""

    __slots__ = ("_conn", "_kv", "_mark", "_nested", "_pending")

    def __init__(self, conn: sqlite3.Connection, kv: KvMemo, pending: PendingRows) -> None:
        self._conn = conn
        self._kv = kv
        self._pending = pending
        self._nested = False
        self._mark = (0, 0)

    def __enter__(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("SAVEPOINT batch")
            self._nested = True
            self._mark = self._pending.mark()
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._kv.begin()
        self._pending.open = True

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        conn = self._conn
        if self._nested:
            if exc_type is not None:
                self._kv.abort()  # it no longer knows what the file holds: writes again
                if conn.in_transaction:
                    self._pending.drop_after(self._mark)
                    conn.execute("ROLLBACK TO batch")
                    conn.execute("RELEASE batch")
                else:  # SQLite rolled the whole transaction back
                    self._pending.clear()
                return
            conn.execute("RELEASE batch")
            return
        if exc_type is None:
            try:
                self._pending.write(conn)
                conn.execute("COMMIT")
                self._pending.open = False
                self._kv.commit()
                return
            except BaseException:
                self._abort()
                raise
        self._abort()

    def _abort(self) -> None:
        self._kv.abort()
        self._pending.clear()
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
