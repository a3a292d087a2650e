"""Batched bar matching is an optimization only: `on_bars` gives exactly the events that
`on_bar` bar by bar gives, in the same order, with the same balances after."""

from __future__ import annotations

import copy
from decimal import Decimal

from exchange.brokers.sim import PaperBroker
from model.fills import FillParams
from model.instruments import Instrument, Side
from model.market import Bar
from model.orders import OrderRequest, OrderType

SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT")
INSTRUMENTS = [Instrument(s, s[:3], "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("1"))
               for s in SYMBOLS]


def broker_with_orders() -> PaperBroker:
    broker = PaperBroker(INSTRUMENTS, FillParams(), {"USDT": Decimal("100000"), "AAA": Decimal("5")})
    orders = [("AAAUSDT", Side.BUY, "99.50", "2"), ("AAAUSDT", Side.SELL, "100.40", "3"),
              ("BBBUSDT", Side.BUY, "100.20", "1.5"), ("CCCUSDT", Side.BUY, "98.00", "1")]
    for symbol, side, price, amount in orders:
        broker.submit(OrderRequest(broker.next_client_order_id(), symbol, side, OrderType.LIMIT,
                                   Decimal(amount), Decimal(price), 0))
    return broker


def minute_bars(open_ms: int) -> list[Bar]:
    return [Bar("AAAUSDT", open_ms, 100.0, 100.5, 99.4, 100.1, 400.0, 40_000.0),
            Bar("BBBUSDT", open_ms, 100.3, 100.6, 100.1, 100.2, 300.0, 30_000.0),
            Bar("CCCUSDT", open_ms, 99.0, 99.5, 98.5, 99.1, 200.0, 20_000.0)]


def test_on_bars_gives_the_events_of_on_bar_one_by_one() -> None:
    batched, sequential = broker_with_orders(), broker_with_orders()
    for minute in range(3):
        bars = minute_bars(minute * 60_000)
        one_call = batched.on_bars(bars)
        one_by_one = [event for bar in bars for event in sequential.on_bar(bar)]
        assert one_call == one_by_one
    assert batched.balances() == sequential.balances()
    assert batched.open_orders() == sequential.open_orders()
    assert batched.counters() == sequential.counters() and batched.counters()[1] > 0  # it filled


def test_two_bars_of_one_symbol_fall_back_to_sequential_matching() -> None:
    batched, sequential = broker_with_orders(), broker_with_orders()
    bars = minute_bars(0)[:1] + minute_bars(60_000)[:1]
    assert batched.on_bars(bars) == [e for bar in bars for e in sequential.on_bar(bar)]
    assert copy.deepcopy(batched.balances()) == sequential.balances()
