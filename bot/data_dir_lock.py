"""The data directory held by one process: a second `entasis run` on it would share the
ledger, overwrite `control.json` and delete it on exit, leaving the first uncontrollable.

`DataDirLock` is an `flock` on `entasis.lock` (the holder's pid written inside), so the OS
drops it when the holder dies, even by kill -9: a stale file never blocks a restart.
`lock_holder` tells tests and tools who holds it. Apart from bot/data_dir.py, which judges
and names the folder's files without holding anything: this is the one part that takes an
OS lock and keeps a file descriptor open for the life of the process.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from bot.data_dir import DataDir, DataDirError, describe_os_error


class DataDirInUse(DataDirError):
    """Another process (a daemon, or `entasis ledger recover`) holds the data directory."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        super().__init__(in_use_message(data_dir, pid))
        self.pid = pid


class DataDirLock:
    """The data directory held by this process (an `flock` on `entasis.lock`) for as long as
    it runs; a second holder is refused with the first one's pid."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = DataDir(data_dir).lock
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write our pid into it; raises `DataDirInUse` naming the data
        directory and the holder's pid when another process holds it, `DataDirError` when
        the lock file cannot be opened."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise DataDirError(describe_os_error(self.data_dir, exc)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _pid_in(fd)
            os.close(fd)
            raise DataDirInUse(self.data_dir, pid) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let the lock go (the file stays: deleting it would race with the next holder)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def lock_holder(data_dir: Path) -> int | None:
    """The pid of the process that holds `data_dir`'s lock, or None when none does (0 when
    one does but has not written its pid yet). For tests and tools: it probes with a shared
    lock for an instant, which a daemon starting in that instant would take for a holder."""
    try:
        fd = os.open(DataDir(data_dir).lock, os.O_RDONLY)
    except OSError:
        return None  # never locked here (or unreadable: the daemon's start will say so)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _pid_in(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _pid_in(fd: int) -> int:
    """The pid a lock holder wrote into the lock file (0 while it has not yet)."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else 0


def in_use_message(data_dir: Path, pid: int | None) -> str:
    """One line: `data_dir` belongs to a running daemon, and what to do."""
    who = f"pid {pid}" if pid else "pid not yet written"
    return (f"data directory {data_dir} is in use by another entasis process ({who}: a "
            "daemon, or a ledger recovery); stop that one first (`entasis stop` or "
            "`systemctl stop entasis`), or give this one a data directory of its own (app.data_dir)")
