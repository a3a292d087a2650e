"""The simulated exchange's account: matching by the one fill model, locks, fees, cancels;
and the live broker's request gate. Pure: no sockets, times passed in."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exchange.brokers.ccxt_client import RequestGate, dialect_for, make_exchange
from exchange.sim.account import Execution, MinuteBar, SimAccount, TopOfBook
from exchange.sim.auth import ApiError
from model.fills import FillParams
from model.instruments import Instrument, Side
from model.orders import OrderType

BTC = Instrument("BTCUSDT", "BTC", "USDT", tick=Decimal("0.01"), lot=Decimal("0.00001"),
                 min_notional=Decimal(5))
BOOK = TopOfBook(last=100.0, bid=100.0, ask=100.01, bid_qty=2.0, ask_qty=2.0)
T0 = 1_700_000_040_000


def account() -> tuple[SimAccount, list[tuple[list[Execution], list[str]]]]:
    acc = SimAccount.open({"BTCUSDT": BTC}, {"USDT": Decimal(1000)}, FillParams())
    heard: list[tuple[list[Execution], list[str]]] = []
    acc.listeners.append(lambda executions, assets, ts: heard.append((executions, assets)))
    return acc, heard


def bar(open_ms: int, o: float, h: float, low: float, c: float, v: float = 10_000.0) -> MinuteBar:
    return MinuteBar("BTCUSDT", open_ms, o, h, low, c, v)


def test_resting_buy_locks_cost_plus_worst_fee_and_fills_when_a_bar_trades_through() -> None:
    acc, heard = account()
    order = acc.place("BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal(1), Decimal("99.00"),
                      "a", T0, BOOK)
    assert order.status == "NEW" and acc.balances()["USDT"] == (Decimal("900.90100000"),
                                                                 Decimal("99.09900000"))
    acc.on_bars([bar(T0 - 60_000, 100, 101, 98, 100)])  # opened before the order: not met
    assert order.status == "NEW"
    acc.on_bars([bar(T0, 100, 101, 98, 100)])
    assert order.status == "FILLED" and order.update_ms == T0 + 60_000
    fee = Decimal("0.09900000")  # 10 bps maker, in quote
    assert acc.balances() == {"USDT": (Decimal(1000) - Decimal("99.00") - fee, Decimal(0)),
                              "BTC": (Decimal(1), Decimal(0))}
    kinds = [e.kind for executions, _ in heard for e in executions]
    assert kinds == ["NEW", "TRADE"] and heard[-1][1] == ["BTC", "USDT"]
    assert acc.trades[0].is_maker and acc.trades[0].commission == fee


def test_market_buy_takes_the_ask_at_once_as_taker() -> None:
    acc, _ = account()
    order = acc.place("BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.5"), None, "m", T0, BOOK)
    assert order.status == "FILLED" and order.executed_qty == Decimal("0.5")
    assert [(t.price, t.is_maker) for t in acc.trades] == [(Decimal("100.01"), False)]
    assert acc.balances()["USDT"][1] == 0  # nothing stays locked


def test_cancel_is_immediate_and_releases_the_lock() -> None:
    acc, heard = account()
    acc.place("BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal(1), Decimal("99.00"), "c", T0, BOOK)
    acc.cancel("BTCUSDT", None, "c", T0 + 5)
    assert acc.balances() == {"USDT": (Decimal(1000), Decimal(0))}
    acc.on_bars([bar(T0, 100, 101, 90, 95)])  # would have filled: it is gone
    assert acc.trades == [] and heard[-1][0][0].kind == "CANCELED"
    with pytest.raises(ApiError) as unknown:
        acc.cancel("BTCUSDT", None, "c", T0 + 6)
    assert unknown.value.code == -2011


@pytest.mark.parametrize(("qty", "price", "code", "msg"), [
    ("1.000001", "99.00", -1013, "Filter failure: LOT_SIZE"),
    ("1", "99.001", -1013, "Filter failure: PRICE_FILTER"),
    ("0.01", "99.00", -1013, "Filter failure: MIN_NOTIONAL"),
    ("11", "99.00", -2010, "Account has insufficient balance for requested action."),
])
def test_refusals_carry_binance_codes(qty: str, price: str, code: int, msg: str) -> None:
    acc, heard = account()
    with pytest.raises(ApiError) as refused:
        acc.place("BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal(qty), Decimal(price), "r", T0,
                  BOOK)
    assert (refused.value.code, refused.value.msg) == (code, msg)
    assert acc.orders == [] and heard == [] and acc.balances()["USDT"] == (Decimal(1000), 0)


def test_gate_honours_retry_after_and_doubles_its_penalty_until_calm() -> None:
    now = [100.0]
    gate = RequestGate(10, clock=lambda: now[0])
    assert gate.back_off(retry_after_s=3) == 3 and gate.paused_s == 3
    assert gate.back_off(None) == 2 and gate.back_off(None) == 4
    now[0] += 10
    assert gate.paused_s == 0
    gate.calm()
    assert gate.back_off(None) == 1 and gate.rate_limited == 4


def test_exchange_clients_point_at_a_local_server_and_have_budgets() -> None:
    binance = make_exchange("binance", "k", "s", rest_url="http://127.0.0.1:9")
    upbit = make_exchange("upbit", "k", "s", rest_url="http://127.0.0.1:9")
    assert binance.urls["api"]["private"] == "http://127.0.0.1:9/api/v3"
    assert upbit.urls["api"]["private"] == "http://127.0.0.1:9" and upbit.hostname == "127.0.0.1:9"
    assert dialect_for("binance").requests_per_s == 10 and dialect_for("kraken").name == "generic"
    with pytest.raises(ValueError, match="ccxt has no exchange"):
        make_exchange("nope", "k", "s")
