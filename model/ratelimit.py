"""Rate-limited logging: at most one line per key per interval, counting the suppressed ones.

For events an outsider can repeat at will (an unauthorized control request or Telegram chat,
a hostile feed's impossible prices): each is worth knowing about, a log flood is not. One
implementation for every layer, so it lives at the bottom: the feeds (exchange/) may not
import bot/, and the control endpoint and the Telegram bot (bot/) use the same rule.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from typing import NamedTuple


class Passed(NamedTuple):
    """A line may go out: how many were held back since the key's last line, over how long."""

    suppressed: int
    since_s: float  # seconds since the key's last line (0.0 for a key's first line)


class RateLimit:
    """The gate: `admit(key)` lets one event per key through every `every_s` seconds and
    counts the others. Keys are bounded (`max_keys`): a stranger who makes up a new key per
    event (a peer address, a chat id) cannot make us hold memory without end."""

    def __init__(self, every_s: float, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 1024) -> None:
        self.every_s = every_s
        self._clock = clock
        self._max_keys = max_keys
        self._last: dict[Hashable, tuple[float, int]] = {}  # key -> (passed at, suppressed)

    def __len__(self) -> int:
        """Keys held (at most `max_keys`)."""
        return len(self._last)

    def admit(self, key: Hashable = None) -> Passed | None:
        """`Passed` when `key` went through `every_s` or more ago (or never): the caller logs
        its line now. None when it went through less than `every_s` ago: counted, to be
        reported with the key's next line."""
        now = self._clock()
        passed_at, suppressed = self._last.get(key, (None, 0))
        if passed_at is not None and now - passed_at < self.every_s:
            self._last[key] = (passed_at, suppressed + 1)
            return None
        self._forget_old(now)
        self._last[key] = (now, 0)
        return Passed(suppressed, 0.0 if passed_at is None else now - passed_at)

    def _forget_old(self, now: float) -> None:
        """Drop the keys whose interval is over (their count is then lost: nothing was held
        back worth a line); past `max_keys` still, the oldest go."""
        if len(self._last) < self._max_keys:
            return
        for key, (passed_at, _) in list(self._last.items()):
            if now - passed_at >= self.every_s:
                del self._last[key]
        while len(self._last) >= self._max_keys:
            del self._last[next(iter(self._last))]


class RateLimitedLog:
    """At most one WARNING per key every `every_s` seconds; the next one that gets through
    says how many were suppressed meanwhile ("(3 more suppressed in the last 60 s)")."""

    def __init__(self, logger: logging.Logger, every_s: float = 60.0, *,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 1024) -> None:
        self._logger = logger
        self._gate = RateLimit(every_s, clock=clock, max_keys=max_keys)

    def __len__(self) -> int:
        """Keys held (at most `max_keys`)."""
        return len(self._gate)

    def warning(self, key: Hashable, msg: str, *args: object) -> bool:
        """Log `msg % args` at WARNING unless `key` was logged less than `every_s` ago;
        True when it was logged."""
        passed = self._gate.admit(key)
        if passed is None:
            return False
        if passed.suppressed:
            msg += " (%d more suppressed in the last %.0f s)"
            args += (passed.suppressed, passed.since_s)
        self._logger.warning(msg, *args)
        return True
