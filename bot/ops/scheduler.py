"""Scheduled jobs on the daemon's loop: hourly stats, a daily report, self-play, training,
ledger backups and the ledger's daily integrity check.

apscheduler 3's `AsyncIOScheduler` (on the daemon's loop) decides *when*: each job has a
period and an offset in UTC, and at every due time it drops the slot into the job's queue.
A worker task per job, owned by `Scheduler.run`'s TaskGroup, does the work, so shutdown
cancels everything in order and nothing is fire-and-forget.

Exactly once per slot, across restarts: a worker first *claims* the slot in SQLite
(`JobStore.claim`) and skips a slot that already ran. On start, the latest slot of each job
that fell due while the daemon was down (but after it was first started) runs once; older
missed slots are not replayed one by one.

CPU work never runs on the loop (ARCHITECTURE principle 1): the report, self-play and model
training run as `python -m bot.cli ...` subprocesses; hourly stats, the ledger backup and
its integrity check read the ledger in a thread, each on its own read-only connection. The
subprocesses get the daemon's data dir through `ENTASIS__APP__DATA_DIR`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.data_dir import DataDir
from bot.ops.jobstore import JobStore, wall_ms

log = logging.getLogger(__name__)

#: Seconds between a failed ledger check's notice and the stop, so the notice can go out.
DAMAGE_STOP_DELAY_S = 5.0

HOUR_S = 3600
KILL_GRACE_S = 5.0

Action = Callable[[int], Awaitable[str]]
"""A job's work for one slot (epoch ms); returns a short detail; raises on failure."""


@dataclass(frozen=True, slots=True)
class Job:
    """A periodic job: due at `offset_s + k * period_s` seconds after the epoch (UTC)."""

    name: str
    period_s: int
    action: Action
    offset_s: int = 0

    def slot_at(self, now_ms: int) -> int:
        """The latest due time at or before `now_ms` (epoch ms)."""
        period, offset = self.period_s * 1000, self.offset_s * 1000
        return (now_ms - offset) // period * period + offset


class Scheduler:
    """Runs `jobs` at their slots, each slot at most once (recorded in `store`)."""

    def __init__(self, jobs: Sequence[Job], store: JobStore,
                 clock_ms: Callable[[], int] = wall_ms) -> None:
        self.jobs = {job.name: job for job in jobs}
        self.store = store
        self.clock_ms = clock_ms
        self._queues: dict[str, asyncio.Queue[int]] = {}
        self.ran: list[tuple[str, int]] = []  # (job, slot) run by this process, in order

    async def run(self) -> None:
        """Catch up missed slots, then run jobs at their due times until cancelled."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        now = self.clock_ms()
        first_started = self.store.first_started_ms(now)
        self._queues = {name: asyncio.Queue() for name in self.jobs}
        for job in self.jobs.values():
            slot = job.slot_at(now)
            if slot >= first_started and not self.store.has_run(job.name, slot):
                log.info("job %s: running missed slot %s", job.name, _utc(slot))
                self._queues[job.name].put_nowait(slot)
        timer = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
        for job in self.jobs.values():
            start = datetime.fromtimestamp((job.slot_at(now) + job.period_s * 1000) / 1000,
                                           UTC)
            timer.add_job(self._due, IntervalTrigger(seconds=job.period_s, start_date=start,
                                                     timezone=UTC),
                          args=[job.name], id=job.name, coalesce=True, max_instances=1,
                          misfire_grace_time=max(1, job.period_s // 2))
        timer.start()
        try:
            async with asyncio.TaskGroup() as workers:
                for name in self.jobs:
                    workers.create_task(self._worker(name), name=f"job:{name}")
        finally:
            timer.shutdown(wait=False)

    async def _due(self, name: str) -> None:
        """apscheduler's callback (a coroutine, so it runs on our loop, not in a thread)."""
        self._queues[name].put_nowait(self.jobs[name].slot_at(self.clock_ms()))

    async def _worker(self, name: str) -> None:
        queue = self._queues[name]
        while True:
            await self.run_slot(name, await queue.get())

    async def run_slot(self, name: str, slot_ms: int) -> bool:
        """Run `name` for `slot_ms` unless that slot already ran; True if it ran now."""
        if not self.store.claim(name, slot_ms, self.clock_ms()):
            log.debug("job %s: slot %s already ran; skipped", name, _utc(slot_ms))
            return False
        started = time.monotonic()
        try:
            detail = await self.jobs[name].action(slot_ms)
            ok = True
        except asyncio.CancelledError:
            self.store.finish(name, slot_ms, False, "cancelled at shutdown", self.clock_ms())
            raise
        except Exception as exc:  # noqa: BLE001  (a failed job is recorded; the daemon goes on)
            detail, ok = f"{type(exc).__name__}: {exc}", False
            log.warning("job %s (slot %s) failed: %s", name, _utc(slot_ms), detail)
        self.store.finish(name, slot_ms, ok, detail, self.clock_ms())
        self.ran.append((name, slot_ms))
        log.info("job %s (slot %s) %s in %.1f s", name, _utc(slot_ms),
                 "done" if ok else "FAILED", time.monotonic() - started)
        return True


def _utc(ts_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts_ms / 1000))


# --- the jobs ------------------------------------------------------------------------------

async def run_cli(args: Sequence[str], *, data_dir: Path, config_file: Path | None,
                  timeout_s: float) -> dict[str, Any]:
    """`python -m bot.cli ARGS` in a subprocess; its last stdout line parsed as JSON.

    Killed (TERM, then KILL) on timeout or when the daemon shuts down. Raises RuntimeError
    with the tail of stderr when it exits non-zero.
    """
    config_args = ["--config", str(config_file)] if config_file is not None else []
    env = {**os.environ, "ENTASIS__APP__DATA_DIR": str(data_dir.resolve())}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, *config_args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        cwd=Path(__file__).resolve().parents[2])
    try:
        async with asyncio.timeout(timeout_s):
            stdout, stderr = await process.communicate()
    except BaseException:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), KILL_GRACE_S)
            except TimeoutError:
                process.kill()
                await process.wait()
        raise
    if process.returncode != 0:
        tail = stderr.decode(errors="replace").strip()[-500:]
        raise RuntimeError(f"entasis {' '.join(args)} exited {process.returncode}: {tail}")
    lines = stdout.decode(errors="replace").strip().splitlines()
    try:
        return dict(json.loads(lines[-1])) if lines else {}
    except ValueError:
        return {"output": lines[-1][:500]}


def hourly_stats_job(ledger_path: Path, store: JobStore) -> Action:
    """Store every complete hour of the ledger not stored yet (and re-store the newest one,
    which may have been partial)."""
    from bot.research.report import HOUR_MS, ReportError, hourly_stats, load_ledger

    async def action(slot_ms: int) -> str:
        last = store.last_stats_hour()
        since = None if last is None else last - HOUR_MS  # one hour before: the return's base
        try:
            view = await asyncio.to_thread(load_ledger, ledger_path, since)
        except ReportError as exc:
            return f"nothing to store: {exc}"
        hours = hourly_stats(view)[:-1]  # the newest hour is still running
        rows = [h.as_dict() for h in hours if last is None or h.hour_ms >= last]
        return f"stored {store.store_hours(rows)} hours"

    return action


def report_job(data_dir: Path, ledger_path: Path, config_file: Path | None, timeout_s: float,
               rest_url: Callable[[], str | None] = lambda: None,
               on_report: Callable[[dict[str, Any]], None] | None = None,
               days: float = 7.0) -> Action:
    """Render the report of the ledger's last `days` days in a subprocess (`entasis report`),
    then hand its summary (paths of report.html and the charts included) to `on_report`."""
    async def action(slot_ms: int) -> str:
        out = DataDir(data_dir).reports / time.strftime("%Y-%m-%d_%H%M", time.gmtime(slot_ms / 1000))
        args = ["report", "--out", str(out), "--ledger", str(ledger_path), "--json",
                "--days", str(days)]
        url = rest_url()
        if url:
            args += ["--rest-url", url]
        summary = await run_cli(args, data_dir=data_dir, config_file=config_file,
                                timeout_s=timeout_s)
        if on_report is not None:
            on_report(summary)
        return f"report {summary.get('html', out)}"

    return action


def command_job(commands: Sequence[Sequence[str]], data_dir: Path, config_file: Path | None,
                timeout_s: float,
                on_result: Callable[[list[str], dict[str, Any]], None] | None = None) -> Action:
    """Run each `entasis` command (self-play, model training) in turn, in a subprocess."""
    async def action(slot_ms: int) -> str:
        details = []
        for command in commands:
            result = await run_cli(list(command), data_dir=data_dir, config_file=config_file,
                                   timeout_s=timeout_s)
            if on_result is not None:
                on_result(list(command), result)
            details.append(f"{' '.join(command)}: {json.dumps(result)[:300]}")
        return "; ".join(details)

    return action


def ledger_backup_job(ledger_path: Path, backups_dir: Path, keep: int) -> Action:
    """Online backup of the live ledger into `backups_dir` (state/backup.py), newest `keep`
    kept. In a thread: the copy is I/O, and the backup API never blocks the daemon's writes."""
    from state.backup import rotate_backup

    async def action(slot_ms: int) -> str:
        result = await asyncio.to_thread(rotate_backup, ledger_path, backups_dir, slot_ms, keep)
        return f"backup {result.path.name}: {result.size_bytes} bytes in {result.seconds:.2f} s"

    return action


def ledger_check_job(ledger_path: Path, on_damage: Callable[[str], None]) -> Action:
    """Full integrity_check of the live ledger, read-only, in a thread. Damage is logged as
    ERROR and handed to `on_damage` (a notice), and the job fails: the daemon keeps running
    on the pages it has, but the operator must plan a restore before the next restart."""
    from state.integrity import LedgerDamaged, preflight

    async def action(slot_ms: int) -> str:
        try:
            await asyncio.to_thread(preflight, ledger_path, full=True)
        except LedgerDamaged as exc:
            log.error("%s", exc)
            on_damage(str(exc))
            raise
        return f"{ledger_path.name}: integrity_check ok"

    return action


# --- the daemon's scheduler ------------------------------------------------------------------

def daemon_jobs(daemon: Any, store: JobStore) -> list[Job]:
    """The jobs `[schedule]` turns on, wired to a running `bot.app.daemon.Daemon`."""
    config = daemon.config
    schedule = config.schedule
    data_dir: Path = config.data_dir
    ledger_path = DataDir(data_dir).ledger
    config_file = getattr(daemon, "config_path", None) or config.base_dir / "config.toml"
    config_file = Path(config_file) if Path(config_file).is_file() else None

    def rest_url() -> str | None:
        sim = getattr(daemon, "sim", None)
        return sim.rest_url if sim is not None else config.exchange.rest_url

    def notify(text: str, **data: Any) -> None:
        notifier = getattr(daemon, "notifier", None)  # bot/ops/notify.py, where the daemon has one
        if notifier is None:
            log.info("%s", text)
            return
        from trading.notices import NoticeKind

        notifier.emit(NoticeKind.REPORT, text, **data)

    def on_report(summary: dict[str, Any]) -> None:
        if schedule.push_reports:
            notify(f"daily report: return {summary.get('total_return_pct', 0):+.3f}%, "
                   f"{summary.get('round_trips', 0)} round trips", report=summary,
                   photo_path=summary.get("charts", {}).get("equity"),
                   document_path=summary.get("html"))

    def on_damage(text: str) -> None:
        notifier = getattr(daemon, "notifier", None)
        if notifier is not None:
            from trading.notices import NoticeKind

            notifier.emit(NoticeKind.DAEMON, text, ledger=str(ledger_path))
        # Stop writing into a damaged ledger (ADR-051): the next start refuses it with the
        # same one line, and `entasis ledger recover` restores the newest sound backup.
        from state import integrity

        daemon.request_stop("the ledger failed its integrity check", delay_s=DAMAGE_STOP_DELAY_S,
                            exit_code=integrity.EXIT_LEDGER_DAMAGED)

    def on_selfplay(command: list[str], result: dict[str, Any]) -> None:
        promoted = [g["version"] for g in result.get("generations", []) if g.get("promoted")]
        if promoted:
            notify(f"self-play promoted {', '.join(promoted)}", result=result)

    jobs = []
    if schedule.hourly_stats:
        jobs.append(Job("hourly_stats", HOUR_S, hourly_stats_job(ledger_path, store)))
    if schedule.daily_report:
        jobs.append(Job("daily_report", 24 * HOUR_S,
                        report_job(data_dir, ledger_path, config_file, schedule.job_timeout_s,
                                   rest_url, on_report),
                        offset_s=schedule.daily_report_hour_utc * HOUR_S))
    if schedule.selfplay:
        jobs.append(Job("selfplay", schedule.selfplay_every_hours * HOUR_S, command_job(
            [["selfplay", *schedule.selfplay_args, "--json"]], data_dir, config_file,
            schedule.job_timeout_s, on_selfplay)))
    if schedule.train_commands:
        jobs.append(Job("train", schedule.train_every_hours * HOUR_S, command_job(
            schedule.train_commands, data_dir, config_file, schedule.job_timeout_s)))
    if schedule.ledger_backup:
        jobs.append(Job("ledger_backup", schedule.ledger_backup_every_hours * HOUR_S,
                        ledger_backup_job(ledger_path, DataDir(data_dir).backups,
                                          schedule.ledger_backup_keep)))
    if schedule.ledger_check:
        jobs.append(Job("ledger_check", 24 * HOUR_S, ledger_check_job(ledger_path, on_damage),
                        offset_s=schedule.ledger_check_hour_utc * HOUR_S))
    return jobs


def open_store(path: Path) -> JobStore:
    """schedule.sqlite, started afresh if it is damaged: it holds only which slots ran and
    the hourly statistics (re-stored from the ledger by the next hourly job), so the daemon
    and its backups go on; the damaged files are kept beside it, never deleted."""
    from state.integrity import LedgerDamaged, LedgerEmpty, preflight, shm_path, wal_path

    try:
        preflight(path)
    except LedgerEmpty:
        pass  # a crash between creating the file and its first table: nothing to keep
    except LedgerDamaged as exc:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        for file in (path, wal_path(path), shm_path(path)):
            if file.exists():
                file.rename(file.with_name(f"{file.name}.damaged-{stamp}"))
        log.error("%s is damaged (%s); moved aside as %s.damaged-%s and started afresh: "
                  "recent job slots may run again", path, exc.detail, path.name, stamp)
    return JobStore(path)


async def serve(daemon: Any) -> None:
    """The daemon's scheduler task: open schedule.sqlite, run the jobs until cancelled."""
    with open_store(DataDir(daemon.config.data_dir).schedule) as store:
        jobs = daemon_jobs(daemon, store)
        log.info("scheduler: %s", ", ".join(job.name for job in jobs) or "no jobs enabled")
        if jobs:
            await Scheduler(jobs, store).run()
        else:
            await asyncio.Event().wait()
