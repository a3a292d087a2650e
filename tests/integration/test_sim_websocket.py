"""Websocket streams of the simulated exchange over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest

from bot.config import SimConfig
from exchange.sim import SimExchange, streams
from model.market import MINUTE_MS
from tests.waiting import async_wait_until

START_MS = 1_700_000_040_000
CONFIG = SimConfig(coins=6, history_days=1, seed=11)


def run(
    test: Callable[[SimExchange, aiohttp.ClientSession], Awaitable[Any]],
    config: SimConfig = CONFIG,
    autorun: bool = False,
) -> Any:
    """Run `test` against a started exchange (manual clock unless `autorun`)."""

    async def main() -> Any:
        async with (
            SimExchange(config, start_ms=START_MS, autorun=autorun) as sim,
            aiohttp.ClientSession() as session,
        ):
            return await test(sim, session)

    return asyncio.run(asyncio.wait_for(main(), 30))


async def receive(ws: aiohttp.ClientWebSocketResponse) -> Any:
    return orjson.loads(await asyncio.wait_for(ws.receive_str(), 5))


async def drain(ws: aiohttp.ClientWebSocketResponse, timeout: float = 0.2) -> list[Any]:
    frames = []
    while True:
        try:
            message = await asyncio.wait_for(ws.receive(), timeout)
        except TimeoutError:
            return frames
        if message.type != aiohttp.WSMsgType.TEXT:
            return frames
        frames.append(orjson.loads(message.data))


def test_subscribe_list_and_unsubscribe() -> None:
    async def check(sim: SimExchange, session: aiohttp.ClientSession) -> None:
        ws = await session.ws_connect(f"{sim.ws_url}/ws/0")
        name = sim.symbols[0].lower()
        await ws.send_str(
            orjson.dumps(
                {"method": "SUBSCRIBE", "params": [f"{name}@ticker", f"{name}@bookTicker"], "id": 1}
            ).decode()
        )
        assert await receive(ws) == {"result": None, "id": 1}
        await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":"q2"}')
        assert await receive(ws) == {"result": [f"{name}@ticker", f"{name}@bookTicker"], "id": "q2"}
        await sim.step(1)
        frames = await drain(ws)
        assert {f.get("e", "book") for f in frames} == {"24hrTicker", "book"}
        assert len(frames) == 2 * CONFIG.ticks_per_bar
        assert all(f["s"] == sim.symbols[0] for f in frames)
        await ws.send_str(
            orjson.dumps({"method": "UNSUBSCRIBE", "params": [f"{name}@ticker"], "id": 3}).decode()
        )
        assert await receive(ws) == {"result": None, "id": 3}
        await sim.step(1)
        assert {f.get("e", "book") for f in await drain(ws)} == {"book"}
        await ws.close()

    run(check)


def test_combined_stream_wraps_payloads_and_raw_path_subscribes() -> None:
    async def check(sim: SimExchange, session: aiohttp.ClientSession) -> None:
        name = sim.symbols[1].lower()
        combined = await session.ws_connect(
            f"{sim.ws_url}/stream?streams={name}@kline_1m/!ticker@arr"
        )
        raw = await session.ws_connect(f"{sim.ws_url}/ws/{name}@kline_1m")
        await sim.step(1)
        wrapped, plain = await drain(combined), await drain(raw)
        assert all(set(f) == {"stream", "data"} for f in wrapped)
        klines = [f["data"] for f in wrapped if f["stream"] == f"{name}@kline_1m"]
        arrays = [f["data"] for f in wrapped if f["stream"] == "!ticker@arr"]
        assert klines == plain
        assert [k["k"]["x"] for k in plain] == [False] * CONFIG.ticks_per_bar + [True]
        assert plain[-1]["k"]["t"] == START_MS and plain[-1]["E"] == START_MS + MINUTE_MS
        assert len(arrays) == CONFIG.ticks_per_bar
        assert {t["s"] for t in arrays[0]} == set(sim.symbols)

    run(check)


def test_set_and_get_combined_property() -> None:
    async def check(sim: SimExchange, session: aiohttp.ClientSession) -> None:
        ws = await session.ws_connect(f"{sim.ws_url}/ws")
        await ws.send_str('{"method":"GET_PROPERTY","params":["combined"],"id":1}')
        assert await receive(ws) == {"result": False, "id": 1}
        await ws.send_str('{"method":"SET_PROPERTY","params":["combined",true],"id":2}')
        assert await receive(ws) == {"result": None, "id": 2}
        await ws.send_str('{"method":"SET_PROPERTY","params":["combined","yes"],"id":3}')
        assert (await receive(ws))["error"]["code"] == 1
        await ws.send_str('{"method":"GET_PROPERTY","params":["colour"],"id":4}')
        assert (await receive(ws))["error"] == {"code": 0, "msg": "Unknown property"}

    run(check)


def test_bad_requests_get_binance_error_frames_and_the_connection_survives() -> None:
    async def check(sim: SimExchange, session: aiohttp.ClientSession) -> None:
        ws = await session.ws_connect(f"{sim.ws_url}/ws")
        cases = [
            ("{not json", 3, None),
            ('{"method":"PUBLISH","params":[],"id":7}', 2, 7),
            ('{"params":[],"id":8}', 2, 8),
            ('{"method":"SUBSCRIBE","params":"btcusdt@ticker","id":9}', 2, 9),
            ('{"method":"SUBSCRIBE","params":["btcusdt@ticker"],"id":{"x":1}}', 2, None),
            ("[1, 2]", 2, None),
        ]
        for text, code, request_id in cases:
            await ws.send_str(text)
            answer = await receive(ws)
            assert answer["error"]["code"] == code, text
            assert answer["error"]["msg"].startswith(("Invalid request", "Invalid JSON")), text
            assert answer["id"] == request_id
        await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":10}')
        assert await receive(ws) == {"result": [], "id": 10}

    run(check)


def test_drop_connections_closes_every_client_abruptly() -> None:
    async def check(sim: SimExchange, session: aiohttp.ClientSession) -> None:
        clients = [await session.ws_connect(f"{sim.ws_url}/ws") for _ in range(3)]
        await sim.drop_connections()
        for ws in clients:
            message = await asyncio.wait_for(ws.receive(), 5)
            assert message.type in (
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
                aiohttp.WSMsgType.CLOSE,
            )
        again = await session.ws_connect(f"{sim.ws_url}/ws")  # the server still accepts
        await again.send_str('{"method":"LIST_SUBSCRIPTIONS","id":1}')
        assert await receive(again) == {"result": [], "id": 1}

    run(check)


def test_frames_do_not_depend_on_other_clients() -> None:
    def frames(crowd: int) -> list[Any]:
        async def check(sim: SimExchange, session: aiohttp.ClientSession) -> list[Any]:
            others = [
                await session.ws_connect(f"{sim.ws_url}/stream?streams=!ticker@arr")
                for _ in range(crowd)
            ]
            ws = await session.ws_connect(f"{sim.ws_url}/ws/{sim.symbols[2].lower()}@ticker")
            await sim.step(3)
            for other in others:
                await drain(other, 0.05)
            return await drain(ws)

        return run(check)

    alone, crowded = frames(0), frames(3)
    assert alone == crowded and len(alone) == 3 * CONFIG.ticks_per_bar


def test_clock_emits_ticks_spread_over_each_minute_at_the_configured_speed() -> None:
    config = SimConfig(coins=3, history_days=0.5, seed=5, speed=600.0)  # 10 minutes a second

    async def check(sim: SimExchange, session: aiohttp.ClientSession) -> None:
        ws = await session.ws_connect(f"{sim.ws_url}/ws/{sim.symbols[0].lower()}@kline_1m")
        started = time.monotonic()
        frames: list[tuple[float, Any]] = []
        while time.monotonic() - started < 0.5:
            frames.append((time.monotonic() - started, await receive(ws)))
        closed = [f for _, f in frames if f["k"]["x"]]
        assert 2 <= len(closed) <= 8, len(closed)
        assert [f["k"]["t"] for f in closed] == [
            START_MS + m * MINUTE_MS for m in range(len(closed))
        ]
        in_progress = [f["E"] for _, f in frames if not f["k"]["x"] and f["k"]["t"] == START_MS]
        assert len(set(in_progress)) == config.ticks_per_bar
        assert sim.now_ms > START_MS

    run(check, config=config, autorun=True)


def test_stop_closes_connected_clients_within_a_second() -> None:
    async def main() -> float:
        sim = SimExchange(CONFIG, start_ms=START_MS)
        await sim.start()
        async with aiohttp.ClientSession() as session:
            clients = [
                await session.ws_connect(f"{sim.ws_url}/stream?streams=!ticker@arr")
                for _ in range(3)
            ]
            await async_wait_until(lambda: len(sim.hub.connections) == 3,
                                   what="the three clients connected on the sim's side")
            started = time.monotonic()
            await sim.stop()
            elapsed = time.monotonic() - started
            for ws in clients:
                while (await asyncio.wait_for(ws.receive(), 5)).type == aiohttp.WSMsgType.TEXT:
                    pass
            return elapsed

    assert asyncio.run(main()) < 1.0


def test_a_client_too_many_bytes_behind_is_dropped_and_the_others_keep_streaming(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that stops reading fills the TCP buffers, then the server's queue for it: at
    `MAX_PENDING_BYTES` (here 1 MB) it is dropped and its backlog freed, while a client that
    reads gets every frame. (A frame count alone did not bound memory: a 500-coin
    `!ticker@arr` frame is tens of KB.)"""
    monkeypatch.setattr(streams, "MAX_PENDING_BYTES", 1_000_000)
    config = SimConfig(coins=60, history_days=0.2, seed=3)

    async def check(sim: SimExchange, session: aiohttp.ClientSession) -> tuple[int, int]:
        url = f"{sim.ws_url}/stream?streams=!ticker@arr"
        idle_client = await session.ws_connect(url)  # never read (held: not garbage-collected)
        await async_wait_until(lambda: len(sim.hub.connections) == 1, what="the idle client")
        [idle] = sim.hub.connections
        reader = await session.ws_connect(url)
        received = minutes = 0
        while len(sim.hub.connections) == 2 and minutes < 3000:
            await sim.step(20)
            minutes += 20
            received += len(await drain(reader, 0.01))
        await async_wait_until(lambda: len(sim.hub.connections) == 1, what="the idle client dropped")
        received += len(await drain(reader, 0.2))
        assert idle.dropped and idle.pending_bytes == 0 and idle.queue.empty()  # freed
        ending = await idle_client.receive(5)
        while ending.type == aiohttp.WSMsgType.TEXT:  # what the socket still held, then the end
            ending = await idle_client.receive(5)
        assert ending.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        return minutes, received

    minutes, received = run(check, config)
    # Dropped for its bytes: far fewer frames were ever published than the frame cap.
    assert minutes * config.ticks_per_bar < streams.MAX_PENDING_FRAMES
    assert received == minutes * config.ticks_per_bar  # the reading client missed nothing
