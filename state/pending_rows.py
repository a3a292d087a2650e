"""A replay's quiet-step rows, held back until its transaction commits: one write an hour.

Why: a replayed minute's decision step writes ten HOLD rows and an equity snapshot, two
statements a minute between the engine's numba and numpy work. Measured in the replay,
those two statements cost about three times what they cost in a loop of their own
(SQLite's code and pages are cold again each minute); written together at the end of the
hour's transaction, sixty steps' rows go in as 32-row INSERTs and one `executemany`.

What makes it the same ledger (tests/unit/test_pending_rows.py):
- rows are held only inside a transaction the ledger began (`Ledger.batch`), and only when
  the ledger was asked to (`Ledger.hold_back_rows`, a replay's choice: the daemon writes at
  once); they are written before its COMMIT, so they commit with it or not at all;
- they go in the order they came, and every other write to their tables (a step's other
  decisions, a forced exit's row) and every read through the ledger writes them first, so
  ids and row order are the ones direct writes give;
- a savepoint's rollback drops the rows held since it began, a rollback all of them.
A query on the ledger's connection that bypasses the ledger (`ledger._conn`, `ledger.db`)
inside such a transaction does not see them.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from state.decision_rows import DECISIONS_PER_INSERT, HOLD_FIELDS, insert_holds

#: The equity snapshot's statement (a second snapshot at the same ts replaces the first).
UPSERT_EQUITY = (
    "INSERT INTO equity (ts, equity, cash, positions_value) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (ts) DO UPDATE SET equity = excluded.equity, cash = excluded.cash,"
    " positions_value = excluded.positions_value")


def write_holds(conn: sqlite3.Connection, values: list[Any]) -> None:
    """HOLD rows from their flat values (`insert_holds`), `DECISIONS_PER_INSERT` rows an
    INSERT, in order. Raises ValueError when `values` is not a whole number of rows."""
    count, rest = divmod(len(values), HOLD_FIELDS)
    if rest:
        raise ValueError(f"HOLD rows have {HOLD_FIELDS} values each, not {len(values)} in all")
    if count <= DECISIONS_PER_INSERT:
        if count:
            conn.execute(insert_holds(count), values)
        return
    per_insert = DECISIONS_PER_INSERT * HOLD_FIELDS
    for start in range(0, len(values), per_insert):
        chunk = values[start:start + per_insert]
        conn.execute(insert_holds(len(chunk) // HOLD_FIELDS), chunk)


class PendingRows:
    """The HOLD rows' values and equity snapshots held back in the open transaction."""

    __slots__ = ("equity", "holds", "open")

    def __init__(self) -> None:
        """Nothing held."""
        self.holds: list[Any] = []  # HOLD rows' values, flat (`write_holds`)
        self.equity: list[tuple[int, str, str, str]] = []  # UPSERT_EQUITY's parameters
        self.open = False  # a transaction the ledger began (Batch) is open: rows may wait

    def mark(self) -> tuple[int, int]:
        """Where a savepoint begins: what `drop_after` keeps."""
        return len(self.holds), len(self.equity)

    def drop_after(self, mark: tuple[int, int]) -> None:
        """Forget what was held after `mark` (its savepoint was rolled back)."""
        del self.holds[mark[0]:]
        del self.equity[mark[1]:]

    def clear(self) -> None:
        """Forget everything held (the transaction was rolled back): nothing waits now."""
        self.holds.clear()
        self.equity.clear()
        self.open = False

    def write(self, conn: sqlite3.Connection) -> None:
        """Write what is held, in order, and hold nothing more (also when a write fails:
        the transaction is then rolled back, as after a failing direct write)."""
        holds, equity = self.holds, self.equity
        if holds:
            self.holds = []
            write_holds(conn, holds)
        if equity:
            self.equity = []
            conn.executemany(UPSERT_EQUITY, equity)
