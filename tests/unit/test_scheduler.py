"""Scheduled jobs: each slot once across restarts, a missed slot once on start, apscheduler
firing on a real loop, hourly stats from a real backtest ledger, subprocess jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import load_config
from bot.ops.jobstore import DONE, FAILED, INTERRUPTED, JobStore
from bot.ops.scheduler import Job, Scheduler, command_job, hourly_stats_job, report_job
from bot.research.backtest import run_backtest
from bot.research.report import hourly_stats, load_ledger
from tests.replay_data import BASELINE_TRADES, write_random_walk_market
from tests.waiting import async_wait_until

HOUR_MS = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS  # an hour boundary


class Clock:
    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def counting_job(name: str = "hourly", period_s: int = 3600) -> tuple[Job, list[int]]:
    calls: list[int] = []

    async def action(slot_ms: int) -> str:
        calls.append(slot_ms)
        return f"slot {slot_ms}"

    return Job(name, period_s, action), calls


async def run_until(scheduler: Scheduler, done: Callable[[], object], what: str,
                    timeout_s: float = 10.0) -> None:
    """Run the scheduler until `done()` holds, then stop it (cancelled, as the daemon does)."""
    task = asyncio.create_task(scheduler.run())
    await async_wait_until(lambda: done() or task.done(), timeout_s, what=what)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def run_for(scheduler: Scheduler, seconds: float) -> None:
    """Run the scheduler through a window in which nothing may run. The window is the scenario
    (there is no event for "did not run"); a missed slot is queued before the workers start,
    so one would run within the window's first milliseconds."""
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_slot_runs_once_even_across_a_restart(tmp_path: Path) -> None:
    job, calls = counting_job()
    with JobStore(tmp_path / "s.sqlite") as store:
        scheduler = Scheduler([job], store, Clock(T0 + 10))
        assert asyncio.run(scheduler.run_slot("hourly", T0))
        assert not asyncio.run(scheduler.run_slot("hourly", T0))
    with JobStore(tmp_path / "s.sqlite") as store:  # "restart": a new process, same file
        assert not asyncio.run(Scheduler([job], store, Clock(T0 + 20)).run_slot("hourly", T0))
        assert [(r.slot_ms, r.status, r.detail) for r in store.runs()] == [(T0, DONE, f"slot {T0}")]
    assert calls == [T0]


def test_a_slot_missed_while_down_runs_once_on_start_and_never_again(tmp_path: Path) -> None:
    job, calls = counting_job()
    with JobStore(tmp_path / "s.sqlite") as store:
        store.first_started_ms(T0 - 5 * HOUR_MS)  # installed five hours ago
        asyncio.run(run_until(Scheduler([job], store, Clock(T0 + 3 * HOUR_MS + 60_000)),
                              lambda: calls, "the missed slot"))
    assert calls == [T0 + 3 * HOUR_MS], "only the latest missed slot, once"
    with JobStore(tmp_path / "s.sqlite") as store:  # restarted within the same hour
        asyncio.run(run_for(Scheduler([job], store, Clock(T0 + 3 * HOUR_MS + 120_000)), 0.3))
    assert calls == [T0 + 3 * HOUR_MS]


def test_slots_from_before_the_first_start_are_not_missed(tmp_path: Path) -> None:
    job, calls = counting_job()
    with JobStore(tmp_path / "s.sqlite") as store:
        asyncio.run(run_for(Scheduler([job], store, Clock(T0 + 60_000)), 0.3))
    assert calls == [], "a fresh install does not run the day's report at start-up"


def test_a_run_killed_midway_is_interrupted_and_may_run_again(tmp_path: Path) -> None:
    with JobStore(tmp_path / "s.sqlite") as store:
        assert store.claim("daily", T0, T0)  # RUNNING, then the process dies
    with JobStore(tmp_path / "s.sqlite") as store:
        assert [r.status for r in store.runs()] == [INTERRUPTED]
        assert not store.has_run("daily", T0)
        assert store.claim("daily", T0, T0 + 1)


def test_a_failing_job_is_recorded_failed_and_the_scheduler_goes_on(tmp_path: Path) -> None:
    async def broken(slot_ms: int) -> str:
        raise RuntimeError("no data")

    with JobStore(tmp_path / "s.sqlite") as store:
        scheduler = Scheduler([Job("broken", 3600, broken)], store, Clock(T0))
        assert asyncio.run(scheduler.run_slot("broken", T0))
        assert [(r.status, r.detail) for r in store.runs()] == [(FAILED, "RuntimeError: no data")]


def test_apscheduler_fires_each_due_slot_once_on_the_loop(tmp_path: Path) -> None:
    job, calls = counting_job("fast", period_s=1)
    with JobStore(tmp_path / "s.sqlite") as store:
        asyncio.run(run_until(Scheduler([job], store), lambda: len(calls) >= 2,
                              "two slots of a 1 s job"))
        runs = store.runs("fast")
    assert len(calls) >= 2, calls
    assert len(set(calls)) == len(calls), "no slot twice"
    assert all(slot % 1000 == 0 for slot in calls)
    assert [r.slot_ms for r in runs] == calls and {r.status for r in runs} == {DONE}


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sched")
    market = write_random_walk_market(root / "market", coins=3, minutes=1_900)
    path = root / "ledger.sqlite"
    run_backtest(load_config(None, environ=BASELINE_TRADES), market, path, policy="baseline",
                 quote_asset="USDT", balance=Decimal(10000))
    return path


@pytest.mark.slow  # its ledger fixture runs a backtest
def test_hourly_stats_job_stores_every_complete_hour_of_a_real_ledger(ledger: Path,
                                                                      tmp_path: Path) -> None:
    expected = [h.as_dict() for h in hourly_stats(load_ledger(ledger))][:-1]
    with JobStore(tmp_path / "s.sqlite") as store:
        action = hourly_stats_job(ledger, store)
        assert asyncio.run(action(T0)) == f"stored {len(expected)} hours"
        assert store.hours(limit=1000) == expected
        asyncio.run(action(T0 + HOUR_MS))  # next hour: only the newest stored one is redone
        assert store.hours(limit=1000) == expected
    assert sum(h["buys"] + h["sells"] for h in expected) > 0


@pytest.mark.integration  # the CLI in subprocesses
@pytest.mark.slow
def test_report_and_command_jobs_run_the_cli_in_a_subprocess(ledger: Path, tmp_path: Path) -> None:
    reports: list[dict] = []
    action = report_job(tmp_path, ledger, None, timeout_s=120, on_report=reports.append,
                        days=0.25)
    detail = asyncio.run(action(T0))
    assert len(reports) == 1 and detail == f"report {reports[0]['html']}"
    assert reports[0]["to_ms"] - reports[0]["from_ms"] <= 6 * HOUR_MS  # the last 6 h only
    assert 6 <= reports[0]["hours"] <= 7
    assert Path(reports[0]["html"]).is_file() and "2023-11-14_2200" in reports[0]["html"]
    assert set(reports[0]["charts"]) == {"equity", "hourly_activity", "hourly_returns"}

    failing = command_job([["selfplay", "--json"]], tmp_path, None, timeout_s=60)
    with pytest.raises(RuntimeError, match="exactly one of --data DIR or --sim"):
        asyncio.run(failing(T0))
