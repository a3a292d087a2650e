"""`fast_match_kernel.match_row` is `fills.market_from_bars` + `fills.match` (the array form,
its definition) for a row's orders, bit for bit, and carries the stamp of the fill kernel
it compiles in."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from model import fill_kernel, fills
from model.fills import FillParams
from trading import fast_match_kernel as kernel

ROOT = Path(__file__).resolve().parents[2]


def random_row(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """One grid row of n columns on a 0.01 grid, a few odd bars among them."""
    open_ = np.round(rng.uniform(5, 50, n), 2)
    close = np.round(open_ * np.exp(rng.normal(0, 0.01, n)), 2)
    high = np.round(np.maximum(open_, close) + rng.uniform(0, 0.3, n), 2)
    low = np.round(np.minimum(open_, close) - rng.uniform(0, 0.3, n), 2)
    volume = rng.lognormal(2, 1, n)
    volume[rng.random(n) < 0.1] = 0.0
    flat = rng.random(n) < 0.1  # a bar that did not move
    for values in (high, low, close):
        values[flat] = open_[flat]
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


def random_orders(rng: np.random.Generator, row: dict[str, np.ndarray], k: int,
                  open_ms: int) -> np.ndarray:
    """k limit orders around the row's prices: new and resting, marketable and deep, buys
    with small budgets, sells, orders placed after the bar opened."""
    n = row["open"].shape[0]
    table = np.zeros((k, kernel.ORDER_COLUMNS))
    column = rng.integers(0, n, k)
    side = np.where(rng.random(k) < 0.5, fills.BUY, fills.SELL)
    price = np.round(row["open"][column] * (1 + rng.normal(0, 0.01, k)), 2)
    remaining = np.round(rng.lognormal(0, 1.5, k), 3)
    queue = np.where(rng.random(k) < 0.5, np.nan, rng.lognormal(0, 1, k))
    queue[rng.random(k) < 0.05] = np.inf
    placed = open_ms - rng.integers(-60_000, 600_000, k)
    budget = np.where(side == fills.SELL, np.inf, price * remaining * rng.uniform(0.3, 1.5, k))
    lot = np.where(rng.random(k) < 0.5, 0.001, 0.1)
    book_tick = np.where(rng.random(k) < 0.8, 0.01, 0.05)
    for at, values in ((kernel.COLUMN, column), (kernel.SIDE, side), (kernel.PRICE, price),
                       (kernel.REMAINING, remaining), (kernel.QUEUE, queue),
                       (kernel.PLACED_MS, placed), (kernel.BUDGET, budget),
                       (kernel.TICK, np.full(k, 0.01)), (kernel.LOT, lot),
                       (kernel.BOOK_TICK, book_tick)):
        table[:, at] = values
    return table


def array_form(table: np.ndarray, open_ms: int, row: dict[str, np.ndarray],
               spread: np.ndarray | None, params: FillParams) -> fills.FillArrays:
    """The definition: one market row per order (its column's bar and book), one match."""
    column = table[:, kernel.COLUMN].astype(np.int64)
    k = table.shape[0]
    market = fills.market_from_bars(
        np.full(k, open_ms, np.int64), row["open"][column], row["high"][column],
        row["low"][column], row["close"][column], row["volume"][column],
        table[:, kernel.BOOK_TICK].tolist(), params,
        None if spread is None else spread[column])
    orders = fills.OrderArrays(
        event=np.arange(k, dtype=np.int64), side=table[:, kernel.SIDE].astype(np.int8),
        is_market=np.zeros(k, bool), price=table[:, kernel.PRICE].copy(),
        remaining=table[:, kernel.REMAINING].copy(), queue_ahead=table[:, kernel.QUEUE].copy(),
        placed_ms=table[:, kernel.PLACED_MS].astype(np.int64),
        cancel_ms=np.full(k, fills.NO_CANCEL_MS, np.int64),
        budget=table[:, kernel.BUDGET].copy(), tick=table[:, kernel.TICK].copy(),
        lot=table[:, kernel.LOT].copy())
    return fills.match(orders, market, params)


def compiled(table: np.ndarray, open_ms: int, row: dict[str, np.ndarray],
             spread: np.ndarray | None, params: FillParams) -> tuple[np.ndarray, ...]:
    return kernel.match_row(
        table, open_ms, row["open"], row["high"], row["low"], row["close"], row["volume"],
        np.zeros(0) if spread is None else spread, spread is not None,
        float(params.bar_spread_ticks), float(params.bar_book_share),
        float(params.max_volume_share), float(params.through_volume_share),
        float(params.maker_fee_bps), float(params.taker_fee_bps), int(params.book_levels),
        float(params.book_level_growth),
        fill_kernel.level_growth(params.book_level_growth, params.book_levels),
        int(params.book_level_spacing_ticks), fills.NO_CANCEL_MS)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("with_spread", [False, True])
def test_match_row_is_the_array_form_bit_for_bit(seed: int, with_spread: bool) -> None:
    rng = np.random.default_rng(seed)
    open_ms = 1_700_000_040_000
    row = random_row(rng, 12)
    spread = None
    if with_spread:
        spread = rng.uniform(0, 0.004, 12)
        spread[rng.random(12) < 0.2] = np.nan  # no estimate: the floor
    params = FillParams(bar_spread_ticks=1 + seed % 2, book_level_growth=1.2 - 0.1 * (seed % 3))
    table = random_orders(rng, row, 400, open_ms)
    expected = array_form(table, open_ms, row, spread, params)
    liquidity, level_price, level_amount, queue, canceled = compiled(table, open_ms, row,
                                                                     spread, params)
    np.testing.assert_array_equal(liquidity, expected.liquidity)
    np.testing.assert_array_equal(level_price, expected.level_price)
    np.testing.assert_array_equal(level_amount, expected.level_amount)
    np.testing.assert_array_equal(queue, expected.queue_ahead)  # NaN where NaN
    np.testing.assert_array_equal(canceled, expected.canceled)
    assert (liquidity == fills.TAKER).any() and (liquidity == fills.MAKER).any()
    assert (liquidity == fills.NO_FILL).any()


def test_no_orders_give_empty_columns() -> None:
    row = random_row(np.random.default_rng(1), 3)
    out = compiled(np.zeros((0, kernel.ORDER_COLUMNS)), 0, row, None, FillParams())
    assert [a.shape[0] for a in out] == [0] * 5


def test_match_row_carries_the_stamp_of_the_fill_kernel_it_compiles_in() -> None:
    expected = hashlib.sha256((ROOT / "model/fill_kernel.py").read_bytes()).hexdigest()[:16]
    assert expected == kernel.INLINED_SOURCES_SHA256, (
        f"model/fill_kernel.py changed: set INLINED_SOURCES_SHA256 = \"{expected}\" in "
        "trading/fast_match_kernel.py, so numba recompiles match_row")
