"""UpbitFeed against the simulator's Upbit face over real sockets on 127.0.0.1, and the
daemon running on it end to end (`sim.protocol = "upbit"`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Awaitable, Callable
from itertools import pairwise

import aiohttp
import orjson
import pytest

from bot.config import Config, FeedConfig, SimConfig
from exchange.feeds.errors import ExchangeError
from exchange.feeds.upbit import UpbitFeed
from exchange.feeds.upbit_rest import fetch_candles, fetch_instruments
from exchange.sim.server import SimExchange
from exchange.sim.upbit_server import WS_PATH
from model.market import MINUTE_MS, Bar, BarHistory, Tick
from tests.tasks import running
from tests.waiting import async_wait_until

START_MS = 1_700_000_040_000
FAST = SimConfig(coins=6, speed=1200, history_days=0.2, seed=3)


class Recorder:
    def __init__(self) -> None:
        self.ticks: list[Tick] = []
        self.bars: list[Bar] = []
        self.histories: list[BarHistory] = []

    def opens(self) -> dict[str, list[int]]:
        result: dict[str, list[int]] = defaultdict(list)
        for history in self.histories:
            result[history.symbol].extend(history.open_ms.tolist())
        for bar in self.bars:
            result[bar.symbol].append(bar.open_ms)
        return result


def make_feed(sim: SimExchange, recorder: Recorder, codes: list[str], **options: object) -> UpbitFeed:
    config = FeedConfig(backfill_minutes=int(options.pop("backfill", 30)),  # type: ignore[call-overload]
                        reconnect_min_s=0.02, reconnect_max_s=0.1)
    return UpbitFeed(sim.rest_url, sim.ws_url + WS_PATH, codes, config,
                     on_tick=recorder.ticks.append, on_bar=recorder.bars.append,
                     on_history=recorder.histories.append, clock_ms=lambda: sim.now_ms,
                     request_interval_s=0.0, **options)  # type: ignore[arg-type]


async def until(predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    await async_wait_until(predicate, timeout_s)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 60))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["SIMPLE", "DEFAULT"])
def test_trade_built_bars_equal_the_rest_candles_and_ticks_flow(fmt: str) -> None:
    async def scenario() -> None:
        async with SimExchange(FAST, start_ms=START_MS) as sim:
            recorder = Recorder()
            codes = sim.upbit.codes
            feed = make_feed(sim, recorder, codes, fmt=fmt)
            async with running(feed):
                # Bars may all come from the REST backfill before the first trade: wait for both.
                await until(lambda: len(recorder.bars) >= 4 * len(codes)
                            and {t.symbol for t in recorder.ticks} == set(codes))
                health = feed.health()
            async with aiohttp.ClientSession() as session:
                for bar in recorder.bars:
                    (rest,) = [await fetch_candles(session, sim.rest_url, bar.symbol,
                                                   bar.open_ms, bar.open_ms + MINUTE_MS)]
                    assert len(rest) == 1
                    assert (bar.open, bar.high, bar.low, bar.close) == (
                        rest.open[0], rest.high[0], rest.low[0], rest.close[0])
                    assert bar.volume == pytest.approx(rest.volume[0], rel=1e-9, abs=1e-7)
                # none lost: every candle the exchange closed in the span (a no-trade minute
                # of the calibrated market has none, as on a real exchange)
                for symbol, opens in recorder.opens().items():
                    candles = await fetch_candles(session, sim.rest_url, symbol, opens[0],
                                                  opens[-1] + MINUTE_MS)
                    assert opens == candles.open_ms.tolist(), symbol
        assert {t.symbol for t in recorder.ticks} == set(codes)
        assert all(t.bid < t.ask and t.ask_qty > 0 for t in recorder.ticks)
        assert health.connected and health.malformed == 0 and health.dropped_rows == 0
        for opens in recorder.opens().values():
            assert all(b > a for a, b in pairwise(opens))  # in order, none repeated

    run(scenario)


def test_unknown_market_stops_the_feed_with_the_exchange_error() -> None:
    async def scenario() -> None:
        async with SimExchange(FAST, start_ms=START_MS, autorun=False) as sim:
            feed = make_feed(sim, Recorder(), ["KRW-NOSUCH"])
            with pytest.raises(ExchangeError, match="Code not found"):
                await feed.run()

    run(scenario)


def test_sim_refuses_bad_websocket_requests_with_upbit_errors_in_binary_frames() -> None:
    async def scenario() -> None:
        async with (SimExchange(FAST, start_ms=START_MS, autorun=False) as sim,
                    aiohttp.ClientSession() as session):
            ws = await session.ws_connect(sim.ws_url + WS_PATH)
            for request, name in (
                ('[{"type":"trade","codes":["KRW-BTC"]}]', "NO_TICKET"),
                ('[{"ticket":"t"},{"type":"trade"}]', "NO_CODES"),
                ('[{"ticket":"t"},{"format":"SIMPLE"}]', "NO_TYPE"),
                ("{oops", "WRONG_FORMAT"),
            ):
                await ws.send_str(request)
                message = await ws.receive(timeout=5)
                assert message.type == aiohttp.WSMsgType.BINARY
                assert orjson.loads(message.data)["error"]["name"] == name
            await ws.send_str("PING")
            assert orjson.loads((await ws.receive(timeout=5)).data) == {"status": "UP"}
            await ws.close()

    run(scenario)


def test_instruments_come_from_market_all_with_krw_tick_bands() -> None:
    async def scenario() -> None:
        async with SimExchange(FAST, start_ms=START_MS, autorun=False) as sim:
            instruments = await fetch_instruments(sim.rest_url)
        assert [i.symbol for i in instruments] == sim.upbit.codes
        krw = [i for i in instruments if i.quote == "KRW"]
        assert krw and all(i.tick_bands and i.min_notional == 5000 for i in krw)

    run(scenario)


@pytest.mark.slow
def test_daemon_trades_decision_steps_on_the_upbit_protocol(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.app.daemon import Daemon

    async def scenario() -> None:
        config = Config.model_validate({
            "app": {"data_dir": str(tmp_path / "var")},
            "sim": {"coins": 12, "speed": 1200, "history_days": 0.3, "seed": 5,
                    "protocol": "upbit"},
            "feed": {"backfill_minutes": 120, "stale_after_s": 5},
            "trading": {"quote_asset": "KRW", "starting_balance": 10_000_000},
            "strategy": {"max_spread_bps": 500},
            "exchange": {"quote_asset": "KRW"},
        })
        daemon = Daemon(config)
        task = asyncio.create_task(daemon.run())
        try:
            await until(lambda: daemon.engine is not None and daemon.engine.steps >= 3, 40)
            status = daemon.status()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert status["symbols"] >= 3 and all(s.startswith("KRW-") for s in daemon.engine.symbols)
        assert status["feed"]["connected"] and status["feed"]["malformed"] == 0
        assert status["feed"]["bars"] > 0

    run(scenario)
