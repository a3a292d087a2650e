"""`entasis ledger check`: is the file sound, and do its projections equal a replay?

Three questions, cheapest first: SQLite's own check (quick or full, state/integrity.py), the
foreign keys, and whether orders, fills, positions and balances equal what
`rebuild_projections()` computes from the event log alone (ARCHITECTURE principle 6). The
replay runs on a temporary copy made with the online backup API, never on the live file,
so a check is safe while the daemon runs.

The balance projection needs each symbol's base and quote asset, which the daemon gets
from the exchange. The check infers them from the asset names in `balances`; a symbol it
cannot split unambiguously leaves balances out of the comparison, and the report says so.
"""

from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from state.backup import copy_database
from state.integrity import LedgerDamaged, connect_read_only, preflight
from state.ledger import Ledger
from state.schema import PROJECTION_TABLES


@dataclass(slots=True)
class CheckReport:
    """The verdict of `audit`; `ok` is True only when every question passed."""

    path: Path
    full: bool
    file: str = "ok"
    foreign_keys: list[str] = field(default_factory=list)
    schema_version: int | None = None
    events: int | None = None
    projections: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Sound file, no dangling keys, every compared projection equal to the replay."""
        return (self.file == "ok" and not self.foreign_keys
                and all(v in ("equal", "not compared") for v in self.projections.values()))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for `--json`."""
        return {"ok": self.ok, "path": str(self.path),
                "check": "integrity_check" if self.full else "quick_check", "file": self.file,
                "foreign_keys": self.foreign_keys, "schema_version": self.schema_version,
                "events": self.events, "projections": self.projections, "notes": self.notes}


def audit(path: Path, *, full: bool = False) -> CheckReport:
    """Check the ledger at `path` read-only; the replay runs on a temporary copy."""
    report = CheckReport(path, full)
    try:
        if not preflight(path, full=full):
            report.file = "missing"
            return report
    except LedgerDamaged as exc:
        report.file = exc.detail
        report.notes.append(f"to recover: {exc.remedy}")
        return report
    with tempfile.TemporaryDirectory(prefix="entasis-check-") as scratch:
        copy = Path(scratch) / "ledger.sqlite"
        source = connect_read_only(path)
        try:
            report.schema_version = int(source.execute("PRAGMA user_version").fetchone()[0])
            copy_database(source, copy)
        finally:
            source.close()
        _compare_replay(copy, report)
    return report


def _compare_replay(copy: Path, report: CheckReport) -> None:
    """Foreign keys, then each projection's digest before and after a replay, on `copy`."""
    conn = sqlite3.connect(copy)
    try:
        assets, unknown = infer_assets(conn)
    finally:
        conn.close()
    with Ledger.open(copy, durable=False, assets_of=assets.get) as ledger:
        report.foreign_keys = [str(row) for row in ledger.db.execute(
            "PRAGMA foreign_key_check").fetchall()[:5]]
        compared = [t for t in PROJECTION_TABLES if t != "balances" or not unknown]
        before = {table: ledger.table_digest([table]) for table in compared}
        report.events = ledger.rebuild_projections()
        for table in PROJECTION_TABLES:
            if table not in before:
                report.projections[table] = "not compared"
            else:
                same = ledger.table_digest([table]) == before[table]
                report.projections[table] = "equal" if same else "differs from a replay"
    if unknown:
        report.notes.append("balances not compared: cannot tell the base and quote asset of "
                            + ", ".join(sorted(unknown)[:5]))


def infer_assets(conn: sqlite3.Connection) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """symbol -> (base, quote) from the asset names in `balances`, and the symbols that no
    unique pair of them spells (BTCUSDT, BTC/USDT and Upbit's KRW-BTC are understood)."""
    assets = [row[0] for row in conn.execute("SELECT asset FROM balances")]
    symbols = {row[0] for table in ("orders", "fills", "positions")
               for row in conn.execute(f"SELECT DISTINCT symbol FROM {table}")}
    found: dict[str, tuple[str, str]] = {}
    unknown: set[str] = set()
    for symbol in symbols:
        pairs = {(base, quote) for base in assets for quote in assets if base != quote
                 and symbol in (base + quote, f"{base}/{quote}", f"{quote}-{base}")}
        if len(pairs) == 1:
            found[symbol] = pairs.pop()
        else:
            unknown.add(symbol)
    return found, unknown
