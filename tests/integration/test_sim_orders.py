"""The simulator as a full exchange: signed Binance order endpoints, balances, error codes,
rate limits and the user data stream, spoken to over real sockets on 127.0.0.1 with raw
signed HTTP (so the wire format itself is checked) and with the real ccxt client."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import ccxt
import pytest

from bot.config import SimConfig
from exchange.sim.auth import ApiCredentials
from exchange.sim.server import SimExchange
from tests.integration.test_sim_ccxt import binance_for

START_MS = 1_700_000_040_000
CONFIG = SimConfig(coins=6, history_days=1, seed=13, speed=3000.0)
KEY, SECRET = "k" * 64, "s" * 64


class Signed:
    """A minimal signed Binance client: exactly what the docs describe, nothing more."""

    def __init__(self, sim: SimExchange, session: aiohttp.ClientSession,
                 key: str = KEY, secret: str = SECRET) -> None:
        self.sim, self.session, self.key, self.secret = sim, session, key, secret

    async def __call__(self, method: str, path: str, *, timestamp_ms: int | None = None,
                       sign_with: str | None = None, **params: Any) -> tuple[int, Any, Any]:
        params["timestamp"] = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        query = urlencode(params)
        signature = hmac.new((sign_with or self.secret).encode(), query.encode(),
                             hashlib.sha256).hexdigest()
        url = f"{self.sim.rest_url}{path}"
        headers = {"X-MBX-APIKEY": self.key}
        body = f"{query}&signature={signature}"
        if method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            request = self.session.request(method, url, data=body, headers=headers)
        else:
            request = self.session.request(method, f"{url}?{body}", headers=headers)
        async with request as response:
            return response.status, await response.json(), response.headers


def run(test: Callable[[SimExchange, Signed], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with SimExchange(CONFIG, start_ms=START_MS, autorun=False) as sim:
            sim.orders.open_account(ApiCredentials(KEY, SECRET), {"USDT": Decimal(10_000)})
            async with aiohttp.ClientSession() as session:
                return await test(sim, Signed(sim, session))

    return asyncio.run(asyncio.wait_for(main(), 40))


def bid(sim: SimExchange, symbol: str = "BTCUSDT") -> str:
    return f"{sim.ticker_stats(sim.symbol_index(symbol)).bid:.2f}"


def test_docs_signature_example_is_accepted_and_a_wrong_one_is_not() -> None:
    from exchange.sim.auth import Authenticator, split_params

    # rest-api.md, "SIGNED Endpoint Examples for POST /api/v3/order - HMAC Keys".
    secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    query = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
             "&recvWindow=5000&timestamp=1499827319559")
    signature = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    auth = Authenticator(clock_ms=lambda: 1499827319559 + 100)
    auth.add(ApiCredentials("docs-key", secret))
    params, payload, sent = split_params(f"{query}&signature={signature}", "")
    assert payload == query and sent == signature
    assert auth.verify("docs-key", params, payload, sent) == "docs-key"
    with pytest.raises(Exception, match="Signature for this request is not valid"):
        auth.verify("docs-key", params, payload, "0" * 64)


def test_authentication_errors_use_binance_codes_and_never_echo_the_secret() -> None:
    async def check(sim: SimExchange, signed: Signed) -> None:
        cases = [
            await signed("GET", "/api/v3/account", sign_with="wrong" * 13),
            await signed("GET", "/api/v3/account", timestamp_ms=int(time.time() * 1000) - 6000),
            await signed("GET", "/api/v3/account", timestamp_ms=int(time.time() * 1000) + 5000),
            await signed("GET", "/api/v3/account", recvWindow=70_000),
            await Signed(sim, signed.session, key="nobody")("GET", "/api/v3/account"),
        ]
        codes = [(status, body["code"]) for status, body, _ in cases]
        assert codes == [(400, -1022), (400, -1021), (400, -1021), (400, -1131), (401, -2015)]
        assert all(SECRET not in json.dumps(body) for _, body, _ in cases)
        status, body, _ = await signed("GET", "/api/v3/account", recvWindow=60_000)
        assert status == 200 and body["balances"] == [
            {"asset": "USDT", "free": "10000.00000000", "locked": "0.00000000"}]

    run(check)


def test_order_lifecycle_new_query_open_cancel_and_balances() -> None:
    async def check(sim: SimExchange, signed: Signed) -> None:
        price = bid(sim)
        status, placed, _ = await signed("POST", "/api/v3/order", symbol="BTCUSDT", side="BUY",
                                         type="LIMIT", timeInForce="GTC", quantity="0.01000",
                                         price=price, newClientOrderId="mine-1")
        assert status == 200 and placed["status"] == "NEW" and placed["fills"] == []
        assert placed["clientOrderId"] == "mine-1" and placed["transactTime"] == sim.now_ms
        _, by_id, _ = await signed("GET", "/api/v3/order", symbol="BTCUSDT",
                                   orderId=placed["orderId"])
        _, by_client, _ = await signed("GET", "/api/v3/order", symbol="BTCUSDT",
                                       origClientOrderId="mine-1")
        assert by_id == by_client and by_id["status"] == "NEW"
        _, opened, _ = await signed("GET", "/api/v3/openOrders", symbol="BTCUSDT")
        assert [o["orderId"] for o in opened] == [placed["orderId"]]
        _, account, _ = await signed("GET", "/api/v3/account")
        usdt = next(b for b in account["balances"] if b["asset"] == "USDT")
        locked = Decimal(usdt["locked"])
        assert locked == (Decimal("0.01") * Decimal(price) * Decimal("1.001")).quantize(
            Decimal("0.00000001"), rounding="ROUND_CEILING")
        assert Decimal(usdt["free"]) + locked == 10_000
        status, canceled, _ = await signed("DELETE", "/api/v3/order", symbol="BTCUSDT",
                                           origClientOrderId="mine-1")
        assert status == 200 and canceled["status"] == "CANCELED"
        assert canceled["origClientOrderId"] == "mine-1"
        _, account, _ = await signed("GET", "/api/v3/account")
        assert account["balances"] == [
            {"asset": "USDT", "free": "10000.00000000", "locked": "0.00000000"}]
        again = await signed("DELETE", "/api/v3/order", symbol="BTCUSDT", orderId=placed["orderId"])
        missing = await signed("GET", "/api/v3/order", symbol="BTCUSDT", orderId=999)
        assert (again[0], again[1]["code"]) == (400, -2011)
        assert (missing[0], missing[1]) == (400, {"code": -2013, "msg": "Order does not exist."})
        _, history, _ = await signed("GET", "/api/v3/allOrders", symbol="BTCUSDT")
        assert [(o["clientOrderId"], o["status"]) for o in history] == [("mine-1", "CANCELED")]

    run(check)


def test_filter_balance_and_duplicate_id_errors() -> None:
    async def check(sim: SimExchange, signed: Signed) -> None:
        price = bid(sim)
        order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
        lot = await signed("POST", "/api/v3/order", **order, quantity="0.0100001", price=price)
        tick = await signed("POST", "/api/v3/order", **order, quantity="0.01", price=price + "1")
        notional = await signed("POST", "/api/v3/order", **order, quantity="0.00001", price=price)
        funds = await signed("POST", "/api/v3/order", **order, quantity="100", price=price)
        assert [(s, b["code"], b["msg"]) for s, b, _ in (lot, tick, notional, funds)] == [
            (400, -1013, "Filter failure: LOT_SIZE"),
            (400, -1013, "Filter failure: PRICE_FILTER"),
            (400, -1013, "Filter failure: MIN_NOTIONAL"),
            (400, -2010, "Account has insufficient balance for requested action."),
        ]
        first = await signed("POST", "/api/v3/order", **order, quantity="0.01", price=price,
                             newClientOrderId="same")
        second = await signed("POST", "/api/v3/order", **order, quantity="0.01", price=price,
                              newClientOrderId="same")
        assert first[0] == 200 and (second[0], second[1]["msg"]) == (400, "Duplicate order sent.")
        await signed("DELETE", "/api/v3/order", symbol="BTCUSDT", origClientOrderId="same")
        # Binance rule: a client id is unique among *open* orders; once closed it may return.
        third = await signed("POST", "/api/v3/order", **order, quantity="0.01", price=price,
                             newClientOrderId="same")
        assert third[0] == 200 and third[1]["orderId"] != first[1]["orderId"]

    run(check)


def test_market_order_fills_at_once_and_resting_limit_fills_at_a_bar_close() -> None:
    async def check(sim: SimExchange, signed: Signed) -> None:
        ask = sim.ticker_stats(sim.symbol_index("BTCUSDT")).ask
        status, market, _ = await signed("POST", "/api/v3/order", symbol="BTCUSDT", side="BUY",
                                         type="MARKET", quantity="0.01")
        assert status == 200 and market["status"] == "FILLED" and market["type"] == "MARKET"
        assert [Decimal(f["price"]) for f in market["fills"]] == [Decimal(f"{ask:.2f}")]
        assert all(f["commissionAsset"] == "USDT" for f in market["fills"])
        _, resting, _ = await signed("POST", "/api/v3/order", symbol="BTCUSDT", side="BUY",
                                     type="LIMIT", timeInForce="GTC", quantity="0.01",
                                     price=bid(sim))
        for _ in range(240):  # the calibrated market may take a few hours to come back
            await sim.step(1)
            _, now, _ = await signed("GET", "/api/v3/order", symbol="BTCUSDT",
                                     orderId=resting["orderId"])
            if now["status"] == "FILLED":
                break
        assert now["status"] == "FILLED" and now["updateTime"] % 60_000 == 0
        _, trades, _ = await signed("GET", "/api/v3/myTrades", symbol="BTCUSDT")
        assert [t["isMaker"] for t in trades] == [False] + [True] * (len(trades) - 1)
        _, account, _ = await signed("GET", "/api/v3/account")
        balances = {b["asset"]: Decimal(b["free"]) + Decimal(b["locked"])
                    for b in account["balances"]}
        spent = sum(Decimal(t["quoteQty"]) + Decimal(t["commission"]) for t in trades)
        assert balances == {"BTC": Decimal("0.02"), "USDT": 10_000 - spent}

    run(check)


def test_rate_limit_answers_429_with_retry_after_then_bans_with_418() -> None:
    async def check(sim: SimExchange, signed: Signed) -> None:
        sim.orders.limiter.requests_per_s = 5
        answers = [(await signed("GET", "/api/v3/openOrders"))[0::2] for _ in range(30)]
        statuses = [status for status, _ in answers]
        assert statuses[:5] == [200] * 5 and statuses[5] == 429
        assert 418 in statuses
        assert all(h["Retry-After"].isdigit() for s, h in answers if s in (418, 429))

    run(check)


def test_user_data_stream_reports_execution_reports_and_balances(shared_data: Path) -> None:
    fixtures = shared_data / "protocol/binance/nautilus_fixtures"
    reference = json.loads((fixtures / "integration_ws_messages/ws_spot_execution_report_trade.json")
                           .read_text())["data"]
    position = json.loads((fixtures / "spot_user_data/account_position.json").read_text())

    async def check(sim: SimExchange, signed: Signed) -> None:
        async with signed.session.post(f"{sim.rest_url}/api/v3/userDataStream",
                                       headers={"X-MBX-APIKEY": KEY}) as response:
            listen_key = (await response.json())["listenKey"]
        async with signed.session.ws_connect(f"{sim.ws_url}/ws/{listen_key}") as ws:
            await signed("POST", "/api/v3/order", symbol="BTCUSDT", side="BUY", type="MARKET",
                         quantity="0.01", newClientOrderId="stream-1")
            events = [json.loads((await ws.receive(timeout=5)).data) for _ in range(3)]
        kinds = [(e["e"], e.get("x")) for e in events]
        assert kinds == [("executionReport", "NEW"), ("executionReport", "TRADE"),
                         ("outboundAccountPosition", None)]
        assert set(reference) <= set(events[1]) | {"v", "W"}
        assert events[1]["X"] == "FILLED" and events[1]["c"] == "stream-1"
        assert events[1]["N"] == "USDT" and events[1]["z"] == events[1]["l"] == "0.01000000"
        assert set(position) == set(events[2])
        assert {b["a"] for b in events[2]["B"]} == {"BTC", "USDT"}

    run(check)


def test_real_ccxt_client_maps_the_simulators_errors_to_its_exception_classes() -> None:
    async def check(sim: SimExchange, signed: Signed) -> None:
        exchange = binance_for(sim)
        exchange.apiKey, exchange.secret = KEY, SECRET
        try:
            await exchange.load_markets()
            price = float(bid(sim))
            order = await exchange.create_order("BTC/USDT", "limit", "buy", 0.01, price,
                                                {"clientOrderId": "cc-1"})
            assert order["clientOrderId"] == "cc-1" and order["status"] == "open"
            found = await exchange.fetch_order(None, "BTC/USDT", {"clientOrderId": "cc-1"})
            assert found["id"] == order["id"]
            with pytest.raises(ccxt.InsufficientFunds):
                await exchange.create_order("BTC/USDT", "limit", "buy", 100, price)
            with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
                await exchange.create_order("BTC/USDT", "limit", "buy", 0.01, price,
                                            {"clientOrderId": "cc-1"})
            with pytest.raises(ccxt.OrderNotFound):
                await exchange.fetch_order(None, "BTC/USDT", {"clientOrderId": "never"})
            canceled = await exchange.cancel_order(order["id"], "BTC/USDT")
            assert canceled["status"] == "canceled"
            with pytest.raises(ccxt.OrderNotFound):
                await exchange.cancel_order(order["id"], "BTC/USDT")
            sim.orders.limiter.fail_next(429)
            with pytest.raises(ccxt.DDoSProtection):
                await exchange.fetch_balance()
            exchange.secret = "x" * 64
            with pytest.raises(ccxt.AuthenticationError):
                await exchange.fetch_balance()
        finally:
            await exchange.close()

    run(check)
