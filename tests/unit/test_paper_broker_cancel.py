"""Paper broker cancels (ADR-011): a cancel no market event can fill any more ends at once and
frees its funds for an order placed in the same step; one that an event already in progress
may still fill waits for that event, as the fill model says."""

from __future__ import annotations

from decimal import Decimal as D

from exchange.brokers.sim import PaperBroker
from model.fills import FillParams
from model.instruments import Instrument, Side
from model.market import Bar
from model.orders import (
    Accepted,
    Canceled,
    Filled,
    OrderEvent,
    OrderRequest,
    OrderType,
    PartiallyFilled,
    Rejected,
)

BTC = Instrument(
    "BTCUSDT", "BTC", "USDT", tick=D("0.01"), lot=D("0.001"), min_notional=D(5),
    min_qty=D("0.001"), max_qty=D(9000), min_price=D("0.01"), max_price=D(1000000),
)  # fmt: skip
ETH = Instrument(
    "ETHUSDT", "ETH", "USDT", tick=D("0.01"), lot=D("0.001"), min_notional=D(5),
    min_qty=D("0.001"), max_qty=D(9000), min_price=D("0.01"), max_price=D(1000000),
)  # fmt: skip
PARAMS = FillParams(max_volume_share=0.1, maker_fee_bps=10, taker_fee_bps=20)
MINUTE = 60_000


def broker(usdt: str = "10000", btc: str = "0") -> PaperBroker:
    return PaperBroker([BTC, ETH], PARAMS, {"USDT": D(usdt), "BTC": D(btc)})


def limit(b: PaperBroker, side: Side, amount: str, price: str, ts: int,
          symbol: str = "BTCUSDT") -> OrderRequest:
    cid = b.next_client_order_id()
    return OrderRequest(cid, symbol, side, OrderType.LIMIT, D(amount), D(price), ts)


def bar(minute: int, o: float, h: float, low: float, c: float, v: float,
        symbol: str = "BTCUSDT") -> Bar:
    return Bar(symbol, minute * MINUTE, o, h, low, c, v, v * c)


def fills_of(events: list[OrderEvent]) -> list[PartiallyFilled | Filled]:
    return [e for e in events if isinstance(e, (PartiallyFilled, Filled))]


def test_cancel_at_a_bar_boundary_ends_at_once_and_frees_the_buys_funds() -> None:
    b = broker()
    request = limit(b, Side.BUY, "2.000", "90.00", ts=0)
    b.submit(request)
    assert b.on_bar(bar(0, 100, 101, 99, 100, 50)) == []  # far below: rests
    # Decision at 60_000, after bar 0 closed: no event that starts before it can still come.
    events = b.cancel(request.client_order_id, ts=MINUTE)
    assert events == [Canceled(request.client_order_id, "BTCUSDT", D("2.000"), MINUTE, MINUTE)]
    assert b.open_orders() == [] and b.reserved_balances() == {}
    assert b.free_balances()["USDT"] == D(10000)
    # The replacing buy may spend the whole balance again, in the same step.
    whole = limit(b, Side.BUY, "99.000", "100.00", ts=MINUTE)  # 9,900 + 20 bps = 9,919.80
    assert isinstance(b.submit(whole)[0], Accepted)
    filled = fills_of(b.on_bar(bar(1, 95, 96, 80, 85, 5_000)))
    assert filled and {f.client_order_id for f in filled} == {whole.client_order_id}
    assert all(v >= 0 for v in b.free_balances().values())


def test_replacing_sell_of_the_whole_holding_is_accepted_in_the_same_step() -> None:
    b = broker(btc="1.000")
    resting = limit(b, Side.SELL, "1.000", "120.00", ts=0)
    b.submit(resting)
    b.on_bar(bar(0, 100, 101, 99, 100, 50))
    assert b.free_balances()["BTC"] == 0
    [canceled] = b.cancel(resting.client_order_id, ts=MINUTE)
    assert isinstance(canceled, Canceled) and canceled.remaining == D("1.000")
    replacing = limit(b, Side.SELL, "1.000", "100.50", ts=MINUTE)
    assert isinstance(b.submit(replacing)[0], Accepted)  # not INSUFFICIENT_FUNDS
    filled = fills_of(b.on_bar(bar(1, 100, 102, 99.5, 101, 500)))
    assert sum(f.amount for f in filled) == D("1.000")
    assert all(f.client_order_id == replacing.client_order_id for f in filled)


def test_cancel_in_the_middle_of_a_bar_still_waits_for_that_bar() -> None:
    b = broker()
    request = limit(b, Side.BUY, "1.000", "100.00", ts=0)
    b.submit(request)
    b.on_bar(bar(0, 100.5, 101, 100.1, 100.2, 50))  # above the limit: rests
    assert b.cancel(request.client_order_id, ts=MINUTE + 30_000) == []  # bar 1 in progress
    assert b.open_orders()[0].cancel_requested_ms == MINUTE + 30_000
    assert b.free_balances()["USDT"] < D(10000)
    partial, canceled = b.on_bar(bar(1, 100.5, 101, 99.9, 100.2, 5))  # 0.55 at or below 100
    assert isinstance(partial, PartiallyFilled) and isinstance(canceled, Canceled)
    assert canceled.ts_event == 2 * MINUTE - 1  # closed by the bar, not by the request


def test_closing_the_market_ends_cancels_of_a_symbol_that_had_no_bar() -> None:
    """A minute in which ETH did not trade brings no ETH bar (ADR-003): the decision step
    declares the market closed, so a cancel requested for ETH then is final at once too."""
    b = broker()
    eth_buy = limit(b, Side.BUY, "1.000", "50.00", ts=0, symbol="ETHUSDT")
    btc_buy = limit(b, Side.BUY, "1.000", "90.00", ts=0)
    b.submit(eth_buy)
    b.submit(btc_buy)
    b.on_bars([bar(0, 100, 101, 99, 100, 50)])  # BTC only
    assert b.cancel(eth_buy.client_order_id, ts=30_000) == []  # mid-minute: may still fill
    assert b.close_market_until(MINUTE) == [
        Canceled(eth_buy.client_order_id, "ETHUSDT", D("1.000"), MINUTE, MINUTE)]
    assert [o.client_order_id for o in b.open_orders()] == [btc_buy.client_order_id]
    [event] = b.cancel(btc_buy.client_order_id, ts=MINUTE)
    assert isinstance(event, Canceled)
    assert b.free_balances()["USDT"] == D(10000) and b.open_orders() == []
    # A late ETH bar of minute 0 neither fills the cancelled order nor reopens the market.
    assert b.on_bars([bar(0, 50, 51, 40, 45, 900, symbol="ETHUSDT")]) == []
    again = limit(b, Side.BUY, "1.000", "40.00", ts=MINUTE, symbol="ETHUSDT")
    b.submit(again)
    assert isinstance(b.cancel(again.client_order_id, ts=MINUTE)[0], Canceled)


def test_an_order_cancelled_at_once_is_unknown_afterwards() -> None:
    b = broker()
    request = limit(b, Side.BUY, "1.000", "90.00", ts=0)
    b.submit(request)
    b.on_bar(bar(0, 100, 101, 99, 100, 50))
    b.cancel(request.client_order_id, ts=MINUTE)
    [again] = b.cancel(request.client_order_id, ts=MINUTE)
    assert isinstance(again, Rejected)
