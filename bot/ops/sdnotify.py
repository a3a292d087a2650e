"""systemd's sd_notify protocol, spoken directly: READY=1, WATCHDOG=1, STATUS=, STOPPING=1.

The protocol is one AF_UNIX datagram of newline-separated `KEY=VALUE` lines sent to the
socket named by `$NOTIFY_SOCKET` (a path, or an abstract socket when it starts with '@').
Writing it ourselves avoids a C dependency (libsystemd) and is ~30 lines. Outside systemd
`NOTIFY_SOCKET` is unset and every call is a no-op, so the daemon runs the same anywhere.

`supervise(daemon)` is the daemon's task: READY=1 once the feed is connected and has
delivered data, STATUS= lines while it runs, WATCHDOG=1 from a heartbeat coroutine on the
event loop itself (so a blocked loop stops pinging and systemd restarts the service after
`WatchdogSec`), and STOPPING=1 when it is cancelled at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

READY_POLL_S = 0.25
STATUS_EVERY_S = 30.0


class SdNotifier:
    """A sender of sd_notify datagrams to `$NOTIFY_SOCKET` (a no-op when it is unset)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        # '@name' is Linux's abstract namespace: the address starts with a NUL byte.
        self.address = ("\0" + path[1:]) if path.startswith("@") else path
        self._socket: socket.socket | None = None
        self.watchdog_interval_s = _watchdog_interval_s(env)

    @property
    def enabled(self) -> bool:
        """True under systemd (Type=notify), i.e. when NOTIFY_SOCKET is set."""
        return bool(self.address)

    def notify(self, *lines: str) -> bool:
        """Send one datagram of `KEY=VALUE` lines; False (logged once) if it cannot be sent."""
        if not self.enabled:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto("\n".join(lines).encode(), self.address)
            return True
        except OSError as exc:
            log.warning("sd_notify to %r failed: %s", self.address, exc)
            return False

    def ready(self, status: str = "") -> bool:
        """Tell systemd start-up is complete (Type=notify waits for this)."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        """A one-line status `systemctl status` shows."""
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        """Ping the watchdog; systemd kills and restarts us if pings stop for WatchdogSec."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """Tell systemd shutdown has begun (it then waits for the process to exit)."""
        return self.notify("STOPPING=1")

    def close(self) -> None:
        """Close the socket (a later notify opens a new one)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _watchdog_interval_s(env: Mapping[str, str]) -> float | None:
    """Half of systemd's WatchdogSec (the interval sd_watchdog_enabled(3) recommends), or
    None when no watchdog is asked for us (unset, zero, or WATCHDOG_PID is another process)."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000


async def heartbeat(notifier: SdNotifier, interval_s: float) -> None:
    """Send WATCHDOG=1 every `interval_s` from this loop, until cancelled.

    It runs as a task on the daemon's event loop on purpose: if anything blocks the loop
    (a CPU-bound call, a deadlock), this coroutine is not resumed, the pings stop, and
    systemd restarts the service.
    """
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval_s)


def status_line(status: Mapping[str, Any]) -> str:
    """A short STATUS= text from the daemon's `status()` answer."""
    feed = status.get("feed") or {}
    state = "STALE" if feed.get("stale") else ("live" if feed.get("connected") else "connecting")
    trading = status.get("trading") or {}
    parts = [f"{status.get('mode', '?')}", f"feed {state}", f"{status.get('symbols', 0)} symbols",
             f"{(status.get('decisions') or {}).get('steps', 0)} steps"]
    if trading:
        parts.append(f"equity {trading.get('equity')} {trading.get('quote_asset', '')}".strip())
        parts.append(f"state {trading.get('trading_state')}")
    return " · ".join(parts)


def feed_is_live(status: Mapping[str, Any]) -> bool:
    """The feed is connected and has delivered at least one message."""
    feed = status.get("feed") or {}
    return bool(feed.get("connected")) and int(feed.get("messages") or 0) > 0


async def supervise(status: Callable[[], Mapping[str, Any]],
                    notifier: SdNotifier | None = None,
                    status_every_s: float = STATUS_EVERY_S) -> None:
    """The daemon's sd_notify task: READY=1 when the feed is live, watchdog pings, STATUS=
    lines; STOPPING=1 when cancelled. `status` is the daemon's `status()` command."""
    notifier = notifier or SdNotifier()
    if not notifier.enabled:
        await asyncio.Event().wait()  # not under systemd: nothing to say, wait for shutdown
    beat: asyncio.Task[None] | None = None
    try:
        if notifier.watchdog_interval_s is not None:
            # The watchdog runs from the start: a loop that hangs while starting is restarted
            # too (systemd also applies TimeoutStartSec until READY=1).
            beat = asyncio.create_task(heartbeat(notifier, notifier.watchdog_interval_s),
                                       name="sd_watchdog")
        notifier.status("starting: connecting the feed")
        while not feed_is_live(status()):
            await asyncio.sleep(READY_POLL_S)
        notifier.ready(status_line(status()))
        log.info("sd_notify: READY=1 sent")
        last = time.monotonic()
        while True:
            await asyncio.sleep(min(status_every_s, 1.0))
            if time.monotonic() - last >= status_every_s:
                notifier.status(status_line(status()))
                last = time.monotonic()
    finally:
        if beat is not None:
            beat.cancel()
        notifier.stopping()
        notifier.close()
