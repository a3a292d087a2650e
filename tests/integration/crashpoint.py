"""Run `entasis` and SIGKILL it at a chosen ledger commit point (crash tests only).

    python -m tests.integration.crashpoint WHEN:COUNT:FROM run --config config.toml

A `sqlite3` trace callback on every ledger connection the process opens (it fires as each
SQL statement starts) counts `COMMIT` statements and kills the process with SIGKILL:

* WHEN `before`: as the COUNT-th COMMIT starts, so that transaction is lost;
* WHEN `after`: as the first statement after the COUNT-th COMMIT starts, so that
  transaction is on disk and nothing after it is.

FROM `start` counts COMMITs from the process start; FROM `fill` from the first fill the
process books (its `INSERT INTO fills`), so COUNT 1 is the commit of the transaction that
holds that fill, 2 the next one, whatever the start-up wrote. The spec `none` kills nothing.
Production code has no hook for this: the wrapper patches `Ledger.open` in this process only.
Just before the kill it writes `CRASHPOINT <spec> ...` to stderr.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
from dataclasses import dataclass

from state.ledger import Ledger

MARK = "CRASHPOINT"


@dataclass
class CommitTrap:
    """The trace callback: counts COMMITs (from the start or from the first fill) and kills
    the process before or just after the COUNT-th."""

    spec: str
    when: str
    count: int
    armed: bool  # counting COMMITs yet (from the first fill when FROM is `fill`)
    commits: int = 0
    kill_next: bool = False

    @classmethod
    def parse(cls, spec: str) -> CommitTrap | None:
        if spec == "none":
            return None
        when, count, origin = spec.split(":")
        if when not in ("before", "after") or origin not in ("start", "fill") or int(count) < 1:
            raise SystemExit(f"bad crash point {spec!r}: WHEN:COUNT:FROM, e.g. after:2:fill")
        return cls(spec, when, int(count), armed=origin == "start")

    def __call__(self, sql: str) -> None:
        if self.kill_next:
            self._die(f"after commit {self.commits}, as {sql.split(maxsplit=1)[0]} starts")
        statement = sql.lstrip().upper()
        if not self.armed:
            self.armed = statement.startswith("INSERT INTO FILLS")
            return
        if statement.startswith("COMMIT"):
            self.commits += 1
            if self.commits == self.count:
                if self.when == "before":
                    self._die(f"before commit {self.commits}")
                self.kill_next = True

    def _die(self, where: str) -> None:
        os.write(2, f"{MARK} {self.spec}: {where}\n".encode())
        os.kill(os.getpid(), signal.SIGKILL)


def install(trap: CommitTrap) -> None:
    """Trace every ledger connection this process opens with `trap`."""
    open_ledger = Ledger.open.__func__  # type: ignore[attr-defined]

    def traced(cls: type[Ledger], *args: object, **kwargs: object) -> Ledger:
        ledger = open_ledger(cls, *args, **kwargs)
        ledger.db.conn.set_trace_callback(trap)
        return ledger

    Ledger.open = classmethod(traced)  # type: ignore[method-assign, assignment]


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when the test process that started it dies: a pytest
    run killed mid-test runs no `finally`, and its daemons would otherwise trade on for hours
    (two did, at 44 % CPU each). SIGTERM, not SIGKILL: the daemon then stops cleanly."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def main(argv: list[str]) -> None:
    """`python -m tests.integration.crashpoint SPEC ENTASIS-ARGS...`."""
    die_with_parent()
    trap = CommitTrap.parse(argv[0])
    if trap is not None:
        install(trap)
    sys.argv = ["entasis", *argv[1:]]
    runpy.run_module("bot.cli", run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
