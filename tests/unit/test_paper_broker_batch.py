"""Batched bar matching is an optimization only: `on_bars` gives exactly the events that
`on_bar` bar by bar gives, in the same order, with the same balances after."""

from __future__ import annotations

import copy
from decimal import Decimal

import numpy as np

from exchange.brokers.sim import PaperBroker
from model.fills import FillParams
from model.instruments import Instrument, Side
from model.market import Bar, BarBatch
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


def batch_of(bars: list[Bar]) -> BarBatch:
    """The same minute's bars as a replay's columnar batch."""
    def column(name: str) -> np.ndarray:
        return np.array([getattr(bar, name) for bar in bars], dtype=float)

    return BarBatch(tuple(bar.symbol for bar in bars), bars[0].open_ms, column("open"),
                    column("high"), column("low"), column("close"), column("volume"),
                    column("quote_volume"), np.array([bar.trades for bar in bars], np.int64))


def test_a_batch_meeting_no_order_leaves_the_broker_as_its_bars_do() -> None:
    """A replay's BarBatch with no open order is only seen (last close, closed-until time):
    what comes after — a marketable order priced off the quote the batch left, a cancel
    timed before and after its close, the next minute's matching — goes exactly as after
    the same bars one by one."""
    seen_as_batch, seen_as_bars = (
        PaperBroker(INSTRUMENTS, FillParams(), {"USDT": Decimal("100000")}) for _ in range(2))
    for minute in range(2):
        bars = minute_bars(minute * 60_000)
        assert seen_as_batch.on_bars(batch_of(bars)) == []
        assert seen_as_bars.on_bars(bars) == []
    results = []
    for broker in (seen_as_batch, seen_as_bars):
        events: list[object] = []
        for symbol, price, ts in (("AAAUSDT", "101.00", 60_000), ("BBBUSDT", "100.00", 60_000),
                                  ("CCCUSDT", "98.00", 130_000)):
            request = OrderRequest(broker.next_client_order_id(), symbol, Side.BUY,
                                   OrderType.LIMIT, Decimal("1"), Decimal(price), ts)
            events += broker.submit(request)
        events += broker.submit(OrderRequest(broker.next_client_order_id(), "CCCUSDT", Side.BUY,
                                             OrderType.MARKET, Decimal("2"), None, 60_000))
        reserved = broker.reserved_balances()  # a market order reserves at the quote
        events += broker.cancel(broker.open_orders()[1].client_order_id, 100_000)  # before close
        events += broker.cancel(broker.open_orders()[-1].client_order_id, 130_000)  # after it
        events += broker.on_bars(minute_bars(120_000))
        results.append((events, reserved, broker.balances(), broker.open_orders(),
                        broker.counters()))
    assert results[0] == results[1]
    assert results[0][4][1] > 0  # something filled: the comparison saw matching
