"""The simulator's Upbit exchange API over real sockets on 127.0.0.1: JWT auth checked the way
Upbit checks it, Upbit's order rules and errors, lookups by uuid and identifier, order lists,
rate limits, and the ccxt Upbit client (`UpbitClient`) against it. Raw requests are signed
here with ccxt's own JWT helper, then tampered with where a test needs a bad one."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import ccxt
import orjson
import pytest

from bot.config import SimConfig
from exchange.brokers.ccxt_client import make_exchange
from exchange.sim.auth import ApiCredentials
from exchange.sim.server import SimExchange
from model.fills import FillParams

START_MS = 1_700_000_040_000  # Nov 2023: Upbit's first KRW tick table is in force
MARKET = SimConfig(coins=3, history_days=0.05, seed=4)
KEY, SECRET = "upbit-test-access-key", "upbit-test-secret-key"
FILLS = FillParams(max_volume_share=0.1, maker_fee_bps=5, taker_fee_bps=5)
KRW = Decimal(10) ** 10

Scenario = Callable[[SimExchange, Any], Awaitable[None]]


def run(scenario: Scenario) -> None:
    async def main() -> None:
        async with SimExchange(MARKET, start_ms=START_MS, autorun=False) as sim:
            sim.upbit.orders.open_account(ApiCredentials(KEY, SECRET), {"KRW": KRW}, FILLS)
            exchange = make_exchange("upbit", KEY, SECRET, rest_url=sim.rest_url)
            try:
                await scenario(sim, exchange)
            finally:
                await exchange.close()

    asyncio.run(asyncio.wait_for(main(), 60))


def token(payload: dict[str, Any], secret: str = SECRET) -> str:
    return str(ccxt.Exchange.jwt(payload, secret.encode(), "sha256"))


def signed_payload(query: str | None, key: str = KEY) -> dict[str, Any]:
    payload: dict[str, Any] = {"access_key": key, "nonce": str(uuid.uuid4())}
    if query is not None:
        payload["query_hash"] = hashlib.sha512(query.encode()).hexdigest()
        payload["query_hash_alg"] = "SHA512"
    return payload


async def raw(sim: SimExchange, method: str, path: str, auth: str | None,
              query: str = "", body: dict[str, Any] | None = None) -> tuple[int, Any, Any]:
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = auth
    url = f"{sim.rest_url}{path}" + (f"?{query}" if query else "")
    async with aiohttp.ClientSession() as session:
        data = orjson.dumps(body) if body is not None else None
        async with session.request(method, url, headers=headers, data=data) as response:
            text = await response.text()
            parsed = orjson.loads(text) if text.startswith(("{", "[")) else text
            return response.status, parsed, response.headers


def error_name(body: Any) -> str:
    return str(body["error"]["name"])


def krw_price(sim: SimExchange, factor: float) -> float:
    """A KRW-BTC price on Upbit's 1,000 KRW tick, `factor` times the last trade."""
    last = sim.orders.top_of_book("BTCKRW").last
    return float(int(last * factor) // 1000 * 1000)


def test_jwt_auth_is_checked_as_upbit_checks_it() -> None:
    async def scenario(sim: SimExchange, exchange: Any) -> None:
        query = "market=KRW-BTC"
        good = signed_payload(query)
        status, body, headers = await raw(sim, "GET", "/v1/orders/chance", f"Bearer {token(good)}", query)
        assert status == 200 and body["market"]["id"] == "KRW-BTC"
        assert headers["Remaining-Req"].startswith("group=default; min=1800; sec=")
        # the same token again: its nonce is spent
        status, body, _ = await raw(sim, "GET", "/v1/orders/chance", f"Bearer {token(good)}", query)
        assert (status, error_name(body)) == (401, "nonce_used")
        # a query hash of other parameters
        status, body, _ = await raw(sim, "GET", "/v1/orders/chance",
                                    f"Bearer {token(signed_payload('market=KRW-ETH'))}", query)
        assert (status, error_name(body)) == (401, "invalid_query_payload")
        # parameters but no query hash at all
        status, body, _ = await raw(sim, "GET", "/v1/orders/chance",
                                    f"Bearer {token(signed_payload(None))}", query)
        assert (status, error_name(body)) == (401, "invalid_query_payload")
        # signed with another secret; an unknown access key; no token; alg "none"
        status, body, _ = await raw(sim, "GET", "/v1/accounts",
                                    f"Bearer {token(signed_payload(None), 'wrong-secret')}")
        assert (status, error_name(body)) == (401, "jwt_verification")
        assert SECRET not in str(body) and KEY not in str(body)
        status, body, _ = await raw(sim, "GET", "/v1/accounts",
                                    f"Bearer {token(signed_payload(None, key='nobody'))}")
        assert (status, error_name(body)) == (401, "invalid_access_key")
        status, body, _ = await raw(sim, "GET", "/v1/accounts", None)
        assert (status, error_name(body)) == (401, "jwt_verification")
        _header, claims, _sig = token(signed_payload(None)).split(".")
        unsigned = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
        status, body, _ = await raw(sim, "GET", "/v1/accounts", f"Bearer {unsigned}.{claims}.")
        assert (status, error_name(body)) == (401, "jwt_verification")
        # a POST signs its JSON body as k=v&k=v, in body order
        order = {"market": "KRW-BTC", "side": "bid", "volume": "0.001",
                 "price": str(int(krw_price(sim, 0.5))), "ord_type": "limit"}
        body_hash = signed_payload(urlencode(order))
        status, body, _ = await raw(sim, "POST", "/v1/orders", f"Bearer {token(body_hash)}", body=order)
        assert status == 201 and body["state"] == "wait" and body["side"] == "bid", body
        tampered = {**order, "volume": "0.002"}
        status, body, _ = await raw(sim, "POST", "/v1/orders",
                                    f"Bearer {token(signed_payload(urlencode(order)))}", body=tampered)
        assert (status, error_name(body)) == (401, "invalid_query_payload")
        with pytest.raises(ccxt.AuthenticationError):
            bad = make_exchange("upbit", KEY, "wrong-secret", rest_url=sim.rest_url)
            try:
                await bad.fetch_balance()
            finally:
                await bad.close()

    run(scenario)


def test_orders_follow_upbit_rules_and_errors() -> None:
    async def scenario(sim: SimExchange, exchange: Any) -> None:
        low = krw_price(sim, 0.5)
        # off the KRW tick of the order's own price band (1,000 KRW above 2,000,000 KRW)
        with pytest.raises(ccxt.ExchangeError, match="invalid_price_bid"):
            await exchange.create_order("BTC/KRW", "limit", "buy", 0.01, low + 500)
        # a total under 5,000 KRW
        with pytest.raises(ccxt.ExchangeError, match="under_min_total_bid"):
            await exchange.create_order("BTC/KRW", "limit", "buy", 0.00000001, low)
        # more than the account holds: the identifier is spent all the same, as on Upbit
        with pytest.raises(ccxt.InsufficientFunds, match="insufficient_funds_bid"):
            await exchange.create_order("BTC/KRW", "limit", "buy", 1000, low, {"clientOrderId": "B-1"})
        with pytest.raises(ccxt.ExchangeError, match="already used"):
            await exchange.create_order("BTC/KRW", "limit", "buy", 0.01, low, {"clientOrderId": "B-1"})
        with pytest.raises(ccxt.InsufficientFunds, match="insufficient_funds_ask"):
            await exchange.create_order("BTC/KRW", "limit", "sell", 1, low)
        # a market ask by volume works; a market bid by total is refused, saying so
        with pytest.raises(ccxt.ExchangeError, match="ord_type=price is not supported"):
            await exchange.create_order("BTC/KRW", "market", "buy", 0.01, low)
        bought = await exchange.create_order("BTC/KRW", "limit", "buy", 0.02, krw_price(sim, 1.02))
        assert bought["status"] == "closed" and bought["filled"] == 0.02
        sold = await exchange.create_order("BTC/KRW", "market", "sell", 0.01)
        assert sold["type"] == "market" and sold["filled"] == 0.01
        balance = await exchange.fetch_balance()
        assert balance["total"]["BTC"] == 0.01

    run(scenario)


def test_orders_are_found_by_uuid_or_identifier_and_listed_by_state() -> None:
    async def scenario(sim: SimExchange, exchange: Any) -> None:
        resting = await exchange.create_order("BTC/KRW", "limit", "buy", 0.01, krw_price(sim, 0.5),
                                              {"clientOrderId": "R-1"})
        filled = await exchange.create_order("BTC/KRW", "limit", "buy", 0.01, krw_price(sim, 1.02),
                                             {"clientOrderId": "F-1"})
        by_identifier = await exchange.fetch_order(None, "BTC/KRW", {"clientOrderId": "R-1"})
        assert by_identifier["id"] == resting["id"] and by_identifier["clientOrderId"] == "R-1"
        # both sent: Upbit looks the order up by uuid
        both = await exchange.fetch_order(filled["id"], "BTC/KRW", {"identifier": "R-1"})
        assert both["id"] == filled["id"] and both["status"] == "closed"
        assert [o["id"] for o in await exchange.fetch_open_orders("BTC/KRW")] == [resting["id"]]
        assert [o["id"] for o in await exchange.fetch_closed_orders("BTC/KRW")] == [filled["id"]]
        canceled = await exchange.cancel_order(resting["id"], "BTC/KRW")
        assert canceled["status"] == "open"  # Upbit answers the order as the cancel found it
        assert [o["id"] for o in await exchange.fetch_canceled_orders("BTC/KRW")] == [resting["id"]]
        assert not await exchange.fetch_open_orders("BTC/KRW")
        with pytest.raises(ccxt.OrderNotFound):
            await exchange.cancel_order(resting["id"], "BTC/KRW")  # already closed
        with pytest.raises(ccxt.OrderNotFound):
            await exchange.fetch_order(None, "BTC/KRW", {"clientOrderId": "never-sent"})

    run(scenario)


def test_order_trades_carry_fees_that_add_up_to_the_paid_fee() -> None:
    async def scenario(sim: SimExchange, exchange: Any) -> None:
        # far more than 10% of a minute's volume: it fills over several closed bars
        order = await exchange.create_order("BTC/KRW", "limit", "buy", 20, krw_price(sim, 1.05))
        fees: dict[str, Decimal] = {}
        for _ in range(3):
            await sim.step(1)
            for trade in await exchange.fetch_order_trades(order["id"], "BTC/KRW"):
                fee = Decimal(str(trade["fee"]["cost"]))
                assert fees.setdefault(trade["id"], fee) == fee  # a trade's fee never changes
        info = (await exchange.fetch_order(order["id"], "BTC/KRW"))["info"]
        assert len(fees) == info["trades_count"] >= 3
        assert sum(fees.values()) == Decimal(info["paid_fee"]) > 0

    run(scenario)


def test_rate_limit_answers_429_with_remaining_req() -> None:
    async def scenario(sim: SimExchange, exchange: Any) -> None:
        sim.upbit.orders.limiter.fail_next(429)
        with pytest.raises(ccxt.RateLimitExceeded):  # ccxt's class for an unmapped 429
            await exchange.fetch_balance()
        limiter = sim.upbit.orders.limiter
        limiter.requests_per_s = 3
        statuses = []
        for _ in range(4):
            status, body, headers = await raw(sim, "GET", "/v1/accounts",
                                              f"Bearer {token(signed_payload(None))}")
            statuses.append((status, headers["Remaining-Req"].rsplit("=", 1)[1]))
        assert statuses == [(200, "2"), (200, "1"), (200, "0"), (429, "0")]
        assert body == "Too many API requests."

    run(scenario)
