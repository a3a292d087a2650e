"""The model registry: every network ever trained, its lineage, arena verdict and status.

Stored in the `models` table (schema version 3) of a file of its own, `REGISTRY_FILE` in the
data directory, apart from the trading ledger: a self-play run (another process) registers
and promotes models there without opening the daemon's ledger, and the daemon reads its
`best_player` from it. The file is opened with `Ledger.open`, so it has the ledger's schema
and migrations (and its empty trading tables); in the trading ledger the `models` table stays
empty. `entasis models` reads the registry file like any other ledger table. Statuses:
`candidate` (registered, not yet judged), `best` (the one the daemon trades; the database
allows at most one), `rejected` (lost its arena) and `retired` (a former best). Every row
stays forever: the deflated Sharpe ratio must count every candidate ever tried, rejected ones
above all.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from model import errors
from state.codec import canonical_json
from state.ledger import Ledger

#: The registry's file name in the data directory (bot.data_dir.DataDir.models uses it).
REGISTRY_FILE = "models.sqlite"
#: The portfolio league's registry (rl/portfolio_league.py): the same schema, a file of its
#: own, so the daemon's single-coin `rl` policy never reads a portfolio model.
PORTFOLIO_REGISTRY_FILE = "portfolio_models.sqlite"


class ModelStatus(str, Enum):
    """Where a model stands; the `models.status` CHECK constraint allows exactly these."""

    BEST = "best"
    CANDIDATE = "candidate"
    REJECTED = "rejected"
    RETIRED = "retired"


class RegistryError(errors.OperatorError):
    """A registry request that contradicts the stored state (unknown or already judged)."""


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """One row of `models`; `arena_stats` is the decoded `GateReport.as_dict()` (or None)."""

    version: str
    parent: str | None
    created_ts: int
    updated_ts: int
    data_start_ms: int | None
    data_end_ms: int | None
    status: ModelStatus
    path: str
    arena_stats: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ModelRecord:
        """Decode a `models` row (status to the enum, stats from JSON)."""
        stats = row["arena_stats"]
        return cls(row["version"], row["parent"], row["created_ts"], row["updated_ts"],
                   row["data_start_ms"], row["data_end_ms"], ModelStatus(row["status"]),
                   row["path"], None if stats is None else json.loads(stats))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class ModelRegistry:
    """Reads and status changes of `models` through one open ledger-format file (the
    registry file, `REGISTRY_FILE`; not the trading ledger).

    Every write is one transaction (the ledger's `batch`), so a promotion's two row changes
    (new best, old best retired) commit together or not at all.
    """

    def __init__(self, ledger: Ledger) -> None:
        """Use an already open ledger-format file (its caller closes it); `open` opens one."""
        self.ledger = ledger
        self._conn = ledger.db.conn
        self._owns_ledger = False

    @classmethod
    def open(cls, path: str | Path) -> ModelRegistry:
        """Open (creating or migrating) the ledger at `path` for registry use only."""
        registry = cls(Ledger.open(path))
        registry._owns_ledger = True
        return registry

    def close(self) -> None:
        """Close the ledger if `open` made it; a borrowed ledger stays open."""
        if self._owns_ledger:
            self.ledger.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------------------

    def register(self, version: str, path: str | Path, *, parent: str | None = None,
                 data_start_ms: int | None = None, data_end_ms: int | None = None,
                 created_ts: int | None = None) -> ModelRecord:
        """Add a trained network as a `candidate`; its parent must already be registered."""
        ts = _now_ms() if created_ts is None else created_ts
        with self.ledger.batch():
            if parent is not None and self.get(parent) is None:
                raise RegistryError(f"parent {parent!r} is not registered")
            if self.get(version) is not None:
                raise RegistryError(f"version {version!r} is already registered")
            self._conn.execute(
                "INSERT INTO models (version, parent, created_ts, updated_ts, data_start_ms,"
                " data_end_ms, status, path, arena_stats)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                (version, parent, ts, ts, data_start_ms, data_end_ms,
                 ModelStatus.CANDIDATE.value, str(path)))
        return self._require(version)

    def promote(self, version: str, arena_stats: Mapping[str, Any] | None = None, *,
                ts: int | None = None) -> ModelRecord:
        """Make a candidate the best; the old best becomes `retired`, in the same transaction.

        Also how the very first best is installed (no arena: nothing to compare against).
        """
        ts = _now_ms() if ts is None else ts
        with self.ledger.batch():
            self._require_candidate(version)
            self._conn.execute("UPDATE models SET status = ?, updated_ts = ? WHERE status = ?",
                               (ModelStatus.RETIRED.value, ts, ModelStatus.BEST.value))
            self._set_status(version, ModelStatus.BEST, arena_stats, ts)
        return self._require(version)

    def reject(self, version: str, arena_stats: Mapping[str, Any] | None = None, *,
               ts: int | None = None) -> ModelRecord:
        """Mark a candidate `rejected`, keeping its arena statistics (it still counts as a
        trial for the deflated Sharpe ratio)."""
        ts = _now_ms() if ts is None else ts
        with self.ledger.batch():
            self._require_candidate(version)
            self._set_status(version, ModelStatus.REJECTED, arena_stats, ts)
        return self._require(version)

    def _set_status(self, version: str, status: ModelStatus,
                    arena_stats: Mapping[str, Any] | None, ts: int) -> None:
        self._conn.execute(
            "UPDATE models SET status = ?, updated_ts = ?,"
            " arena_stats = COALESCE(?, arena_stats) WHERE version = ?",
            (status.value, ts, None if arena_stats is None else canonical_json(arena_stats),
             version))

    def _require_candidate(self, version: str) -> None:
        record = self._require(version)
        if record.status is not ModelStatus.CANDIDATE:
            raise RegistryError(f"{version!r} is {record.status.value}, not a candidate")

    # -- reads ----------------------------------------------------------------------------

    def get(self, version: str) -> ModelRecord | None:
        """One model by version, or None."""
        rows = list(self.ledger.db.query("SELECT * FROM models WHERE version = ?", [version]))
        return ModelRecord.from_row(rows[0]) if rows else None

    def _require(self, version: str) -> ModelRecord:
        record = self.get(version)
        if record is None:
            raise RegistryError(f"unknown model version {version!r}")
        return record

    def best(self) -> ModelRecord | None:
        """The model the daemon should trade, or None before the first promotion."""
        rows = list(self.ledger.db.query("SELECT * FROM models WHERE status = 'best'"))
        return ModelRecord.from_row(rows[0]) if rows else None

    def list(self, status: ModelStatus | None = None) -> builtins.list[ModelRecord]:
        """Every model (or those with `status`), oldest first."""
        where, params = ("WHERE status = ?", [status.value]) if status else ("", [])
        return [ModelRecord.from_row(r) for r in self.ledger.db.query(
            f"SELECT * FROM models {where} ORDER BY created_ts, version", params)]

    def trial_count(self) -> int:
        """How many candidates were ever judged or are waiting (every row but a seed best
        that never played an arena still counts: it was tried)."""
        return int(self._conn.execute("SELECT COUNT(*) FROM models").fetchone()[0])

    def trial_sharpes(self) -> builtins.list[float]:
        """The episode Sharpe each judged model recorded, for the DSR's variance across
        trials (models without arena statistics are skipped)."""
        sharpes: builtins.list[float] = []
        for record in self.list():
            info = (record.arena_stats or {}).get("info", {})
            if isinstance(info.get("sharpe"), (int, float)):
                sharpes.append(float(info["sharpe"]))
        return sharpes
