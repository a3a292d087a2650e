"""The parser contract, once for the Binance and the Upbit parser: what the simulator sends
for a subscription parses into ticks for every symbol; anything malformed (truncated,
mistyped, random bytes) raises `MalformedFrame` and nothing else, and never yields a
half-valid event. (Reconnect and orders are not a parser's business: the feed and broker
contracts cover them.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import SimConfig
from exchange.feeds.errors import MalformedFrame
from exchange.sim.server import SimExchange
from model.market import Tick

START_MS = 1_700_000_040_000
MARKET = SimConfig(coins=4, history_days=0.05, seed=9)


def _binance_parse(raw: bytes) -> list[Tick]:
    from exchange.feeds.binance_parse import parse_frame

    return [e for e in parse_frame(raw, 1) if isinstance(e, Tick)]


def _upbit_parse(raw: bytes) -> list[Tick]:
    from exchange.feeds.upbit_parse import (
        TickAssembler,
        UpbitBook,
        UpbitTicker,
        UpbitTrade,
        parse_message,
    )

    event = parse_message(raw)
    if not isinstance(event, (UpbitTicker, UpbitTrade, UpbitBook)):
        return []
    # a lone message yields a Tick only with a known book and last: give it both
    assembler = TickAssembler()
    tick = assembler.apply(event, 1)
    if tick is None and not isinstance(event, UpbitBook):
        tick = assembler.apply(UpbitBook(event.code, event.ts_event, 1.0, 2.0, 1.0, 1.0), 1)
    elif tick is None:
        tick = assembler.apply(UpbitTrade(event.code, event.ts_event, 1.5, 1.0, "BID", 1), 1)
    return [tick] if tick is not None else []


async def _binance_frames(sim: SimExchange, count: int) -> list[bytes]:
    streams = "/".join(f"{s.lower()}@ticker" for s in sim.symbols)
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(f"{sim.ws_url}/ws/{streams}")
        frames = []
        while len(frames) < count:
            await sim.step(1)
            while len(frames) < count:
                try:
                    message = await ws.receive(timeout=0.2)
                except TimeoutError:
                    break
                frames.append(message.data.encode() if isinstance(message.data, str) else message.data)
        await ws.close()
    return frames


async def _upbit_frames(sim: SimExchange, count: int) -> list[bytes]:
    from exchange.feeds.upbit_parse import subscription_request
    from exchange.sim.upbit_server import WS_PATH

    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(sim.ws_url + WS_PATH)
        await ws.send_bytes(orjson.dumps(subscription_request("c", sim.upbit.codes)))
        frames = []
        while len(frames) < count:
            await sim.step(1)
            while len(frames) < count:
                try:
                    message = await ws.receive(timeout=0.2)
                except TimeoutError:
                    break
                assert message.type == aiohttp.WSMsgType.BINARY  # Upbit sends binary frames
                frames.append(message.data)
        await ws.close()
    return frames


@dataclass(frozen=True)
class ParserKind:
    parse: Callable[[bytes], list[Tick]]
    capture: Callable[[SimExchange, int], object]
    symbols: Callable[[SimExchange], list[str]]


PARSERS = {
    "binance-parser": ParserKind(_binance_parse, _binance_frames, lambda sim: list(sim.symbols)),
    "upbit-parser": ParserKind(_upbit_parse, _upbit_frames, lambda sim: list(sim.upbit.codes)),
}
_captured: dict[str, list[bytes]] = {}


@pytest.fixture(params=sorted(PARSERS))
def parser(request: pytest.FixtureRequest) -> tuple[ParserKind, list[bytes], list[str]]:
    kind = PARSERS[request.param]

    async def capture() -> tuple[list[bytes], list[str]]:
        async with SimExchange(MARKET, start_ms=START_MS, autorun=False) as sim:
            return await kind.capture(sim, 60), kind.symbols(sim)  # type: ignore[misc]

    if request.param not in _captured:
        frames, symbols = asyncio.run(asyncio.wait_for(capture(), 30))
        _captured[request.param] = frames
        _captured[request.param + ":symbols"] = symbols  # type: ignore[assignment]
    return kind, _captured[request.param], _captured[request.param + ":symbols"]  # type: ignore[return-value]


def test_subscribed_frames_parse_into_ticks_for_every_symbol(parser) -> None:  # type: ignore[no-untyped-def]
    kind, frames, symbols = parser
    ticks = [t for frame in frames for t in kind.parse(frame)]
    assert {t.symbol for t in ticks} == set(symbols)
    assert all(t.bid <= t.ask and t.last > 0 and t.ts_event >= START_MS for t in ticks)


def _mutations(frame: bytes) -> list[bytes]:
    """Truncations, and every scalar value swapped for a wrong type or a bad number."""
    cuts = [frame[:n] for n in range(0, len(frame), max(1, len(frame) // 25))]
    obj = orjson.loads(frame)
    variants = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(value, (int, float, str)) and not isinstance(value, bool):
                for bad in (None, True, "x", -1, [], {}):
                    variants.append(orjson.dumps({**obj, key: bad}))
    return cuts + variants


def test_malformed_frames_raise_malformed_frame_and_nothing_else(parser) -> None:  # type: ignore[no-untyped-def]
    kind, frames, _ = parser
    outcomes = {"malformed": 0, "parsed": 0}
    for frame in frames[:6]:
        for variant in _mutations(frame):
            try:
                ticks = kind.parse(variant)
            except MalformedFrame as exc:
                assert exc.reason
                outcomes["malformed"] += 1
                continue
            outcomes["parsed"] += 1  # e.g. an unused field changed: still a valid tick
            assert all(t.bid <= t.ask and t.last > 0 for t in ticks)
    assert outcomes["malformed"] > 50


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_random_bytes_never_escape_as_another_exception(raw: bytes) -> None:
    for kind in PARSERS.values():
        try:
            kind.parse(raw)
        except MalformedFrame:
            pass
