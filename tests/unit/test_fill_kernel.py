"""The compiled per-order fill kernel gives bit-identical results to the array form it replaced.

`model.fills.match` now runs `model/fill_kernel.py` (numba) order by order; the array
form (tests/unit/fills_reference.py) is kept as the oracle. Random batches cover every rule:
bars and ticks, buys and sells, market and limit orders, takers walking several levels,
new and resting orders (queue ahead set), cancels before/inside/after the event, budgets
that bind, NaN books. Equality is exact (NaN == NaN), not approximate: the oracle's
arithmetic order is fixed by its code (see its docstring), so the comparison holds on any
CPU, with numpy's AVX-512 kernels on or off.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from model import fill_kernel, fills
from model.fills import FillParams, MarketArrays, OrderArrays
from tests.unit.fills_reference import pairwise_sum, reference_match


def _random_market(rng: np.random.Generator, n: int, params: FillParams) -> MarketArrays:
    tick = rng.choice([1e-8, 1e-4, 0.01, 0.5], n)
    base = rng.uniform(10, 2000, n) / tick
    open_ = np.round(base) * tick
    moves = np.round(rng.normal(0, 4, (3, n))) * tick
    close = open_ + moves[0]
    high = np.maximum(open_, close) + np.abs(moves[1])
    low = np.minimum(open_, close) - np.abs(moves[2])
    volume = rng.choice([0.0, 0.5, 3.0, 40.0], n) * rng.uniform(0.5, 2, n)
    bars = fills.market_from_bars(rng.integers(0, 10, n) * 60_000, open_, high, low, close,
                                  volume, tick, params)
    ticks = fills.market_from_ticks(rng.integers(0, 600_000, n), close, open_,
                                    open_ + tick * rng.integers(1, 3, n),
                                    rng.uniform(0, 5, n), rng.uniform(0, 5, n), volume)
    use_bar = rng.random(n) < 0.6
    columns = {f.name: np.where(use_bar, getattr(bars, f.name), getattr(ticks, f.name))
               for f in fields(MarketArrays)}
    columns["bid"][rng.random(n) < 0.03] = np.nan  # an empty side of the book
    return MarketArrays(**columns)


def _random_orders(rng: np.random.Generator, market: MarketArrays, n: int) -> OrderArrays:
    event = rng.integers(0, len(market), n)
    tick = np.where(np.isfinite(market.ask[event]), market.ask[event] - market.open[event], 1.0)
    tick = np.maximum(tick, 1e-8)
    tick = np.array([min(t, 0.5) for t in tick])
    side = rng.choice([fills.BUY, fills.SELL], n).astype(np.int8)
    is_market = rng.random(n) < 0.1
    ref = np.where(side == fills.BUY, market.ask[event], market.bid[event])
    ref = np.where(np.isfinite(ref), ref, market.open[event])
    price = np.round(ref / tick + rng.integers(-6, 7, n)) * tick
    price[is_market] = np.nan
    resting = rng.random(n) < 0.4
    queue = np.where(resting, rng.choice([0.0, 0.3, 2.0], n), np.nan)
    start = market.start_ms[event]
    cancel = np.where(rng.random(n) < 0.2, start + rng.integers(-1, 90_000, n),
                      fills.NO_CANCEL_MS)
    budget = np.where(rng.random(n) < 0.3, rng.uniform(0, 3, n) * price, np.inf)
    return OrderArrays(
        event=event.astype(np.int64), side=side, is_market=is_market, price=price,
        remaining=rng.choice([0.0, 0.001, 0.5, 2.0, 25.0], n), queue_ahead=queue,
        placed_ms=start - rng.choice([0, 0, 1, -1], n), cancel_ms=cancel.astype(np.int64),
        budget=np.nan_to_num(budget, nan=np.inf), tick=tick,
        lot=rng.choice([1e-8, 1e-3, 0.1], n))


def _assert_identical(got: fills.FillArrays, expected: fills.FillArrays) -> None:
    for f in fields(fills.FillArrays):
        a, b = getattr(got, f.name), getattr(expected, f.name)
        assert a.dtype == b.dtype, f.name
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), (
            f"{f.name} differs at rows {np.flatnonzero(~np.isclose(a, b, equal_nan=True))[:5]}")


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("params", [
    FillParams(),
    FillParams(book_levels=3, book_level_growth=0.7, book_level_spacing_ticks=2,
               max_volume_share=0.5, through_volume_share=0.3, maker_fee_bps=2.0,
               taker_fee_bps=7.5),
    FillParams(book_levels=12, bar_book_share=0.01),  # thin books: takers walk every level
])
def test_kernel_is_bit_identical_to_the_array_form(seed: int, params: FillParams) -> None:
    rng = np.random.default_rng(seed)
    market = _random_market(rng, 400, params)
    batch = _random_orders(rng, market, 3000)
    got, expected = fills.match(batch, market, params), reference_match(batch, market, params)
    assert (expected.liquidity == fills.TAKER).sum() > 100  # the batch exercises every path
    assert (expected.liquidity == fills.MAKER).sum() > 100
    if params.book_levels >= 8:  # walks of 8+ levels: numpy's pairwise-summation territory
        assert ((expected.level_amount > 0).sum(axis=1) >= 8).any()
    _assert_identical(got, expected)


def test_pairwise_sum_follows_the_written_out_order() -> None:
    """Numbers whose sum depends on the order of addition: the kernel's sum equals the
    reference's written-out pairwise order (numpy's, for a contiguous row) for every length
    a book walk can have."""
    rng = np.random.default_rng(1)
    for n in range(40):
        row = rng.normal(0, 1, n) * 10.0 ** rng.integers(-8, 9, n)
        assert fill_kernel.pairwise_sum(row, n) == pairwise_sum(row.tolist())


def test_empty_batch_gives_empty_results() -> None:
    market = fills.market_from_bars([0], [1.0], [1.0], [1.0], [1.0], [1.0], [0.01], FillParams())
    empty = fills.orders([], [], [], [], 0.01, 1.0)
    result = fills.match(empty, market, FillParams())
    assert result.amount.shape == (0,) and result.level_price.shape == (0, 10)
