"""The real ccxt client (REST and ccxt.pro websocket) against the simulator, configured as in
../shared/data/README.md ("Running the real ccxt client against a local server")."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import ccxt
import ccxt.pro as ccxtpro
import pytest
from aiohttp import web

from bot.config import SimConfig
from exchange.sim import SimExchange
from model.market import MINUTE_MS

START_MS = 1_700_000_040_000
CONFIG = SimConfig(coins=30, history_days=1, seed=13, speed=3000.0)  # 50 minutes a second


def binance_for(sim: SimExchange) -> ccxtpro.binance:
    """A ccxt.pro Binance client whose REST and websocket URLs point at the simulator."""
    exchange = ccxtpro.binance(
        {
            "options": {
                "fetchMarkets": {"types": ["spot"]},
                "fetchCurrencies": False,
                "fetchMargins": False,
            },
        }
    )
    for key in ("public", "private", "v1", "sapi"):
        exchange.urls["api"][key] = exchange.urls["api"][key].replace(
            "https://api.binance.com", sim.rest_url
        )
    exchange.urls["api"]["ws"]["spot"] = f"{sim.ws_url}/ws"
    return exchange


def run(
    test: Callable[[SimExchange, ccxtpro.binance], Awaitable[Any]], autorun: bool = True
) -> Any:
    async def main() -> Any:
        async with SimExchange(CONFIG, start_ms=START_MS, autorun=autorun) as sim:
            exchange = binance_for(sim)
            try:
                return await test(sim, exchange)
            finally:
                await exchange.close()

    return asyncio.run(asyncio.wait_for(main(), 40))


def test_the_rest_urls_we_override_are_the_ones_ccxt_uses() -> None:
    api = ccxt.binance().urls["api"]
    assert api["public"] == "https://api.binance.com/api/v3"
    assert all(api[key].startswith("https://api.binance.com/") for key in ("private", "v1", "sapi"))


def test_load_markets_derives_each_instruments_precision_and_limits() -> None:
    async def check(sim: SimExchange, exchange: ccxtpro.binance) -> None:
        markets = await exchange.load_markets()
        assert len(markets) == len(sim.symbols)
        for instrument in sim.instruments:
            market = exchange.market(f"{instrument.base}/{instrument.quote}")
            assert market["id"] == instrument.symbol and market["spot"] and market["active"]
            assert market["precision"]["price"] == float(instrument.tick)
            assert market["precision"]["amount"] == float(instrument.lot)
            assert market["limits"]["cost"]["min"] == float(instrument.min_notional)
            assert market["limits"]["amount"]["min"] == float(instrument.min_qty)
            assert market["limits"]["price"]["min"] == float(instrument.min_price)
        assert exchange.price_to_precision("XRP/KRW", 612.4) == "612"
        assert exchange.amount_to_precision("BTC/USDT", 0.123456789) == "0.12345"

    run(check, autorun=False)


def test_fetch_ticker_and_fetch_ohlcv() -> None:
    async def check(sim: SimExchange, exchange: ccxtpro.binance) -> None:
        await exchange.load_markets()
        ticker = await exchange.fetch_ticker("ETH/BTC")
        assert ticker["symbol"] == "ETH/BTC" and ticker["bid"] < ticker["ask"]
        assert ticker["low"] <= ticker["last"] <= ticker["high"] and ticker["baseVolume"] > 0
        await sim.step(3)
        bars = await exchange.fetch_ohlcv("BTC/USDT", "1m", limit=5)
        assert [b[0] for b in bars] == [START_MS + m * MINUTE_MS for m in range(-2, 3)]
        assert all(b[3] <= min(b[1], b[4]) and b[2] >= max(b[1], b[4]) for b in bars)
        since = START_MS - 60 * MINUTE_MS
        paged = await exchange.fetch_ohlcv("XRP/KRW", "1m", since=since, limit=3)
        assert [b[0] for b in paged] == [since, since + MINUTE_MS, since + 2 * MINUTE_MS]
        with pytest.raises(ccxt.BadSymbol):
            await exchange.fetch_ticker("NOPE/USDT")

    run(check, autorun=False)


def test_watch_ticker_streams_bid_ask_and_reconnects_after_a_drop() -> None:
    run(_watch_drop_and_reconnect)


def test_reconnect_is_proven_by_a_ticker_newer_than_the_drop_not_one_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Force what a loaded machine does at random: the server has written a ticker frame the
    client has not read yet when the sockets drop. ccxt hands out that stale ticker on the
    old socket first; only a ticker stamped after the drop shows the reconnect."""
    written = [0]
    send_frame = web.WebSocketResponse.send_frame

    async def counting_send_frame(self: web.WebSocketResponse, *args: Any, **kwargs: Any) -> None:
        await send_frame(self, *args, **kwargs)
        written[0] += 1

    monkeypatch.setattr(web.WebSocketResponse, "send_frame", counting_send_frame)

    async def a_frame_in_flight() -> None:
        mark = written[0]
        while written[0] == mark:  # the clock publishes within a few ms at 3000x
            await asyncio.sleep(0)

    run(lambda sim, exchange: _watch_drop_and_reconnect(sim, exchange, a_frame_in_flight))


async def _watch_drop_and_reconnect(
    sim: SimExchange,
    exchange: ccxtpro.binance,
    before_drop: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Three tickers with bid < ask, a drop of every socket, then a ticker on a new one."""
    await exchange.load_markets()
    seen = []
    for _ in range(3):
        ticker = await exchange.watch_ticker("ETH/BTC", params={"name": "ticker"})
        seen.append(ticker["timestamp"])
        assert ticker["bid"] < ticker["ask"] and ticker["bidVolume"] > 0
    assert seen == sorted(seen) and len(set(seen)) == 3
    if before_drop is not None:
        await before_drop()
    before = set(sim.hub.connections)
    await sim.drop_connections()
    dropped_at_ms = sim.now_ms  # every frame the old socket carried is stamped <= this
    ticker = await _first_ticker_after(exchange, "ETH/BTC", dropped_at_ms)
    assert ticker["bid"] < ticker["ask"] and ticker["timestamp"] > seen[-1]
    assert sim.hub.connections and not sim.hub.connections & before  # a new socket


async def _first_ticker_after(
    exchange: ccxtpro.binance, symbol: str, after_ms: int, max_errors: int = 20
) -> dict[str, Any]:
    """Watch until a ticker stamped after `after_ms` arrives, riding out the drop.

    A dropped socket can still hand ccxt frames that reached the client before the drop but
    were not read yet (a loaded machine lags behind a 3000x market), and only then report the
    close: those stale tickers, or the NetworkError of a watch pending at the close, are
    skipped. A ticker stamped after the drop can only have come through a new socket.
    """
    errors = 0
    while True:
        try:
            ticker = await exchange.watch_ticker(symbol, params={"name": "ticker"})
        except ccxt.NetworkError:
            errors += 1
            if errors > max_errors:
                raise AssertionError("ccxt.pro did not reconnect after the drop") from None
            await asyncio.sleep(0.05)
            continue
        if ticker["timestamp"] > after_ms:
            return ticker
