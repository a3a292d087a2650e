"""The scheduler's ledger jobs: hourly online backups with retention, a daily full check.

Given a real ledger and the real `Scheduler` with its SQLite slot store: a backup slot
writes a private, timestamped backup and keeps the newest N; the check slot of a damaged
ledger fails, logs ERROR and raises a notice naming the file; `[schedule]` turns both on.
"""

from __future__ import annotations

import asyncio
import logging
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.config import load_config
from bot.ops.jobstore import DONE, FAILED, JobStore
from bot.ops.scheduler import (
    HOUR_S,
    Job,
    Scheduler,
    daemon_jobs,
    ledger_backup_job,
    ledger_check_job,
    open_store,
)
from tests.ledger_damage import files_of, garbage_in_the_middle, sound_ledger

HOUR_MS = HOUR_S * 1000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS  # 2023-11-14 22:00 UTC


def _run_slots(job: Job, store: JobStore, slots: list[int]) -> None:
    scheduler = Scheduler([job], store, lambda: slots[-1] + 1)
    for slot in slots:
        asyncio.run(scheduler.run_slot(job.name, slot))


def test_backup_slots_write_private_timestamped_backups_and_keep_the_newest(
        tmp_path: Path) -> None:
    ledger = sound_ledger(tmp_path / "ledger.sqlite", events=200)
    backups = tmp_path / "backups"
    job = Job("ledger_backup", HOUR_S, ledger_backup_job(ledger, backups, keep=2))

    with JobStore(tmp_path / "schedule.sqlite") as store:
        _run_slots(job, store, [T0, T0 + HOUR_MS, T0 + 2 * HOUR_MS])
        runs = store.runs("ledger_backup")

    assert [r.status for r in runs] == [DONE, DONE, DONE]
    assert sorted(p.name for p in backups.iterdir()) == [
        "ledger-20231114T230000Z.sqlite", "ledger-20231115T000000Z.sqlite"]
    assert {stat.S_IMODE(p.stat().st_mode) for p in backups.iterdir()} == {0o600}
    assert stat.S_IMODE(backups.stat().st_mode) == 0o700


def test_the_daily_check_of_a_damaged_ledger_fails_logs_error_and_notifies(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ledger = sound_ledger(tmp_path / "ledger.sqlite", events=2000)
    garbage_in_the_middle(ledger)
    before = files_of(ledger)
    notices: list[str] = []
    job = Job("ledger_check", 24 * HOUR_S, ledger_check_job(ledger, notices.append))

    with caplog.at_level(logging.ERROR, logger="bot.ops.scheduler"), \
            JobStore(tmp_path / "schedule.sqlite") as store:
        _run_slots(job, store, [T0])
        (run,) = store.runs("ledger_check")

    assert run.status == FAILED and "LedgerDamaged" in (run.detail or "")
    assert len(notices) == 1 and str(ledger) in notices[0]
    assert any(r.levelno == logging.ERROR and str(ledger) in r.getMessage()
               for r in caplog.records)
    assert files_of(ledger) == before


def test_the_daily_check_of_a_sound_ledger_passes_quietly(tmp_path: Path) -> None:
    ledger = sound_ledger(tmp_path / "ledger.sqlite", events=200)
    notices: list[str] = []
    job = Job("ledger_check", 24 * HOUR_S, ledger_check_job(ledger, notices.append))

    with JobStore(tmp_path / "schedule.sqlite") as store:
        _run_slots(job, store, [T0])
        (run,) = store.runs("ledger_check")

    assert (run.status, run.detail) == (DONE, "ledger.sqlite: integrity_check ok")
    assert notices == []


def test_schedule_turns_on_hourly_backups_and_a_daily_check_by_default(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[schedule]\nledger_check_hour_utc = 4\n")
    config = load_config(tmp_path / "config.toml", environ={})
    daemon = SimpleNamespace(config=config, config_path=None, notifier=None, sim=None)

    with JobStore(tmp_path / "schedule.sqlite") as store:
        jobs = {job.name: job for job in daemon_jobs(daemon, store)}

    assert jobs["ledger_backup"].period_s == HOUR_S
    assert (jobs["ledger_check"].period_s, jobs["ledger_check"].offset_s) == (
        24 * HOUR_S, 4 * HOUR_S)
    assert config.schedule.ledger_backup_keep == 24


def test_a_damaged_scheduler_store_is_moved_aside_and_started_afresh(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "schedule.sqlite"
    path.write_text("not a database\n" * 100)

    with caplog.at_level(logging.ERROR, logger="bot.ops.scheduler"), open_store(path) as store:
        assert store.runs() == []

    (aside,) = tmp_path.glob("schedule.sqlite.damaged-*")
    assert aside.read_text() == "not a database\n" * 100
    assert any("schedule.sqlite is damaged" in r.getMessage() for r in caplog.records)


def test_a_failed_daily_check_stops_the_daemon_with_the_damaged_ledger_status(
        tmp_path: Path) -> None:
    """Damage found while running: the notice goes out, then the daemon stops (exit 4, which
    the systemd unit does not restart into) instead of writing on into a damaged file."""
    from state.integrity import EXIT_LEDGER_DAMAGED

    (tmp_path / "config.toml").write_text(f'[app]\ndata_dir = "{tmp_path / "var"}"\n')
    config = load_config(tmp_path / "config.toml", environ={})
    config.data_dir.mkdir()
    garbage_in_the_middle(sound_ledger(config.data_dir / "ledger.sqlite", events=2000))
    stops: list[tuple[str, float, int]] = []
    daemon = SimpleNamespace(
        config=config, config_path=None, notifier=None, sim=None,
        request_stop=lambda reason, *, delay_s, exit_code: stops.append(
            (reason, delay_s, exit_code)))

    with JobStore(tmp_path / "schedule.sqlite") as store:
        check = {job.name: job for job in daemon_jobs(daemon, store)}["ledger_check"]
        _run_slots(check, store, [T0])

    assert [(reason, code) for reason, _, code in stops] == [
        ("the ledger failed its integrity check", EXIT_LEDGER_DAMAGED)]
    assert stops[0][1] > 0  # a moment for the notice to go out first
