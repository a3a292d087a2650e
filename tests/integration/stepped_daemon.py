"""Driving an in-process daemon on a stepped simulator (`autorun=False`): wait until it can
trade the first minute, and for its decision after each minute played.

Waiting on these conditions replaces fixed sleeps: a minute played before the simulator has
taken the feed's SUBSCRIBE reaches nobody, and a fixed 0.2 s for that was a guess.
"""

from __future__ import annotations

import asyncio

from bot.app.daemon import Daemon
from tests.waiting import async_wait_until


async def until_streaming(daemon: Daemon, run: asyncio.Task[None], timeout_s: float = 60) -> None:
    """Engine built, backfill delivered, feed connected, and the simulator's answer to the
    feed's SUBSCRIBE received (the sim subscribes a connection as it answers; one SUBSCRIBE
    carries up to 200 streams, more than these tests use)."""

    def running() -> bool:
        assert not run.done(), run.exception()
        return True

    await async_wait_until(
        lambda: running() and daemon.engine is not None and daemon.engine.bars_seen > 0,
        timeout_s, what="the daemon's engine and its backfill")
    await async_wait_until(
        lambda: running() and daemon.feed is not None and daemon.feed.health().connected,
        timeout_s, what="the daemon's feed connected")
    await async_wait_until(
        lambda: running() and daemon.feed.health().control_messages >= 1,  # type: ignore[union-attr]
        timeout_s, what="the simulator's answer to the feed's SUBSCRIBE")


async def until_decided(daemon: Daemon, steps_before: int, timeout_s: float = 30) -> None:
    """The engine's decision for the minute just played."""
    engine = daemon.engine
    assert engine is not None
    await async_wait_until(lambda: engine.steps > steps_before, timeout_s,
                           what=f"decision step {steps_before + 1}")
