"""`entasis run` on a ledger poisoned with Infinity, or with `starting_balance = inf`: one line
that names the file (or key) and the fix, no traceback (such a ledger once made every
start crash, even after the config was fixed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from state.integrity import EXIT_LEDGER_DAMAGED
from tests.conftest import REPO_ROOT
from tests.unit.test_data_dir import poisoned_ledger

SMALL = "[sim]\ncoins = 3\nhistory_days = 0.1\n"


def run_daemon(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", "run", "--config", str(config)],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
                          check=False)


@pytest.mark.slow
def test_a_ledger_holding_infinity_stops_the_start_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(SMALL)  # the operator has fixed the config; the ledger is still poisoned
    (tmp_path / "var").mkdir()
    ledger = poisoned_ledger(tmp_path / "var" / "ledger.sqlite")

    done = run_daemon(config)

    assert done.returncode == EXIT_LEDGER_DAMAGED, done.stderr
    assert "Traceback" not in done.stderr and "InvalidOperation" not in done.stderr
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert f"ledger {ledger} is damaged: it holds a non-finite amount (USDT balance = " \
           "Infinity)" in error
    assert "to start a fresh paper account" in error


def test_inf_starting_balance_is_refused_before_the_daemon_starts(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(SMALL + "[trading]\nstarting_balance = inf\n")

    done = run_daemon(config)

    assert done.returncode == 2
    assert "trading.starting_balance = inf: Input should be a finite number" in done.stderr
    assert not (tmp_path / "var").exists()  # nothing was written, no ledger to poison
