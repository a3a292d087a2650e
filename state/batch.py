"""`Ledger.batch`'s transaction context: BEGIN IMMEDIATE ... COMMIT, or a SAVEPOINT inside
an open transaction.

Apart from state/ledger.py to keep that module to its writes and queries; the ledger's only
way into it is `Ledger.batch()`.
"""

from __future__ import annotations

import sqlite3
from types import TracebackType

from state.kv_memo import KvMemo


class Batch:
    """`Ledger.batch`'s context: BEGIN IMMEDIATE ... COMMIT (ROLLBACK on any error, the
    cursor memo told), or inside an open transaction SAVEPOINT ... RELEASE (ROLLBACK TO on
    an error, the memo forgetting all). A class, not a generator context manager: a replay
    opens one per minute with fills, and the generator's machinery cost more than the
    savepoint's two statements (tests/unit/test_ledger_nested_batch.py)."""

    __slots__ = ("_conn", "_kv", "_nested")

    def __init__(self, conn: sqlite3.Connection, kv: KvMemo) -> None:
        self._conn = conn
        self._kv = kv
        self._nested = False

    def __enter__(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("SAVEPOINT batch")
            self._nested = True
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._kv.begin()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        conn = self._conn
        if self._nested:
            if exc_type is not None:
                self._kv.abort()  # it no longer knows what the file holds: writes again
                if conn.in_transaction:
                    conn.execute("ROLLBACK TO batch")
                    conn.execute("RELEASE batch")
                return
            conn.execute("RELEASE batch")
            return
        if exc_type is None:
            try:
                conn.execute("COMMIT")
                self._kv.commit()
                return
            except BaseException:
                self._abort()
                raise
        self._abort()

    def _abort(self) -> None:
        self._kv.abort()
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
