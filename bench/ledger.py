"""Ledger write path: events/s, each event and its projection committed on its own.

Measured on the same seeded events, in fresh files, in the same run:
- `sqlite3`: the ledger's path (`Ledger.record`: prepared statements, BEGIN IMMEDIATE/COMMIT);
- `sqlite-utils`: the same projection rules through sqlite-utils' table API (`insert`,
  `upsert`, `get`) inside `db.atomic()`, the readable alternative we chose against;
- the ledger path with `synchronous=FULL` (live default: fsync per commit) and a replay
  batch (`record_all`, one transaction) for scale.
Both per-event paths must end with identical tables (same `table_digest`), or the
comparison is void.
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path

from bench.common import console, rate, show
from state.codec import LedgerEvent
from state.ledger import Ledger, assets_from
from state.projection import Projector
from state.sample import SAMPLE_INSTRUMENTS, sample_events
from state.schema import PROJECTION_TABLES
from state.stores import SqliteUtilsStore

EVENTS = 3_000
FULL_SYNC_EVENTS = 500
SEED = 11


def _ledger_path(events: list[LedgerEvent], path: Path, durable: bool) -> tuple[float, str]:
    """events/s through `Ledger.record`, and the digest of the projections it wrote."""
    with Ledger.open(path, instruments=SAMPLE_INSTRUMENTS, durable=durable) as ledger:
        started = time.perf_counter()
        for event in events:
            ledger.record(event)
        elapsed = time.perf_counter() - started
        return rate(len(events), elapsed), ledger.table_digest(("events", *PROJECTION_TABLES))


def _sqlite_utils_path(events: list[LedgerEvent], path: Path) -> tuple[float, str]:
    """events/s with the same projection written through sqlite-utils, one atomic() each."""
    with Ledger.open(path, instruments=SAMPLE_INSTRUMENTS, durable=False) as ledger:
        db = ledger.db
        store = SqliteUtilsStore(db)
        projector = Projector(assets_from(SAMPLE_INSTRUMENTS))
        started = time.perf_counter()
        for event in events:
            with db.atomic():
                store.append_event(event)
                projector.apply(event, store)
        elapsed = time.perf_counter() - started
        return rate(len(events), elapsed), ledger.table_digest(("events", *PROJECTION_TABLES))


def _batch_path(events: list[LedgerEvent], path: Path) -> float:
    """events/s through `record_all` (one transaction): what a replay can reach."""
    with Ledger.open(path, instruments=SAMPLE_INSTRUMENTS, durable=False) as ledger:
        started = time.perf_counter()
        ledger.record_all(events)
        return rate(len(events), time.perf_counter() - started)


def run() -> dict:
    """Measure and print; return the figures."""
    events = list(sample_events(EVENTS, seed=SEED))
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
        folder = Path(tmp)
        gc.disable()  # collector pauses are not what we measure
        try:
            # Alternate the two paths and keep each one's best round: other processes only
            # ever slow a round down.
            ours, theirs = [], []
            for round_no in range(2):
                ours.append(_ledger_path(events, folder / f"ours{round_no}.db", False))
                theirs.append(_sqlite_utils_path(events, folder / f"su{round_no}.db"))
            full_rate, _ = _ledger_path(events[:FULL_SYNC_EVENTS], folder / "full.db", True)
            batch_rate = _batch_path(events, folder / "batch.db")
        finally:
            gc.enable()
    sqlite3_rate = max(r for r, _ in ours)
    sqlite_utils_rate = max(r for r, _ in theirs)
    same_tables = len({d for _, d in ours + theirs}) == 1
    figures = {
        "events": EVENTS,
        "sqlite3_events_per_s": sqlite3_rate,
        "sqlite_utils_events_per_s": sqlite_utils_rate,
        "sqlite3_over_sqlite_utils": round(sqlite3_rate / sqlite_utils_rate, 2),
        "sqlite3_us_per_event": round(1e6 / sqlite3_rate, 1),
        "sqlite_utils_us_per_event": round(1e6 / sqlite_utils_rate, 1),
        "synchronous": "NORMAL (WAL) for both; FULL measured separately",
        "sqlite3_full_sync_events_per_s": full_rate,
        "full_sync_events": FULL_SYNC_EVENTS,
        "batch_record_all_events_per_s": batch_rate,
        "identical_tables": same_tables,
        "measure": "best of 2 alternating rounds, one commit per event",
    }
    show(f"ledger: {EVENTS} events, event + projection committed per event",
         ["path", "events/s", "us/event", "ratio"],
         [["plain sqlite3 (Ledger.record), sync NORMAL", f"{sqlite3_rate:,.0f}",
           f"{figures['sqlite3_us_per_event']}", f"{figures['sqlite3_over_sqlite_utils']}x"],
          ["sqlite-utils insert/upsert/get, sync NORMAL", f"{sqlite_utils_rate:,.0f}",
           f"{figures['sqlite_utils_us_per_event']}", "1.0x"],
          ["plain sqlite3, sync FULL (fsync per commit)", f"{full_rate:,.0f}",
           f"{round(1e6 / full_rate, 1)}", "-"],
          ["plain sqlite3, record_all (one transaction)", f"{batch_rate:,.0f}",
           f"{round(1e6 / batch_rate, 1)}", "-"]])
    console.print(f"identical tables from both paths: {same_tables}")
    return figures
