"""The account's user data stream: one websocket that says when orders change and fill.

Binance's listenKey protocol, as the simulator serves it (exchange/sim/user_stream.py):
`POST /api/v3/userDataStream` gives a listenKey, `PUT` keeps it alive (Binance: valid for
60 min, we renew every `keepalive_s`), and `<ws_url>/ws/<listenKey>` streams the events.
The REST calls are passed in (`open_key`, `keep_alive`) so they go through the broker's
rate gate like every other request.

The client reconnects with capped exponential back-off (a connection that delivered
anything resets it), and it tells the broker two things the broker's REST polling depends on
(ADR-033): `on_connected`, after each (re)subscription, because whatever happened while the
socket was down is only visible over REST; and `silent`, true while the socket is down or has
been quiet, no frame and no answer to our pings, for longer than `silent_after_s`. An idle
account's stream says nothing for hours, so the client pings: a pong proves the stream is
alive even when there is nothing to say. A malformed frame is logged (rate-limited, with a
short sample) and skipped; `on_malformed` lets the broker double-check over REST, since the
frame it could not read may have been a fill.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import ccxt
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidURI

from exchange.brokers.user_stream_events import (
    MalformedFrame,
    StreamExpired,
    UserUpdate,
    parse_user_frame,
)
from exchange.feeds.common import MalformedReporter, describe, first_leaf, wall_clock_ms
from exchange.feeds.stream_base import RECOVERABLE
from model import errors

log = logging.getLogger("exchange.brokers.user_stream")

MAX_FRAME_BYTES = 1 << 20
PINGS_PER_SILENCE = 3  # pings within one silence threshold: one lost pong is not silence


class ListenKeyExpired(errors.TemporaryError, ConnectionError):
    """The exchange ended the subscription; the client opens a new listenKey."""


class UserStreamClient:
    """Keeps one user-data-stream subscription alive and hands its updates to the broker."""

    def __init__(self, ws_url: str, open_key: Callable[[], Awaitable[str]],
                 keep_alive: Callable[[str], Awaitable[None]],
                 on_update: Callable[[UserUpdate], Awaitable[None]], *,
                 on_connected: Callable[[], None] = lambda: None,
                 on_malformed: Callable[[], None] = lambda: None,
                 silent_after_s: float = 10.0, keepalive_s: float = 1800.0,
                 reconnect_min_s: float = 0.2, reconnect_max_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 clock_ms: Callable[[], int] = wall_clock_ms) -> None:
        """`ws_url` is the exchange's websocket base (`wss://stream.binance.com:9443`, or
        the simulator's `ws://127.0.0.1:PORT`); `on_update` runs for every update, in order,
        before the next frame is read."""
        self.ws_url = ws_url.rstrip("/")
        self._open_key, self._keep_alive = open_key, keep_alive
        self._on_update, self._on_connected = on_update, on_connected
        self._on_malformed = on_malformed
        self.silent_after_s, self.keepalive_s = silent_after_s, keepalive_s
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        self._clock, self._clock_ms = clock, clock_ms
        self._malformed = MalformedReporter(log)
        self._connected = False
        self._heard_s = clock()
        self.events = 0  # updates handed to the broker
        self.reconnects = 0  # connections lost (or refused) and tried again

    # ------------------------------------------------------------------ state

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def malformed(self) -> int:
        return self._malformed.count

    def silent(self) -> bool:
        """Down, or nothing heard (no frame, no pong) for longer than `silent_after_s`."""
        return not self._connected or self._clock() - self._heard_s > self.silent_after_s

    # ------------------------------------------------------------------ connection

    async def run(self) -> None:
        """Subscribe, read, and resubscribe after any failure, until cancelled."""
        attempt = 0
        while True:
            heard_before = self.events
            try:
                await self._session()
            except InvalidURI:
                raise
            except ListenKeyExpired as exc:
                log.warning("user data stream: %s; subscribing again", exc)
            except RECOVERABLE as exc:
                log.warning("user data stream lost: %s", describe(exc))
            except ccxt.BaseError as exc:
                # The listenKey request failed (the broker's gate already backed off rate
                # limits): retried like a lost connection, never fatal.
                log.warning("user data stream: listenKey request failed: %s", describe(exc))
            finally:
                self._connected = False
            attempt = 0 if self.events > heard_before else attempt + 1
            self.reconnects += 1
            delay_s = min(self.reconnect_max_s, self.reconnect_min_s * 2 ** min(attempt, 16))
            log.info("user data stream: reconnecting in %.2f s (fills are polled over REST "
                     "meanwhile)", delay_s)
            await asyncio.sleep(delay_s)

    async def _session(self) -> None:
        """One subscription: open a listenKey, connect, read until something fails."""
        listen_key = await self._open_key()
        async with self._connect(listen_key) as websocket:
            self._connected, self._heard_s = True, self._clock()
            log.info("user data stream up")
            self._on_connected()
            try:
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(self._ping_forever(websocket))
                    tasks.create_task(self._renew_forever(listen_key))
                    tasks.create_task(self._read(websocket))
            except BaseExceptionGroup as group:
                raise first_leaf(group) from None

    def _connect(self, listen_key: str) -> Any:
        return connect(f"{self.ws_url}/ws/{listen_key}", ping_interval=None, open_timeout=10,
                       close_timeout=2, max_size=MAX_FRAME_BYTES, compression=None, proxy=None)

    async def _read(self, websocket: ClientConnection) -> None:
        async for raw in websocket:
            self._heard_s = self._clock()
            try:
                update = parse_user_frame(raw, self._clock_ms())
            except MalformedFrame as exc:
                self._malformed.report(f"user data stream: {exc.reason}", raw)
                self._on_malformed()
                continue
            if isinstance(update, StreamExpired):
                raise ListenKeyExpired(f"the exchange ended the subscription ({update.reason})")
            if update is not None:
                self.events += 1
                await self._on_update(update)
        raise ConnectionError("the exchange closed the user data stream")

    async def _ping_forever(self, websocket: ClientConnection) -> None:
        """A pong is proof of life on a stream with nothing to say; none within the silence
        threshold means a dead connection: drop it and reconnect."""
        interval_s = self.silent_after_s / PINGS_PER_SILENCE
        while True:
            await asyncio.sleep(interval_s)
            pong = await websocket.ping()
            try:
                async with asyncio.timeout(self.silent_after_s):
                    await pong
            except TimeoutError:
                raise ConnectionError(f"no pong within {self.silent_after_s:.1f} s") from None
            self._heard_s = max(self._heard_s, self._clock())

    async def _renew_forever(self, listen_key: str) -> None:
        while True:
            await asyncio.sleep(self.keepalive_s)
            await self._keep_alive(listen_key)

