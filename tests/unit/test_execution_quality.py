"""Expected vs realized execution of one order: the arithmetic on hand-made orders."""

from __future__ import annotations

import math
from decimal import Decimal as D

import pytest

from model.fills import FillParams
from model.instruments import Side
from model.orders import OrderType
from trading.execution_quality import (
    DecisionQuote,
    FillPoint,
    Outcome,
    expect,
    realize,
    resting_fill_share,
    slippage_bps,
)

PARAMS = FillParams()  # 10 levels growing 1.2x, 1 tick apart; max_volume_share 0.1
NAN = math.nan
GRID = {"tick": 0.01, "through_volume_share": 1.0}  # of the quotes below; the default rule
MID = 100.005  # of the quotes below: bid 100.00, ask 100.01


def quoted(bid_qty: float = 1.0, ask_qty: float = 1.0, volume: float = 50.0,
           sigma: float = 0.001) -> DecisionQuote:
    """A feed quote 100.00 / 100.01 with the given top sizes."""
    return DecisionQuote(last=100.0, bid=100.0, ask=100.01, bid_qty=bid_qty, ask_qty=ask_qty,
                         volume_per_min=volume, sigma_per_min=sigma, tick=0.01, lot=0.001)


def test_a_market_buy_walks_the_synthesized_book_touch_plus_modeled_slippage() -> None:
    # given 1 at 100.01 and 1.2 at 100.02 (level 1 = top x 1.2)
    # when a market buy of 2 is expected
    e = expect(Side.BUY, OrderType.MARKET, D("2"), None, quoted(), PARAMS, ts_ms=0,
               horizon_min=5)
    # then it takes 1 @ 100.01 and 1 @ 100.02: 100.015 on average, all of it at once
    assert e.expected_price == pytest.approx(100.015)
    assert e.reference_price == pytest.approx(MID)
    assert e.expected_slippage_bps == pytest.approx((100.015 - MID) / MID * 1e4)
    assert e.marketable and e.fill_probability == 1.0 and e.queue_ahead is None


def test_a_market_sell_walks_down_the_bids_and_its_slippage_is_a_cost_too() -> None:
    e = expect(Side.SELL, OrderType.MARKET, D("2"), None, quoted(), PARAMS, ts_ms=0,
               horizon_min=5)
    assert e.expected_price == pytest.approx(99.995)  # 1 @ 100.00, 1 @ 99.99
    assert e.expected_slippage_bps == pytest.approx((MID - 99.995) / MID * 1e4)
    assert e.expected_slippage_bps > 0


def test_a_passive_buy_at_the_bid_expects_its_limit_and_queues_behind_the_bid_size() -> None:
    # given the bid holds 4, 50 trade per minute, a 5 minute horizon
    e = expect(Side.BUY, OrderType.LIMIT, D("1"), D("100.00"), quoted(bid_qty=4.0), PARAMS,
               ts_ms=0, horizon_min=5)
    # then: limit price, earning half the spread; V = 1/2 x 50 x 5 = 125 on the bid side,
    # 121 beyond the queue, of which the order may take 10 % (12.5) >= its 1: fills for sure
    assert e.expected_price == 100.0
    assert e.expected_slippage_bps == pytest.approx((100.0 - MID) / MID * 1e4)
    assert e.queue_ahead == pytest.approx(4.0)
    assert not e.marketable
    assert e.fill_probability == pytest.approx(1.0)
    assert e.horizon_ms == 300_000


def through_the_bid_in_5_min(sigma: float = 0.001) -> float:
    """The chance the price trades one tick (0.01) below a 100.00 bid within 5 minutes."""
    return math.erfc(math.log(100.0 / 99.99) / (sigma * math.sqrt(10.0)))


def test_a_big_passive_buy_fills_whole_through_its_price_and_its_cap_on_a_touch() -> None:
    # V = 125 on the bid side: a trade through 100.00 fills all 50 (the fill model's through
    # rule); a mere touch lets it take 10 % of V = 12.5 of 50, a quarter
    e = expect(Side.BUY, OrderType.LIMIT, D("50"), D("100.00"), quoted(bid_qty=4.0), PARAMS,
               ts_ms=0, horizon_min=5)
    through = through_the_bid_in_5_min()
    assert 0.95 < through < 0.97
    assert e.fill_probability == pytest.approx(through + (1 - through) * 12.5 / 50)


def test_a_queue_longer_than_the_volume_leaves_only_the_fills_through_its_price() -> None:
    e = expect(Side.BUY, OrderType.LIMIT, D("1"), D("100.00"), quoted(bid_qty=200.0), PARAMS,
               ts_ms=0, horizon_min=5)
    assert e.queue_ahead == pytest.approx(200.0)
    assert e.fill_probability == pytest.approx(through_the_bid_in_5_min())
    still = expect(Side.BUY, OrderType.LIMIT, D("1"), D("100.00"),
                   quoted(bid_qty=200.0, sigma=0.0), PARAMS, ts_ms=0, horizon_min=5)
    assert still.fill_probability == 0.0  # a price that never moves never trades through


def test_a_buy_behind_the_bid_needs_the_price_to_come_down_to_it_first() -> None:
    # 10 ticks below a 100.00 bid, sigma 0.1 % per minute, 5 minutes
    share = resting_fill_share(99.9, 100.0, Side.BUY, 1.0, 0.0, 50.0, 0.001, 0.1, 5.0, **GRID)
    reach = math.erfc(abs(math.log(99.9 / 100.0)) / (0.001 * math.sqrt(10.0)))
    assert share == pytest.approx(reach)
    assert 0.6 < share < 0.7
    # a price that does not move never reaches it; one at or above the bid needs no move
    assert resting_fill_share(99.9, 100.0, Side.BUY, 1.0, 0.0, 50.0, 0.0, 0.1, 5.0, **GRID) == 0.0
    assert resting_fill_share(100.0, 100.0, Side.BUY, 1.0, 0.0, 50.0, 0.0, 0.1, 5.0, **GRID) == 1.0


def test_a_sell_above_the_ask_mirrors_a_buy_below_the_bid() -> None:
    buy = resting_fill_share(99.9, 100.0, Side.BUY, 1.0, 0.0, 50.0, 0.001, 0.1, 5.0, **GRID)
    sell = resting_fill_share(100.0 / 0.999, 100.0, Side.SELL, 1.0, 0.0, 50.0, 0.001, 0.1, 5.0, **GRID)
    assert sell == pytest.approx(buy)


def test_without_a_feed_quote_the_book_is_the_fill_models_bar_book_at_the_last_price() -> None:
    # no bid/ask: bid = last, ask = last + 1 tick, each 8 % of the volume per minute (4 of 50)
    bare = DecisionQuote(last=100.0, bid=NAN, ask=NAN, bid_qty=NAN, ask_qty=NAN,
                         volume_per_min=50.0, sigma_per_min=0.001, tick=0.01, lot=0.001)
    assert bare.book(PARAMS) == pytest.approx((100.0, 100.01, 4.0, 4.0))
    e = expect(Side.BUY, OrderType.LIMIT, D("1"), D("100.00"), bare, PARAMS, ts_ms=0,
               horizon_min=5)
    assert e.queue_ahead == pytest.approx(4.0) and e.reference_price == pytest.approx(MID)


def test_without_a_quote_the_bar_book_is_as_wide_as_the_symbols_estimated_spread() -> None:
    # a 33 bps spread at 100 on a 0.01 tick: 33 ticks, as the paper broker prices a bar
    wide = DecisionQuote(last=100.0, bid=NAN, ask=NAN, bid_qty=NAN, ask_qty=NAN,
                         volume_per_min=50.0, sigma_per_min=0.001, tick=0.01, lot=0.001,
                         spread=0.0033)
    assert wide.book(PARAMS)[:2] == pytest.approx((100.0, 100.33))
    e = expect(Side.BUY, OrderType.MARKET, D("1"), None, wide, PARAMS, ts_ms=0,
               horizon_min=5)
    assert e.expected_price == pytest.approx(100.33)
    assert e.expected_slippage_bps == pytest.approx(0.165 / 100.165 * 1e4)  # half the spread


def test_a_marketable_limit_takes_what_the_book_has_up_to_its_price_and_rests_the_rest() -> None:
    # 1 at 100.01 within a 100.01 limit, the other 1 rests first in the queue at 100.01
    e = expect(Side.BUY, OrderType.LIMIT, D("2"), D("100.01"), quoted(), PARAMS, ts_ms=0,
               horizon_min=5)
    assert e.marketable and e.expected_price == pytest.approx(100.01)
    assert e.queue_ahead == pytest.approx(0.0)
    assert e.fill_probability == pytest.approx(1.0)  # 1 taken + 1 of the 12.5 fillable


def test_slippage_is_a_cost_for_both_sides() -> None:
    assert slippage_bps(Side.BUY, 101.0, 100.0) == pytest.approx(100.0)
    assert slippage_bps(Side.SELL, 99.0, 100.0) == pytest.approx(100.0)
    assert slippage_bps(Side.SELL, 101.0, 100.0) == pytest.approx(-100.0)


@pytest.mark.parametrize(("points", "order_type", "outcome", "share", "in_horizon", "price",
                          "ttf"), [
    ([(60_000, "100", "1"), (120_000, "102", "1")], OrderType.LIMIT, Outcome.FILLED, 1.0,
     1.0, D("101"), 120_000),
    ([(60_000, "100", "1"), (600_000, "102", "1")], OrderType.LIMIT, Outcome.FILLED, 1.0,
     0.5, D("101"), 600_000),
    ([(60_000, "100", "0.5")], OrderType.LIMIT, Outcome.PARTIALLY_FILLED, 0.25, 0.25,
     D("100"), 60_000),
    ([], OrderType.LIMIT, Outcome.CANCELED, 0.0, 0.0, None, None),
    ([], OrderType.MARKET, Outcome.EXPIRED, 0.0, 0.0, None, None),
])
def test_realized_average_price_shares_slippage_and_time_to_fill(
        points: list[tuple[int, str, str]], order_type: OrderType, outcome: Outcome,
        share: float, in_horizon: float, price: D | None, ttf: int | None) -> None:
    # given a buy of 2 placed at t=0 against a 100.00 mid, horizon 5 minutes
    fills = [FillPoint(ts, D(p), D(a)) for ts, p, a in points]
    r = realize(Side.BUY, order_type, D("2"), 0, 100.0, 300_000, fills)
    assert r.outcome is outcome
    assert r.filled_share == pytest.approx(share)
    assert r.filled_share_in_horizon == pytest.approx(in_horizon)
    assert r.avg_fill_price == price
    assert r.time_to_fill_ms == ttf
    if price is None:
        assert r.realized_slippage_bps is None
    else:
        assert r.realized_slippage_bps == pytest.approx((float(price) - 100.0) / 100.0 * 1e4)


def test_a_rejected_order_is_realized_as_rejected_whatever_else() -> None:
    r = realize(Side.SELL, OrderType.LIMIT, D("1"), 0, 100.0, 300_000, [], rejected=True)
    assert r.outcome is Outcome.REJECTED and r.filled_amount == 0
