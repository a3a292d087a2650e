"""The registry of walk-forward configurations tried: the deflated Sharpe ratio's trial count.

The deflated Sharpe ratio discounts the best result by how many configurations were tried to
find it, so the count must survive the process that tried them: run five SMA windows one
command at a time and the fifth must be judged against five, not one. As the model registry
(rl/registry.py) keeps every network ever trained, rejected ones above all, this file keeps
every configuration ever run on a data set, benchmarks included (they sit in the same PBO
panel), in `DataDir.walkforward_trials`. Rows are never deleted.

A scope is one data folder (resolved path) at one timeframe: trials on other data or bar
lengths are other searches. A configuration is the policy, its parameters and the fold
settings, as canonical JSON; running the same one again updates its last Sharpe and run
count but is not a new trial.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from model import errors

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    scope TEXT NOT NULL,            -- data folder (resolved) and timeframe
    configuration TEXT NOT NULL,    -- canonical JSON: policy, parameters, fold settings
    label TEXT NOT NULL,            -- the policy's name in tables
    first_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    runs INTEGER NOT NULL,
    sharpe_per_bar REAL NOT NULL,   -- of the last run's out-of-sample returns
    PRIMARY KEY (scope, configuration)
)
"""


class TrialRegistryError(errors.DataError):
    """The trials file exists but is not one this version can read; the message names it."""


def canonical(value: Mapping[str, Any]) -> str:
    """Sorted, compact JSON: the same configuration is always the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class TrialRegistry:
    """Read and add configurations tried, through one SQLite file."""

    def __init__(self, path: Path) -> None:
        """Open (creating) the trials file at `path`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(path, isolation_level=None)
        try:
            version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
            if version not in (0, SCHEMA_VERSION):
                raise TrialRegistryError(
                    f"{path}: trials schema version {version}, this Entasis reads "
                    f"{SCHEMA_VERSION}; upgrade Entasis or move the file away (the trial "
                    "count then starts again)")
            self._conn.execute(SCHEMA)
            self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise TrialRegistryError(f"{path}: not a trials file ({exc}); move it away") from None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._conn.close()

    def record(self, scope: str, runs: Iterable[tuple[str, Mapping[str, Any], float]],
               now_ms: int | None = None) -> None:
        """Add (label, configuration, per-bar Sharpe) runs to `scope` in one transaction: a new
        configuration is a new trial, a known one has its Sharpe and run count updated."""
        now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            for label, configuration, sharpe in runs:
                self._conn.execute(
                    "INSERT INTO trials VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT (scope, "
                    "configuration) DO UPDATE SET last_ms = excluded.last_ms, runs = runs + 1,"
                    " sharpe_per_bar = excluded.sharpe_per_bar, label = excluded.label",
                    (scope, canonical(configuration), label, now, now, float(sharpe)))

    def trial_count(self, scope: str) -> int:
        """How many distinct configurations were ever run in `scope`."""
        row = self._conn.execute("SELECT COUNT(*) FROM trials WHERE scope = ?", (scope,))
        return int(row.fetchone()[0])

    def trial_sharpes(self, scope: str) -> list[float]:
        """Each configuration's last per-bar Sharpe in `scope`, for the variance across trials."""
        rows = self._conn.execute(
            "SELECT sharpe_per_bar FROM trials WHERE scope = ? ORDER BY configuration", (scope,))
        return [float(r[0]) for r in rows]
