"""The embedded simulated exchange: a market source, its clock, and a Binance-protocol server
on 127.0.0.1.

The clock plays one market minute at a time: the minute's synthesized ticks go out spread
across the minute (bookTicker, ticker, in-progress kline, `!ticker@arr`), then the closed
kline (`x: true`). Market time runs at `speed` market-minutes per real minute. Frames depend
only on seed, config and start time, never on wall-clock timing or on who is connected; a
late clock skips sleeping, never data. Tests use `autorun=False` and `step(n)` to play
minutes at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Self

from aiohttp import web

from exchange.sim.bars import MinuteData
from exchange.sim.orders_api import OrdersApi
from exchange.sim.player import ALL_TICKERS_STREAM, MinutePlayer
from exchange.sim.rest import RestApi
from exchange.sim.source import MarketSource, SimServerSettings, open_source
from exchange.sim.state import MarketState, TickerStats
from exchange.sim.streams import StreamHub
from exchange.sim.upbit_server import UpbitGateway
from model.instruments import Instrument

log = logging.getLogger(__name__)

__all__ = ["ALL_TICKERS_STREAM", "SimExchange", "serve"]

SHUTDOWN_TIMEOUT_S = 0.5


class SimExchange:
    """A simulated Binance spot exchange serving a generated or replayed market."""

    def __init__(
        self, config: SimServerSettings, *, start_ms: int | None = None, autorun: bool = True,
        spread: str = "fixed",
    ) -> None:
        """`spread`: a replay's costs, "fixed" or "estimated" from its warm-up bars (the
        daemon passes `[fills] spread`, so paper trading a folder costs what its backtest
        does; exchange/sim/replay.py)."""
        self.config = config
        self.source: MarketSource = open_source(config, start_ms, spread)
        self.player = MinutePlayer(self.source)
        self.instruments: list[Instrument] = self.player.instruments
        self.symbols: list[str] = self.player.symbols
        self.state: MarketState = self.player.state
        self._index = {s: i for i, s in enumerate(self.symbols)}
        self._autorun = autorun
        self.hub = StreamHub()
        self.upbit = UpbitGateway(self)  # the same market in Upbit's wire format
        self.orders = OrdersApi(self)  # accounts, signed order endpoints, user data streams
        self.middlewares: list[Any] = []  # aiohttp middlewares mounted at start (sim/chaos.py)
        self._runner: web.AppRunner | None = None
        self._clock: asyncio.Task[None] | None = None
        self.port = 0
        self.finished = False  # the source ran out (end of replay data)

    # -- public API ------------------------------------------------------------------------
    @property
    def now_ms(self) -> int:
        """Current market time, epoch ms."""
        return self.player.now_ms

    @property
    def rest_url(self) -> str:
        return f"http://{self._url_host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._url_host}:{self.port}"

    @property
    def _url_host(self) -> str:
        return "[::1]" if self.config.host == "::1" else self.config.host

    async def start(self) -> None:
        """Bind the server (port 0 picks a free one) and start the market clock."""
        if self._runner is not None:
            raise RuntimeError("SimExchange already started")
        app = web.Application(middlewares=self.middlewares)
        app.add_routes(RestApi(self).routes())
        app.add_routes(self.upbit.routes())
        app.add_routes(self.orders.routes())
        app.add_routes(
            [
                web.get("/ws", self.hub.handle),
                web.get("/ws/{tail:.*}", self._websocket),
                web.get("/stream", self.hub.handle),
            ]
        )
        runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(
                f"sim exchange cannot listen on {self.config.host}:{self.config.port}"
                f" ({exc}); pick another sim.port or 0 for a free one"
            ) from exc
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        if self._autorun:
            self._clock = asyncio.create_task(self._run_clock(), name="sim-clock")

    async def stop(self) -> None:
        """Stop the clock, close every websocket and the listening socket (within ~1 s)."""
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
            self._clock = None
        await self.hub.close_all()
        await self.upbit.close_all()
        await self.orders.streams.close_all()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def run_forever(self) -> None:
        """Start, wait until cancelled, then stop (for asyncio.TaskGroup)."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def drop_connections(self) -> None:
        """Test hook: abruptly close every websocket, as a network drop would."""
        self.orders.streams.drop_all()
        self.upbit.drop_all()
        await self.hub.drop_all()

    async def step(self, minutes: int = 1) -> int:
        """Play `minutes` market minutes at once (autorun=False); returns minutes played."""
        if self._clock is not None:
            raise RuntimeError("step() drives a SimExchange created with autorun=False")
        played = 0
        for _ in range(minutes):
            data = self.source.advance()
            if data is None:
                self.finished = True
                break
            await self._play_minute(data, _no_wait)
            played += 1
        return played

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        """`/ws/<listenKey>` is a user data stream; any other `/ws/...` is market data."""
        tail = request.match_info.get("tail", "")
        if self.orders.streams.is_listen_key(tail):
            return await self.orders.streams.handle(request, tail)
        return await self.hub.handle(request)

    # -- queries used by the REST layer ----------------------------------------------------
    def symbol_index(self, symbol: str) -> int | None:
        return self._index.get(symbol)

    def ticker_stats(self, index: int) -> TickerStats:
        """Current 24h statistics and top of book of one symbol."""
        return self.state.ticker(index, self.state.current_column(index))

    def kline_rows(
        self, index: int, start_ms: int | None, end_ms: int | None, limit: int
    ) -> list[list[Any]]:
        """Closed 1m klines (Binance semantics: open time within [startTime, endTime])."""
        return self.player.kline_rows(index, start_ms, end_ms, limit)

    # -- the clock -------------------------------------------------------------------------
    async def _run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        real_start, market_start = loop.time(), self.now_ms
        market_ms_per_s = self.config.speed * 1000.0

        async def wait_until(market_ms: int) -> None:
            delay = real_start + (market_ms - market_start) / market_ms_per_s - loop.time()
            await asyncio.sleep(max(0.0, delay))

        while True:
            data = self.source.advance()
            if data is None:
                self.finished = True
                log.info(
                    "sim exchange: replay data exhausted at %d; serving history only", self.now_ms
                )
                return
            await self._play_minute(data, wait_until)

    async def _play_minute(
        self, data: MinuteData, wait_until: Callable[[int], Awaitable[None]]
    ) -> None:
        """Play one minute instant by instant, waiting for each instant's market time before
        the player moves the state (so REST never shows an instant early)."""
        player, hub = self.player, self.hub
        player.begin(data)
        self.upbit.begin_minute()
        for j, ts in enumerate(data.ticks.ts_event.tolist()):
            await wait_until(ts)
            for stream, payload in player.tick(data, j, hub.listens):
                hub.publish(stream, payload)
            self.upbit.publish_tick(data)
        await wait_until(player.close_ms(data))
        frames = player.close(data, hub.listens)
        self.orders.on_minute_closed(data.bars)  # fills first: the closed kline reports them
        for stream, payload in frames:
            hub.publish(stream, payload)


async def _no_wait(market_ms: int) -> None:
    await asyncio.sleep(0)  # yield so clients are served between batches


async def serve(config: SimServerSettings) -> None:
    """Run a SimExchange until cancelled (the `entasis sim-server` command)."""
    sim = SimExchange(config)
    await sim.start()
    try:
        print(
            f"sim exchange on {sim.rest_url} ({sim.ws_url}), {len(sim.symbols)} symbols, "
            f"seed {config.seed}",
            flush=True,
        )
        await asyncio.Event().wait()
    finally:
        await sim.stop()
