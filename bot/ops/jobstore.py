"""The scheduler's memory: which job slots ran, and the hourly statistics, in SQLite.

A *slot* is one due time of a periodic job (e.g. the 13:00 UTC hourly run). `claim` inserts
the (job, slot) row inside a write transaction and succeeds only if no row exists, so a slot
runs at most once across restarts, crashes and double starts. A row left RUNNING by a dead
process is marked INTERRUPTED on open, which lets its slot run again: it never finished.

Its own file (`data_dir/schedule.sqlite`), not the ledger: the ledger is the trading record
with its own migrations, and nothing here is needed to rebuild the account.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from state.files import create_private, make_private

DONE, FAILED, RUNNING, INTERRUPTED = "DONE", "FAILED", "RUNNING", "INTERRUPTED"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS job_runs (job TEXT NOT NULL, slot_ms INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('RUNNING', 'DONE', 'FAILED', 'INTERRUPTED')),"
    " started_ms INTEGER NOT NULL, finished_ms INTEGER, detail TEXT,"
    " PRIMARY KEY (job, slot_ms)) STRICT",
    "CREATE TABLE IF NOT EXISTS hourly_stats (hour_ms INTEGER PRIMARY KEY, equity REAL NOT NULL,"
    " return_pct REAL NOT NULL, buys INTEGER NOT NULL, sells INTEGER NOT NULL,"
    " closed_trips INTEGER NOT NULL, wins INTEGER NOT NULL, fees TEXT NOT NULL) STRICT",
    "CREATE TABLE IF NOT EXISTS scheduler_kv (key TEXT PRIMARY KEY, value INTEGER NOT NULL)"
    " STRICT",
)


def wall_ms() -> int:
    """Epoch milliseconds from the system clock."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class JobRun:
    """One slot's run as recorded."""

    job: str
    slot_ms: int
    status: str
    started_ms: int
    finished_ms: int | None
    detail: str | None


class JobStore:
    """schedule.sqlite: job runs, hourly stats, and when the scheduler was first started."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        create_private(self.path)  # 0600 whatever the umask; its -wal/-shm inherit the mode
        make_private(self.path)  # one created 0644 before this rule
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA busy_timeout = 5000")
        for statement in _SCHEMA:
            self._conn.execute(statement)
        self._conn.execute("UPDATE job_runs SET status = ? WHERE status = ?",
                           (INTERRUPTED, RUNNING))

    def close(self) -> None:
        """Close the file."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def first_started_ms(self, now_ms: int) -> int:
        """When a scheduler first ran on this data dir (recorded on the first call)."""
        self._conn.execute("INSERT OR IGNORE INTO scheduler_kv (key, value) VALUES (?, ?)",
                           ("first_started_ms", now_ms))
        return int(self._conn.execute("SELECT value FROM scheduler_kv WHERE key = ?",
                                      ("first_started_ms",)).fetchone()[0])

    def claim(self, job: str, slot_ms: int, now_ms: int) -> bool:
        """Mark `job`'s slot as RUNNING; False if it already ran, runs, or failed."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            row = self._conn.execute("SELECT status FROM job_runs WHERE job = ? AND slot_ms = ?",
                                     (job, slot_ms)).fetchone()
            if row is not None and row[0] != INTERRUPTED:
                self._conn.execute("COMMIT")
                return False
            self._conn.execute(
                "INSERT INTO job_runs (job, slot_ms, status, started_ms) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (job, slot_ms) DO UPDATE SET status = excluded.status,"
                " started_ms = excluded.started_ms, finished_ms = NULL, detail = NULL",
                (job, slot_ms, RUNNING, now_ms))
            self._conn.execute("COMMIT")
            return True
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def finish(self, job: str, slot_ms: int, ok: bool, detail: str, now_ms: int) -> None:
        """Record how the slot's run ended (DONE or FAILED, with a short detail)."""
        self._conn.execute(
            "UPDATE job_runs SET status = ?, finished_ms = ?, detail = ? WHERE job = ? AND slot_ms = ?",
            (DONE if ok else FAILED, now_ms, detail[:4000], job, slot_ms))

    def has_run(self, job: str, slot_ms: int) -> bool:
        """True when the slot is DONE, FAILED or RUNNING (an INTERRUPTED one may run again)."""
        row = self._conn.execute("SELECT status FROM job_runs WHERE job = ? AND slot_ms = ?",
                                 (job, slot_ms)).fetchone()
        return row is not None and row[0] != INTERRUPTED

    def runs(self, job: str | None = None) -> list[JobRun]:
        """Recorded runs, oldest slot first (optionally of one job)."""
        sql = "SELECT job, slot_ms, status, started_ms, finished_ms, detail FROM job_runs"
        rows = (self._conn.execute(sql + " WHERE job = ? ORDER BY slot_ms", (job,)) if job
                else self._conn.execute(sql + " ORDER BY slot_ms, job"))
        return [JobRun(*row) for row in rows]

    # -- hourly statistics ----------------------------------------------------------------

    def last_stats_hour(self) -> int | None:
        """The newest stored hour (epoch ms), or None."""
        return self._conn.execute("SELECT max(hour_ms) FROM hourly_stats").fetchone()[0]

    def store_hours(self, rows: Iterable[dict[str, Any]]) -> int:
        """Insert or replace hourly rows (`HourStats.as_dict()`), in one transaction."""
        rows = list(rows)
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany(
                "INSERT OR REPLACE INTO hourly_stats (hour_ms, equity, return_pct, buys, sells,"
                " closed_trips, wins, fees) VALUES (:hour_ms, :equity, :return_pct, :buys,"
                " :sells, :closed_trips, :wins, :fees)", rows)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        return len(rows)

    def hours(self, limit: int = 48) -> list[dict[str, Any]]:
        """The newest `limit` stored hours, oldest first."""
        cursor = self._conn.execute(
            "SELECT * FROM (SELECT * FROM hourly_stats ORDER BY hour_ms DESC LIMIT ?)"
            " ORDER BY hour_ms", (limit,))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor]
