"""Reconciliation's reads back off globally on every kind of 429 ccxt raises.

ccxt raises `RateLimitExceeded` (a NetworkError, not a `DDoSProtection` subclass) for a 429
its exchange's error handler does not map: Upbit's plain-text "Too many API requests."
Reconciliation must treat it as the rate limit it is (the shared `RequestGate` pauses every
request) rather than as a network error retried at once. Against the simulator's Upbit face
over 127.0.0.1, with ccxt's real Upbit client and the sim's injected 429s."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import ccxt
import pytest

from bot.app.ccxt_account import CcxtAccountView
from bot.config import SimConfig
from exchange.brokers.ccxt_client import RequestGate, make_exchange
from exchange.sim.auth import ApiCredentials
from exchange.sim.server import SimExchange
from model.fills import FillParams

KEY, SECRET = "reconcile-upbit-key", "reconcile-upbit-secret-0123456789"
MARKET = SimConfig(coins=3, history_days=0.05, seed=4)


@pytest.mark.slow
def test_upbit_plain_429_during_reconciliation_backs_every_request_off() -> None:
    async def main() -> None:
        async with SimExchange(MARKET, autorun=False) as sim:
            sim.upbit.orders.open_account(ApiCredentials(KEY, SECRET),
                                          {"KRW": Decimal(10) ** 9}, FillParams())
            exchange = make_exchange("upbit", KEY, SECRET, rest_url=sim.rest_url)
            try:
                await exchange.load_markets()
                # given: the answer really is ccxt's RateLimitExceeded, not DDoSProtection
                sim.upbit.orders.limiter.fail_next(429, 1)
                try:
                    await exchange.fetch_balance()
                    raise AssertionError("the injected 429 did not arrive")
                except ccxt.RateLimitExceeded as exc:
                    assert not isinstance(exc, ccxt.DDoSProtection)
                # when: reconciliation's reads meet two of them
                gate = RequestGate(100)
                view = CcxtAccountView(exchange, {i.symbol: i for i in sim.instruments},
                                       gate=gate, backoff_s=0.01)
                sim.upbit.orders.limiter.fail_next(429, 2)
                snapshot = await view.snapshot([])
            finally:
                await exchange.close()
        # then: both went to the gate's global back-off, and the snapshot is complete
        assert gate.rate_limited == 2
        assert snapshot.balances == {"KRW": Decimal(10) ** 9}
        assert snapshot.open_orders == ()

    asyncio.run(asyncio.wait_for(main(), 60))
