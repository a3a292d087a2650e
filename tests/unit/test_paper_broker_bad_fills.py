"""Paper broker, defence in depth: a fill the fill model computes from an absurd bar (a price
or amount that is not a finite positive number) is never booked and never raises; the order
stays open, and a WARNING names it."""

from __future__ import annotations

import logging
from decimal import Decimal as D

import pytest

from exchange.brokers.sim import PaperBroker
from model.fills import FillParams
from model.instruments import Instrument, Side
from model.market import Bar
from model.orders import Accepted, Filled, OrderRequest, OrderType

BTC = Instrument("BTCUSDT", "BTC", "USDT", tick=D("0.01"), lot=D("0.001"), min_notional=D(5))
PARAMS = FillParams(max_volume_share=0.1, maker_fee_bps=10, taker_fee_bps=20)
INF = float("inf")


def bar(minute: int, o: float, h: float, low: float, c: float, v: float) -> Bar:
    return Bar("BTCUSDT", minute * 60_000, o, h, low, c, v, v * c)


def resting_buy() -> tuple[PaperBroker, OrderRequest]:
    """A limit buy of 1 BTC at 100, accepted after a quiet minute at 100."""
    broker = PaperBroker([BTC], PARAMS, {"USDT": D(10_000), "BTC": D(0)})
    broker.on_bar(bar(0, 100, 100, 100, 100, 50))
    request = OrderRequest(broker.next_client_order_id(), "BTCUSDT", Side.BUY,
                           OrderType.LIMIT, D(1), D(100), 60_000)
    assert isinstance(broker.submit(request)[0], Accepted)
    return broker, request


def test_a_nan_fill_from_an_absurd_bar_is_skipped_with_a_warning_and_the_order_stays_open(
        caplog: pytest.LogCaptureFixture) -> None:
    broker, request = resting_buy()
    balances = broker.balances()

    with caplog.at_level(logging.WARNING, logger="exchange.brokers.sim"):
        # close 1e308 and an infinite volume: the fill model's amount is 0 x inf = NaN
        events = broker.on_bars([bar(1, 100, 101, 99, 1e308, INF)])

    assert events == []
    [order] = broker.open_orders()
    assert order.client_order_id == request.client_order_id and order.remaining == D(1)
    assert broker.balances() == balances and broker.counters() == (1, 0)
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert request.client_order_id in warning.getMessage() and "BTCUSDT" in warning.getMessage()


def test_after_a_skipped_fill_the_order_fills_on_the_next_sound_bar_with_the_next_trade_id(
        ) -> None:
    broker, request = resting_buy()
    broker.on_bars([bar(1, 100, 101, 99, 1e308, INF)])

    [fill] = broker.on_bars([bar(2, 100.5, 101, 99, 100.2, 5_000)])

    assert isinstance(fill, Filled) and fill.client_order_id == request.client_order_id
    assert fill.trade_id == "E-T00000001" and fill.price == D("100.00") and fill.amount == D(1)
