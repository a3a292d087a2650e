"""REST endpoints of the simulated exchange over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import SimConfig
from exchange.sim import SimExchange, serve
from model.market import MINUTE_MS
from tests.waiting import async_wait_until

START_MS = 1_700_000_040_000
# params="": the old generator trades every minute, so the klines windows below are exact
# minute grids (row counts, startTime/endTime edges); the calibrated market's no-trade minutes
# have no bar, and the feed tests over it compare with the exchange's own bars.
CONFIG = SimConfig(coins=5, history_days=2, seed=3, params="")


def run(test: Callable[[SimExchange, aiohttp.ClientSession], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with (
            SimExchange(CONFIG, start_ms=START_MS, autorun=False) as sim,
            aiohttp.ClientSession(sim.rest_url) as session,
        ):
            return await test(sim, session)

    return asyncio.run(asyncio.wait_for(main(), 30))


async def get(session: aiohttp.ClientSession, path: str, **params: Any) -> tuple[int, Any]:
    async with session.get(path, params=params) as response:
        return response.status, await response.json()


def test_ping_time_and_exchange_info() -> None:
    async def check(sim: SimExchange, session: aiohttp.ClientSession) -> None:
        assert await get(session, "/api/v3/ping") == (200, {})
        assert await get(session, "/api/v3/time") == (200, {"serverTime": START_MS})
        status, info = await get(session, "/api/v3/exchangeInfo")
        assert status == 200 and [s["symbol"] for s in info["symbols"]] == sim.symbols
        status, one = await get(session, "/api/v3/exchangeInfo", symbol=sim.symbols[1])
        assert [s["symbol"] for s in one["symbols"]] == [sim.symbols[1]]
        first = info["symbols"][0]
        rules = {f["filterType"]: f for f in first["filters"]}
        instrument = sim.instruments[0]
        assert rules["PRICE_FILTER"]["tickSize"] == f"{instrument.tick:.8f}"
        assert rules["LOT_SIZE"]["stepSize"] == f"{instrument.lot:.8f}"
        assert rules["MIN_NOTIONAL"]["minNotional"] == f"{instrument.min_notional:.8f}"
        assert first["status"] == "TRADING" and first["baseAsset"] == instrument.base

    run(check)


def test_klines_are_closed_bars_strictly_before_market_now() -> None:
    async def check(sim: SimExchange, session: aiohttp.ClientSession) -> None:
        symbol = sim.symbols[0]
        status, rows = await get(session, "/api/v3/klines", symbol=symbol, interval="1m")
        assert status == 200 and len(rows) == 500
        assert rows[-1][0] == START_MS - MINUTE_MS and rows[-1][6] == START_MS - 1
        assert all(len(row) == 12 for row in rows)
        assert [b - a for a, b in zip([r[0] for r in rows], [r[0] for r in rows[1:]])] == [
            MINUTE_MS
        ] * 499
        await sim.step(2)
        _, rows = await get(session, "/api/v3/klines", symbol=symbol, interval="1m", limit=5000)
        assert len(rows) == 1000 and rows[-1][0] == START_MS + MINUTE_MS
        history_start = START_MS - 2 * 1440 * MINUTE_MS
        _, rows = await get(
            session,
            "/api/v3/klines",
            symbol=symbol,
            interval="1m",
            startTime=history_start + 1,
            limit=3,
        )
        assert [r[0] for r in rows] == [history_start + m * MINUTE_MS for m in (1, 2, 3)]
        _, rows = await get(
            session,
            "/api/v3/klines",
            symbol=symbol,
            interval="1m",
            endTime=START_MS - MINUTE_MS,
            limit=2,
        )
        assert [r[0] for r in rows] == [START_MS - 2 * MINUTE_MS, START_MS - MINUTE_MS]
        _, future = await get(
            session,
            "/api/v3/klines",
            symbol=symbol,
            interval="1m",
            startTime=START_MS + 10 * MINUTE_MS,
        )
        assert future == []

    run(check)


def test_klines_agree_with_the_closed_kline_stream() -> None:
    async def check(sim: SimExchange, session: aiohttp.ClientSession) -> None:
        symbol = sim.symbols[2]
        ws = await session.ws_connect(f"{sim.ws_url}/ws/{symbol.lower()}@kline_1m")
        await sim.step(1)
        streamed = None
        while streamed is None or not streamed["k"]["x"]:
            streamed = await ws.receive_json(timeout=5)
        _, rows = await get(session, "/api/v3/klines", symbol=symbol, interval="1m", limit=1)
        k = streamed["k"]
        assert rows[0][:9] == [
            k["t"],
            k["o"],
            k["h"],
            k["l"],
            k["c"],
            k["v"],
            k["T"],
            k["q"],
            k["n"],
        ]

    run(check)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"interval": "1m"}, -1102),
        ({"symbol": "NOPEUSDT", "interval": "1m"}, -1121),
        ({"symbol": "{s}"}, -1102),
        ({"symbol": "{s}", "interval": "7m"}, -1120),
        ({"symbol": "{s}", "interval": "1m", "limit": "ten"}, -1100),
        ({"symbol": "{s}", "interval": "1m", "startTime": "-5"}, -1100),
    ],
)
def test_bad_kline_requests_get_http_400_with_binance_codes(
    params: dict[str, str], code: int
) -> None:
    async def check(sim: SimExchange, session: aiohttp.ClientSession) -> None:
        filled = {k: v.format(s=sim.symbols[0]) for k, v in params.items()}
        status, body = await get(session, "/api/v3/klines", **filled)
        assert status == 400 and body["code"] == code and set(body) == {"code", "msg"}

    run(check)


def test_tickers_one_many_and_all() -> None:
    async def check(sim: SimExchange, session: aiohttp.ClientSession) -> None:
        _, one = await get(session, "/api/v3/ticker/24hr", symbol=sim.symbols[0])
        assert one["symbol"] == sim.symbols[0]
        _, every = await get(session, "/api/v3/ticker/24hr")
        assert [t["symbol"] for t in every] == sim.symbols
        _, two = await get(
            session, "/api/v3/ticker/bookTicker", symbols=f'["{sim.symbols[3]}","{sim.symbols[1]}"]'
        )
        assert [t["symbol"] for t in two] == [sim.symbols[3], sim.symbols[1]]
        for ticker in every:
            assert float(ticker["bidPrice"]) < float(ticker["askPrice"])
            assert (
                float(ticker["lowPrice"])
                <= float(ticker["lastPrice"])
                <= float(ticker["highPrice"])
            )
        status, body = await get(session, "/api/v3/ticker/bookTicker", symbol="NOPE")
        assert (status, body["code"]) == (400, -1121)
        await sim.step(1)
        _, moved = await get(session, "/api/v3/ticker/24hr", symbol=sim.symbols[0])
        _, bars = await get(
            session, "/api/v3/klines", symbol=sim.symbols[0], interval="1m", limit=1
        )
        assert START_MS < moved["closeTime"] < START_MS + MINUTE_MS
        assert moved["lastPrice"] == bars[0][4]  # the ticker ends on the closed bar's close

    run(check)


def test_serve_prints_where_it_listens_and_stops_when_cancelled(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def main() -> str:
        task = asyncio.create_task(serve(SimConfig(coins=4, history_days=0.1, seed=9)))
        printed: list[str] = []

        def said_something() -> bool:
            printed.append(capsys.readouterr().out)
            return bool(printed[-1])

        await async_wait_until(said_something, 5.0, what="the line saying where it listens",
                               interval_s=0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return printed[-1]

    capsys.readouterr()
    line = asyncio.run(main()).strip()
    assert line.startswith("sim exchange on http://127.0.0.1:")
    assert "(ws://127.0.0.1:" in line and line.endswith("4 symbols, seed 9")


def test_replay_directory_is_served_with_its_own_timestamps_and_gaps() -> None:
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "sim_replay"
    first_ms = 1509836520000

    async def main() -> None:
        config = SimConfig(replay_dir=str(fixture), seed=2)
        async with SimExchange(config, autorun=False) as sim, aiohttp.ClientSession() as session:
            assert sim.symbols == ["AAABTC", "BBBUSDT"] and sim.now_ms == first_ms + 4 * MINUTE_MS
            assert await sim.step(10) == 4 and sim.finished
            async with session.get(
                f"{sim.rest_url}/api/v3/klines", params={"symbol": "AAABTC", "interval": "1m"}
            ) as response:
                rows = await response.json()
            assert [r[0] for r in rows] == [first_ms + m * MINUTE_MS for m in (0, 1, 2, 4, 5, 6, 7)]

    asyncio.run(asyncio.wait_for(main(), 30))


def test_a_market_without_history_starts_from_its_first_minute() -> None:
    async def main() -> None:
        config = SimConfig(coins=3, history_days=0, seed=4)
        async with SimExchange(config, start_ms=START_MS, autorun=False) as sim:
            assert sim.kline_rows(0, None, None, 10) == []
            assert sim.ticker_stats(0).count == 0
            await sim.step(2)
            assert [r[0] for r in sim.kline_rows(0, None, None, 10)] == [
                START_MS,
                START_MS + MINUTE_MS,
            ]

    asyncio.run(asyncio.wait_for(main(), 30))
