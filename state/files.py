"""Private files: the ledger, its backups and the scheduler's store are readable by their
owner only, whatever the umask.

The systemd unit sets `UMask=0077`, but `entasis run` from a shell runs under the login's
umask (often 022), which would leave the trading record world-readable. The mode is set on
the main database file before SQLite first opens it: SQLite gives the `-wal`, `-shm` and
`-journal` files it creates the same mode as the database file, so one chmod covers all.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def create_private(path: Path) -> bool:
    """Create `path` empty with mode 0600 unless it exists; True if this call created it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, PRIVATE_FILE)  # the umask may have removed the owner's bits too
    finally:
        os.close(fd)
    return True


def make_private(path: Path) -> None:
    """Remove group and other access from an existing file made before this rule (0644)."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        return
    if mode & 0o077:
        os.chmod(path, mode & 0o700)


def private_dir(path: Path) -> Path:
    """Create the directory `path` (mode 0700) if missing; return it."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    return path


def fsync_dir(path: Path) -> None:
    """Make a rename or link inside directory `path` survive a power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
