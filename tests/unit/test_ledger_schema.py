"""Ledger schema: versioned, forward-migrated, money as text, history append-only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from state import schema
from state.ledger import Ledger
from state.sample import SAMPLE_INSTRUMENTS, sample_events
from state.schema import SCHEMA_VERSION, SchemaTooNew, migrate, schema_version


def _version_of(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_new_file_is_created_at_the_current_version_in_wal_mode(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        assert schema_version(ledger.db) == SCHEMA_VERSION
        assert ledger.db.journal_mode == "wal"
        assert ledger.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert set(ledger.db.table_names()) == set(schema.ALL_TABLES)


def test_durable_ledger_syncs_full_and_replay_ledger_syncs_normal(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "live.db") as live:
        assert live.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with Ledger.open(tmp_path / "replay.db", durable=False) as replay:
        assert replay.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_every_table_has_an_explicit_primary_key(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        pks = {name: ledger.db.table(name).pks for name in schema.ALL_TABLES}
    assert pks == {"events": ["seq"], "orders": ["client_order_id"], "fills": ["trade_id"],
                   "positions": ["symbol"], "balances": ["asset"], "equity": ["ts"],
                   "decisions": ["id"], "kv": ["key"], "models": ["version"],
                   "executions": ["client_order_id"]}


def test_money_columns_are_text_never_real(tmp_path: Path) -> None:
    money = {"orders": ["price", "amount", "filled", "locked"],
             "fills": ["price", "amount", "fee"],
             "positions": ["amount", "avg_price", "realized_pnl"],
             "balances": ["free", "locked"], "equity": ["equity", "cash", "positions_value"]}
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        for table, columns in money.items():
            types = {c.name: c.type for c in ledger.db.table(table).columns}
            assert all(types[c] == "TEXT" for c in columns), (table, types)


def test_opening_an_older_file_migrates_it_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Database(sqlite3.connect(path, isolation_level=None))
    migrate(old, target=1)  # a file as the first release wrote it
    old.table("kv").insert({"key": "trading_state", "value": '"ACTIVE"'})
    old.close()
    assert _version_of(path) == 1

    with Ledger.open(path) as ledger:
        assert schema_version(ledger.db) == SCHEMA_VERSION
        assert ledger.get_kv("trading_state") == "ACTIVE"
        assert "idx_fills_client_order_id" in {i.name for i in ledger.db.table("fills").indexes}


def test_opening_a_newer_file_refuses_with_a_clear_error_and_changes_nothing(
        tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match=r"newer than this Entasis understands"):
        Ledger.open(path)
    assert _version_of(path) == SCHEMA_VERSION + 1
    assert not Path(f"{path}-wal").exists()  # not even switched to WAL


def test_a_failing_migration_rolls_back_to_the_previous_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(db: Database) -> None:
        db.table("half_done").create({"id": int}, pk="id")
        raise RuntimeError("disk full, say")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    path = tmp_path / "ledger.db"
    db = Database(sqlite3.connect(path, isolation_level=None))
    with pytest.raises(RuntimeError, match="disk full"):
        migrate(db, target=SCHEMA_VERSION + 1)
    assert schema_version(db) == SCHEMA_VERSION
    assert "half_done" not in db.table_names()


def test_events_are_append_only(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.db", instruments=SAMPLE_INSTRUMENTS) as ledger:
        ledger.record(next(sample_events(1)))
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            ledger.db.execute("UPDATE events SET kind = 'Forged'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            ledger.db.execute("DELETE FROM events")
        assert ledger.db.table("events").count == 1
