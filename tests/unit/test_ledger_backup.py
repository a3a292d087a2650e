"""Backups, restores, salvage and the ledger check (state/backup.py, salvage.py, audit.py).

Given real ledger files: a backup taken while a writer holds an open transaction is the
committed state, private and self-contained; rotation keeps the newest N; a restore refuses
a damaged backup and moves the replaced files aside untouched; salvage reads what a damaged
file still holds; the check compares projections with a replay on a copy, never the file.
"""

from __future__ import annotations

import os
import stat
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from state.audit import audit
from state.backup import BackupError, backup, list_backups, restore, rotate_backup
from state.codec import BalanceSet
from state.integrity import LedgerDamaged
from state.ledger import Ledger
from state.salvage import salvage
from tests.ledger_damage import files_of, garbage_in_the_middle, header_overwritten, sound_ledger

T0 = 1_700_000_000_000
HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def sound_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return sound_ledger(tmp_path_factory.mktemp("sound") / "ledger.sqlite").read_bytes()


@pytest.fixture
def sound(tmp_path: Path, sound_bytes: bytes) -> Path:
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(sound_bytes)
    return path


def _event_count(path: Path) -> int:
    with Ledger.open(path) as ledger:
        return ledger.db.table("events").count


def _balance(seq: int) -> BalanceSet:
    return BalanceSet("USDT", Decimal(seq), Decimal(0), T0 + seq, T0 + seq)


def test_a_backup_taken_mid_transaction_holds_the_committed_state_and_blocks_no_writer(
        tmp_path: Path) -> None:
    live = tmp_path / "ledger.sqlite"
    previous = os.umask(0o022)
    try:
        with Ledger.open(live) as ledger:
            ledger.record_all(_balance(i) for i in range(1, 101))  # committed, in the WAL
            with ledger.batch():  # a decision step still writing
                ledger.record_all(_balance(i) for i in range(101, 151))
                result = backup(live, tmp_path / "backups" / "b.sqlite")
            ledger.record(_balance(151))  # the writer goes on after the backup
    finally:
        os.umask(previous)

    assert _event_count(result.path) == 100
    assert _event_count(live) == 151
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert sorted(p.name for p in result.path.parent.iterdir()) == ["b.sqlite"]  # one file
    assert result.size_bytes == result.path.stat().st_size


def test_a_backup_while_another_thread_keeps_writing_is_a_sound_moment_of_the_ledger(
        tmp_path: Path) -> None:
    live = tmp_path / "ledger.sqlite"
    Ledger.open(live).close()
    started, stop = threading.Event(), threading.Event()
    written: list[int] = []
    failures: list[BaseException] = []

    def writer() -> None:  # the daemon: its own connection, committing one event at a time
        try:
            with Ledger.open(live) as ledger:
                while not stop.is_set():
                    written.append(ledger.record(_balance(len(written) + 1)))
                    if len(written) == 200:
                        started.set()
        except BaseException as exc:  # noqa: BLE001  (reported by the assertion below)
            failures.append(exc)
            started.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        started.wait()
        result = backup(live, tmp_path / "backups" / "b.sqlite")
    finally:
        stop.set()
        thread.join()

    assert failures == []
    copied = _event_count(result.path)
    assert 200 <= copied <= len(written)
    assert audit(result.path).ok


def test_rotation_keeps_the_newest_backups_and_leaves_other_files_alone(sound: Path) -> None:
    folder = sound.parent / "backups"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")

    for hour in range(5):
        rotate_backup(sound, folder, T0 + hour * HOUR_MS, keep=3)

    kept = list_backups(folder)
    assert [p.name for p in kept] == ["ledger-20231115T021320Z.sqlite",
                                      "ledger-20231115T011320Z.sqlite",
                                      "ledger-20231115T001320Z.sqlite"]
    assert (folder / "notes.txt").read_text() == "mine"


def test_a_damaged_ledger_is_not_backed_up(sound: Path) -> None:
    garbage_in_the_middle(sound)
    dest = sound.parent / "backups" / "b.sqlite"

    with pytest.raises(LedgerDamaged):
        backup(sound, dest)

    assert not dest.exists()


def test_backing_up_a_missing_ledger_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no ledger at"):
        backup(tmp_path / "ledger.sqlite", tmp_path / "b.sqlite")


def test_restore_puts_a_checked_backup_in_place_and_keeps_the_damaged_files(
        sound: Path) -> None:
    good = backup(sound, sound.parent / "backups" / "good.sqlite").path
    garbage_in_the_middle(sound)
    damaged = sound.read_bytes()

    done = restore(good, sound, sound.parent / "damaged", T0)

    assert _event_count(sound) == 2000
    aside = done.moved_aside[0]
    assert aside.parent.name == "damaged" and aside.name.startswith("ledger.sqlite.replaced-")
    assert aside.read_bytes() == damaged
    assert audit(sound).ok


def test_restore_refuses_a_damaged_backup_and_changes_nothing(sound: Path) -> None:
    bad = backup(sound, sound.parent / "backups" / "bad.sqlite").path
    header_overwritten(bad)
    before = files_of(sound)

    with pytest.raises(LedgerDamaged, match=r"bad\.sqlite") as refused:
        restore(bad, sound, sound.parent / "damaged", T0)

    assert "choose another backup" in str(refused.value)
    assert files_of(sound) == before


def test_salvage_rebuilds_from_the_events_it_can_read_and_lists_the_missing(
        sound: Path) -> None:
    garbage_in_the_middle(sound)
    before = sound.read_bytes()

    report = salvage(sound, sound.parent / "salvaged.sqlite")

    assert 0 < report.events < 2000 and report.highest_seq == 2000
    assert len(report.missing_seqs) == 2000 - report.events
    assert _event_count(report.out) == report.events
    assert audit(report.out).ok  # projections are the replay of what was read
    assert sound.read_bytes() == before


def test_salvage_reads_everything_behind_an_overwritten_header(sound: Path) -> None:
    header_overwritten(sound)

    report = salvage(sound, sound.parent / "salvaged.sqlite")

    assert report.complete and report.events == 2000
    assert any("header was rebuilt" in note for note in report.notes)


def test_the_check_finds_a_projection_that_differs_from_a_replay(sound: Path) -> None:
    with Ledger.open(sound) as ledger:
        ledger.db.execute("UPDATE positions SET amount = '999' WHERE rowid = 1")
    before = files_of(sound)

    report = audit(sound, full=True)

    assert not report.ok
    assert report.projections["positions"] == "differs from a replay"
    assert report.projections["orders"] == "equal"
    assert files_of(sound) == before  # the replay ran on a copy


def test_the_check_of_a_sound_ledger_compares_every_projection(sound: Path) -> None:
    report = audit(sound)

    assert report.ok and report.events == 2000 and report.foreign_keys == []
    assert set(report.projections.values()) == {"equal"}
