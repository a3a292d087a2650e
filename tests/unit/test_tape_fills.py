"""Replaying a trade tape against resting orders at the touch (model/tape_fills.py): one
hand-made tape per rule, price-time priority, the touch and queue the orders join."""

from __future__ import annotations

import numpy as np
import pytest

from model.fill_kernel import BUY, SELL
from model.tape_fills import (
    Quotes,
    TapeError,
    Touch,
    grid_step,
    make_tape,
    orders_at_touch,
    replay,
    revealed_touch_sizes,
    tape_fill,
    touch_from_quotes,
    touch_from_tape,
)

TICK = 0.01


def tape_of(*trades: tuple[int, float, float, int]):  # type: ignore[no-untyped-def]
    """(ts_ms, price, amount, taker side) rows -> a Tape."""
    ts, price, amount, side = zip(*trades, strict=True)
    return make_tape(np.array(ts), np.array(price), np.array(amount), np.array(side))


# A buy resting at 100.00 with 5 ahead of it, 2 to fill.
@pytest.mark.parametrize(("trades", "filled"), [
    # the queue ahead eaten exactly, then our 2: filled
    ([(1, 100.0, 3, SELL), (2, 100.0, 4, SELL)], 2.0),
    # the queue eaten exactly and no more: nothing reaches us yet
    ([(1, 100.0, 5, SELL)], 0.0),
    # one more than the queue: a partial fill of 1
    ([(1, 100.0, 2, SELL), (2, 100.0, 4, SELL)], 1.0),
    # a trade through the price took the level, the queue ahead with it: its amount is ours
    ([(1, 99.99, 0.5, SELL)], 0.5),
    ([(1, 99.99, 0.5, SELL), (2, 99.98, 3, SELL)], 2.0),
    # after a through trade nobody is ahead: the next seller at our price reaches us at once
    ([(1, 99.99, 0.5, SELL), (2, 100.0, 1, SELL)], 1.5),
    # a buyer's trade below our bid (the ask came down through it) fills it too
    ([(1, 99.98, 0.5, BUY)], 0.5),
    # buyers lifting offers at our price do not reach a resting buy
    ([(1, 100.0, 50, BUY)], 0.0),
    # no trade at or through the price: unfilled
    ([(1, 100.01, 50, SELL), (2, 100.05, 50, BUY)], 0.0),
])
def test_a_resting_buy_fills_by_price_time_priority(trades: list, filled: float) -> None:
    assert tape_fill(BUY, 100.0, 2.0, 5.0, tape_of(*trades), TICK) == pytest.approx(filled)


def test_under_the_whole_rule_any_trade_through_the_price_fills_all_of_it() -> None:
    for trades in ([(1, 99.99, 0.001, SELL)], [(1, 99.98, 0.5, BUY)]):
        assert tape_fill(BUY, 100.0, 2.0, 5.0, tape_of(*trades), TICK, "whole") == 2.0
    # at the price the two rules agree: only what passes the queue ahead is ours
    at_price = tape_of((1, 100.0, 2, SELL), (2, 100.0, 4, SELL))
    assert tape_fill(BUY, 100.0, 2.0, 5.0, at_price, TICK, "whole") == pytest.approx(1.0)


def test_an_unknown_through_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="volume, whole"):
        tape_fill(BUY, 100.0, 2.0, 5.0, tape_of((1, 99.0, 1, SELL)), TICK, "all")


def test_a_resting_sell_mirrors_the_buy() -> None:
    trades = tape_of((1, 100.0, 3, BUY), (2, 100.0, 3, SELL), (3, 100.0, 3, BUY))
    assert tape_fill(SELL, 100.0, 2.0, 5.0, trades, TICK) == pytest.approx(1.0)
    assert tape_fill(SELL, 100.0, 2.0, 500.0, tape_of((1, 100.01, 0.1, BUY)), TICK) == (
        pytest.approx(0.1))
    assert tape_fill(SELL, 100.0, 2.0, 500.0, tape_of((1, 100.01, 0.1, BUY)), TICK,
                     "whole") == 2.0


def test_replay_counts_trades_from_placement_until_the_horizon_ends() -> None:
    tape = tape_of((999, 99.0, 1, SELL), (1_000, 100.0, 1, SELL), (1_500, 100.0, 1, SELL),
                   (2_000, 99.0, 1, SELL))
    orders = orders_at_touch(np.array([1_000]), Touch(np.array([100.0]), np.array([100.01]),
                                                      np.array([0.0]), np.array([0.0])), 5.0)
    filled = replay(tape, orders, 1_000, TICK)  # [1000, 2000): the 99.0 at 2000 is too late
    assert filled.tolist() == [2.0, 0.0]  # the buy got both trades at its price; no sell fill


def test_the_touch_from_the_tape_is_the_last_hit_bid_and_lifted_ask() -> None:
    tape = tape_of((1, 100.0, 1, SELL), (2, 100.03, 1, BUY), (3, 100.01, 1, SELL),
                   (4, 100.05, 1, SELL))
    touch = touch_from_tape(tape, np.array([1, 2, 4, 5]), TICK)
    # at 1: nothing before; at 2: no buyer yet; at 4: bid 100.01 ask 100.03; at 5: a seller
    # hit 100.05, above the last ask: the newer side stands, the ask goes a tick above it
    assert np.isnan(touch.bid[0]) and np.isnan(touch.ask[1])
    assert (touch.bid[2], touch.ask[2]) == (100.01, 100.03)
    assert (touch.bid[3], touch.ask[3]) == pytest.approx((100.05, 100.06))
    assert np.all(np.isnan(touch.bid_size))


def test_the_touch_from_quotes_is_the_last_quote_at_or_before() -> None:
    quotes = Quotes(np.array([10, 20]), np.array([1.0, 2.0]), np.array([5.0, 6.0]),
                    np.array([1.1, 2.1]), np.array([7.0, 8.0]))
    touch = touch_from_quotes(quotes, np.array([5, 10, 19, 25]))
    assert np.isnan(touch.bid[0])
    assert touch.bid[1:].tolist() == [1.0, 1.0, 2.0]
    assert touch.ask_size[1:].tolist() == [7.0, 7.0, 8.0]
    orders = orders_at_touch(np.array([5, 10, 19, 25]), touch, 1.0)
    assert orders.side.tolist() == [BUY] * 3 + [SELL] * 3  # none before the first quote
    assert orders.queue_ahead.tolist() == [5.0, 5.0, 6.0, 7.0, 7.0, 8.0]


def test_a_sweep_reveals_the_whole_touch_it_emptied() -> None:
    tape = tape_of((1, 100.0, 4, SELL), (1, 99.99, 2, SELL),  # a seller sweeps two bids
                   (2, 100.02, 7, BUY),  # a lone buy reveals nothing
                   (3, 100.02, 3, BUY), (3, 100.03, 9, BUY), (3, 100.04, 1, BUY))
    assert revealed_touch_sizes(tape, SELL).tolist() == [4.0]
    assert revealed_touch_sizes(tape, BUY).tolist() == [3.0]


def test_grid_step_is_the_coarsest_power_of_ten_the_values_sit_on() -> None:
    assert grid_step(np.array([0.00141342, 0.0014126])) == pytest.approx(1e-8)
    assert grid_step(np.array([23.0, 581.0])) == 1.0
    assert grid_step(np.array([39432.48, 39439.4])) == pytest.approx(0.01)


@pytest.mark.parametrize(("ts", "price", "amount", "side", "says"), [
    ([], [], [], [], "no trades"),
    ([2, 1], [1.0, 1.0], [1.0, 1.0], [BUY, BUY], "backwards"),
    ([1], [0.0], [1.0], [BUY], "<= 0"),
    ([1], [1.0], [1.0], [0], "taker side"),
])
def test_a_tape_that_cannot_be_replayed_is_refused(ts: list, price: list, amount: list,
                                                   side: list, says: str) -> None:
    with pytest.raises(TapeError, match=says):
        make_tape(np.array(ts, np.int64), np.array(price), np.array(amount), np.array(side))
