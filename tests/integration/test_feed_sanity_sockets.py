"""The feed edge over real sockets (127.0.0.1): impossible market data is dropped and
counted, never freezes the bar sequence, and a stream of nothing else goes stale like a
silent one."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from bot.app import market_source
from bot.config import FeedConfig, load_config
from exchange.feeds.binance import BinanceFeed
from exchange.feeds.errors import TooManySymbols
from exchange.sim.server import SimExchange
from model.market import MINUTE_MS, Bar, Tick
from tests.integration.test_feed_binance_hostile import NOW_MS, ScriptedExchange, scripted_exchange
from tests.integration.test_feed_binance_sim import until
from tests.tasks import running
from tests.unit.test_feed_binance_parse import kline, ticker

MINUTE = NOW_MS - NOW_MS % MINUTE_MS
YEAR_2099_MS = 4_070_908_800_000


def closed_kline(open_ms: int, **prices: str) -> str:
    payload = kline(t=open_ms, T=open_ms + MINUTE_MS - 1, **prices)
    return orjson.dumps({"stream": "btcusdt@kline_1m", "data": payload}).decode()


def ticker_frame(**fields: Any) -> str:
    return orjson.dumps({"stream": "btcusdt@ticker", "data": ticker(**fields)}).decode()


def feed_for(exchange: ScriptedExchange, ticks: list[Tick], bars: list[Bar],
             **config: Any) -> BinanceFeed:
    settings = {"backfill_minutes": 0, "reconnect_min_s": 0.02, "reconnect_max_s": 0.1, **config}
    return BinanceFeed(exchange.url, exchange.url.replace("http", "ws"), ["BTCUSDT"],
                       FeedConfig(**settings), on_tick=ticks.append, on_bar=bars.append)


def test_a_bar_from_2099_is_dropped_and_the_next_real_bar_still_arrives() -> None:
    async def scenario() -> tuple[list[Bar], Any]:
        async with scripted_exchange() as exchange:
            ticks: list[Tick] = []
            bars: list[Bar] = []
            feed = feed_for(exchange, ticks, bars)
            async with running(feed):
                await until(lambda: feed.health().connected)
                await exchange.outbox.put(closed_kline(MINUTE))
                await exchange.outbox.put(closed_kline(YEAR_2099_MS))
                await exchange.outbox.put(closed_kline(MINUTE, h="1e308", c="1e308"))
                await exchange.outbox.put(closed_kline(MINUTE + MINUTE_MS))
                await until(lambda: len(bars) == 2)
                return bars, feed.health()

    bars, health = asyncio.run(scenario())
    assert [b.open_ms for b in bars] == [MINUTE, MINUTE + MINUTE_MS]
    assert health.invalid == 1 and health.invalid_by_reason == (("time_in_future", 1),)
    assert health.malformed == 1  # 1e308 does not even parse as a price
    assert health.reconnects == 0


def forming_kline(**prices: str) -> str:
    payload = kline(closed=False, t=MINUTE, T=MINUTE + MINUTE_MS - 1, **prices)
    return orjson.dumps({"stream": "btcusdt@kline_1m", "data": payload}).decode()


INVALID_STREAMS = {
    "ticks with a zero bid": ticker_frame(E=NOW_MS, b="0", B="0"),  # parse, cannot be true
    "forming klines at 1e308": forming_kline(h="1e308", c="1e308"),  # were "live traffic"
}


@pytest.mark.parametrize("name", sorted(INVALID_STREAMS))
def test_a_stream_of_only_invalid_data_goes_stale_like_a_silent_one(name: str) -> None:
    async def scenario() -> Any:
        async with scripted_exchange() as exchange:
            ticks: list[Tick] = []
            feed = feed_for(exchange, ticks, [], stale_after_s=0.5)

            async def pour_invalid() -> None:
                while True:
                    await exchange.outbox.put(INVALID_STREAMS[name])
                    await asyncio.sleep(0.02)

            async with running(feed):
                await until(lambda: feed.health().connected)
                await exchange.outbox.put(ticker_frame(E=NOW_MS))
                await until(lambda: len(ticks) == 1)
                pouring = asyncio.create_task(pour_invalid())
                try:
                    await until(lambda: feed.health().stale, timeout_s=5)
                    health = feed.health()
                finally:
                    pouring.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await pouring
                return health, len(ticks)

    health, delivered = asyncio.run(scenario())
    assert health.stale and delivered == 1 and health.messages == 1
    assert health.invalid + health.malformed > 0


@pytest.mark.parametrize("protocol", ["binance", "upbit"])
def test_more_symbols_than_max_symbols_refuse_the_start_naming_the_setting(
    tmp_path: Path, protocol: str,
) -> None:
    (tmp_path / "config.toml").write_text(
        f'[feed]\nmax_symbols = 2\n[sim]\ncoins = 3\nhistory_days = 0.01\nprotocol = "{protocol}"\n')
    config = load_config(tmp_path / "config.toml", environ={})

    async def scenario() -> None:
        async with SimExchange(config.sim) as sim:
            rest_url, _ = market_source.endpoints(config, sim)
            await market_source.load_instruments(config, rest_url, sim)

    with pytest.raises(TooManySymbols) as refused:
        asyncio.run(scenario())
    assert "[feed] max_symbols = 2" in str(refused.value)
