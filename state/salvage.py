"""Salvage: copy what SQLite can still read from a damaged ledger into a new file.

The event log is the truth (ARCHITECTURE principle 6), so salvage reads `events` and
rebuilds every projection from them; it does not trust the damaged projection tables.
Events are read in one scan, and where the scan breaks on a damaged page each missing
sequence number is then looked up on its own (a rowid lookup takes another path through
the b-tree, so it often reaches rows a scan cannot). The audit and report tables
(decisions, equity, kv, models) are copied as far as a scan reaches.

The result is written to a new file and never put in place automatically: a ledger with
missing events would replay to wrong balances. The report lists what is missing; the
operator decides, and installs it with `entasis ledger recover --from FILE` if it will do.

A file whose first 100 bytes (the SQLite header) were overwritten cannot be opened by SQLite
at all; salvage then works on a copy with a rebuilt header (page size found by trying the
sizes SQLite allows). The damaged file itself is only ever read.
"""

from __future__ import annotations

import shutil
import sqlite3
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model import errors
from state.audit import infer_assets
from state.codec import decode
from state.integrity import SQLITE_MAGIC, read_only_uri, wal_header_problem, wal_path
from state.ledger import Ledger

EVENT_COLUMNS = "seq, ts_event, ts_recv, kind, client_order_id, payload"
COPIED_TABLES = ("decisions", "equity", "kv", "models")
PAGE_SIZES = (4096, 1024, 2048, 8192, 16384, 32768, 65536, 512)


class SalvageError(errors.DataError):
    """Nothing usable could be read; the message says what else to try."""


@dataclass(slots=True)
class SalvageReport:
    """What was read from the damaged file and written to `out`."""

    source: Path
    out: Path
    events: int = 0
    highest_seq: int = 0
    missing_seqs: list[int] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every event up to the highest sequence number was recovered."""
        return not self.missing_seqs

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for `--json` (the first 20 missing seqs only)."""
        return {"source": str(self.source), "out": str(self.out), "events": self.events,
                "highest_seq": self.highest_seq, "complete": self.complete,
                "missing_events": len(self.missing_seqs),
                "missing_seqs": self.missing_seqs[:20], "rows": self.rows,
                "notes": self.notes}


def salvage(damaged: Path, out: Path) -> SalvageReport:
    """Read what can be read from `damaged` into the new ledger `out` (must not exist)."""
    if out.exists():
        raise SalvageError(f"{out} exists; choose a new --out path")
    report = SalvageReport(damaged, out)
    with tempfile.TemporaryDirectory(prefix="entasis-salvage-") as scratch:
        conn = _open_damaged(damaged, Path(scratch), report)
        try:
            events = _read_events(conn, report)
            if not events:
                raise SalvageError(f"no event could be read from {damaged}; restore a backup "
                                   "instead (`entasis ledger recover`)")
            other = {table: _scan(conn, f"SELECT * FROM {table}") for table in COPIED_TABLES}
            assets = _assets(conn, report)
        finally:
            conn.close()
    with Ledger.open(out, durable=False, assets_of=assets.get) as ledger:
        with ledger.batch():
            ledger.db.conn.executemany(
                f"INSERT INTO events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", events)
            for table, (columns, rows) in other.items():
                report.rows[table] = _insert(ledger, table, columns, rows)
        ledger.rebuild_projections()
    report.events = len(events)
    return report


def _open_damaged(damaged: Path, scratch: Path, report: SalvageReport) -> sqlite3.Connection:
    """A read-only connection to `damaged`, or to a copy with a rebuilt header."""
    with damaged.open("rb") as file:
        head = file.read(100)
    if head.startswith(SQLITE_MAGIC):
        wal = wal_path(damaged)
        usable_wal = wal.exists() and wal.stat().st_size > 0 and not wal_header_problem(wal)
        if not usable_wal and wal.exists() and wal.stat().st_size > 0:
            report.notes.append(f"{wal.name} is not a valid WAL and was ignored")
        return sqlite3.connect(read_only_uri(damaged, immutable=not usable_wal), uri=True)
    copy = scratch / "repaired.sqlite"
    shutil.copyfile(damaged, copy)
    for page_size in PAGE_SIZES:
        _write_header(copy, page_size)
        conn = sqlite3.connect(read_only_uri(copy, immutable=True), uri=True)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            conn.execute("SELECT seq FROM events LIMIT 1").fetchall()
        except sqlite3.DatabaseError:
            conn.close()
            continue
        report.notes.append(f"the SQLite header was rebuilt (page size {page_size})")
        return conn
    raise SalvageError(f"{damaged} is not readable as SQLite even with a rebuilt header; "
                       "restore a backup instead (`entasis ledger recover`)")


def _write_header(path: Path, page_size: int) -> None:
    """A plausible 100-byte SQLite header for a rollback-journal, UTF-8 database."""
    pages = path.stat().st_size // page_size
    header = bytearray(100)
    header[:16] = SQLITE_MAGIC
    struct.pack_into(">H", header, 16, page_size if page_size < 65536 else 1)
    header[18:24] = bytes([1, 1, 0, 64, 32, 32])  # versions, reserved, payload fractions
    struct.pack_into(">IIII", header, 24, 1, pages, 0, 0)  # counter, size, freelist
    struct.pack_into(">IIII", header, 40, 1, 4, 0, 0)  # schema cookie, format 4
    struct.pack_into(">I", header, 56, 1)  # UTF-8
    struct.pack_into(">II", header, 92, 1, 3_040_000)  # version-valid-for, sqlite version
    with path.open("rb+") as file:
        file.write(header)


def _read_events(conn: sqlite3.Connection, report: SalvageReport) -> list[tuple[Any, ...]]:
    """Every decodable event row, by seq: a scan, then a lookup per seq the scan missed."""
    found: dict[int, tuple[Any, ...]] = {}
    _, rows = _scan(conn, f"SELECT {EVENT_COLUMNS} FROM events ORDER BY seq")
    found.update((row[0], row) for row in rows)
    highest = max(found, default=0)
    try:
        highest = max(highest, int(conn.execute("SELECT max(seq) FROM events").fetchone()[0]
                                    or 0))
    except sqlite3.DatabaseError:
        report.notes.append("the highest event seq is unknown; missing events at the end "
                            "cannot be counted")
    for seq in range(1, highest + 1):
        if seq not in found:
            try:
                row = conn.execute(f"SELECT {EVENT_COLUMNS} FROM events WHERE seq = ?",
                                   (seq,)).fetchone()
            except sqlite3.DatabaseError:
                row = None
            if row is not None:
                found[seq] = row
    good = {seq: row for seq, row in found.items() if _decodes(row[3], row[5])}
    report.highest_seq = highest
    report.missing_seqs = [seq for seq in range(1, highest + 1) if seq not in good]
    return [good[seq] for seq in sorted(good)]


def _decodes(kind: str, payload: str) -> bool:
    """Whether a stored event still decodes (a damaged payload counts as missing)."""
    try:
        decode(kind, payload)
    except Exception:  # noqa: BLE001  (any decoding failure means the same: unusable)
        return False
    return True


def _scan(conn: sqlite3.Connection, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The rows a query yields before it hits damage (column names, rows)."""
    rows: list[tuple[Any, ...]] = []
    try:
        cursor = conn.execute(sql)
        columns = [d[0] for d in cursor.description]
        for row in cursor:  # one by one: keep what came before the damaged page
            rows.append(row)
    except sqlite3.DatabaseError:
        return ([], rows) if not rows else (columns, rows)
    return columns, rows


def _assets(conn: sqlite3.Connection, report: SalvageReport) -> dict[str, tuple[str, str]]:
    """symbol -> (base, quote) as far as the damaged file's tables still say."""
    try:
        assets, unknown = infer_assets(conn)
    except sqlite3.DatabaseError:
        assets, unknown = {}, {"(balances unreadable)"}
    if unknown:
        report.notes.append("balances are projected from BalanceSet events only for "
                            + ", ".join(sorted(unknown)[:5]))
    return assets


def _insert(ledger: Ledger, table: str, columns: list[str], rows: list[tuple[Any, ...]]
            ) -> int:
    """Insert scanned rows into the same-named table; rows that no longer fit are skipped."""
    if not columns:
        return 0
    known = {c.name for c in ledger.db.table(table).columns}
    keep = [i for i, c in enumerate(columns) if c in known]
    sql = (f"INSERT OR IGNORE INTO {table} ({', '.join(columns[i] for i in keep)}) "
           f"VALUES ({', '.join('?' for _ in keep)})")
    written = 0
    for row in rows:
        try:
            ledger.db.conn.execute(sql, [row[i] for i in keep])
            written += 1
        except sqlite3.Error:
            pass
    return written
