"""Crash test: a paper daemon SIGKILLed at every commit point of a fill, and at random commit
points, restarts every time from a ledger that agrees with its own events, and trades on.

The daemon is the real `entasis run` (paper mode, embedded sim, baseline policy that enters
at any score) started through `tests.integration.crashpoint`, which kills it with SIGKILL
as a chosen `COMMIT` starts (the transaction is lost) or just after it (it is on disk and
nothing after it is). The deterministic points come first: before and after the account
opening on the fresh ledger, then, counted from the first fill each process books, before and
after the commit of the fill's own transaction and of the decision step's batch after it.
Random commit points follow. Two chains of rounds, each on a ledger of its own, run side by
side (a daemon start is mostly single-threaded imports: two cores halve the wall time).

After each kill, on a copy of the ledger: SQLite finds it sound; orders, fills, positions and
balances rebuilt from `events` alone equal the stored projections; the saved broker counters
are at least the highest order and trade numbers in the ledger; no trade id is booked twice;
the account was funded once. The next round is the restart: it must start (it is killed at
its own point, not dead by itself) and resume the ledger's positions and open orders. A last
clean run must book new fills and stop with exit code 0. Counts go to pytest's summary.
"""

from __future__ import annotations

import random
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from model.instruments import Instrument
from state.ledger import Ledger
from state.schema import PROJECTION_TABLES
from tests.integration.crashpoint import MARK
from tests.integration.liverig import Proc

SEED = 20261206
RANDOM_KILLS = 20  # ~5 s of CPU per daemon start: 26 kills fit ~90 s on 2 cores
# On the fresh ledger: before and after the account opening (its first commit).
START_POINTS = ["before:1:start", "after:1:start"]
# Counted from a process's first fill: 1 is the transaction that books it (the minute's
# fills with the cursor), 2 the decision step's batch that follows.
FILL_POINTS = [f"{when}:{count}:fill" for count in (1, 2) for when in ("before", "after")]
CONFIG = """
[sim]
coins = 8
speed = 3000.0
history_days = 1.1
[feed]
backfill_minutes = 1500
stale_after_s = 5.0
[strategy]
top_k = 8
max_spread_bps = 500.0
[trading]
policy = "baseline"
min_score = 0.0
edge_cost_margin = -1  # weigh no cost: the test needs entries (strategies/edge.py)
cancel_buy_after_s = 180.0
[schedule]
enabled = false
"""
QUOTE = "USDT"
ROUND_TIMEOUT_S = 120  # generous: a round normally ends in a few seconds
_RESUMED = re.compile(r"resumed from .*: (\d+) positions, (\d+) open orders")
_ID_NUMBER = re.compile(r"^E-T?(\d+)$")


@dataclass
class Tally:
    """What a chain of rounds saw, for the summary line and the final assertions."""

    kills: int = 0
    restarts: int = 0
    resumes_checked: int = 0
    counter_corrections: int = 0
    fills: int = 0
    traded_on: bool = False  # the last, clean run booked new fills
    mismatches: list[str] = field(default_factory=list)

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.kills + other.kills, self.restarts + other.restarts,
                     self.resumes_checked + other.resumes_checked,
                     self.counter_corrections + other.counter_corrections,
                     self.fills + other.fills, self.traded_on and other.traded_on,
                     self.mismatches + other.mismatches)


@dataclass(frozen=True)
class LedgerFacts:
    """The ledger after a kill, as the next start must resume it."""

    fills: int
    positions: int  # symbols with a non-zero amount
    open_orders: int  # open and acknowledged (a paper restart does not restore SUBMITTED)


def start(config: Path, point: str) -> Proc:
    """`entasis run` under the crash-point wrapper."""
    return Proc([sys.executable, "-m", "tests.integration.crashpoint", point, "run",
                 "--config", str(config)], {})


def crash_chains(rng: random.Random) -> list[list[str]]:
    """Two chains of crash points, each for a ledger of its own: the start-up and fill
    points then random ones, and random ones only. Random: the COUNT-th commit from the
    start (often before any fill) or from the first fill."""
    randoms = [f"{rng.choice(('before', 'after'))}:{rng.randint(1, 40)}:start"
               if rng.random() < 0.5 else
               f"{rng.choice(('before', 'after'))}:{rng.randint(1, 8)}:fill"
               for _ in range(RANDOM_KILLS)]
    first = START_POINTS + FILL_POINTS
    split = (len(first) + len(randoms)) // 2 - len(first)
    return [first + randoms[:split], randoms[split:]]


def fill_count(ledger: Path) -> int:
    """Rows in `fills`, read beside the writer (0 before the file exists)."""
    if not ledger.exists():
        return 0
    with closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=10)) as conn:
        return int(conn.execute("SELECT count(*) FROM fills").fetchone()[0])


def audit_copy(ledger: Path, workdir: Path) -> tuple[LedgerFacts, list[str]]:
    """Check a copy of the killed daemon's ledger (its WAL included); return its facts and
    every disagreement found."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir()
    copy = workdir / ledger.name
    for suffix in ("", "-wal"):  # the WAL holds the last commits; -shm is rebuilt from it
        if Path(f"{ledger}{suffix}").exists():
            shutil.copyfile(f"{ledger}{suffix}", f"{copy}{suffix}")
    with closing(sqlite3.connect(copy)) as conn:
        symbols = [row[0] for row in conn.execute("SELECT DISTINCT symbol FROM orders")]
    instruments = {s: Instrument(s, s.removesuffix(QUOTE), QUOTE, Decimal("0.01"),
                                 Decimal("0.001"), Decimal(5)) for s in symbols}
    with Ledger.open(copy, instruments=instruments, durable=False) as book:
        return _facts(book), _disagreements(book)


def _facts(book: Ledger) -> LedgerFacts:
    return LedgerFacts(
        fills=len(book.fills()),
        positions=sum(1 for p in book.positions() if p.amount != 0),
        open_orders=sum(1 for o in book.open_orders() if o.status != "SUBMITTED"),
    )


def _disagreements(book: Ledger) -> list[str]:
    found: list[str] = []
    if (verdict := book.integrity_check()) != "ok":
        found.append(f"integrity: {verdict}")
    stored = book.table_digest(PROJECTION_TABLES)
    book.rebuild_projections()
    if book.table_digest(PROJECTION_TABLES) != stored:
        found.append("projections differ from those rebuilt from the events")
    events = list(book.events())
    trade_ids = [e.event.trade_id for e in events if e.kind in ("PartiallyFilled", "Filled")]
    if len(trade_ids) != len(set(trade_ids)):
        found.append(f"a trade id booked twice: {len(trade_ids) - len(set(trade_ids))}")
    deposits = sum(1 for e in events if e.kind == "BalanceSet")
    if deposits > 1:
        found.append(f"the account was funded {deposits} times")
    found.extend(_execution_disagreements(book))
    saved = book.get_kv("broker_counters", [0, 0])
    highest = (_highest(book, "SELECT client_order_id FROM orders"),
               _highest(book, "SELECT trade_id FROM fills"))
    if saved[0] < highest[0] or saved[1] < highest[1]:
        found.append(f"saved counters {saved} behind the ledger's ids {list(highest)}")
    return found


def _execution_disagreements(book: Ledger) -> list[str]:
    """Each order's execution row (trading/execution_monitor.py) commits with it: every
    order the daemon placed has its expectation, realized exactly when the order ended."""
    counts = book.db.execute(
        "SELECT count(*) FILTER (WHERE e.client_order_id IS NULL),"
        " count(*) FILTER (WHERE o.status IN ('FILLED', 'CANCELED', 'REJECTED')"
        "  AND e.outcome IS NULL),"
        " count(*) FILTER (WHERE o.status NOT IN ('FILLED', 'CANCELED', 'REJECTED')"
        "  AND e.outcome IS NOT NULL)"
        " FROM orders o LEFT JOIN executions e USING (client_order_id)"
        " WHERE o.side IS NOT NULL").fetchone()
    words = ("orders without their expected execution", "ended orders whose execution is "
             "still open", "open orders whose execution has ended")
    return [f"{count} {what}" for count, what in zip(counts, words, strict=True) if count]


def _highest(book: Ledger, sql: str) -> int:
    numbers = [int(m.group(1)) for (text,) in book.db.execute(sql).fetchall()
               if (m := _ID_NUMBER.match(text))]
    return max(numbers, default=0)


def check_resume(daemon: Proc, before: LedgerFacts, tally: Tally) -> None:
    """The restart resumed what the killed run left (when it got that far)."""
    for line in daemon.lines:
        if found := _RESUMED.search(line):
            tally.resumes_checked += 1
            resumed = (int(found.group(1)), int(found.group(2)))
            if resumed != (before.positions, before.open_orders):
                tally.mismatches.append(f"resumed {resumed}, ledger had {before}")
        tally.counter_corrections += "counters" in line and "behind the ledger" in line
        if "Traceback" in line:
            tally.mismatches.append(f"traceback: {daemon.tail(30)}")


def wait_for_exit(daemon: Proc, halt: threading.Event) -> int | None:
    """The daemon's exit code; None if it is still running after `ROUND_TIMEOUT_S` (it
    never reached its crash point) or when `halt` is set."""
    deadline = time.monotonic() + ROUND_TIMEOUT_S
    while time.monotonic() < deadline and not halt.is_set():
        try:
            return daemon.popen.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue
    return None


def run_chain(workdir: Path, points: list[str], halt: threading.Event) -> Tally:
    """Kill a paper daemon at each point in turn, each start resuming the last one's ledger,
    then run it once more cleanly until it books a new fill; audit the ledger every time.
    The first failure or broken ledger (in any chain: `halt`) ends the test: it says it all."""
    try:
        return _rounds(workdir, points, halt)
    except BaseException:
        halt.set()
        raise


def _rounds(workdir: Path, points: list[str], halt: threading.Event) -> Tally:
    workdir.mkdir()
    config = workdir / "config.toml"
    config.write_text(CONFIG)
    ledger = workdir / "var" / "ledger.sqlite"
    tally = Tally()
    facts = LedgerFacts(0, 0, 0)
    for round_, point in enumerate(points):
        if halt.is_set():
            return tally
        daemon = start(config, point)
        tally.restarts += round_ > 0
        code = wait_for_exit(daemon, halt)
        daemon.kill9()  # reaps it (whatever happened) and joins the output reader
        if code is None and halt.is_set():
            return tally  # the other chain failed: stop here
        assert code == -9 and any(MARK in line for line in daemon.lines), (
            f"round {round_} ({point}): exit {code}, not killed at its point:\n{daemon.tail()}")
        tally.kills += 1
        print(f"{workdir.name} round {round_}: killed at {point} (exit {code})", flush=True)
        check_resume(daemon, facts, tally)
        facts, found = audit_copy(ledger, workdir / "audit")
        tally.mismatches += [f"{workdir.name} round {round_} ({point}): {problem}"
                             for problem in found]
        if found:
            halt.set()
            return tally

    before_last = fill_count(ledger)
    daemon = start(config, "none")
    tally.restarts += 1
    deadline = time.monotonic() + ROUND_TIMEOUT_S
    while (fill_count(ledger) <= before_last and daemon.alive() and not halt.is_set()
           and time.monotonic() < deadline):
        time.sleep(0.1)
    tally.traded_on = fill_count(ledger) > before_last
    assert daemon.interrupt() == 0, daemon.tail()
    check_resume(daemon, facts, tally)
    facts, found = audit_copy(ledger, workdir / "audit")
    tally.mismatches += [f"{workdir.name} last run: {problem}" for problem in found]
    tally.fills = facts.fills
    return tally


@pytest.mark.slow
@pytest.mark.timeout(480)  # a guard for a loaded machine; ~80 s on an idle one
def test_paper_daemon_killed_at_every_commit_point_resumes_from_its_events_and_trades_on(
        tmp_path: Path, counts_summary: Callable[[str], None]) -> None:
    chains = crash_chains(random.Random(SEED))
    started = time.monotonic()
    halt = threading.Event()
    with ThreadPoolExecutor(len(chains)) as pool:  # one daemon per core: half the wall time
        try:
            tallies = list(pool.map(run_chain, [tmp_path / f"chain{i}" for i in range(len(chains))],
                                    chains, [halt] * len(chains)))
        finally:
            halt.set()  # a timeout or failure here must leave no daemon running
    tally = sum(tallies[1:], tallies[0])
    elapsed = time.monotonic() - started

    counts_summary(
        f"crash test (paper daemon, kill -9 at commit points): kills={tally.kills} "
        f"(start-up {len(START_POINTS)}, fill points {len(FILL_POINTS)}, random "
        f"{RANDOM_KILLS}) restarts={tally.restarts} resumes_checked={tally.resumes_checked} "
        f"counter_corrections={tally.counter_corrections} fills={tally.fills} "
        f"mismatches={len(tally.mismatches)} in {elapsed:.0f} s")
    assert tally.mismatches == [], "\n".join(tally.mismatches[:20])
    assert tally.traded_on, "a daemon booked no fill after its last restart"
    assert tally.kills == len(START_POINTS) + len(FILL_POINTS) + RANDOM_KILLS
    assert tally.restarts == tally.kills  # every kill was followed by a start
