"""Crash safety: a writer killed with SIGKILL mid-stream leaves only whole transactions.

A child process records seeded events one committed transaction at a time and reports each
committed seq on stdout; the parent kills it with SIGKILL while it is writing, reopens the
file, and checks that every acknowledged event is there with its projection, nothing
half-written is, and SQLite finds the file sound. Three kill/restart rounds, each resuming
where the file says the last one stopped, as the daemon would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pytest

from state.ledger import Ledger
from state.sample import SAMPLE_INSTRUMENTS, sample_events

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED = 21
STREAM = 100_000  # far more than a child lives to write
KILL_AFTER_ACKS = (150, 400, 250)


def write_until_killed(path: str) -> None:
    """Child process: resume the seeded stream after what the file holds; ack each commit."""
    with Ledger.open(path, instruments=SAMPLE_INSTRUMENTS, durable=False) as ledger:
        done = ledger.db.table("events").count
        for event in islice(sample_events(STREAM, seed=SEED), done, None):
            seq = ledger.record(event)
            print(seq, flush=True)


def _run_and_kill(path: Path, acks_wanted: int) -> list[int]:
    """Start a writer, SIGKILL it after `acks_wanted` acknowledged commits; return them."""
    code = ("import sys; from tests.integration.test_ledger_crash import write_until_killed; "
            "write_until_killed(sys.argv[1])")
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acked: list[int] = []
    try:
        assert child.stdout is not None
        while len(acked) < acks_wanted:
            line = child.stdout.readline()
            assert line, f"writer died early: {child.stderr.read() if child.stderr else ''}"
            acked.append(int(line))
        os.kill(child.pid, signal.SIGKILL)  # while it is busy with the next events
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    return acked


@pytest.mark.slow
def test_sigkilled_writer_leaves_every_committed_event_with_its_projection(
        tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    acked: list[int] = []
    for acks_wanted in KILL_AFTER_ACKS:
        acked += _run_and_kill(path, acks_wanted)
        assert Path(f"{path}-wal").exists()  # an unclean stop: recovery has work to do

        with Ledger.open(path, instruments=SAMPLE_INSTRUMENTS) as ledger:
            assert ledger.integrity_check() == "ok"
            stored = list(ledger.events())
            # every acknowledged commit survived; at most a few more committed before the kill
            assert {s.seq for s in stored} >= set(acked)
            assert [s.seq for s in stored] == list(range(1, len(stored) + 1))
            # the log is exactly a prefix of the stream: no lost, torn or repeated event
            expected = list(islice(sample_events(STREAM, seed=SEED), len(stored)))
            assert [s.event for s in stored] == expected
            projections = ledger.table_digest()

        # Every committed event has its projection and no projection lacks its event: the
        # tables equal those of a clean, uninterrupted run over the same events.
        with Ledger.open(tmp_path / f"clean{len(stored)}.db",
                         instruments=SAMPLE_INSTRUMENTS, durable=False) as clean:
            clean.record_all(expected)
            assert clean.table_digest() == projections

    assert len(acked) == sum(KILL_AFTER_ACKS)
