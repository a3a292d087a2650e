"""Position accounting, as a pure function: average price on buys, PnL on sells, fees."""

from __future__ import annotations

from decimal import Decimal as D

from model.instruments import Side
from state.projection import next_position

ZERO = D(0)


def test_buys_average_the_entry_price_by_amount() -> None:
    amount, avg, realized = next_position(ZERO, ZERO, ZERO, Side.BUY, D(100), D(1), ZERO)
    amount, avg, realized = next_position(amount, avg, realized, Side.BUY, D(130), D(2),
                                          ZERO)
    assert (amount, avg, realized) == (D(3), D(120), ZERO)


def test_sell_realizes_the_difference_to_the_average_and_keeps_the_average() -> None:
    amount, avg, realized = next_position(D(3), D(120), ZERO, Side.SELL, D(150), D(1),
                                          ZERO)
    assert (amount, avg, realized) == (D(2), D(120), D(30))


def test_every_fee_in_quote_is_subtracted_from_realized_pnl() -> None:
    amount, avg, realized = next_position(ZERO, ZERO, ZERO, Side.BUY, D(100), D(1),
                                          D("0.1"))
    assert (avg, realized) == (D(100), D("-0.1"))  # the fee does not move the entry price
    amount, avg, realized = next_position(amount, avg, realized, Side.SELL, D(110), D(1),
                                          D("0.11"))
    assert (amount, avg, realized) == (ZERO, ZERO, D("9.79"))


def test_closing_exactly_resets_the_average() -> None:
    amount, avg, _ = next_position(D("0.3"), D(10), ZERO, Side.SELL, D(9), D("0.3"), ZERO)
    assert (amount, avg) == (ZERO, ZERO)


def test_selling_more_than_held_flips_and_the_rest_opens_at_the_fill_price() -> None:
    amount, avg, realized = next_position(D(1), D(100), ZERO, Side.SELL, D(90), D(3),
                                          ZERO)
    assert (amount, avg, realized) == (D(-2), D(90), D(-10))
    amount, avg, realized = next_position(amount, avg, realized, Side.BUY, D(80), D(2),
                                          ZERO)
    assert (amount, avg, realized) == (ZERO, ZERO, D(10))  # short covered 10 lower x 2


def test_amounts_stay_exact_where_floats_would_drift() -> None:
    amount, avg, realized = ZERO, ZERO, ZERO
    for _ in range(10):
        amount, avg, realized = next_position(amount, avg, realized, Side.BUY, D("0.1"),
                                              D("0.1"), D("0.0001"))
    assert amount == D("1.0") and avg == D("0.1") and realized == D("-0.0010")
