"""What every websocket market feed does the same way, whatever the exchange's wire format.

`BinanceFeed` and `UpbitFeed` differ in how they subscribe, parse and backfill; they share
how a connection is read (market silence beyond a few stale periods forces a reconnect), how
messages mark the feed fresh or stale, how REST calls are retried, and the reconnect backoff.
Those live here once, so a fix to staleness or backoff reaches every feed.

Only market data makes a feed fresh (ADR-042). A subscription reply (Binance `{"result":
null, "id": 1}`), a status answer (Upbit `{"status": "UP"}`) or a refusal proves that the
connection is up, not that the market is: each reconnect during a stall brings one, and
counting them as messages let a reconnect hide the stall from the staleness watch. They are
counted apart (`FeedHealth.control_messages`); malformed frames in `malformed`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import aiohttp
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException

from exchange.feeds.common import RateMeter, describe
from exchange.feeds.errors import MalformedFrame
from model.errors import TemporaryError

SILENT_RECONNECT_FACTOR = 3.0  # reconnect after this many stale_after_s without market data

#: Failures a feed rides out by retrying or reconnecting (anything else is a bug and raises).
RECOVERABLE = (OSError, TimeoutError, aiohttp.ClientError, WebSocketException, MalformedFrame)

_T = TypeVar("_T")



class FeedSettings(Protocol):
    """What a market feed reads of its settings (`[feed]`, bot.config.FeedConfig maps onto it)."""

    # Read-only properties, so a frozen config (pydantic, a frozen dataclass) satisfies it.
    @property
    def stale_after_s(self) -> float: ...  # no message for this long: the feed is stale
    @property
    def backfill_minutes(self) -> int: ...  # closed 1m bars fetched over REST before streaming
    @property
    def reconnect_min_s(self) -> float: ...  # first reconnect delay; doubles up to the max
    @property
    def reconnect_max_s(self) -> float: ...
    @property
    def ping_interval_s(self) -> float: ...  # websocket keep-alive ping (and its timeout)

class StreamFeedBase:
    """Connection reading, freshness, REST retries and backoff shared by the websocket feeds.

    A subclass sets the attributes below in its `__init__` and implements `_handle(raw)`,
    which calls `_note_market()` or `_note_control()` once it knows what the frame is and
    returns True for market data. `FEED_NAME` prefixes the stale/recovered log lines and the
    misuse error."""

    FEED_NAME = "feed"

    _config: FeedSettings
    _random: random.Random
    _rate: RateMeter
    _session: aiohttp.ClientSession | None
    _stale: bool
    _last_message_s: float
    _messages: int
    _control_messages: int
    _ever_received: bool

    async def _handle(self, raw: str | bytes) -> bool:
        """Handle one frame; True when it carried market data (see the module doc)."""
        raise NotImplementedError

    @property
    def _log(self) -> logging.Logger:
        """The concrete feed's module logger, so log lines name the feed that wrote them."""
        return logging.getLogger(type(self).__module__)

    async def _stream(self, websocket: ClientConnection, received: list[int]) -> None:
        """Handle messages until the connection ends (always by an exception). No market
        data on this connection for a few stale periods means a dead subscription: force a
        reconnect. Control frames do not put that off (Upbit repeats `{"status": "UP"}`
        every 10 s after a PING, which would otherwise keep a dead subscription forever)."""
        silence_limit_s = self._config.stale_after_s * SILENT_RECONNECT_FACTOR
        market_since_s = time.monotonic()
        while True:
            remaining_s = market_since_s + silence_limit_s - time.monotonic()
            try:
                async with asyncio.timeout(max(0.0, remaining_s)):
                    raw = await websocket.recv()
            except TimeoutError:
                raise TimeoutError(f"no market data for {silence_limit_s:.1f} s") from None
            received[0] += 1
            if await self._handle(raw):
                market_since_s = time.monotonic()

    def _note_market(self) -> None:
        """A market-data frame arrived: the feed is fresh (and says so if it was stale)."""
        now = time.monotonic()
        if not self._stale and self._is_stale(now):
            self._update_stale(now)  # went stale between watchdog ticks: still say so once
        self._messages += 1
        self._last_message_s = now
        self._ever_received = True
        self._rate.add(now)
        if self._stale:
            self._update_stale(now)

    def _note_control(self) -> None:
        """A control frame arrived (subscription reply, status, refusal): counted, and
        deliberately not fresh market data."""
        self._control_messages += 1

    async def _retrying(self, what: str, action: Callable[[], Awaitable[_T]]) -> _T:
        """Run `action` until it succeeds; a `TemporaryError` (a busy exchange) and network
        failures are logged and retried with backoff, anything else raises."""
        attempt = 0
        while True:
            try:
                return await action()
            except TemporaryError as exc:
                self._log.warning("%s failed: %s", what, exc)
            except RECOVERABLE as exc:
                self._log.warning("%s failed: %s", what, describe(exc))
            await asyncio.sleep(self._backoff_s(attempt))
            attempt += 1

    def _backoff_s(self, attempt: int) -> float:
        """Exponential cap (min, 2 min, 4 min, ... up to max) with full jitter above min, so
        many clients dropped together do not reconnect in lockstep."""
        low, high = self._config.reconnect_min_s, self._config.reconnect_max_s
        cap = min(high, low * 2.0 ** min(attempt, 30))
        return self._random.uniform(low, cap)

    def _is_stale(self, now: float) -> bool:
        return now - self._last_message_s > self._config.stale_after_s

    def _update_stale(self, now: float) -> None:
        stale = self._is_stale(now)
        if stale and not self._stale:
            self._log.warning("%s stale: no market data for %.1f s", self.FEED_NAME,
                              now - self._last_message_s)
        elif self._stale and not stale:
            self._log.info("%s recovered: market data flowing again", self.FEED_NAME)
        self._stale = stale

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"{type(self).__name__} REST used outside run()")
        return self._session
