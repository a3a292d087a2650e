"""The data directory: impossible paths are refused by the config, failures at start are one
line naming the path and the fix, and a ledger poisoned with Infinity is refused, not
crash-looped on."""

from __future__ import annotations

import errno
import os
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from bot.data_dir import (
    DataDir,
    DataDirError,
    data_dir_problem,
    describe_os_error,
    prepare_data_dir,
    refuse_non_finite_amounts,
    startup_failure,
)
from state.codec import BalanceSet
from state.integrity import LedgerDamaged
from state.ledger import Ledger

SECRET = "k-do-not-print-0123456789"


def config_with_data_dir(tmp_path: Path, data_dir: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[app]\ndata_dir = "{data_dir}"\n')
    return path


@pytest.mark.parametrize(("data_dir", "why"), [
    ("/", "/ is the root directory"),
    ("/etc", "/etc is a system directory"),
    ("/usr/lib/entasis", "/usr/lib/entasis is a system directory"),
    ("/proc/entasis", "/proc/entasis is a system directory"),
    ("/tmp", "/tmp is a system directory"),
    ("/var/lib", "/var/lib is a system directory"),
])
def test_system_directories_are_refused_by_the_config(tmp_path: Path, data_dir: str,
                                                      why: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(config_with_data_dir(tmp_path, data_dir),
                    environ={"ENTASIS__EXCHANGE__API_KEY": SECRET})
    message = str(error.value)
    assert f"app.data_dir = '{data_dir}': {why}" in message
    assert "set app.data_dir (or ENTASIS__APP__DATA_DIR) to a folder of its own" in message
    assert SECRET not in message  # a whole-config rule must not echo the whole input


def test_a_folder_of_its_own_below_a_shared_one_is_fine() -> None:
    assert "system directory" not in data_dir_problem(Path("/var/lib/entasis"))
    assert "system directory" not in data_dir_problem(Path("/usr/local/var/entasis"))
    assert "system directory" not in data_dir_problem(Path("/opt/entasis/var"))


def test_a_file_as_data_dir_is_refused_by_the_config(tmp_path: Path) -> None:
    (tmp_path / "ledger-here").write_text("not a folder")
    with pytest.raises(ConfigError, match=r"ledger-here exists and is not a directory; move that"):
        load_config(config_with_data_dir(tmp_path, "ledger-here"), environ={})


def test_a_data_dir_below_a_file_is_refused_by_the_config(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    with pytest.raises(ConfigError, match=r"blocker/var cannot be created: .*blocker is a file"):
        load_config(config_with_data_dir(tmp_path, "blocker/var"), environ={})


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through any mode bits")
def test_a_data_dir_that_cannot_be_created_is_refused_by_the_config(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ConfigError, match=r"locked/var cannot be created: .*locked is not writable"):
        load_config(config_with_data_dir(tmp_path, "locked/var"), environ={})


def test_a_missing_data_dir_is_created_with_its_parents(tmp_path: Path) -> None:
    prepare_data_dir(tmp_path / "a" / "b" / "var")
    assert (tmp_path / "a" / "b" / "var").is_dir()
    assert list((tmp_path / "a" / "b" / "var").iterdir()) == []  # the write probe is gone


def test_a_file_in_the_way_at_start_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("")
    with pytest.raises(DataDirError) as error:
        prepare_data_dir(tmp_path / "var")
    message = str(error.value)
    assert "\n" not in message and f"{tmp_path / 'var'} exists and is not a directory" in message


def test_a_parent_that_is_a_file_at_start_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    with pytest.raises(DataDirError, match=r"a parent of .*blocker/var is a file"):
        prepare_data_dir(tmp_path / "blocker" / "var")


@pytest.mark.parametrize(("code", "advice"), [
    (errno.ENOSPC, "the disk is full (or over quota) writing /d/ledger.sqlite; free space"),
    (errno.EDQUOT, "the disk is full (or over quota)"),
    (errno.EROFS, "is on a read-only filesystem; remount it read-write or set app.data_dir"),
    (errno.EACCES, "permission denied on /d/ledger.sqlite for user"),
    (errno.EEXIST, "/d/ledger.sqlite exists and is not a directory"),
    (errno.ENOTDIR, "a parent of /d/ledger.sqlite is a file"),
    (errno.EIO, "Input/output error (/d/ledger.sqlite)"),
])
def test_each_os_error_says_what_to_do(code: int, advice: str) -> None:
    message = describe_os_error(Path("/d"), OSError(code, os.strerror(code), "/d/ledger.sqlite"))
    assert message.startswith("data directory /d") and advice in message and "\n" not in message


def test_a_full_disk_inside_a_task_group_is_recognised(tmp_path: Path) -> None:
    failure = ExceptionGroup("tasks", [sqlite3.OperationalError("database or disk is full")])
    message = startup_failure(failure, tmp_path)
    assert message is not None and f"data directory {tmp_path}: the disk is full" in message


def test_sqlite_refusing_to_write_names_the_folder(tmp_path: Path) -> None:
    message = startup_failure(sqlite3.OperationalError("attempt to write a readonly database"),
                              tmp_path)
    assert message is not None and f"data directory {tmp_path}: SQLite cannot write" in message


def test_other_failures_keep_their_traceback(tmp_path: Path) -> None:
    assert startup_failure(ValueError("a bug"), tmp_path) is None
    # a privileged port is not the data directory's fault
    assert startup_failure(PermissionError(errno.EACCES, "Permission denied"), tmp_path) is None
    elsewhere = PermissionError(errno.EACCES, "Permission denied", "/etc/shadow")
    assert startup_failure(elsewhere, tmp_path) is None
    inside = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "ledger.sqlite"))
    assert "permission denied" in (startup_failure(inside, tmp_path) or "")


def poisoned_ledger(path: Path) -> Path:
    """A ledger as an older release left it after `starting_balance = inf`: written through
    SQLite directly, so no newer guard in the ledger can stop the test from building it."""
    with Ledger.open(path) as ledger:
        ledger.record(BalanceSet("USDT", Decimal(10_000), Decimal(0), 1, 1))
        ledger.set_kv("account_opened", 1)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE balances SET free = 'Infinity' WHERE asset = 'USDT'")
    conn.close()
    return path


def test_a_ledger_holding_infinity_is_refused_as_damaged_with_how_to_recover(
        tmp_path: Path) -> None:
    ledger_path = poisoned_ledger(tmp_path / "ledger.sqlite")
    with Ledger.open(ledger_path) as ledger, pytest.raises(LedgerDamaged) as error:
        refuse_non_finite_amounts(ledger)
    message = str(error.value)
    assert "\n" not in message
    assert f"ledger {ledger_path} is damaged: it holds a non-finite amount (USDT balance = " \
           "Infinity)" in message
    assert f"move ledger.sqlite (and its -wal/-shm files) out of {tmp_path} to start a fresh " \
           "paper account" in message


def test_a_sound_ledger_passes(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        ledger.record(BalanceSet("USDT", Decimal("10000.5"), Decimal(0), 1, 1))
        refuse_non_finite_amounts(ledger)
        assert ledger.balances()[0].free == Decimal("10000.5")


def test_data_dir_names_each_file_once_and_the_registry_by_rls_name(tmp_path: Path) -> None:
    from rl.registry import REGISTRY_FILE

    files = DataDir(tmp_path)
    named = {name: getattr(files, name) for name in dir(DataDir)
             if isinstance(getattr(DataDir, name), property)}
    assert files.ledger == tmp_path / "ledger.sqlite"  # operators and backups know this name
    assert files.models == tmp_path / REGISTRY_FILE != files.ledger  # a file of its own
    assert len(set(named.values())) == len(named)  # no two purposes share a path
    assert all(path.parent == tmp_path for path in named.values())
