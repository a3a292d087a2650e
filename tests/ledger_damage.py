"""Damaged ledgers for tests: the ways a user's file has been found broken, made on purpose.

Each damage takes a sound ledger file (closed, so its WAL is checkpointed away) and breaks
it the way the issue describes: garbage over the middle of the file (the user's 128 kB),
truncation, an overwritten header, a different file, an empty file, a garbage WAL.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from state.ledger import Ledger
from state.sample import SAMPLE_INSTRUMENTS, sample_events

GARBAGE_BYTES = 128 * 1024


def sound_ledger(path: Path, events: int = 2000) -> Path:
    """A closed ledger of `events` seeded sample events (about 0.7 MB at 2000)."""
    with Ledger.open(path, instruments=SAMPLE_INSTRUMENTS, durable=False) as ledger:
        ledger.record_all(sample_events(events))
    return path


def _garbage(size: int, seed: int = 13) -> bytes:
    return random.Random(seed).randbytes(size)


def garbage_in_the_middle(path: Path) -> None:
    """128 kB of random bytes written over the middle of the file (the user's report)."""
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.seek(size // 2 - GARBAGE_BYTES // 2)
        file.write(_garbage(GARBAGE_BYTES))


def truncated(path: Path) -> None:
    """The file cut to half its length (a full disk, an interrupted copy)."""
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)


def header_overwritten(path: Path) -> None:
    """The first 100 bytes (the SQLite header) zeroed."""
    with path.open("r+b") as file:
        file.write(bytes(100))


def not_sqlite(path: Path) -> None:
    """Another file copied over the ledger."""
    path.write_text("timestamp,price\n" + "1700000000000,100.5\n" * 2000)


def empty(path: Path) -> None:
    """A 0-byte file (truncated to nothing, or `touch`ed)."""
    path.write_bytes(b"")


def garbage_wal(path: Path) -> None:
    """A sound database whose write-ahead log is random bytes."""
    path.with_name(path.name + "-wal").write_bytes(_garbage(8192, seed=5))


DAMAGES: dict[str, Callable[[Path], None]] = {
    "garbage_in_the_middle": garbage_in_the_middle,
    "truncated": truncated,
    "header_overwritten": header_overwritten,
    "not_sqlite": not_sqlite,
    "empty": empty,
    "garbage_wal": garbage_wal,
}


def files_of(path: Path) -> dict[str, bytes]:
    """Every file of the ledger at `path` (database, -wal, -shm, -journal) by name, bytes."""
    return {p.name: p.read_bytes() for p in sorted(path.parent.glob(path.name + "*"))}
