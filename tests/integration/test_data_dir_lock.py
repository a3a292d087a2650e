"""One daemon per data directory: a second `entasis run` on the same folder is
refused in one line naming the folder and the first daemon's pid, exit status 2, before it
touches the ledger or control.json; the lock dies with its holder (kill -9 included), so a
stale lock file never blocks a restart; `entasis ledger recover` takes the same lock.

Real processes throughout: the daemons are `python -m bot.cli run`, and the lock holders
are separate Python processes, because an flock is about processes, not objects.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.data_dir import LOCK_FILE
from bot.data_dir_lock import DataDirInUse, DataDirLock, lock_holder
from tests.conftest import REPO_ROOT
from tests.waiting import wait_until

SMALL = "[sim]\ncoins = 3\nhistory_days = 0.1\n"
HOLD = ("import sys, time\nfrom pathlib import Path\nfrom bot.data_dir_lock import DataDirLock\n"
        "DataDirLock(Path(sys.argv[1])).acquire()\nprint('held', flush=True)\ntime.sleep(600)\n")


@contextmanager
def holder(data_dir: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that takes the data dir's lock and sleeps; killed on exit."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(data_dir)], cwd=REPO_ROOT,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "held"
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


def _run(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", "run", "--config", str(config)],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
                          check=False)


@pytest.mark.slow
def test_a_second_daemon_on_the_same_data_dir_is_refused_and_the_first_keeps_control(
        tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(SMALL)
    data_dir = tmp_path / "var"
    first = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--config", str(config)],
                             cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_until(lambda: (data_dir / "control.json").exists() or first.poll() is not None,
                   60.0, what="the first daemon's control endpoint", interval_s=0.1)
        assert first.poll() is None, first.stdout.read() if first.stdout else ""
        control = (data_dir / "control.json").read_text()

        second = _run(config)

        assert second.returncode == 2, second.stderr
        (error,) = [line for line in second.stderr.splitlines() if "ERROR" in line]
        assert f"data directory {data_dir} is in use by another entasis process " \
               f"(pid {first.pid}" in error
        assert "Traceback" not in second.stderr
        assert (data_dir / "control.json").read_text() == control  # not overwritten, not deleted
        assert lock_holder(data_dir) == first.pid
        status = subprocess.run([sys.executable, "-m", "bot.cli", "status", "--json",
                                 "--config", str(config)], capture_output=True, text=True,
                                cwd=REPO_ROOT, timeout=30, check=False)
        assert status.returncode == 0, status.stderr  # reading commands are not locked out
        assert json.loads(status.stdout.strip().splitlines()[-1])["pid"] == first.pid
    finally:
        first.send_signal(signal.SIGINT)
        output, _ = first.communicate(timeout=30)
    assert first.returncode == 0, output
    assert lock_holder(data_dir) is None  # released at shutdown; the file may stay


def test_the_lock_names_its_holder_and_dies_with_it_even_on_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    with holder(data_dir) as first:
        assert lock_holder(data_dir) == first.pid
        with pytest.raises(DataDirInUse) as refused:
            DataDirLock(data_dir).acquire()
        assert refused.value.pid == first.pid
        assert str(refused.value).startswith(f"data directory {data_dir} is in use by another "
                                             f"entasis process (pid {first.pid}")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    assert (data_dir / LOCK_FILE).read_text().strip() == str(first.pid)  # stale file left
    assert lock_holder(data_dir) is None
    with holder(data_dir) as second:  # a restart takes it over
        assert lock_holder(data_dir) == second.pid


def test_ledger_recover_refuses_while_another_process_holds_the_data_dir(
        tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(SMALL)
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    (data_dir / "ledger.sqlite").write_bytes(b"not a ledger")  # damaged: recover would act

    with holder(data_dir) as daemon:
        done = subprocess.run([sys.executable, "-m", "bot.cli", "ledger", "recover",
                               "--config", str(config)], capture_output=True, text=True,
                              cwd=REPO_ROOT, timeout=60, check=False)

    assert done.returncode == 1
    said = " ".join(done.stderr.split())  # the console wraps long lines
    assert f"a daemon (pid {daemon.pid}) is running on {data_dir}; stop it first" in said
    assert (data_dir / "ledger.sqlite").read_bytes() == b"not a ledger"  # untouched
    assert lock_holder(data_dir) is None
