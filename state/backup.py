"""Backups of the ledger, and putting one back.

`backup` uses SQLite's online backup API (`sqlite3.Connection.backup`) through a read-only
connection: it copies every page inside one read transaction, so the copy is one consistent
moment of the ledger, and a running daemon keeps writing meanwhile (WAL readers never block
the writer). The copy is written under a temporary name, checked, fsynced and renamed into
place, so a backup file is either complete or absent; it is a single self-contained file
(rollback-journal mode, no -wal) with mode 0600.

`restore` puts a backup back only after it passes the full integrity check, and moves the
file it replaces aside (never deletes it). Salvaging what SQLite can still read from a
damaged file is state/salvage.py.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from model import errors
from state.files import create_private, fsync_dir, private_dir
from state.integrity import (
    LedgerDamaged,
    connect_read_only,
    preflight,
    shm_path,
    wal_path,
)
from state.schema import SCHEMA_VERSION

BACKUP_NAME = re.compile(r"^ledger-\d{8}T\d{6}Z\.sqlite$")


class BackupError(errors.OperatorError):
    """A backup could not be made or put back; the message says what to do."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    """Where a backup went, how big it is and how long it took."""

    path: Path
    size_bytes: int
    seconds: float

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for `--json` and job details."""
        return {"path": str(self.path), "size_bytes": self.size_bytes,
                "seconds": round(self.seconds, 3)}


def copy_database(source: sqlite3.Connection, dest: Path) -> None:
    """Write the database behind `source` to the new file `dest` atomically (mode 0600).

    One `backup()` step over all pages (pages=-1) keeps one read transaction for the whole
    copy: a step-wise copy would restart each time another connection writes and might
    never finish under a busy daemon."""
    temporary = dest.with_name(f".{dest.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    create_private(temporary)
    try:
        target = sqlite3.connect(temporary, isolation_level=None)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")  # one file, no -wal to carry
            verdict = target.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            target.close()
        if verdict != "ok":
            raise BackupError(f"the copy written to {temporary} failed its check ({verdict}); "
                              "check the disk (df, dmesg) and try again")
        with temporary.open("rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, dest)
        fsync_dir(dest.parent)
    finally:
        temporary.unlink(missing_ok=True)
        shm_path(temporary).unlink(missing_ok=True)
        wal_path(temporary).unlink(missing_ok=True)


def backup(ledger: Path, dest: Path) -> BackupResult:
    """Back up the ledger at `ledger` to `dest` (replaced if it exists); safe while the
    daemon runs. A damaged ledger raises `LedgerDamaged` and no backup is written: a bad
    copy must never push a good one out of the retention window."""
    started = time.monotonic()
    if not preflight(ledger):
        raise BackupError(f"no ledger at {ledger} to back up; check data_dir or --ledger")
    private_dir(dest.parent)
    source = connect_read_only(ledger)
    try:
        copy_database(source, dest)
    finally:
        source.close()
    return BackupResult(dest, dest.stat().st_size, time.monotonic() - started)


def backup_name(ts_ms: int) -> str:
    """`ledger-YYYYmmddTHHMMSSZ.sqlite` for a UTC time: names sort by time."""
    return time.strftime("ledger-%Y%m%dT%H%M%SZ.sqlite", time.gmtime(ts_ms / 1000))


def list_backups(folder: Path) -> list[Path]:
    """Backups made by `rotate_backup` in `folder`, newest first."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if BACKUP_NAME.match(p.name)), reverse=True)


def rotate_backup(ledger: Path, folder: Path, ts_ms: int, keep: int) -> BackupResult:
    """Back up into `folder` under a timestamped name, then delete all but the newest `keep`
    timestamped backups (other files there are left alone)."""
    result = backup(ledger, folder / backup_name(ts_ms))
    for old in list_backups(folder)[keep:]:
        old.unlink(missing_ok=True)
    return result


def check_backup(path: Path) -> int:
    """Refuse a backup that is damaged or not a ledger this Entasis can use; return its
    schema version. Runs the full integrity check: a restore is rare and must be sound."""
    remedy = "choose another backup: `entasis ledger recover --from PATH`"
    try:
        if not preflight(path, full=True):
            raise BackupError(f"backup {path} does not exist; list them with "
                              "`ls data_dir/backups/`")
    except LedgerDamaged as exc:
        raise LedgerDamaged(path, exc.detail, remedy) from None
    conn = connect_read_only(path)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
    if "events" not in tables:
        raise LedgerDamaged(path, "it is an SQLite file but not an Entasis ledger (no events "
                                  "table)", remedy)
    if version > SCHEMA_VERSION:
        raise BackupError(f"backup {path} has schema version {version}, newer than this "
                          f"Entasis ({SCHEMA_VERSION}); upgrade Entasis first")
    return version


@dataclass(frozen=True, slots=True)
class Restored:
    """What `restore` did: the backup used and where the replaced files went."""

    ledger: Path
    backup: Path
    moved_aside: list[Path]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for `--json`."""
        return {"ledger": str(self.ledger), "backup": str(self.backup),
                "moved_aside": [str(p) for p in self.moved_aside]}


def restore(backup_file: Path, ledger: Path, aside_dir: Path, now_ms: int) -> Restored:
    """Put `backup_file` in place of `ledger` after checking it; the ledger's current files
    (database, -wal, -shm) are moved into `aside_dir`, never deleted. The daemon must be
    stopped (the caller checks)."""
    check_backup(backup_file)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_ms / 1000))
    incoming = ledger.with_name(f".{ledger.name}.restore-{secrets.token_hex(4)}")
    source = connect_read_only(backup_file)
    try:
        copy_database(source, incoming)  # a copy: the backup itself stays as it was
    finally:
        source.close()
    moved: list[Path] = []
    try:
        for current in (ledger, wal_path(ledger), shm_path(ledger)):
            if current.exists():
                target = private_dir(aside_dir) / f"{current.name}.replaced-{stamp}"
                shutil.move(current, target)
                moved.append(target)
        os.replace(incoming, ledger)
        fsync_dir(ledger.parent)
    finally:
        incoming.unlink(missing_ok=True)
    return Restored(ledger, backup_file, moved)
