"""Is this ledger file sound? Decided read-only, before anything writes to it.

SQLite opens a damaged file without complaint and only fails (or silently misreads) when a
query reaches a damaged page, and a read-write open may replay or reset the write-ahead log.
So `preflight` looks at the file from outside first (empty, not SQLite, unreadable, a WAL
whose header is garbage: SQLite would ignore such a WAL and later overwrite it), then asks
SQLite's `quick_check` (or the full `integrity_check`) through a read-only connection.
Only a file that passes is ever opened for writing: a damaged ledger is refused with one
line that names it, says what is wrong and how to recover, and it stays byte-for-byte as it
was, for a backup restore or a salvage (state/backup.py).

When no `-wal`/`-shm` exist, the check opens the file `immutable` so that refusing a file
leaves no new files beside it either; a damaged verdict is then confirmed without that
flag if a writer appeared meanwhile.
"""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path
from urllib.request import pathname2url

from model import errors

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_BYTES = 100
WAL_MAGIC = (0x377F0682, 0x377F0683)  # checksums in little- / big-endian words
WAL_VERSION = 3007000
WAL_HEADER_BYTES = 32
NOT_DAMAGE = {5, 6, 7, 9}  # SQLITE_BUSY, LOCKED, NOMEM, INTERRUPT: try again, not damage
MAX_PROBLEMS = 3

RECOVER = ("restore the newest backup with `entasis ledger recover` (backups are in "
           "data_dir/backups/), or salvage what is readable with "
           "`entasis ledger recover --salvage`")


#: The exit status of a process that refused (or stopped for) a damaged ledger; the systemd
#: unit does not restart on it (`RestartPreventExitStatus`): a restart would refuse it again.
EXIT_LEDGER_DAMAGED = 4


class LedgerDamaged(errors.DataError):
    """The ledger file cannot be trusted; nothing was written to it.

    `path` is the file, `detail` what is wrong with it, `remedy` what the operator can do.
    `str()` is the one line the CLI prints.
    """

    def __init__(self, path: Path | str, detail: str, remedy: str = RECOVER) -> None:
        self.path = Path(path)
        self.detail = detail
        self.remedy = remedy
        super().__init__(f"ledger {self.path} is damaged: {detail}; Entasis has not written "
                         f"to it. To recover: {remedy}")


class LedgerEmpty(LedgerDamaged):
    """A 0-byte ledger: something truncated it or created it empty. Not a new account."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(
            path, "it is an empty (0-byte) file, not an account",
            f"a fresh account needs the file absent: delete it (rm {path}) or run "
            "`entasis ledger init`; if it held an account, restore a backup with "
            "`entasis ledger recover`")


def wal_path(path: Path) -> Path:
    """The write-ahead log beside a database file."""
    return path.with_name(path.name + "-wal")


def shm_path(path: Path) -> Path:
    """The WAL index (shared memory) file beside a database file."""
    return path.with_name(path.name + "-shm")


def preflight(path: Path | str, *, full: bool = False) -> bool:
    """Check the ledger at `path` without writing to it: False when it does not exist (a
    new ledger may be created there), True when it is sound; raises `LedgerDamaged` (or
    `LedgerEmpty`) saying what is wrong and how to recover.

    `full` runs `PRAGMA integrity_check` (every index against its table, minutes on a
    large file) instead of `quick_check` (page structure and records, seconds).
    """
    path = Path(path)
    wal = wal_path(path)
    if not path.exists():
        if wal.exists() and wal.stat().st_size > 0:
            raise LedgerDamaged(path, f"the database file is missing but its write-ahead log "
                                      f"{wal} holds {wal.stat().st_size} bytes")
        return False
    header = _read_start(path, HEADER_BYTES)
    if not header:
        raise LedgerEmpty(path)
    if not header.startswith(SQLITE_MAGIC):
        raise LedgerDamaged(path, "it is not an SQLite database (its first 16 bytes are not "
                                  "the SQLite header: overwritten, or a different file)")
    if len(header) < HEADER_BYTES:
        raise LedgerDamaged(path, f"it is truncated to {len(header)} bytes")
    wal_problem = wal_header_problem(wal)
    if wal_problem:
        raise LedgerDamaged(path, f"its write-ahead log {wal.name} is not valid ({wal_problem});"
                                  " committed transactions in it may be lost")
    problems = _sqlite_problems(path, full)
    if problems:
        raise LedgerDamaged(path, f"its pages are corrupt (SQLite's "
                                  f"{'integrity' if full else 'quick'}_check: "
                                  + "; ".join(problems) + ")")
    return True


def _read_start(path: Path, size: int) -> bytes:
    """The first `size` bytes, or LedgerDamaged when the file cannot be read at all."""
    try:
        with path.open("rb") as file:
            return file.read(size)
    except IsADirectoryError:
        raise LedgerDamaged(path, "it is a directory, not a file",
                            "point the data dir at the right place, or move it away") from None
    except OSError as exc:
        raise LedgerDamaged(path, f"it cannot be read ({exc.strerror or exc})",
                            "give the daemon's user read and write access to it "
                            f"(chown to that user, chmod 600 {path})") from None


def wal_header_problem(wal: Path) -> str | None:
    """Why the WAL's 32-byte header is not one SQLite wrote, or None (absent, empty, valid).

    SQLite treats a WAL with a bad header as empty and overwrites it on the next write; a
    non-empty WAL that is not valid means something overwrote it, so it is reported."""
    try:
        head = _read_start(wal, WAL_HEADER_BYTES)
    except LedgerDamaged:
        return None if not wal.exists() else f"{wal} cannot be read"
    if not head:
        return None
    if len(head) < WAL_HEADER_BYTES:
        return f"only {len(head)} bytes, shorter than a WAL header"
    magic, version = struct.unpack(">II", head[:8])
    if magic not in WAL_MAGIC:
        return "its header does not start with the WAL magic number"
    if version != WAL_VERSION:
        return f"unknown WAL format version {version}"
    expected = struct.unpack(">II", head[24:32])
    if wal_checksum(head[:24], big_endian=magic & 1 == 1) != expected:
        return "its header checksum does not match"
    return None


def wal_checksum(data: bytes, *, big_endian: bool, s0: int = 0, s1: int = 0
                 ) -> tuple[int, int]:
    """SQLite's WAL checksum over `data` (a multiple of 8 bytes), from the file format doc."""
    word = struct.Struct(">II" if big_endian else "<II")
    for offset in range(0, len(data), 8):
        x0, x1 = word.unpack_from(data, offset)
        s0 = (s0 + x0 + s1) & 0xFFFFFFFF
        s1 = (s1 + x1 + s0) & 0xFFFFFFFF
    return s0, s1


def read_only_uri(path: Path, *, immutable: bool = False) -> str:
    """A `file:` URI that opens `path` read-only (optionally as immutable: no side files)."""
    return (f"file:{pathname2url(str(path.resolve()))}?mode=ro"
            + ("&immutable=1" if immutable else ""))


def _quiet(path: Path) -> bool:
    """No -wal and no -shm: no connection has the file open in WAL mode right now."""
    return not wal_path(path).exists() and not shm_path(path).exists()


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection that sees a running daemon's WAL and never writes it; on a
    file nobody has open it is `immutable`, so reading leaves no -wal/-shm behind."""
    conn = sqlite3.connect(read_only_uri(path, immutable=_quiet(path)), uri=True,
                           isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def _sqlite_problems(path: Path, full: bool) -> list[str]:
    """SQLite's own verdict through a read-only connection: [] when sound."""
    quiet = _quiet(path)
    problems = _ask_sqlite(path, full, immutable=quiet)
    if problems and quiet and wal_path(path).exists():  # a writer appeared: look again
        problems = _ask_sqlite(path, full, immutable=False)
    return problems


def _ask_sqlite(path: Path, full: bool, *, immutable: bool) -> list[str]:
    pragma = f"PRAGMA {'integrity_check' if full else 'quick_check'}({MAX_PROBLEMS})"
    try:
        conn = sqlite3.connect(read_only_uri(path, immutable=immutable), uri=True,
                               isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            rows = [str(row[0]) for row in conn.execute(pragma)]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in NOT_DAMAGE:
            raise
        return [" ".join(str(exc).split())]
    if rows == ["ok"]:
        return []
    lines = [" ".join(line.split()) for row in rows for line in row.splitlines()]
    return [line[:200] for line in lines if line and not line.startswith("***")][:MAX_PROBLEMS]
