"""A damaged ledger is refused with one line that names it, and is never written.

Given a sound ledger broken one way or another (tests/ledger_damage.py), `Ledger.open`
raises `LedgerDamaged` whose message is one line naming the file, what is wrong and how to
recover, and every byte of the file (and of its WAL) is as it was. A new ledger appears
whole (never as a 0-byte file), and every file is 0600 whatever the umask.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from bot.ops.jobstore import JobStore
from rl.registry import ModelRegistry
from state.codec import BalanceSet
from state.integrity import LedgerDamaged, LedgerEmpty, preflight, wal_path
from state.ledger import Ledger
from tests.ledger_damage import DAMAGES, files_of, sound_ledger


@pytest.fixture(scope="module")
def sound_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """One sound ledger's bytes, built once and copied per test."""
    return sound_ledger(tmp_path_factory.mktemp("sound") / "ledger.sqlite").read_bytes()


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The login shell's usual umask, under which files default to 0644."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_ledger_is_refused_in_one_line_and_left_byte_for_byte(
        tmp_path: Path, sound_bytes: bytes, damage: str) -> None:
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(sound_bytes)
    DAMAGES[damage](path)
    before = files_of(path)

    with pytest.raises(LedgerDamaged) as refused:
        Ledger.open(path)

    message = str(refused.value)
    assert "\n" not in message
    assert str(path) in message and "To recover:" in message
    assert refused.value.path == path
    assert files_of(path) == before  # no byte written, no -wal or -shm created beside it


def test_an_empty_file_is_not_a_new_account(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(b"")

    with pytest.raises(LedgerEmpty) as refused:
        Ledger.open(path)

    assert "a fresh account needs the file absent" in str(refused.value)
    assert "entasis ledger init" in str(refused.value)
    assert path.read_bytes() == b""


def test_a_wal_without_its_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    wal_path(path).write_bytes(b"x" * 4096)

    with pytest.raises(LedgerDamaged, match="database file is missing"):
        Ledger.open(path)

    assert not path.exists()


def test_a_ledger_whose_commits_are_still_in_its_wal_opens_while_its_writer_runs(
        tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as writer:
        writer.record(BalanceSet("USDT", Decimal(5), Decimal(0), 1, 1))  # only in the WAL
        assert wal_path(path).stat().st_size > 0

        with Ledger.open(path) as reader:  # the check reads through the live WAL
            assert [b.free for b in reader.balances()] == [Decimal(5)]


def test_a_full_check_passes_a_sound_ledger_and_a_missing_one_is_new(
        tmp_path: Path, sound_bytes: bytes) -> None:
    path = tmp_path / "ledger.sqlite"
    assert preflight(path) is False
    path.write_bytes(sound_bytes)
    assert preflight(path, full=True) is True


def test_a_new_ledger_appears_whole_and_private_under_umask_022(
        tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger.open(path) as ledger:
        ledger.record(BalanceSet("USDT", Decimal(1), Decimal(0), 1, 1))
        files = {p.name: _mode(p) for p in tmp_path.iterdir()}

    assert files == {"ledger.sqlite": 0o600, "ledger.sqlite-wal": 0o600,
                     "ledger.sqlite-shm": 0o600}
    assert path.read_bytes().startswith(b"SQLite format 3\x00")


def test_a_ledger_made_0644_before_this_rule_is_made_private_on_open(
        tmp_path: Path, sound_bytes: bytes) -> None:
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(sound_bytes)
    path.chmod(0o644)

    Ledger.open(path).close()

    assert _mode(path) == 0o600


def test_the_scheduler_store_and_the_model_registry_are_private_under_umask_022(
        tmp_path: Path, umask_022: None) -> None:
    with JobStore(tmp_path / "schedule.sqlite") as store:
        store.first_started_ms(1)
        with ModelRegistry.open(tmp_path / "models.sqlite"):
            modes = {p.name: _mode(p) for p in tmp_path.iterdir()}

    assert set(modes) >= {"schedule.sqlite", "schedule.sqlite-wal", "models.sqlite"}
    assert set(modes.values()) == {0o600}


def test_a_directory_where_the_ledger_should_be_is_refused_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    path.mkdir()

    with pytest.raises(LedgerDamaged, match="is a directory"):
        Ledger.open(path)

    assert path.is_dir() and not any(path.iterdir())
