"""The fill model's predicted fill rate for resting orders at the touch against a tape's
(model/tape_compare.py): on a synthetic market where both are known by hand, the fits
recovering known parameters, and (with ENTASIS_SHARED_DATA set) the real XRP/ETH tape."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from model.fill_kernel import BUY, SELL
from model.fills import FillParams
from model.tape_compare import (
    Bars,
    bars_from_tape,
    compare,
    first_half,
    fit_param,
    predicted,
)
from model.tape_fills import TouchOrders, orders_at_touch, touch_from_tape
from tests.tape_data import ORDER_AMOUNT, START_MS, steady_bars, steady_tape

TICK, LOT = 0.01, 1.0
MINUTE_MS = 60_000


def steady_orders() -> TouchOrders:
    """A buy at the bid and a sell at the ask of 5 at every minute but the first (no touch
    is known before any trade) and the last (two minutes must lie ahead), at the front of
    the queue."""
    opens = steady_bars().open_ms[:-1]
    return orders_at_touch(opens, touch_from_tape(steady_tape(), opens, TICK), ORDER_AMOUNT,
                           (0.0, 0.0))


def test_bars_built_from_the_tape_are_its_ohlcv_per_minute() -> None:
    built, expected = bars_from_tape(steady_tape(), MINUTE_MS), steady_bars()
    for column in Bars.__dataclass_fields__:
        assert np.array_equal(getattr(built, column), getattr(expected, column)), column


def test_the_steady_market_fills_on_the_tape_at_once_and_in_the_model_by_the_cap() -> None:
    orders = steady_orders()
    assert len(orders) == 2 * 18 and set(orders.price.tolist()) == {100.0, 100.01}
    fine_lot = 0.001  # so the caps below are not rounded to whole units
    result = compare(steady_tape(), steady_bars(), orders, (MINUTE_MS, 2 * MINUTE_MS),
                     FillParams(), TICK, fine_lot)
    for row in result.rows:
        assert row.tape.amount_share == 1.0 and row.tape.filled_share == 1.0
        # max_volume_share 0.1 of the 10 at the price per bar: 1 of 5 a minute
        assert row.model.amount_share == pytest.approx(0.2 * row.horizon_ms / MINUTE_MS)
        assert row.gap() == pytest.approx(0.2 * row.horizon_ms / MINUTE_MS - 1)
    fits = {(f.horizon_ms, f.name): f for f in result.fits}
    # the cap that fills 5 from 10 at the price in one bar, or from 2 x 10 in two
    assert fits[MINUTE_MS, "max_volume_share"].value == pytest.approx(0.5, rel=1e-3)
    assert fits[2 * MINUTE_MS, "max_volume_share"].value == pytest.approx(0.25, rel=1e-3)
    assert fits[MINUTE_MS, "max_volume_share"].reached
    # no queue, however short, lifts the cap: the fit says it is out of reach
    queue = fits[MINUTE_MS, "bar_book_share"]
    assert not queue.reached and queue.train_model_share == pytest.approx(0.2)
    test_rows = [r for r in result.rows if r.subset == "test" and r.horizon_ms == MINUTE_MS]
    assert [r.side for r in test_rows] == ["buy", "sell", "both"]
    assert all(r.fitted["max_volume_share"].amount_share == pytest.approx(1.0, rel=1e-3)
               for r in test_rows)


def test_the_queue_fit_recovers_the_book_share_a_touch_needs() -> None:
    # Flat bars of 10 at 100.00: a buy of 5 joining 10 x share ahead gets 10 - 10 x share
    # (the cap at 1.0 out of the way), so a 60 % fill needs a share of 0.7.
    n = 10
    bars = Bars(START_MS + MINUTE_MS * np.arange(n, dtype=np.int64), *(np.full(n, 100.0),) * 4,
                np.full(n, 10.0))
    buys = TouchOrders(bars.open_ms, np.full(n, BUY, np.int8), np.full(n, 100.0),
                       np.full(n, 5.0), np.zeros(n))
    params = FillParams(max_volume_share=1.0)
    fine_lot = 1e-6  # a lot of 1 would floor the fill to whole units: a step, not a slope
    share, model_share = fit_param("bar_book_share", bars, buys, 0.6, MINUTE_MS, params, TICK,
                                   fine_lot)
    assert share == pytest.approx(0.7, rel=1e-3) and model_share == pytest.approx(0.6, abs=1e-3)
    # a share the defaults already meet is kept, not refitted
    assert fit_param("bar_book_share", bars, buys, 1.0, MINUTE_MS, params, TICK,
                     fine_lot)[0] == 0.08


def test_the_model_meets_orders_only_where_a_bar_opens() -> None:
    bars = steady_bars()
    off_grid = TouchOrders(bars.open_ms[:1] + 1, np.array([SELL], np.int8), np.array([100.01]),
                           np.array([5.0]), np.zeros(1))
    with pytest.raises(ValueError, match="bar opens"):
        predicted(bars, off_grid, MINUTE_MS, FillParams(), TICK, LOT)


def test_the_training_half_is_the_earlier_half_of_placement_times() -> None:
    placed = np.array([5, 1, 2, 2, 3, 4])
    assert first_half(placed).tolist() == [False, True, True, True, False, False]


@pytest.mark.shared_data
@pytest.mark.skipif("ENTASIS_SHARED_DATA" not in os.environ,
                    reason="set ENTASIS_SHARED_DATA to the shared data folder to run this test")
def test_on_the_xrp_eth_tape_the_defaults_fill_as_often_as_the_tape_within_the_minute(
        shared_data: Path) -> None:
    """Issue 16 item 3's acceptance at one minute for the median trade size (68 XRP), out of
    sample: since a trade through the price fills a resting order whole (model/fills.py),
    the defaults' filled-amount share is within 5 % of the tape's on the test half. (With
    through-fills capped at 10 % of the volume it was -24 %, and no queue share closed it.)"""
    from bot.research.tape_io import read_bars, read_tape, setup

    trades = shared_data / "trades" / "freqtrade_binance_2019" / "XRP_ETH-trades.csv.gz"
    made = setup(read_tape(trades), None,
                 read_bars(shared_data / "ohlcv" / "freqtrade_binance_2019", trades),
                 MINUTE_MS, (MINUTE_MS,), None)
    result = compare(made.tape, made.bars, made.orders, (MINUTE_MS,), FillParams(), made.tick,
                     made.lot)
    both = {r.subset: r for r in result.rows if r.side == "both"}
    assert abs(both["test"].gap()) < 0.05
