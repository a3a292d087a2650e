"""The fill model on a tape's own ticks (model/tape_ticks.py): with the touch known, an order
resting at it fills as the tape says — through trades by their amount, trades at its price
after the queue ahead — because every trade after its placement is a tick it meets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from model.fill_kernel import BUY, SELL
from model.fills import FillParams
from model.tape_compare import compare
from model.tape_fills import Tape, TouchOrders, make_tape, replay
from model.tape_ticks import tick_fills, tick_market

TICK, LOT = 0.01, 1.0
T0 = 1_700_000_000_000
UNCAPPED = replace(FillParams(), max_volume_share=1.0)  # the tape's at-price rule has no cap


def tape_of(*trades: tuple[int, float, float, int]) -> Tape:
    """(ms after T0, price, amount, taker side) rows; a seller at 100.00 and a buyer at
    100.01 first, so the touch is 100.00 / 100.01 from the start."""
    rows = [(0, 100.00, 1.0, SELL), (1, 100.01, 1.0, BUY), *trades]
    ts, price, amount, side = zip(*rows, strict=True)
    return make_tape(np.array(ts) + T0, np.array(price), np.array(amount), np.array(side))


def resting(side: int, price: float, amount: float, queue: float, at_ms: int = 1_000
            ) -> TouchOrders:
    return TouchOrders(np.array([T0 + at_ms]), np.array([side], np.int8), np.array([price]),
                       np.array([amount]), np.array([queue]))


def both_ways(tape: Tape, orders: TouchOrders, queue: tuple[float, float],
              params: FillParams = UNCAPPED, horizon_ms: int = 60_000) -> tuple[float, float]:
    """(the tape's fill, the fill model's on the ticks) of the one order."""
    ticks = tick_market(tape, orders.placed_ms, TICK, queue)
    return (float(replay(tape, orders, horizon_ms, TICK)[0]),
            float(tick_fills(ticks, orders, horizon_ms, params, TICK, LOT)[0]))


def test_a_trade_through_the_price_after_the_placement_fills_by_its_amount() -> None:
    tape = tape_of((30_000, 99.98, 7.0, SELL))
    assert both_ways(tape, resting(BUY, 100.00, 10.0, queue=33.0), (33.0, 33.0)) == (7.0, 7.0)


def test_trades_at_the_price_first_work_through_the_queue_ahead() -> None:
    tape = tape_of((10_000, 100.00, 20.0, SELL), (20_000, 100.00, 20.0, SELL),
                   (30_000, 100.00, 10.0, SELL))
    # 33 ahead: 20 + 13 of the second clear it, 7 reach the order, then 3 of the last
    assert both_ways(tape, resting(BUY, 100.00, 10.0, queue=33.0), (33.0, 33.0)) == (10.0, 10.0)
    assert both_ways(tape, resting(BUY, 100.00, 10.0, queue=33.0), (33.0, 33.0),
                     horizon_ms=25_000) == (7.0, 7.0)


def test_a_sell_at_the_ask_mirrors_the_buy() -> None:
    tape = tape_of((10_000, 100.01, 4.0, BUY), (20_000, 100.03, 5.0, BUY))
    assert both_ways(tape, resting(SELL, 100.01, 6.0, queue=2.0), (2.0, 2.0)) == (6.0, 6.0)


def test_a_trade_in_the_placement_millisecond_comes_after_the_order() -> None:
    tape = tape_of((1_000, 99.99, 5.0, SELL))
    assert both_ways(tape, resting(BUY, 100.00, 5.0, queue=0.0, at_ms=1_000),
                     (0.0, 0.0)) == (5.0, 5.0)


def test_trades_before_the_placement_or_past_the_horizon_fill_nothing() -> None:
    tape = tape_of((500, 99.90, 50.0, SELL), (70_000, 99.90, 50.0, SELL))
    assert both_ways(tape, resting(BUY, 100.00, 5.0, queue=0.0), (0.0, 0.0)) == (0.0, 0.0)


def test_the_models_cap_on_fills_at_the_price_is_what_still_differs_from_the_tape() -> None:
    tape = tape_of((10_000, 100.00, 40.0, SELL))
    order = resting(BUY, 100.00, 10.0, queue=0.0)
    tape_filled, model_filled = both_ways(tape, order, (0.0, 0.0), params=FillParams())
    assert tape_filled == 10.0
    assert model_filled == pytest.approx(FillParams().max_volume_share * 40.0)


def test_an_order_without_its_placement_tick_is_refused() -> None:
    tape = tape_of((30_000, 99.98, 7.0, SELL))
    ticks = tick_market(tape, np.array([T0 + 1_000]), TICK, (0.0, 0.0))
    with pytest.raises(ValueError, match="placement tick"):
        tick_fills(ticks, resting(BUY, 100.00, 5.0, 0.0, at_ms=2_000), 60_000, UNCAPPED,
                   TICK, LOT)


@pytest.mark.parametrize("amount", [10.0, 68.0, 300.0])
def test_on_the_xrp_eth_tape_orders_at_the_touch_fill_within_5_percent_on_its_ticks(
        shared_data: Path, amount: float) -> None:
    """Issue 16 item 3, the queue position model with the touch known (docs/results.md):
    buys at the tape's bid and sells at its ask, the queue the tape's sweeps reveal, met by
    the fill model on the tape's ticks. On the test half (the second half of the placement
    times), with the passive cap fitted on the first half, both sides fill within 5 % of
    the tape at 1, 5 and 15 minutes for 10, 68 and 300 XRP."""
    from bot.research.tape_io import read_bars, read_tape, setup

    trades = shared_data / "trades" / "freqtrade_binance_2019" / "XRP_ETH-trades.csv.gz"
    horizons = (60_000, 300_000, 900_000)
    made = setup(read_tape(trades), None,
                 read_bars(shared_data / "ohlcv" / "freqtrade_binance_2019", trades),
                 60_000, horizons, amount, events="ticks")
    result = compare(made.tape, made.bars, made.orders, horizons, FillParams(), made.tick,
                     made.lot, ticks=made.ticks)
    tested = [r for r in result.rows if r.subset == "test"]
    assert len(tested) == 9
    for row in tested:
        assert abs(row.gap(row.fitted["max_volume_share"])) < 0.05, row
