"""BinanceFeed against a scripted local server that misbehaves: garbage frames, silence,
REST errors, many symbols. Real sockets on 127.0.0.1, aiohttp on the server side."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from itertools import pairwise
from typing import Any

import orjson
import pytest
from aiohttp import WSMsgType, web

from bot.config import FeedConfig
from exchange.feeds.binance import BinanceFeed
from exchange.feeds.errors import ExchangeError
from model.market import Tick
from tests.integration.test_feed_binance_sim import until
from tests.tasks import running
from tests.unit.test_feed_binance_parse import ticker

NOW_MS = 1_700_000_040_000


class ScriptedExchange:
    """Answers SUBSCRIBE, then sends whatever the test queues; REST answers are settable."""

    def __init__(self) -> None:
        self.outbox: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.subscribe_messages: list[tuple[int, float, dict[str, Any]]] = []  # (conn, at, body)
        self.connections = 0
        self.klines_status: list[int] = []  # HTTP statuses to answer before succeeding
        self.url = ""

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        connection = self.connections
        sender = asyncio.create_task(self._send(ws))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    body = orjson.loads(message.data)
                    self.subscribe_messages.append((connection, time.monotonic(), body))
                    await ws.send_str(orjson.dumps({"result": None, "id": body["id"]}).decode())
        finally:
            sender.cancel()
        return ws

    async def _send(self, ws: web.WebSocketResponse) -> None:
        while True:
            frame = await self.outbox.get()
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)

    async def server_time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": NOW_MS})

    async def klines(self, request: web.Request) -> web.Response:
        if self.klines_status:
            status = self.klines_status.pop(0)
            code = -1121 if status == 400 else -1003
            return web.json_response({"code": code, "msg": "refused"}, status=status)
        return web.json_response([])


@contextlib.asynccontextmanager
async def scripted_exchange() -> AsyncIterator[ScriptedExchange]:
    exchange = ScriptedExchange()
    app = web.Application()
    app.add_routes([
        web.get("/stream", exchange.websocket),
        web.get("/api/v3/time", exchange.server_time),
        web.get("/api/v3/klines", exchange.klines),
    ])
    runner = web.AppRunner(app, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    exchange.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield exchange
    finally:
        await runner.cleanup()


def make_feed(exchange: ScriptedExchange, ticks: list[Tick], symbols: list[str] | None = None,
              **config: Any) -> BinanceFeed:
    settings = {"backfill_minutes": 0, "reconnect_min_s": 0.02, "reconnect_max_s": 0.1, **config}
    return BinanceFeed(exchange.url, exchange.url.replace("http", "ws"), symbols or ["BTCUSDT"],
                       FeedConfig(**settings), on_tick=ticks.append, on_bar=lambda bar: None)


def combined(payload: Any) -> str:
    return orjson.dumps({"stream": "btcusdt@ticker", "data": payload}).decode()


GARBAGE: list[str | bytes] = [
    "not json at all", "{", "[1, 2, 3]", '{"stream": "x", "data": 7}',
    combined(ticker(b="nan")), combined(ticker(b="101", a="100")), combined(ticker(E=-5)),
    combined(ticker(c=None)), combined({"e": "kline", "s": "BTCUSDT", "k": "??"}),
    b"\x00\xff binary junk", "x" * 300_000,
]


def test_malformed_frames_are_counted_skipped_and_the_stream_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        async with scripted_exchange() as exchange:
            ticks: list[Tick] = []
            feed = make_feed(exchange, ticks)
            async with running(feed):
                await until(lambda: feed.health().connected)
                for n, frame in enumerate(GARBAGE):
                    await exchange.outbox.put(frame)
                    await exchange.outbox.put(combined(ticker(E=NOW_MS + n)))
                await until(lambda: len(ticks) == len(GARBAGE))
                health = feed.health()
        assert health.malformed == len(GARBAGE) and health.reconnects == 0 and health.connected
        assert [t.ts_event for t in ticks] == [NOW_MS + n for n in range(len(GARBAGE))]
        warnings = [r for r in caplog.records if "malformed" in r.getMessage()]
        assert len(warnings) == 1  # rate-limited: one line for the whole burst
        assert len(warnings[0].getMessage()) < 400  # never the 300 kB frame itself

    with caplog.at_level(logging.WARNING, logger="exchange.feeds.binance"):
        asyncio.run(scenario())


def test_silent_server_marks_the_feed_stale_then_recovered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        async with scripted_exchange() as exchange:
            ticks: list[Tick] = []
            feed = make_feed(exchange, ticks, stale_after_s=0.5)
            async with running(feed):
                await until(lambda: feed.health().connected)
                await exchange.outbox.put(combined(ticker()))
                await until(lambda: len(ticks) == 1)
                await until(lambda: feed.health().stale, timeout_s=2)
                assert feed.health().last_message_age_s > 0.5
                await exchange.outbox.put(combined(ticker()))
                await until(lambda: not feed.health().stale and len(ticks) == 2, timeout_s=2)
                # Silence past 3 x stale_after_s means a dead subscription: reconnect.
                await until(lambda: feed.health().reconnects >= 1, timeout_s=3)
                await until(lambda: exchange.connections >= 2)
        messages = [r.getMessage() for r in caplog.records]
        assert sum("feed stale" in m for m in messages) >= 1
        assert sum("feed recovered" in m for m in messages) >= 1

    with caplog.at_level(logging.INFO, logger="exchange.feeds.binance"):
        asyncio.run(scenario())


def test_many_symbols_are_sharded_and_subscribed_in_paced_chunks() -> None:
    async def scenario() -> None:
        symbols = [f"C{i:03d}USDT" for i in range(600)]
        async with scripted_exchange() as exchange:
            feed = make_feed(exchange, [], symbols)
            async with running(feed):
                await until(lambda: feed.health().connected, timeout_s=10)
        assert exchange.connections == 2  # 1200 streams > 1024 per connection
        streams = [s for _, _, body in exchange.subscribe_messages for s in body["params"]]
        expected = [f"{s.lower()}@{kind}" for s in symbols for kind in ("ticker", "kline_1m")]
        assert sorted(streams) == sorted(expected)
        assert all(len(body["params"]) <= 200 and body["method"] == "SUBSCRIBE"
                   for _, _, body in exchange.subscribe_messages)
        sent_by_connection = [
            [at for conn, at, _ in exchange.subscribe_messages if conn == connection]
            for connection in (1, 2)
        ]
        assert sorted(map(len, sent_by_connection)) == [1, 6]  # 88 symbols, 512 symbols
        for sent in sent_by_connection:
            assert all(b - a >= 0.2 for a, b in pairwise(sent))  # under 5 messages/s

    asyncio.run(scenario())


def test_rate_limited_backfill_is_retried_and_a_bad_symbol_stops_the_feed() -> None:
    async def scenario() -> None:
        async with scripted_exchange() as exchange:
            exchange.klines_status = [429, 503]
            feed = make_feed(exchange, [], backfill_minutes=5)
            async with running(feed):
                await until(lambda: feed.health().connected)
            assert exchange.klines_status == []

            exchange.klines_status = [400]
            feed = make_feed(exchange, [], backfill_minutes=5)
            with pytest.raises(ExchangeError) as raised:
                await asyncio.wait_for(feed.run(), timeout=5)
        assert (raised.value.http_status, raised.value.code) == (400, -1121)

    asyncio.run(scenario())
