"""Model registry: statuses, lineage and arena statistics, stored in the ledger file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from rl.registry import ModelRegistry, ModelStatus, RegistryError
from state.ledger import Ledger
from state.schema import MIGRATIONS, SCHEMA_VERSION, _models_table, migrate, schema_version

STATS = {"promote": True, "failed": [], "checks": {}, "info": {"sharpe": 0.12}}


def test_first_model_is_a_candidate_until_promoted(tmp_path: Path) -> None:
    with ModelRegistry.open(tmp_path / "ledger.db") as registry:
        assert registry.best() is None
        record = registry.register("g0", tmp_path / "g0.pt", data_start_ms=1, data_end_ms=2,
                                   created_ts=10)
        assert record.status is ModelStatus.CANDIDATE and record.parent is None
        assert registry.best() is None
        registry.promote("g0", ts=11)
        best = registry.best()
        assert best is not None and best.version == "g0" and best.updated_ts == 11


def test_promote_retires_the_old_best_and_reject_keeps_the_stats_across_reopen(
        tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with ModelRegistry.open(path) as registry:
        registry.register("g0", "g0.pt", created_ts=1)
        registry.promote("g0", ts=1)
        registry.register("g1", "g1.pt", parent="g0", created_ts=2)
        registry.reject("g1", {**STATS, "promote": False, "info": {"sharpe": -0.05}}, ts=3)
        registry.register("g2", "g2.pt", parent="g0", created_ts=4)
        registry.promote("g2", STATS, ts=5)

    with ModelRegistry.open(path) as registry:  # a fresh process reads the same truth
        statuses = {r.version: r.status for r in registry.list()}
        assert statuses == {"g0": ModelStatus.RETIRED, "g1": ModelStatus.REJECTED,
                            "g2": ModelStatus.BEST}
        best = registry.best()
        assert best is not None and best.parent == "g0" and best.arena_stats == STATS
        assert [r.version for r in registry.list(ModelStatus.REJECTED)] == ["g1"]
        assert registry.trial_count() == 3
        assert sorted(registry.trial_sharpes()) == [-0.05, 0.12]


def test_only_candidates_can_be_judged_and_unknown_names_are_refused(tmp_path: Path) -> None:
    with ModelRegistry.open(tmp_path / "ledger.db") as registry:
        registry.register("g0", "g0.pt")
        registry.reject("g0")
        with pytest.raises(RegistryError, match="rejected, not a candidate"):
            registry.promote("g0")
        with pytest.raises(RegistryError, match="unknown"):
            registry.reject("nope")
        with pytest.raises(RegistryError, match="parent"):
            registry.register("g1", "g1.pt", parent="missing")
        with pytest.raises(RegistryError, match="already registered"):
            registry.register("g0", "again.pt")


def test_the_database_itself_allows_one_best_and_four_statuses(tmp_path: Path) -> None:
    with ModelRegistry.open(tmp_path / "ledger.db") as registry:
        registry.register("a", "a.pt")
        registry.register("b", "b.pt")
        registry.promote("a")
        conn = registry.ledger.db.conn
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            conn.execute("UPDATE models SET status = 'best' WHERE version = 'b'")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute("UPDATE models SET status = 'champion' WHERE version = 'b'")


def test_a_failed_promotion_leaves_the_old_best_in_place(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ModelRegistry.open(tmp_path / "ledger.db") as registry:
        registry.register("a", "a.pt")
        registry.promote("a")
        registry.register("b", "b.pt")

        def crash(*args: object) -> None:
            raise RuntimeError("killed mid-promotion")

        monkeypatch.setattr(registry, "_set_status", crash)
        with pytest.raises(RuntimeError):
            registry.promote("b")
        best = registry.best()
        assert best is not None and best.version == "a"  # the retirement rolled back


def test_a_previous_version_ledger_gains_the_models_table_and_keeps_its_rows(
        tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Database(sqlite3.connect(path, isolation_level=None))
    # As the release before the registry wrote it (later migrations may follow it).
    migrate(old, target=MIGRATIONS.index(_models_table))
    old.table("kv").insert({"key": "trading_state", "value": '"ACTIVE"'})
    assert "models" not in old.table_names()
    old.close()

    with Ledger.open(path) as ledger:
        assert schema_version(ledger.db) == SCHEMA_VERSION
        assert ledger.get_kv("trading_state") == "ACTIVE"
        registry = ModelRegistry(ledger)  # borrowing the daemon's open ledger
        registry.register("g0", "g0.pt")
        registry.promote("g0")
        registry.close()  # does not close a borrowed ledger
        assert ledger.db.table("models").count == 1
