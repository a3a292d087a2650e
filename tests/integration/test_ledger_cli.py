"""`entasis run` refuses a damaged ledger in one line; `entasis ledger ...` checks, backs up,
recovers and initializes it.

The first tests start the real command line in a subprocess (the console entry point's
error handling is what the operator sees): a damaged file gives exit 4, one line on stderr
naming the file and the way to recover, no traceback, and the file unchanged. The `ledger`
commands run through typer's test runner against real files in a data dir.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import REPO_ROOT
from tests.ledger_damage import files_of, garbage_in_the_middle, sound_ledger


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A config.toml whose data dir (`var`) holds a sound ledger of 1,000 events: large
    enough that 128 kB of garbage in its middle leaves readable events on both sides (at
    300 events, schema 6's extra table put the events' root pages under it)."""
    (tmp_path / "config.toml").write_text("[sim]\ncoins = 4\n")
    (tmp_path / "var").mkdir()
    sound_ledger(tmp_path / "var" / "ledger.sqlite", events=1000)
    return tmp_path / "var"


def _entasis(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=60, check=False)


def _cli(data_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--config", str(data_dir.parent / "config.toml")])
    return result.exit_code, result.stdout


def _one_json(stdout: str) -> dict:
    (line,) = stdout.strip().splitlines()  # --json: one object and nothing else
    return json.loads(line)


@pytest.mark.slow
def test_run_refuses_a_damaged_ledger_in_one_line_without_touching_it(data_dir: Path) -> None:
    ledger = data_dir / "ledger.sqlite"
    garbage_in_the_middle(ledger)
    before = files_of(ledger)

    done = _entasis("run", "--config", str(data_dir.parent / "config.toml"))

    assert done.returncode == 4
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: ledger {ledger} is damaged: ")
    assert "entasis ledger recover" in line and "Traceback" not in done.stderr
    assert files_of(ledger) == before


def test_any_command_that_meets_a_damaged_registry_says_so_in_one_line(data_dir: Path) -> None:
    registry = data_dir / "models.sqlite"
    registry.write_text("not a database\n" * 100)

    done = _entasis("models", "--config", str(data_dir.parent / "config.toml"))

    assert done.returncode == 4
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: ledger {registry} is damaged: it is not an SQLite database")


def test_run_refuses_an_empty_ledger_instead_of_opening_a_new_account(data_dir: Path) -> None:
    (data_dir / "ledger.sqlite").write_bytes(b"")

    result = CliRunner().invoke(app, ["run", "--config", str(data_dir.parent / "config.toml")])

    assert result.exit_code == 4
    assert "a fresh account needs the file absent" in result.stderr
    assert (data_dir / "ledger.sqlite").read_bytes() == b""


def test_check_reports_a_sound_ledger_and_a_damaged_one_as_json(data_dir: Path) -> None:
    code, stdout = _cli(data_dir, "ledger", "check", "--json")
    assert code == 0
    assert _one_json(stdout)["projections"] == {
        "orders": "equal", "fills": "equal", "positions": "equal", "balances": "equal"}

    garbage_in_the_middle(data_dir / "ledger.sqlite")
    code, stdout = _cli(data_dir, "ledger", "check", "--full", "--json")
    report = _one_json(stdout)
    assert code == 1
    assert (report["ok"], report["check"]) == (False, "integrity_check")
    assert "pages are corrupt (SQLite's integrity_check" in report["file"]


def test_backup_then_recover_puts_the_backup_back_and_keeps_the_damaged_file(
        data_dir: Path) -> None:
    code, stdout = _cli(data_dir, "ledger", "backup", "--json")
    backup = Path(_one_json(stdout)["path"])
    assert code == 0 and backup.parent == data_dir / "backups"

    code, _ = _cli(data_dir, "ledger", "recover")
    assert code == 1  # the ledger is sound: nothing to recover without --force

    garbage_in_the_middle(data_dir / "ledger.sqlite")
    damaged = (data_dir / "ledger.sqlite").read_bytes()
    code, stdout = _cli(data_dir, "ledger", "recover", "--json")
    restored = _one_json(stdout)

    assert code == 0 and restored["backup"] == str(backup)
    assert Path(restored["moved_aside"][0]).read_bytes() == damaged
    assert _cli(data_dir, "ledger", "check")[0] == 0


def test_recover_without_a_sound_backup_points_at_salvage(data_dir: Path) -> None:
    garbage_in_the_middle(data_dir / "ledger.sqlite")

    result = CliRunner().invoke(app, ["ledger", "recover", "--config",
                                      str(data_dir.parent / "config.toml")])

    assert result.exit_code == 1
    assert "no sound backup" in result.stderr and "--salvage" in result.stderr


def test_salvage_writes_a_new_file_and_replaces_nothing(data_dir: Path) -> None:
    ledger = data_dir / "ledger.sqlite"
    garbage_in_the_middle(ledger)
    before = files_of(ledger)
    out = data_dir / "salvaged.sqlite"

    code, stdout = _cli(data_dir, "ledger", "recover", "--salvage", "--out", str(out), "--json")

    report = _one_json(stdout)
    assert code == 0 and report["out"] == str(out) and report["events"] > 0
    assert report["events"] + report["missing_events"] == report["highest_seq"]
    assert files_of(ledger) == before


def test_init_replaces_only_an_empty_file(data_dir: Path) -> None:
    ledger = data_dir / "ledger.sqlite"
    assert _cli(data_dir, "ledger", "init")[0] == 1  # it holds an account

    ledger.write_bytes(b"")
    code, stdout = _cli(data_dir, "ledger", "init", "--json")

    assert code == 0 and _one_json(stdout) == {"ok": True, "path": str(ledger)}
    assert _cli(data_dir, "ledger", "check")[0] == 0
