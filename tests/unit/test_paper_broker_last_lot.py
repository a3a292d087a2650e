"""Regression: a buy the account can pay for fills completely, to its last lot.

Reported: with equal maker and taker fees, a fully crossed resting 1 BTC buy at 99 filled
0.99999 and left 0.00001 open. Three causes, each pinned by a test below:
* the broker shaved a buy's budget by 1e-12 of its reservation, which is more than the fill
  model's lot tolerance once an order holds over ~1,000 lots (equal fees make the
  reservation exactly the cost, so the shave alone made the last lot unaffordable);
* the fill model floored float amounts of ~1e9 lots (lot 1e-8, the BTC-quoted altcoins of
  the 2017 Bittrex backtest) one lot short, with a tolerance below float resolution;
* fees rounded up per fill spend a little more than the one rounding reserved at placement,
  so after a few partial fills the reservation was short of the last lots' cost (the fill
  model now sees that rounding given back; the wallet's free cash pays it).
A lot left open after the strategy sold "the whole position" later fills on its own and
leaves an unsellable dust position (it blocked all trading in the Bittrex 2017-11 backtest).
Cash never goes negative: a fill is cut to the whole lots the account can pay.
"""

from __future__ import annotations

from decimal import ROUND_CEILING
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.brokers.sim import PaperBroker
from model.fills import FillParams
from model.instruments import Instrument, Side
from model.market import Bar
from model.orders import Filled, OrderEvent, OrderRequest, OrderType, PartiallyFilled

EQUAL_FEES = FillParams(max_volume_share=0.1, maker_fee_bps=10, taker_fee_bps=10)
BTC = Instrument(
    "BTCUSDT", "BTC", "USDT", tick=D("0.01"), lot=D("0.00001"), min_notional=D(5),
    min_qty=D("0.00001"), max_qty=D(9000), min_price=D("0.01"), max_price=D(1000000),
)  # fmt: skip
OMG = Instrument(
    "OMGBTC", "OMG", "BTC", tick=D("0.00000001"), lot=D("0.00000001"),
    min_notional=D("0.0001"), min_qty=D("0.00000001"), max_qty=D(9000000),
    min_price=D("0.00000001"), max_price=D(1000),
)  # fmt: skip
FEE_QUANTUM = D("0.00000001")


def fills_of(events: list[OrderEvent]) -> list[PartiallyFilled | Filled]:
    return [e for e in events if isinstance(e, (PartiallyFilled, Filled))]


def reservation(amount: D, price: D, rate: D) -> D:
    """What the account must hold for a limit buy: its cost with the fee, rounded up."""
    return (amount * price * (1 + rate)).quantize(FEE_QUANTUM, rounding=ROUND_CEILING)


def bar(symbol: str, minute: int, o: float, h: float, low: float, c: float, v: float) -> Bar:
    return Bar(symbol, minute * 60_000, o, h, low, c, v, v * c)


def submit_limit_buy(broker: PaperBroker, symbol: str, amount: str, price: str) -> str:
    cid = broker.next_client_order_id()
    request = OrderRequest(cid, symbol, Side.BUY, OrderType.LIMIT, D(amount), D(price), 0)
    [accepted] = broker.submit(request)
    assert accepted.client_order_id == cid and broker.open_orders(), accepted
    return cid


def test_crossed_resting_buy_with_equal_fees_fills_its_last_lot() -> None:
    """Given the account holds exactly the reservation of a 1 BTC buy at 99, when a bar
    trades far through 99 with ample volume, then all 1.00000 BTC fill and cash ends at 0."""
    cash = reservation(D(1), D(99), D("0.001"))
    broker = PaperBroker([BTC], EQUAL_FEES, {"USDT": cash, "BTC": D(0)})
    submit_limit_buy(broker, "BTCUSDT", "1.00000", "99.00")
    events = broker.on_bar(bar("BTCUSDT", 0, 99.5, 99.6, 97.0, 98.0, 10_000))
    assert sum(f.amount for f in fills_of(events)) == D(1)
    assert isinstance(events[-1], Filled) and broker.open_orders() == []
    assert broker.balances() == {"USDT": D(0), "BTC": D(1)}
    assert broker.reserved_balances() == {}


def test_crossed_buy_of_billions_of_lots_fills_completely() -> None:
    """Given an OMG/BTC buy of 46.05308093 OMG (4.6e9 lots of 1e-8) resting above the
    market, when a bar trades through it with ample volume, then every lot fills in that
    event (the Bittrex backtest case)."""
    amount, price = D("46.05308093"), D("0.00106154")
    broker = PaperBroker([OMG], EQUAL_FEES, {"BTC": D(1), "OMG": D(0)})
    submit_limit_buy(broker, "OMGBTC", str(amount), str(price))
    events = broker.on_bars([bar("OMGBTC", 0, 0.00106098, 0.00106099, 0.00106090,
                                 0.00106095, 1e6)])
    assert sum(f.amount for f in fills_of(events)) == amount
    assert isinstance(events[-1], Filled) and broker.open_orders() == []
    assert broker.balances()["OMG"] == amount and broker.reserved_balances() == {}


def fill_in_pieces(broker: PaperBroker, price: str, bars: int) -> list[PartiallyFilled | Filled]:
    """Bars trading through `price` with volume for about a quarter of the order each (a
    trade through the price fills up to all the volume at or through it)."""
    filled: list[PartiallyFilled | Filled] = []
    p = float(price)
    for minute in range(bars):
        filled += fills_of(broker.on_bar(bar("OMGBTC", minute, p, p, p * 0.99, p, 0.73)))
        assert all(v >= 0 for v in broker.balances().values())
        if not broker.open_orders():
            break
    return filled


def test_buy_filled_over_many_bars_with_rounded_fees_still_fills_its_last_lots() -> None:
    """Given a buy whose every partial fill rounds its fee up (off the 1e-8 grid) and an
    account with a little cash beside the reservation, when volume-capped bars fill it piece
    by piece, then it completes: the rounding is paid from the spare cash."""
    amount, price, spare = D("3.12345678"), D("0.00106101"), D("0.000001")
    cash = reservation(amount, price, D("0.001")) + spare
    broker = PaperBroker([OMG], EQUAL_FEES, {"BTC": cash, "OMG": D(0)})
    submit_limit_buy(broker, "OMGBTC", str(amount), str(price))
    filled = fill_in_pieces(broker, str(price), bars=40)
    assert len(filled) > 3 and isinstance(filled[-1], Filled)
    assert sum(f.amount for f in filled) == amount
    assert any(f.fee != f.price * f.amount * D("0.001") for f in filled)  # fees were rounded
    assert broker.balances()["OMG"] == amount and broker.reserved_balances() == {}
    assert broker.balances()["BTC"] == cash - sum(f.price * f.amount + f.fee for f in filled)


def test_all_in_buy_is_short_by_at_most_what_its_fee_rounding_cost() -> None:
    """Given an account holding exactly one buy's reservation, when per-fill fee rounding
    spends more than the one rounding reserved, then cash stays non-negative and what is
    left unfilled is worth no more than the rounding paid (a known limit of rounding each
    fill's fee: see `_payable` in exchange/brokers/sim.py)."""
    amount, price = D("0.86315867"), D("0.00016457")
    cash = reservation(amount, price, D("0.001"))
    broker = PaperBroker([OMG], EQUAL_FEES, {"BTC": cash, "OMG": D(0)})
    submit_limit_buy(broker, "OMGBTC", str(amount), str(price))
    filled = fill_in_pieces(broker, str(price), bars=12)
    bought = sum(f.amount for f in filled)
    rounding = sum(f.fee - f.price * f.amount * D("0.001") for f in filled)
    assert bought > 0 and rounding > 0
    assert (amount - bought) * price <= rounding + (cash - amount * price * D("1.001"))
    assert broker.balances()["BTC"] >= 0 and broker.balances()["OMG"] == bought


@settings(max_examples=60, deadline=None)
@given(
    lots=st.integers(1, 10**9),
    price_ticks=st.integers(1_000, 200_000),
    volume=st.floats(0.5, 50.0),
    spare=st.sampled_from(["0.0000001", "0.001"]),
)
def test_any_affordable_buy_fills_completely_and_cash_stays_non_negative(
    lots: int, price_ticks: int, volume: float, spare: str
) -> None:
    """Given cash of the reservation plus `spare` (at least the fee rounding of ten fills),
    when bars trade through the limit until the order closes, then it fills every lot and no
    balance ever goes below zero."""
    amount, price = lots * OMG.lot, price_ticks * OMG.tick
    if OMG.check(price, amount, is_market=False) is not None:
        return  # below the minimum notional: nothing to fill
    cash = reservation(amount, price, D("0.001")) + D(spare)
    broker = PaperBroker([OMG], EQUAL_FEES, {"BTC": cash, "OMG": D(0)})
    broker.submit(OrderRequest("E-1", "OMGBTC", Side.BUY, OrderType.LIMIT, amount, price, 0))
    through = float(price) * 0.999
    total = D(0)
    for minute in range(10):
        bar_volume = max(volume, float(amount) * 3)  # a 10% share fills it in 4 bars or less
        events = broker.on_bar(
            bar("OMGBTC", minute, float(price), float(price), through, float(price), bar_volume)
        )
        total += sum(f.amount for f in fills_of(events))
        assert all(v >= 0 for v in broker.balances().values())
        if not broker.open_orders():
            break
    assert total == amount and broker.balances()["OMG"] == amount
    assert broker.reserved_balances() == {}
