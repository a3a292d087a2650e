"""Waiting for something to happen: poll its condition against a deadline, never a fixed sleep.

A fixed `sleep(0.3)` is either too short on a loaded 2-core machine (a flaky test) or too long
everywhere else (a slow one). These return as soon as the condition holds and fail with what
was awaited when it never does. Where the code sets an `asyncio.Event`, await that instead.
Sleeps that ARE the scenario (silence that must make a feed stale, a window in which nothing
may arrive) stay where they are, with a comment saying so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

POLL_S = 0.01


def wait_until(predicate: Callable[[], object], timeout_s: float = 10.0, *,
               what: str = "the condition", interval_s: float = POLL_S) -> None:
    """Return once `predicate()` is true; fail after `timeout_s` naming `what` was awaited.
    The predicate may itself assert (say, that a daemon is still alive): that fails at once."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


async def async_wait_until(predicate: Callable[[], object], timeout_s: float = 10.0, *,
                           what: str = "the condition", interval_s: float = POLL_S) -> None:
    """`wait_until` for a test on the event loop: yields to the loop between polls, so the
    tasks that make `predicate()` true keep running."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(interval_s)
