"""Paper broker: order lifecycle, rejections with reasons, exact balances, deterministic ids
and events, on the shared fill model."""

from __future__ import annotations

import random
from decimal import ROUND_CEILING
from decimal import Decimal as D

import pytest

from exchange.brokers.sim import PaperBroker
from model.fills import FillParams
from model.instruments import Instrument, Side, upbit_krw_instrument
from model.market import Bar
from model.orders import (
    Accepted,
    Canceled,
    Filled,
    Liquidity,
    OrderEvent,
    OrderRequest,
    OrderType,
    PartiallyFilled,
    Rejected,
    RejectReason,
)

BTC = Instrument(
    "BTCUSDT", "BTC", "USDT", tick=D("0.01"), lot=D("0.001"), min_notional=D(5),
    min_qty=D("0.001"), max_qty=D(9000), min_price=D("0.01"), max_price=D(1000000),
)  # fmt: skip
PARAMS = FillParams(max_volume_share=0.1, maker_fee_bps=10, taker_fee_bps=20)
FillEvent = PartiallyFilled | Filled


def broker(usdt: str = "10000", btc: str = "0", **kwargs: object) -> PaperBroker:
    balances = {"USDT": D(usdt), "BTC": D(btc)}
    return PaperBroker([BTC], PARAMS, balances, **kwargs)  # type: ignore[arg-type]


def limit(b: PaperBroker, side: Side, amount: str, price: str, ts: int = 0) -> OrderRequest:
    cid = b.next_client_order_id()
    return OrderRequest(cid, "BTCUSDT", side, OrderType.LIMIT, D(amount), D(price), ts)


def market(b: PaperBroker, side: Side, amount: str, ts: int = 0) -> OrderRequest:
    cid = b.next_client_order_id()
    return OrderRequest(cid, "BTCUSDT", side, OrderType.MARKET, D(amount), None, ts)


def bar(minute: int, o: float, h: float, low: float, c: float, v: float) -> Bar:
    return Bar("BTCUSDT", minute * 60_000, o, h, low, c, v, v * c)




def fills_of(events: list[OrderEvent]) -> list[FillEvent]:
    return [e for e in events if isinstance(e, (PartiallyFilled, Filled))]


# ---------------------------------------------------------------- lifecycle


def test_limit_buy_is_accepted_partially_filled_then_filled() -> None:
    b = broker()
    request = limit(b, Side.BUY, "1.000", "100.00")
    accepted = Accepted(request.client_order_id, "BTCUSDT", Side.BUY, OrderType.LIMIT,
                        D("1.000"), D("100.00"), 0, 0)  # fmt: skip
    assert b.submit(request) == [accepted]
    # through 100, where 0.55 of the bar's 5 traded (21 of its 191 path points): all of it
    [partial] = b.on_bar(bar(0, 100.5, 101, 99.9, 100.2, 5))
    assert isinstance(partial, PartiallyFilled)
    assert partial.price == D("100.00") and partial.liquidity is Liquidity.MAKER
    [rest] = b.on_bar(bar(1, 100.5, 101, 99, 100.2, 5_000))
    assert isinstance(rest, Filled)
    assert partial.amount + rest.amount == D("1.000")
    assert b.open_orders() == []


def test_cancel_is_pending_until_the_next_market_event() -> None:
    b = broker()
    request = limit(b, Side.BUY, "1.000", "90.00")
    b.submit(request)
    assert b.cancel(request.client_order_id, ts=1_000) == []
    assert b.open_orders()[0].cancel_requested_ms == 1_000
    events = b.on_bars([bar(1, 95, 95.5, 94.9, 95, 10)])  # above the limit: no fill
    assert events == [Canceled(request.client_order_id, "BTCUSDT", D("1.000"), 119_999, 119_999)]
    assert b.open_orders() == []
    assert b.free_balances()["USDT"] == D(10000)


def test_cancel_during_a_bar_in_progress_lets_that_bar_fill_first() -> None:
    b = broker()
    request = limit(b, Side.BUY, "1.000", "100.00")
    b.submit(request)
    b.cancel(request.client_order_id, ts=30_000)  # bar 0 runs 0 .. 59_999
    partial, canceled = b.on_bar(bar(0, 100.5, 101, 99.9, 100.2, 5))  # 0.55 at or below 100
    assert isinstance(partial, PartiallyFilled) and isinstance(canceled, Canceled)
    assert canceled.remaining == D("1.000") - partial.amount


def test_market_buy_fills_at_the_ask_as_taker_and_pays_the_taker_fee() -> None:
    b = broker()
    b.on_bars([bar(0, 100, 100.2, 99.8, 100, 50)])  # the reference price a market order needs
    request = market(b, Side.BUY, "1.200", ts=60_000)
    assert isinstance(b.submit(request)[0], Accepted)
    [event] = fills_of(b.on_bars([bar(1, 100, 100.5, 99.9, 100.2, 50)]))
    assert event.price == D("100.01")  # the bar's open plus one tick of spread
    assert event.liquidity is Liquidity.TAKER
    assert event.fee == (D("100.01") * D("1.200") * D("0.002")).quantize(D("1e-8"))
    assert event.amount == D("1.200") and isinstance(event, Filled)


# ---------------------------------------------------------------- rejections


def _reject_reason(b: PaperBroker, request: OrderRequest) -> RejectReason:
    [event] = b.submit(request)
    assert isinstance(event, Rejected), event
    assert event.detail
    return event.reason


@pytest.mark.parametrize(
    ("amount", "price", "reason", "detail"),
    [
        ("1.000", "100.001", RejectReason.PRICE_FILTER,
         "price 100.001 not a multiple of tick 0.01"),
        ("1.0005", "100.00", RejectReason.LOT_SIZE, "amount 1.0005 not a multiple of step 0.001"),
        ("0.010", "100.00", RejectReason.MIN_NOTIONAL, "notional 1 below minNotional 5"),
        ("200.000", "100.00", RejectReason.INSUFFICIENT_FUNDS,
         "need 20040.00000000 USDT, free 10000"),
    ],
)  # fmt: skip
def test_order_breaking_a_rule_is_rejected_with_reason_and_detail(
    amount: str, price: str, reason: RejectReason, detail: str
) -> None:
    b = broker()
    [event] = b.submit(limit(b, Side.BUY, amount, price))
    assert isinstance(event, Rejected)
    assert (event.reason, event.detail) == (reason, detail)
    assert b.open_orders() == [] and b.free_balances()["USDT"] == D(10000)


def test_sell_without_the_base_asset_is_rejected_for_funds() -> None:
    b = broker()
    reason = _reject_reason(b, limit(b, Side.SELL, "1.000", "100.00"))
    assert reason is RejectReason.INSUFFICIENT_FUNDS


def test_unknown_symbol_duplicate_id_and_unknown_order_are_rejected() -> None:
    b = broker()
    unknown = OrderRequest("X-1", "DOGEUSDT", Side.BUY, OrderType.LIMIT, D(1), D(1), 0)
    assert _reject_reason(b, unknown) is RejectReason.UNKNOWN_SYMBOL
    request = limit(b, Side.BUY, "1.000", "100.00")
    b.submit(request)
    assert _reject_reason(b, request) is RejectReason.DUPLICATE_CLIENT_ID
    [event] = b.cancel("E-99999999", ts=0)
    assert isinstance(event, Rejected) and event.reason is RejectReason.UNKNOWN_ORDER


def test_market_order_before_any_market_data_is_rejected() -> None:
    b = broker()
    assert _reject_reason(b, market(b, Side.BUY, "1.000")) is RejectReason.MIN_NOTIONAL


# ---------------------------------------------------------------- money


def test_buy_reserves_its_worst_case_cost_and_releases_it_when_closed() -> None:
    b = broker()
    request = limit(b, Side.BUY, "2.000", "100.00")
    b.submit(request)
    assert b.free_balances()["USDT"] == D(10000) - D("200.40")  # 200 + 20 bps fee
    b.cancel(request.client_order_id, ts=0)
    b.on_bars([bar(0, 101, 101.5, 100.9, 101, 10)])  # above the limit: ends the cancel
    assert b.free_balances()["USDT"] == D(10000) and b.reserved_balances() == {}


def random_session(seed: int) -> tuple[PaperBroker, list[OrderEvent]]:
    """A seeded mix of limit and market orders, cancels, and bars one by one or batched."""
    rng = random.Random(seed)
    b = broker(usdt="100000", btc="100")
    events: list[OrderEvent] = []
    price = 100.0
    for minute in range(60):
        ts = minute * 60_000
        for _ in range(rng.randint(0, 3)):
            side = rng.choice([Side.BUY, Side.SELL])
            amount = f"{rng.randint(60, 3000) / 1000:.3f}"
            if rng.random() < 0.25:
                events += b.submit(market(b, side, amount, ts))
            else:
                px = f"{price + rng.randint(-80, 80) / 100:.2f}"
                events += b.submit(limit(b, side, amount, px, ts))
        for order in b.open_orders():
            if rng.random() < 0.1:
                events += b.cancel(order.client_order_id, ts + rng.randint(0, 59_999))
        move = rng.uniform(-0.6, 0.6)
        o, c = round(price, 2), round(price + move, 2)
        hi, lo = max(o, c) + rng.randint(0, 40) / 100, min(o, c) - rng.randint(0, 40) / 100
        closed = bar(minute, o, hi, lo, c, rng.uniform(0, 200))
        events += b.on_bar(closed) if rng.random() < 0.5 else b.on_bars([closed])
        price = c
    return b, events


def test_same_inputs_give_identical_events_and_balances() -> None:
    first, events_1 = random_session(42)
    second, events_2 = random_session(42)
    assert len(fills_of(events_1)) > 20
    assert events_1 == events_2 and first.balances() == second.balances()


@pytest.mark.parametrize("seed", range(4))
def test_balances_move_by_exactly_amount_times_price_plus_fee(seed: int) -> None:
    b, events = random_session(seed)
    quote, base = D(100000), D(100)
    for fill in fills_of(events):
        rate = D("0.001") if fill.liquidity is Liquidity.MAKER else D("0.002")
        assert fill.fee == (fill.price * fill.amount * rate).quantize(D("1e-8"), ROUND_CEILING)
        sign = 1 if fill.side is Side.BUY else -1
        quote -= sign * fill.price * fill.amount + fill.fee
        base += sign * fill.amount
    assert b.balances() == {"USDT": quote, "BTC": base}
    assert all(v >= 0 for v in b.free_balances().values())


@pytest.mark.parametrize("seed", range(4))
def test_buys_never_fill_above_their_limit_nor_sells_below(seed: int) -> None:
    _, events = random_session(seed)
    limits = {e.client_order_id: e.price for e in events if isinstance(e, Accepted)}
    for fill in fills_of(events):
        limit_price = limits[fill.client_order_id]
        if limit_price is None:
            continue
        assert fill.price <= limit_price if fill.side is Side.BUY else fill.price >= limit_price
        assert fill.price % BTC.tick == 0 and fill.amount % BTC.lot == 0


def test_every_order_ends_in_at_most_one_terminal_event_and_no_event_after_it() -> None:
    _, events = random_session(7)
    closed: set[str] = set()
    for event in events:
        assert event.client_order_id not in closed
        if isinstance(event, (Filled, Canceled)):
            closed.add(event.client_order_id)


# ---------------------------------------------------------------- ids


def test_client_order_ids_are_unique_deterministic_and_resume_after_restart() -> None:
    b = broker()
    ids = [b.next_client_order_id() for _ in range(3)]
    assert ids == ["E-00000001", "E-00000002", "E-00000003"]
    restarted = PaperBroker([BTC], PARAMS, {}, id_prefix="E")
    restarted.restore_counters(*b.counters())
    assert restarted.next_client_order_id() == "E-00000004"


def test_trade_ids_continue_from_restored_counter() -> None:
    b = broker()
    b.restore_counters(order_seq=10, trade_seq=41)
    b.submit(limit(b, Side.BUY, "1.000", "100.00"))
    [fill] = fills_of(b.on_bar(bar(0, 100, 100.5, 98, 100.2, 5_000)))
    assert fill.client_order_id == "E-00000011" and fill.trade_id == "E-T00000042"


# ---------------------------------------------------------------- Upbit KRW


def test_krw_order_is_checked_against_the_band_tick_of_its_price() -> None:
    krw_btc = upbit_krw_instrument("BTC", 50_000_000, at_ms=1_690_000_000_000)
    b = PaperBroker([krw_btc], PARAMS, {"KRW": D(100000000)})
    bad = OrderRequest(b.next_client_order_id(), "KRW-BTC", Side.BUY, OrderType.LIMIT,
                       D("0.001"), D(50000500), 0)  # fmt: skip
    [event] = b.submit(bad)
    assert isinstance(event, Rejected) and "tick 1000" in event.detail
    good = OrderRequest(b.next_client_order_id(), "KRW-BTC", Side.BUY, OrderType.LIMIT,
                        D("0.001"), D(50000000), 0)  # fmt: skip
    assert isinstance(b.submit(good)[0], Accepted)
