"""CcxtBroker against the simulator over real sockets: the order lifecycle and the error
policy (lost acknowledgements, 5xx, 429, rejections, cancel of a filled order, restart).

Faults are injected by the simulator itself (`drop_next_responses`, `limiter.fail_next`),
so the real ccxt client sees real dropped connections and real HTTP status codes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from bot.config import SimConfig
from exchange.brokers.ccxt import CcxtBroker, LivePolicy
from exchange.brokers.ccxt_client import RequestGate, make_exchange
from exchange.sim.account import SimAccount
from exchange.sim.auth import ApiCredentials
from exchange.sim.server import SimExchange
from model.instruments import Side
from model.orders import (
    Accepted,
    Canceled,
    Filled,
    OrderEvent,
    OrderRequest,
    OrderType,
    PartiallyFilled,
    Rejected,
    RejectReason,
)

START_MS = 1_700_000_040_000
CONFIG = SimConfig(coins=6, history_days=1, seed=13, speed=3000.0)
KEY, SECRET = "k" * 64, "s" * 64
SYMBOL = "BTCUSDT"


class Harness:
    def __init__(self, sim: SimExchange, broker: CcxtBroker) -> None:
        self.sim, self.broker = sim, broker
        self.events: list[OrderEvent] = []
        broker.listener = self.events.extend

    @property
    def account(self) -> SimAccount:
        return self.sim.orders.accounts[KEY]

    def order(self, side: Side, amount: str, price: Decimal | None = None) -> OrderRequest:
        if price is None:
            stats = self.sim.ticker_stats(self.sim.symbol_index(SYMBOL))
            price = Decimal(f"{stats.bid:.2f}")
        request = OrderRequest(self.broker.next_client_order_id(), SYMBOL, side, OrderType.LIMIT,
                               Decimal(amount), price, self.sim.now_ms)
        assert self.broker.submit(request) == []  # a live broker answers later
        return request

    async def settle(self) -> None:
        await self.broker.drain()
        await self.broker.poll_once()

    def kinds(self, client_order_id: str) -> list[str]:
        return [type(e).__name__ for e in self.events if e.client_order_id == client_order_id]


def run(test: Callable[[Harness], Awaitable[Any]], poll_interval_s: float = 0.05) -> Any:
    async def main() -> Any:
        async with SimExchange(CONFIG, start_ms=START_MS, autorun=False) as sim:
            sim.orders.open_account(ApiCredentials(KEY, SECRET), {"USDT": Decimal(10_000)})
            exchange = make_exchange("binance", KEY, SECRET, rest_url=sim.rest_url,
                                     rate_limit_ms=5)
            broker = CcxtBroker(exchange, sim.instruments, gate=RequestGate(100),
                                policy=LivePolicy(poll_interval_s=poll_interval_s,
                                                  backoff_initial_s=0.05))
            await broker.start()
            worker = asyncio.create_task(broker.run())
            try:
                return await test(Harness(sim, broker))
            finally:
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)
                await broker.close()

    return asyncio.run(asyncio.wait_for(main(), 60))


def test_order_is_accepted_filled_and_balances_follow_the_exchange() -> None:
    async def check(h: Harness) -> None:
        request = h.order(Side.BUY, "0.01")
        assert [o.client_order_id for o in h.broker.open_orders()] == [request.client_order_id]
        assert h.broker.free_balances()["USDT"] < Decimal(10_000)  # pending order counted
        await h.settle()
        assert h.kinds(request.client_order_id) == ["Accepted"]
        for _ in range(30):
            await h.sim.step(1)
            await h.settle()
            if "Filled" in h.kinds(request.client_order_id):
                break
        fills = [e for e in h.events if isinstance(e, (PartiallyFilled, Filled))]
        assert isinstance(fills[-1], Filled) and sum(f.amount for f in fills) == Decimal("0.01")
        assert [f.trade_id for f in fills] == [str(t.trade_id) for t in h.account.trades]
        assert h.broker.open_orders() == []
        totals = {a: f + lk for a, (f, lk) in h.account.balances().items()}
        assert h.broker.balances() == totals

    run(check)


def test_lost_acknowledgement_is_looked_up_and_never_placed_twice() -> None:
    async def check(h: Harness) -> None:
        h.sim.orders.drop_next_responses(1)  # the order is placed, the answer never arrives
        request = h.order(Side.BUY, "0.01")
        await h.settle()
        assert [o.client_order_id for o in h.account.orders] == [request.client_order_id]
        assert h.kinds(request.client_order_id) == ["Accepted"]
        assert h.broker.stats["lookups"] >= 1 and h.broker.stats["create_retries"] == 0

    run(check)


def test_server_error_before_the_order_arrives_is_retried_with_the_same_client_id() -> None:
    async def check(h: Harness) -> None:
        h.sim.orders.limiter.fail_next(503)  # refused before processing: nothing placed
        request = h.order(Side.BUY, "0.01")
        await h.settle()
        assert [o.client_order_id for o in h.account.orders] == [request.client_order_id]
        assert h.kinds(request.client_order_id) == ["Accepted"]
        assert h.broker.stats["create_retries"] == 1

    run(check)


@pytest.mark.slow
def test_rate_limit_backs_everything_off_then_places_once() -> None:
    async def check(h: Harness) -> None:
        h.sim.orders.limiter.fail_next(429, 2)
        request = h.order(Side.BUY, "0.01")
        await h.settle()
        assert h.broker.gate.rate_limited == 2
        assert [o.client_order_id for o in h.account.orders] == [request.client_order_id]
        assert h.kinds(request.client_order_id) == ["Accepted"]
        assert h.broker.stats["create_retries"] == 0 and h.broker.stats["lookups"] == 0

    run(check)


def test_insufficient_funds_and_filter_failures_are_rejected_without_retry() -> None:
    async def check(h: Harness) -> None:
        broke = h.order(Side.BUY, "100")
        await h.settle()
        odd_lot = OrderRequest(h.broker.next_client_order_id(), SYMBOL, Side.BUY,
                               OrderType.LIMIT, Decimal("0.0100001"), Decimal("30000.00"), 0)
        local = h.broker.submit(odd_lot)  # checked before ccxt could truncate the amount
        rejected = [e for e in h.events if isinstance(e, Rejected)]
        assert [(e.client_order_id, e.reason) for e in rejected + local] == [
            (broke.client_order_id, RejectReason.INSUFFICIENT_FUNDS),
            (odd_lot.client_order_id, RejectReason.LOT_SIZE),
        ]
        assert "insufficient balance" in rejected[0].detail
        assert h.account.orders == [] and h.broker.open_orders() == []
        assert h.broker.stats["creates"] == 1 and h.broker.stats["create_retries"] == 0

    run(check)


def test_exchange_filter_failure_with_stale_local_rules_is_rejected_with_its_filter() -> None:
    async def check(h: Harness) -> None:
        rules = h.broker.instruments[SYMBOL]
        h.broker.instruments[SYMBOL] = replace(rules, min_notional=Decimal(0))  # stale copy
        tiny = h.order(Side.BUY, "0.00001")
        await h.settle()
        rejected = [e for e in h.events if isinstance(e, Rejected)]
        assert [(e.client_order_id, e.reason) for e in rejected] == [
            (tiny.client_order_id, RejectReason.MIN_NOTIONAL)]
        assert "Filter failure: MIN_NOTIONAL" in rejected[0].detail
        assert h.broker.stats["create_retries"] == 0

    run(check)


def test_cancel_of_an_order_that_filled_meanwhile_reconciles_to_its_fills() -> None:
    async def check(h: Harness) -> None:
        request = h.order(Side.BUY, "0.01")
        await h.broker.drain()
        for _ in range(30):  # the broker does not poll: it has not seen the fill yet
            await h.sim.step(1)
            if not h.account.open_orders():
                break
        assert h.kinds(request.client_order_id) == ["Accepted"]
        h.broker.cancel(request.client_order_id, h.sim.now_ms)
        await h.broker.drain()
        kinds = h.kinds(request.client_order_id)
        assert kinds[-1] == "Filled" and "Canceled" not in kinds
        assert h.broker.stats["cancel_reconciles"] == 1

    run(check, poll_interval_s=60.0)


def test_cancel_of_a_resting_order_reports_the_unfilled_rest() -> None:
    async def check(h: Harness) -> None:
        low = Decimal("1000.00")  # far below the market: never fills
        request = h.order(Side.BUY, "0.01", low)
        await h.settle()
        h.broker.cancel(request.client_order_id, h.sim.now_ms)
        await h.broker.drain()
        canceled = [e for e in h.events if isinstance(e, Canceled)]
        assert [(e.client_order_id, e.remaining) for e in canceled] == [
            (request.client_order_id, Decimal("0.01"))]
        assert h.account.orders[0].status == "CANCELED"
        assert h.broker.free_balances()["USDT"] == Decimal(10_000)

    run(check)


def test_restart_adopts_the_exchanges_orders_and_drops_ones_it_never_got() -> None:
    async def check(h: Harness) -> None:
        request = h.order(Side.BUY, "0.01", Decimal("1000.00"))
        await h.settle()
        exchange = make_exchange("binance", KEY, SECRET, rest_url=h.sim.rest_url, rate_limit_ms=5)
        reborn = CcxtBroker(exchange, h.sim.instruments, gate=RequestGate(100),
                            policy=LivePolicy(poll_interval_s=0.05))
        events: list[OrderEvent] = []
        reborn.listener = events.extend
        await reborn.start()
        never_sent = OrderRequest("E-99999999", SYMBOL, Side.BUY, OrderType.LIMIT,
                                  Decimal("0.01"), Decimal("1000.00"), h.sim.now_ms)
        reborn.restore_open_order(request, request.amount)
        reborn.restore_open_order(never_sent, never_sent.amount)
        worker = asyncio.create_task(reborn.run())
        try:
            await reborn.drain()
            assert [o.client_order_id for o in reborn.open_orders()] == [request.client_order_id]
            assert [(type(e), e.client_order_id) for e in events] == [
                (Rejected, never_sent.client_order_id)]
            reborn.cancel(request.client_order_id, h.sim.now_ms)
            await reborn.drain()
            assert isinstance(events[-1], Canceled) and h.account.open_orders() == []
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            await reborn.close()
        assert not any(isinstance(e, Accepted) for e in events)  # the ledger has it already

    run(check)
