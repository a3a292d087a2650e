"""A new ledger file appears whole or not at all (no 0-byte or half-migrated file is ever
visible at its path): built beside it and hard-linked into place."""

from __future__ import annotations

import os
import secrets
import sqlite3
from pathlib import Path

from state.files import create_private, fsync_dir
from state.integrity import shm_path, wal_path
from state.schema import migrate
from state.sqlite import Database


def create_ledger_file(path: Path) -> None:
    """Make a new, fully migrated ledger appear at `path` in one step (mode 0600).

    Built beside it under a temporary name and hard-linked into place, so no other process
    ever sees a 0-byte or half-made file there (`preflight` refuses an empty one: an empty
    file is a lost account, not a new one). If another process wins the race, its file is
    used and ours is discarded.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.new")
    create_private(temporary)
    try:
        conn = sqlite3.connect(temporary, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            migrate(Database(conn))
        finally:
            conn.close()  # checkpoints: the file holds everything, its -wal is gone
        try:
            os.link(temporary, path)  # atomic, and never replaces an existing file
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            if not path.exists():
                os.rename(temporary, path)
        fsync_dir(path.parent)
    finally:
        for leftover in (temporary, wal_path(temporary), shm_path(temporary)):
            leftover.unlink(missing_ok=True)
