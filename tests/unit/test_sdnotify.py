"""sd_notify over a real AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from bot.ops.sdnotify import SdNotifier, heartbeat, status_line, supervise
from tests.waiting import async_wait_until, wait_until


class FakeSystemd:
    """Binds the notify socket and records (monotonic time, datagram) from a thread, so it
    keeps listening while the event loop under test is blocked."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def lines(self) -> list[str]:
        return [line for _, text in self.messages for line in text.split("\n")]


@pytest.fixture
def systemd(tmp_path: Path):
    fake = FakeSystemd(str(tmp_path / "notify.sock"))
    yield fake, str(tmp_path / "notify.sock")
    fake.close()


def test_ready_status_and_stopping_arrive_as_datagrams(systemd) -> None:
    fake, path = systemd
    notifier = SdNotifier({"NOTIFY_SOCKET": path})
    assert notifier.ready("feed live") and notifier.status("2 steps") and notifier.stopping()
    wait_until(lambda: len(fake.messages) == 3, 3.0, what="three datagrams")
    assert [m for _, m in fake.messages] == ["READY=1\nSTATUS=feed live", "STATUS=2 steps",
                                             "STOPPING=1"]


def test_abstract_socket_named_with_at_sign() -> None:
    name = f"entasis-test-{uuid.uuid4().hex}"
    fake = FakeSystemd("\0" + name)
    try:
        assert SdNotifier({"NOTIFY_SOCKET": "@" + name}).watchdog()
        wait_until(lambda: fake.lines() == ["WATCHDOG=1"], 3.0, what="the watchdog datagram")
    finally:
        fake.close()


def test_without_notify_socket_everything_is_a_silent_no_op() -> None:
    notifier = SdNotifier({})
    assert not notifier.enabled and not notifier.ready() and not notifier.watchdog()


def test_watchdog_interval_is_half_of_watchdog_usec_and_only_for_our_pid() -> None:
    mine = {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    assert SdNotifier(mine).watchdog_interval_s == 15.0
    assert SdNotifier({**mine, "WATCHDOG_PID": "1"}).watchdog_interval_s is None
    assert SdNotifier({"NOTIFY_SOCKET": "/x"}).watchdog_interval_s is None


def test_watchdog_pings_stop_while_the_event_loop_is_blocked(systemd) -> None:
    fake, path = systemd
    notifier = SdNotifier({"NOTIFY_SOCKET": path})
    blocked: dict[str, float] = {}

    def pings_since(start: float) -> int:
        return sum(1 for t, m in list(fake.messages) if m == "WATCHDOG=1" and t > start)

    async def scenario() -> None:
        beat = asyncio.create_task(heartbeat(notifier, 0.05))
        await async_wait_until(lambda: pings_since(0.0) >= 5, 3.0, what="five healthy pings")
        blocked["from"] = time.monotonic()
        time.sleep(0.8)  # the scenario: a stuck loop (CPU-bound work or a blocking call)
        blocked["to"] = time.monotonic()
        await async_wait_until(lambda: pings_since(blocked["to"]) >= 3, 3.0,
                               what="three pings after the loop runs again")
        beat.cancel()

    asyncio.run(scenario())
    pings = [t for t, m in fake.messages if m == "WATCHDOG=1"]
    before = [t for t in pings if t < blocked["from"]]
    during = [t for t in pings if blocked["from"] + 0.01 < t < blocked["to"] - 0.01]
    after = [t for t in pings if t > blocked["to"]]
    assert len(before) >= 4, "the heartbeat pings while the loop is healthy"
    assert during == [], "no pings while the loop is blocked: systemd would restart us"
    assert len(after) >= 3, "pings resume once the loop runs again"
    gaps = [b - a for a, b in pairwise(pings)]
    assert max(gaps) >= 0.75


def test_supervise_sends_ready_only_once_the_feed_is_live_then_stopping(systemd) -> None:
    fake, path = systemd
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000", "WATCHDOG_PID": str(os.getpid())}
    state: dict[str, Any] = {"mode": "paper", "symbols": 3, "decisions": {"steps": 0},
                             "feed": {"connected": False, "messages": 0}}

    reads = [0]

    def status() -> dict[str, Any]:
        reads[0] += 1
        return state

    async def scenario() -> None:
        task = asyncio.create_task(supervise(status, SdNotifier(env), status_every_s=0.2))
        await async_wait_until(lambda: reads[0] >= 2, 3.0, what="two looks at a feed not yet live")
        assert "READY=1" not in fake.lines(), "not ready before the feed delivered data"
        state["feed"] = {"connected": True, "messages": 10, "stale": False}
        await async_wait_until(lambda: "READY=1" in fake.lines()
                               and fake.lines().count("WATCHDOG=1") >= 8, 3.0,
                               what="READY=1 and eight watchdog pings")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    wait_until(lambda: fake.lines()[-1:] == ["STOPPING=1"], 3.0, what="STOPPING=1")
    lines = fake.lines()
    assert lines.count("READY=1") == 1
    assert lines.index("READY=1") > lines.index("STATUS=starting: connecting the feed")
    assert lines.count("WATCHDOG=1") >= 8  # every 50 ms from the start
    assert any(line.startswith("STATUS=paper · feed live · 3 symbols") for line in lines)


def test_status_line_summarizes_the_status_command() -> None:
    status = {"mode": "paper", "symbols": 30, "decisions": {"steps": 12},
              "feed": {"connected": True, "stale": True},
              "trading": {"equity": "10012.5", "quote_asset": "USDT", "trading_state": "ACTIVE"}}
    assert status_line(status) == ("paper · feed STALE · 30 symbols · 12 steps · "
                                   "equity 10012.5 USDT · state ACTIVE")
