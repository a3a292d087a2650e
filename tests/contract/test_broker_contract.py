"""The broker contract, once for every broker: order lifecycle, cancel, partial fill, lost
order. The paper broker meets the simulator's closed bars; the ccxt broker sends real
signed requests to the simulator's order endpoints with the real ccxt client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest

from model.orders import (
    Accepted,
    Canceled,
    Filled,
    PartiallyFilled,
    Rejected,
    RejectReason,
)
from tests.contract.harness import BROKERS, BrokerHarness, limit_buy, run_broker
from trading.broker import Broker


def run(kind: str, scenario: Callable[[BrokerHarness], Awaitable[None]]) -> None:
    run_broker(BROKERS[kind], scenario)


def of(harness: BrokerHarness, cid: str) -> list[object]:
    return [e for e in harness.events if getattr(e, "client_order_id", None) == cid]


def fills(events: list[object]) -> Decimal:
    return sum((e.amount for e in events if isinstance(e, (PartiallyFilled, Filled))), Decimal(0))


@pytest.fixture(params=sorted(BROKERS))
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


def test_every_broker_speaks_the_whole_protocol_the_trader_uses(kind: str) -> None:
    """The trader asks the broker, never its class, how paper and live differ
    (trading/broker.py): each broker declares every member, the two rules included."""
    async def scenario(h: BrokerHarness) -> None:
        assert isinstance(h.broker, Broker)
        assert isinstance(h.broker.balances_run_ahead, bool)
        assert isinstance(h.broker.cancel_may_still_fill, bool)
        assert h.broker.close_market_until(h.sim.now_ms) == []  # no cancel pending: none ends

    run(kind, scenario)


def test_order_lifecycle_accepted_then_filled_once(kind: str) -> None:
    async def scenario(h: BrokerHarness) -> None:
        h.submit(limit_buy(h, "C-life", 1.02, "0.01"))  # marketable: fills next minute
        await h.minutes(2)
        events = of(h, "C-life")
        assert isinstance(events[0], Accepted)
        assert isinstance(events[-1], Filled) and sum(isinstance(e, Filled) for e in events) == 1
        assert fills(events) == Decimal("0.01")
        assert h.broker.balances().get("BTC", Decimal(0)) == Decimal("0.01")
        assert not h.broker.open_orders()

    run(kind, scenario)


def test_cancel_ends_the_order_with_its_remaining_and_frees_the_funds(kind: str) -> None:
    async def scenario(h: BrokerHarness) -> None:
        h.submit(limit_buy(h, "C-cancel", 0.5, "0.01"))  # far below the market: rests
        await h.minutes(1)
        assert h.broker.free_balances()[h.quote] < h.quote_balance
        h.cancel("C-cancel", h.sim.now_ms)
        await h.minutes(1)
        events = of(h, "C-cancel")
        assert [type(e) for e in events] == [Accepted, Canceled]
        assert events[-1].remaining == Decimal("0.01")  # type: ignore[attr-defined]
        assert h.broker.free_balances()[h.quote] == h.quote_balance
        h.cancel("C-cancel", h.sim.now_ms)  # cancelling it again: the broker says unknown
        await h.minutes(0)
        again = of(h, "C-cancel")[-1]
        assert isinstance(again, Rejected) and again.reason is RejectReason.UNKNOWN_ORDER

    run(kind, scenario)


def test_partial_fills_add_up_and_a_cancel_ends_the_rest(kind: str) -> None:
    async def scenario(h: BrokerHarness) -> None:
        # far more than 10% of a minute's volume: the fill model fills it in parts
        h.submit(limit_buy(h, "C-part", 1.02, "2000"))
        await h.minutes(1)
        partial = [e for e in of(h, "C-part") if isinstance(e, PartiallyFilled)]
        assert partial, of(h, "C-part")
        assert all(e.remaining > 0 for e in partial)
        h.cancel("C-part", h.sim.now_ms)
        await h.minutes(1)
        events = of(h, "C-part")
        assert isinstance(events[-1], Canceled)
        assert fills(events) + events[-1].remaining == Decimal(2000)  # type: ignore[attr-defined]
        assert h.broker.balances().get("BTC", Decimal(0)) == fills(events)

    run(kind, scenario)


def test_an_order_whose_acknowledgement_is_lost_exists_once(kind: str) -> None:
    async def scenario(h: BrokerHarness) -> None:
        lost = h.lose_next_acknowledgement()
        h.submit(limit_buy(h, "C-lost", 0.9, "0.01"))
        await h.minutes(1)
        accepted = [e for e in of(h, "C-lost") if isinstance(e, Accepted)]
        assert len(accepted) == 1 and h.exchange_orders("C-lost") == 1
        assert [o.client_order_id for o in h.broker.open_orders()] == ["C-lost"]
        h.submit(limit_buy(h, "C-lost", 0.9, "0.01"))  # a retry with the same client id
        await h.minutes(0)
        assert isinstance(of(h, "C-lost")[-1], Rejected) and h.exchange_orders("C-lost") == 1
        if kind != "paper":
            assert lost and h.broker.stats["lookups"] >= 1  # it asked instead of re-sending

    run(kind, scenario)
