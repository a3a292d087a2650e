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
from typing import Self

from bench.common import console, rate, show
from state.codec import LedgerEvent
from state.ledger import Ledger, assets_from
from state.projection import Projector
from state.sample import SAMPLE_INSTRUMENTS, sample_events
from state.schema import PROJECTION_TABLES
from state.stores import SqliteUtilsStore

EVENTS = 1_000
ROUNDS = 5
FULL_SYNC_EVENTS = 500
SEED = 11


class _Clock:
    """Wall and CPU time of a block: CPU time is what this process spent, so it shows the
    per-row cost even when other processes share the machine."""

    def __enter__(self) -> Self:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def _ledger_path(events: list[LedgerEvent], path: Path, durable: bool) -> tuple[_Clock, str]:
    """Timing of `Ledger.record` per event, and the digest of the tables it wrote."""
    with Ledger.open(path, instruments=SAMPLE_INSTRUMENTS, durable=durable) as ledger:
        with _Clock() as clock:
            for event in events:
                ledger.record(event)
        return clock, ledger.table_digest(("events", *PROJECTION_TABLES))


def _sqlite_utils_path(events: list[LedgerEvent], path: Path) -> tuple[_Clock, str]:
    """The same projection written through sqlite-utils, one `db.atomic()` per event."""
    with Ledger.open(path, instruments=SAMPLE_INSTRUMENTS, durable=False) as ledger:
        db = ledger.db
        store = SqliteUtilsStore(db)
        projector = Projector(assets_from(SAMPLE_INSTRUMENTS))
        with _Clock() as clock:
            for event in events:
                with db.atomic():
                    store.append_event(event)
                    projector.apply(event, store)
        return clock, ledger.table_digest(("events", *PROJECTION_TABLES))


def _batch_path(events: list[LedgerEvent], path: Path) -> float:
    """events/s through `record_all` (one transaction): what a replay can reach."""
    with Ledger.open(path, instruments=SAMPLE_INSTRUMENTS, durable=False) as ledger:
        started = time.perf_counter()
        ledger.record_all(events)
        return rate(len(events), time.perf_counter() - started)


def _best(clocks: list[_Clock], events: int) -> tuple[float, float]:
    """(events/s from the best wall round, us/event of CPU from the best CPU round)."""
    return (rate(events, min(c.wall for c in clocks)),
            round(min(c.cpu for c in clocks) / events * 1e6, 1))


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
            for round_no in range(ROUNDS):
                ours.append(_ledger_path(events, folder / f"ours{round_no}.db", False))
                theirs.append(_sqlite_utils_path(events, folder / f"su{round_no}.db"))
            full = [_ledger_path(events[:FULL_SYNC_EVENTS], folder / f"full{n}.db", True)[0]
                    for n in range(2)]
            batch_rate = _batch_path(events, folder / "batch.db")
        finally:
            gc.enable()
    sqlite3_rate, sqlite3_cpu = _best([c for c, _ in ours], EVENTS)
    utils_rate, utils_cpu = _best([c for c, _ in theirs], EVENTS)
    full_rate, full_cpu = _best(full, FULL_SYNC_EVENTS)
    same_tables = len({d for _, d in ours + theirs}) == 1
    figures = {
        "events": EVENTS, "rounds": ROUNDS,
        "sqlite3_events_per_s": sqlite3_rate,
        "sqlite_utils_events_per_s": utils_rate,
        "sqlite3_over_sqlite_utils": round(sqlite3_rate / utils_rate, 2),
        "sqlite3_cpu_us_per_event": sqlite3_cpu,
        "sqlite_utils_cpu_us_per_event": utils_cpu,
        "sqlite3_over_sqlite_utils_cpu": round(utils_cpu / sqlite3_cpu, 2),
        "synchronous": "NORMAL (WAL) for both; FULL measured separately",
        "sqlite3_full_sync_events_per_s": full_rate,
        "full_sync_events": FULL_SYNC_EVENTS,
        "batch_record_all_events_per_s": batch_rate,
        "identical_tables": same_tables,
        "measure": f"best of {ROUNDS} alternating rounds, one commit per event",
    }
    ratio = f"{figures['sqlite3_over_sqlite_utils']}x"
    cpu_ratio = f"{figures['sqlite3_over_sqlite_utils_cpu']}x"
    show(f"ledger: {EVENTS} events, each committed with its projection",
         ["write path", "events/s", "CPU us/event", "ratio wall/CPU"],
         [["sqlite3 (Ledger.record), NORMAL", f"{sqlite3_rate:,.0f}",
           f"{sqlite3_cpu}", f"{ratio} / {cpu_ratio}"],
          ["sqlite-utils atomic(), NORMAL", f"{utils_rate:,.0f}",
           f"{utils_cpu}", "1.0x"],
          ["sqlite3, FULL (fsync/commit)", f"{full_rate:,.0f}",
           f"{full_cpu}", "-"],
          ["sqlite3 record_all (one txn)", f"{batch_rate:,.0f}", "-", "-"]])
    console.print(f"identical tables from both paths: {same_tables}")
    return figures
