"""Chaos mode for the simulated exchange: the failures real exchanges inflict, on demand.

What it does to a `SimExchange` (each off unless configured, all seeded):

* drops every websocket every `drop_every_s` (a TCP reset, no close handshake);
* replaces a share `malformed_share` of market-data frames with malformed ones (cut-off
  JSON, wrong types, a bare number): the bars they carried are lost to the stream;
  `user_malformed_share` does the same to user-data-stream frames (the fill they carried
  is then only on REST); drops cut the user-data streams too;
* stalls the market streams for `stall_s` every `stall_every_s`: connections stay open and
  silent, the failure a reconnect-on-error loop never notices;
* answers a share `rest_error_share` of REST requests with 429 (+ `Retry-After`) or a
  gateway 5xx with an HTML body, as a CDN in front of an exchange does;
* delays every order acknowledgement by `ack_delay_s` *after* the order was accepted, which
  opens the window between "sent" and "acknowledged" for crash tests to kill in.

`python -m bot.app.chaos_server` runs a simulator with one funded account and chaos in its own
process (the crash test kills the daemon, never the exchange): it prints
`READY <port>` on stdout once it listens, and its counters as JSON when it stops; SIGUSR1
freezes the market so the account can be compared with a ledger at rest.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from exchange.sim.streams import StreamHub
from exchange.sim.user_stream import UserStreams

if TYPE_CHECKING:
    from exchange.sim.server import SimExchange

log = logging.getLogger(__name__)

MALFORMED_FRAMES = (
    b'{"stream":"btcusdt@kline_1m","data":{"e":"kline","E":17',  # cut off mid-frame
    b'{"stream":"btcusdt@ticker","data":{"e":"24hrTicker","s":"BTCUSDT","c":"NaN?"}}',
    b'{"stream":"ethusdt@kline_1m","data":{"e":"kline","k":"not an object"}}',
    b"42",
    b'{"result":',
)
ORDER_PATH = "/api/v3/order"
GATEWAY_PAGE = "<html><body><h1>{status}</h1>The server is temporarily unavailable.</body></html>"


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    """Which failures, how often. Zero turns one off."""

    seed: int = 1
    drop_every_s: float = 0.0
    malformed_share: float = 0.0
    stall_every_s: float = 0.0
    stall_s: float = 0.0
    rest_error_share: float = 0.0
    rest_error_statuses: tuple[int, ...] = (429, 500, 502, 503, 504)
    ack_delay_s: float = 0.0
    user_malformed_share: float = 0.0


@dataclass
class ChaosCounts:
    """What chaos did so far (tests assert on it, the process prints it)."""

    drops: int = 0
    malformed: int = 0
    stalls: int = 0
    stalls_completed: int = 0  # ran their full length (not cut short by `calm`)
    frames_swallowed: int = 0
    rest_errors: dict[str, int] = field(default_factory=dict)
    acks_delayed: int = 0
    user_malformed: int = 0


class ChaosHub(StreamHub):
    """The market-data hub, with frames swallowed during stalls and some made malformed."""

    def __init__(self, config: ChaosConfig, counts: ChaosCounts) -> None:
        super().__init__()
        self.chaos, self.counts = config, counts
        self.stalled = False
        self._random = random.Random(config.seed)

    def publish(self, stream: str, payload: Any) -> None:
        """Publish as the plain hub does, unless stalled (swallowed) or unlucky (malformed)."""
        conns = self._listeners.get(stream)
        if not conns:
            return
        if self.stalled:
            self.counts.frames_swallowed += 1
            return
        if self._random.random() < self.chaos.malformed_share:
            frame = self._random.choice(MALFORMED_FRAMES)
            self.counts.malformed += 1
            for conn in list(conns):
                conn.push(frame)
            return
        super().publish(stream, payload)


USER_MALFORMED_FRAMES = (
    b'{"e":"executionReport","E":17000000,"s":"BTCUSDT","c":"x",',  # cut off mid-frame
    b'{"e":"executionReport","x":"TRADE","t":"not a number"}',
    b"[]",
)


class ChaosUserStreams(UserStreams):
    """User data streams with a share of their frames replaced by malformed ones."""

    def __init__(self, chaos: Chaos) -> None:
        super().__init__()
        self._chaos = chaos
        self._random = random.Random(chaos.config.seed + 2)

    def publish(self, account: str, payload: dict[str, Any]) -> None:
        share = self._chaos.config.user_malformed_share
        if share > 0 and self.connected(account) and self._random.random() < share:
            self._chaos.counts.user_malformed += 1
            self.publish_raw(account, self._random.choice(USER_MALFORMED_FRAMES))
            return
        super().publish(account, payload)


class Chaos:
    """Attach to a `SimExchange` *before* `start()`; run `run()` as a task beside it."""

    def __init__(self, sim: SimExchange, config: ChaosConfig) -> None:
        self.sim = sim
        self.config = config
        self.counts = ChaosCounts()
        self._random = random.Random(config.seed + 1)
        self.hub = ChaosHub(config, self.counts)
        sim.hub = self.hub
        sim.orders.streams = ChaosUserStreams(self)
        sim.middlewares.append(self._middleware)
        self.frozen = False

    async def run(self) -> None:
        """Drop and stall on schedule until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            if self.config.drop_every_s > 0:
                tasks.create_task(self._every(self.config.drop_every_s, self._drop))
            if self.config.stall_every_s > 0 and self.config.stall_s > 0:
                tasks.create_task(self._every(self.config.stall_every_s, self._stall))

    def calm(self) -> None:
        """No more malformed frames, stalls or REST errors from now on (drops and stalls
        end with `run()`'s cancellation): lets a test settle before it audits."""
        self.config = ChaosConfig(seed=self.config.seed, ack_delay_s=self.config.ack_delay_s)
        self.hub.chaos = self.config
        self.hub.stalled = False

    def freeze_market(self) -> None:
        """Stop the market clock for good: no more ticks, bars or fills, so an account can
        be compared with a ledger at rest. REST and websockets keep answering."""
        clock = getattr(self.sim, "_clock", None)  # the sim's own clock task
        if clock is not None:
            clock.cancel()
        self.frozen = True

    async def _every(self, period_s: float, action: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(period_s * self._random.uniform(0.7, 1.3))
            await action()

    async def _drop(self) -> None:
        # Drops land in stalls too: the reconnect's subscription reply is no market data, so
        # the feed must stay stale through it (ADR-042).
        self.counts.drops += 1
        await self.sim.drop_connections()

    async def _stall(self) -> None:
        self.counts.stalls += 1
        self.hub.stalled = True
        log.info("chaos: market streams silent for %.1f s", self.config.stall_s)
        try:
            await asyncio.sleep(self.config.stall_s)
            self.counts.stalls_completed += 1
        finally:
            self.hub.stalled = False

    @web.middleware
    async def _middleware(self, request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
        is_rest = request.path.startswith("/api/") and not request.path.startswith("/api/v3/userDataStream")
        if is_rest and self._random.random() < self.config.rest_error_share:
            status = self._random.choice(self.config.rest_error_statuses)
            self.counts.rest_errors[str(status)] = self.counts.rest_errors.get(str(status), 0) + 1
            if status in (418, 429):
                return web.json_response(
                    {"code": -1003, "msg": "Too many requests (chaos)."}, status=status,
                    headers={"Retry-After": "1"})
            return web.Response(status=status, text=GATEWAY_PAGE.format(status=status),
                                content_type="text/html")
        response = await handler(request)
        if request.method == "POST" and request.path == ORDER_PATH and self.config.ack_delay_s > 0:
            self.counts.acks_delayed += 1
            await asyncio.sleep(self.config.ack_delay_s)  # accepted, but the client waits
        return response


# ----------------------------------------------------------------------------- process
