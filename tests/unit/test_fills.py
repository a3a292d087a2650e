"""The batched fill model: properties that must hold for any batch, and the array contract
the backtester and the RL environment rely on. Rule-by-rule examples are in
tests/scenarios/test_fill_rules.py."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.sim.bars import MinuteBars
from exchange.sim.ticks import synthesize_ticks
from model import fills
from model.fills import BUY, MAKER, NO_FILL, SELL, TAKER, FillArrays, FillParams, OrderArrays

PARAMS = FillParams(max_volume_share=0.5, book_levels=8, book_level_growth=1.3)


Batch = tuple[fills.OrderArrays, fills.MarketArrays]


def random_batch(seed: int, n_orders: int, n_events: int) -> Batch:
    """Bars and ticks around price 1000 on a 0.5 tick, and orders of both sides and types."""
    rng = np.random.default_rng(seed)
    tick, lot = 0.5, 0.001
    o = 1000 + tick * rng.integers(-20, 20, n_events)
    c = o + tick * rng.integers(-20, 20, n_events)
    h = np.maximum(o, c) + tick * rng.integers(0, 10, n_events)
    low = np.minimum(o, c) - tick * rng.integers(0, 10, n_events)
    v = rng.uniform(0, 50, n_events)
    bars = fills.market_from_bars(np.zeros(n_events, np.int64), o, h, low, c, v, tick, PARAMS)
    spread = tick * rng.integers(1, 4, n_events)
    ticks = fills.market_from_ticks(
        np.zeros(n_events, np.int64), c, c - spread, c, rng.uniform(0, 5, n_events),
        rng.uniform(0, 5, n_events), rng.uniform(0, 20, n_events),
    )  # fmt: skip
    names = fills.MarketArrays.__dataclass_fields__
    market = fills.MarketArrays(
        *(np.concatenate([getattr(bars, f), getattr(ticks, f)]) for f in names)
    )
    side = rng.choice([BUY, SELL], n_orders)
    price = 1000 + tick * rng.integers(-30, 30, n_orders)
    is_market = rng.random(n_orders) < 0.2
    batch = fills.orders(
        rng.integers(0, 2 * n_events, n_orders), side, np.where(is_market, np.nan, price),
        lot * rng.integers(1, 20_000, n_orders), tick, lot, is_market=is_market,
    )  # fmt: skip
    resting = rng.random(n_orders) < 0.5  # half already rest with some queue ahead
    queue = np.where(resting & ~is_market, rng.uniform(0, 10, n_orders), np.nan)
    return fills.OrderArrays(**{**_columns(batch), "queue_ahead": queue}), market


def _columns(batch: fills.OrderArrays) -> dict[str, np.ndarray]:
    return {name: getattr(batch, name) for name in fills.OrderArrays.__dataclass_fields__}


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_buys_never_fill_above_limit_nor_sells_below(seed: int) -> None:
    batch, market = random_batch(seed, 200, 20)
    result = fills.match(batch, market, PARAMS)
    filled = result.level_amount > 0
    limit = np.broadcast_to(batch.price[:, None], filled.shape)
    buy = filled & ((batch.side == BUY) & ~batch.is_market)[:, None]
    sell = filled & ((batch.side == SELL) & ~batch.is_market)[:, None]
    assert np.all(result.level_price[buy] <= limit[buy] + 1e-9)
    assert np.all(result.level_price[sell] >= limit[sell] - 1e-9)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_fills_stay_on_the_grids_and_within_the_remaining_amount(seed: int) -> None:
    batch, market = random_batch(seed, 200, 20)
    result = fills.match(batch, market, PARAMS)
    lots = result.level_amount / batch.lot[:, None]
    ticks = result.level_price / batch.tick[:, None]
    assert np.allclose(lots, np.round(lots), atol=1e-6)
    assert np.allclose(ticks, np.round(ticks), atol=1e-6)
    assert np.all(result.amount <= batch.remaining + 1e-9)
    assert np.allclose(result.remaining, batch.remaining - result.amount, atol=1e-9)
    assert np.all((result.amount > 0) == (result.liquidity != NO_FILL))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_passive_fills_never_beat_the_prices_the_bar_traded(seed: int) -> None:
    batch, market = random_batch(seed, 200, 20)
    result = fills.match(batch, market, PARAMS)
    maker = result.liquidity == MAKER
    low, high = market.low[batch.event], market.high[batch.event]
    price = result.level_price[:, 0]
    is_bar = market.is_bar[batch.event]
    buy, sell = maker & is_bar & (batch.side == BUY), maker & is_bar & (batch.side == SELL)
    assert np.all(price[buy] >= low[buy] - 1e-9)
    assert np.all(price[sell] <= high[sell] + 1e-9)


def test_same_arrays_give_identical_fills() -> None:
    batch, market = random_batch(7, 500, 30)
    first, second = fills.match(batch, market, PARAMS), fills.match(batch, market, PARAMS)
    for name in fills.FillArrays.__dataclass_fields__:
        assert np.array_equal(getattr(first, name), getattr(second, name), equal_nan=True), name


def test_a_batch_gives_the_same_fills_as_its_orders_one_by_one() -> None:
    batch, market = random_batch(11, 40, 10)
    together = fills.match(batch, market, PARAMS)
    for i in range(len(batch)):
        one = fills.OrderArrays(**{k: v[i : i + 1] for k, v in _columns(batch).items()})
        alone = fills.match(one, market, PARAMS)
        assert np.array_equal(alone.level_amount[0], together.level_amount[i])
        assert np.array_equal(alone.level_price[0], together.level_price[i])


def test_market_orders_always_close_in_their_first_event() -> None:
    batch, market = random_batch(3, 300, 10)
    result = fills.match(batch, market, PARAMS)
    assert np.all(result.done[batch.is_market])
    assert np.all(result.liquidity[batch.is_market & (result.amount > 0)] == TAKER)


def test_buy_budget_caps_spending_including_fees() -> None:
    market = fills.market_from_ticks([0], [100.0], [100.0], [101.0], [10.0], [10.0], [0.0])
    batch = fills.orders([0], [BUY], [np.nan], [25.0], 1.0, 0.01, is_market=[True], budget=[1500.0])
    result = fills.match(batch, market, PARAMS)
    assert result.notional[0] + result.fee[0] <= 1500.0
    assert result.amount[0] > 14.0  # it spent nearly all of it


def test_advance_keeps_open_orders_with_their_new_state() -> None:
    market = fills.market_from_bars([0], [100.0], [103.0], [98.0], [102.0], [90.0], 1.0, PARAMS)
    batch = fills.orders(
        [0, 0, 0], [BUY, BUY, SELL], [99.0, 90.0, np.nan], [5.0, 1.0, 1.0], 1.0, 0.01,
        is_market=[False, False, True],
    )  # fmt: skip
    result = fills.match(batch, market, PARAMS)
    kept, mask = fills.advance(batch, result)
    assert mask.tolist() == [False, True, False]  # filled, resting, market closed
    assert len(kept) == 1 and kept.price[0] == 90.0
    assert np.isfinite(kept.queue_ahead[0])  # it now rests with a queue


def test_empty_batch_gives_empty_fills() -> None:
    market = fills.market_from_ticks([0], [1.0], [1.0], [1.0], [1.0], [1.0], [0.0])
    empty = fills.orders(np.zeros(0, np.int64), [], [], [], 1.0, 1.0)
    result = fills.match(empty, market, PARAMS)
    assert result.amount.shape == (0,) and result.level_price.shape == (0, PARAMS.book_levels)


def test_ten_thousand_orders_in_one_call_match_as_ten_calls_of_a_thousand() -> None:
    """Orders are matched independently, so batching is free to choose (its speed is
    measured by the benchmarks, not here)."""
    batch, market = random_batch(5, 10_000, 500)
    together = fills.match(batch, market, PARAMS)
    for lo in range(0, 10_000, 1_000):
        part = OrderArrays(*(getattr(batch, f.name)[lo: lo + 1_000] for f in fields(OrderArrays)))
        alone = fills.match(part, market, PARAMS)
        for f in fields(FillArrays):
            np.testing.assert_array_equal(getattr(alone, f.name),
                                          getattr(together, f.name)[lo: lo + 1_000])


def test_bar_path_is_the_one_the_simulator_synthesizes_ticks_along() -> None:
    # an up bar and a down bar
    o, h, low, c = (np.array(x) for x in ([100.0, 100], [103.0, 104], [98.0, 97], [102.0, 99]))
    bars = MinuteBars(
        open_ms=0, index=np.arange(2), open=o, high=h, low=low, close=c,
        volume=np.ones(2), quote_volume=np.ones(2), trades=np.ones(2, np.int64),
        first_trade_id=np.zeros(2, np.int64),
    )  # fmt: skip
    ticks = synthesize_ticks(bars, np.ones(2), np.full(2, 0.01), np.ones(2), 4, seed=1)
    assert np.array_equal(ticks.last, fills.bar_path(o, h, low, c))
