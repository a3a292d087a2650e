"""The fill model in its former array-at-a-time numpy form: the oracle the compiled
per-order kernel (model/fill_kernel.py) is held bit-identical to. Test code only: the
product fills through `model.fills.match` alone.

The oracle's arithmetic order is defined by this code, not by the CPU it runs on: numpy
dispatches `np.power` (and exp/log) to SIMD approximations on AVX-512 machines, which differ
from the C library's `pow` in the last bits, and its sums follow an internal pairwise
order. So powers go through Python's `math.pow` (the C library, element by element) and
the per-level sums through `pairwise_sum` below, written out. Only IEEE-exact elementwise
operations (+ - * /, rint, floor, min/max, comparisons) are left to numpy."""

from __future__ import annotations

import math
from dataclasses import fields
from itertools import pairwise

import numpy as np

from model.fills import (
    BUY,
    MAKER,
    NO_FILL,
    TAKER,
    FillArrays,
    FillParams,
    MarketArrays,
    OrderArrays,
    bar_path,
    floor_to_lot,
)

_EPS = 1e-9


def reference_match(orders: OrderArrays, market: MarketArrays, params: FillParams) -> FillArrays:
    """What `model.fills.match` computed before it was compiled."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _match(orders, market, params)


def _match(orders: OrderArrays, market: MarketArrays, params: FillParams) -> FillArrays:
    m = _Gathered(market, orders.event)
    buy = orders.side == BUY
    lot, tick = orders.lot, orders.tick
    live = (
        (m.start_ms >= orders.placed_ms)
        & (m.start_ms < orders.cancel_ms)
        & (orders.remaining >= lot * (1 - _EPS))
    )
    is_new = live & np.isnan(orders.queue_ahead)
    opposite = np.where(buy, m.ask, m.bid)
    slack = _EPS * tick
    marketable = np.where(buy, orders.price >= opposite - slack, orders.price <= opposite + slack)
    taker = is_new & (orders.is_market | marketable)
    level_price, level_amount = _walk_book(orders, m, taker, params)

    resting = live & ~taker & ~orders.is_market
    queue = np.where(is_new & resting, _initial_queue(orders, m, params), orders.queue_ahead)
    passive = resting & (~is_new | m.is_bar)
    maker_amount, queue = _passive(orders, m, passive, queue, params)
    level_price[:, 0] = np.where(passive, orders.price, level_price[:, 0])
    level_amount[:, 0] = np.where(passive, maker_amount, level_amount[:, 0])

    amount = _row_sums(level_amount)
    notional = _row_sums(level_price * level_amount)
    liquidity = np.where(amount > 0, np.where(taker, TAKER, MAKER), NO_FILL).astype(np.int8)
    fee_bps = np.where(taker, params.taker_fee_bps, params.maker_fee_bps)
    remaining = np.maximum(orders.remaining - amount, 0.0)
    filled = remaining < lot * 0.5
    remaining = np.where(filled, 0.0, remaining)
    queue = np.where(taker & ~orders.is_market, 0.0, queue)  # a taker's rest leads its level
    expired = taker & orders.is_market
    canceled = ~filled & ((m.end_ms >= orders.cancel_ms) | expired)
    return FillArrays(
        amount=amount,
        notional=notional,
        fee=notional * fee_bps * 1e-4,
        liquidity=liquidity,
        level_price=level_price,
        level_amount=level_amount,
        remaining=remaining,
        queue_ahead=queue,
        canceled=canceled,
        done=filled | canceled,
    )


class _Gathered:
    """Market columns gathered to order rows (row i = the event order i meets)."""

    def __init__(self, market: MarketArrays, event: np.ndarray) -> None:
        for name in (f.name for f in fields(MarketArrays)):
            setattr(self, name, getattr(market, name)[event])

    is_bar: np.ndarray
    start_ms: np.ndarray
    end_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_qty: np.ndarray
    ask_qty: np.ndarray


def _walk_book(
    orders: OrderArrays, m: _Gathered, taker: np.ndarray, params: FillParams
) -> tuple[np.ndarray, np.ndarray]:
    """Taker fills level by level through the synthesized book, within limit and budget."""
    n, levels = len(orders), params.book_levels
    buy = orders.side == BUY
    sign = np.where(buy, 1.0, -1.0)
    tick, lot = orders.tick, orders.lot
    touch = np.where(buy, m.ask, m.bid)
    top_size = np.where(buy, m.ask_qty, m.bid_qty)
    fee_rate = params.taker_fee_bps * 1e-4
    left = np.where(taker, orders.remaining, 0.0)
    budget = np.where(buy, orders.budget, np.inf)
    level_price = np.zeros((n, levels))
    level_amount = np.zeros((n, levels))
    for k in range(levels):
        offset = k * params.book_level_spacing_ticks
        price = np.round(touch / tick + sign * offset) * tick
        within = orders.is_market | (sign * (orders.price - price) >= -_EPS * tick)
        size = top_size * params.book_level_growth**k
        affordable = np.where(buy, budget / np.maximum(price * (1 + fee_rate), 1e-300), np.inf)
        take = floor_to_lot(np.minimum(np.minimum(size, left), affordable), lot)
        take = np.where(taker & within & (price > 0) & np.isfinite(price), take, 0.0)
        take = np.maximum(take, 0.0)
        level_price[:, k] = np.where(take > 0, price, 0.0)
        level_amount[:, k] = take
        left = left - take
        budget = budget - take * price * (1 + fee_rate) * buy
    return level_price, level_amount


def _initial_queue(orders: OrderArrays, m: _Gathered, params: FillParams) -> np.ndarray:
    """Book size ahead of a newly resting order at its price (see module docstring)."""
    buy = orders.side == BUY
    best = np.where(buy, m.bid, m.ask)
    best_qty = np.where(buy, m.bid_qty, m.ask_qty)
    depth_ticks = np.rint(np.where(buy, best - orders.price, orders.price - best) / orders.tick)
    # Beyond the synthesized depth, assume the last level's size rather than extrapolate.
    depth_levels = np.minimum(
        np.maximum(depth_ticks, 0.0) / params.book_level_spacing_ticks, params.book_levels - 1
    )
    deeper = best_qty * np.array([math.pow(params.book_level_growth, d) for d in depth_levels])
    queue = np.where(depth_ticks < 0, 0.0, deeper)
    return np.where(np.isfinite(best), queue, 0.0)


def _passive(
    orders: OrderArrays,
    m: _Gathered,
    passive: np.ndarray,
    queue: np.ndarray,
    params: FillParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Maker fill amounts and the queue left ahead, for resting orders on the event path."""
    buy = orders.side == BUY
    sign = np.where(buy, 1.0, -1.0)
    tick = orders.tick
    # Work in signed tick units, so "at or better for a buy" is always "<= limit".
    limit = sign * np.rint(orders.price / tick)
    w = [sign * np.rint(p / tick) for p in bar_path(m.open, m.high, m.low, m.close)]
    points = np.ones_like(limit)
    at_or_better = (w[0] <= limit).astype(np.float64)
    beyond = (w[0] <= limit - 1).astype(np.float64)
    for a, b in pairwise(w):
        points += np.abs(b - a)
        at_or_better += _leg_count(a, b, limit)
        beyond += _leg_count(a, b, limit - 1)
    per_point = np.where(points > 0, m.volume / points, 0.0)
    volume_at = per_point * (at_or_better - beyond)
    volume_through = per_point * at_or_better
    crossing = ~m.is_bar & np.where(buy, m.ask <= orders.price, m.bid >= orders.price)
    crossing_qty = np.where(crossing, np.where(buy, m.ask_qty, m.bid_qty), 0.0)
    volume_through = volume_through + crossing_qty
    through = (beyond > 0) | crossing
    share = params.max_volume_share
    resting_queue = np.nan_to_num(queue, nan=0.0)
    allowance = np.where(
        through,
        params.through_volume_share * volume_through,
        np.minimum(share * volume_at, np.maximum(volume_at - resting_queue, 0.0)),
    )
    new_queue = np.where(through, 0.0, np.maximum(resting_queue - volume_at, 0.0))
    fee_rate = params.maker_fee_bps * 1e-4
    affordable = np.where(buy, orders.budget / (orders.price * (1 + fee_rate)), np.inf)
    fillable = np.minimum(np.minimum(orders.remaining, allowance), affordable)
    amount = floor_to_lot(fillable, orders.lot)
    amount = np.where(passive, np.maximum(amount, 0.0), 0.0)
    return amount, np.where(passive, new_queue, queue)


def _leg_count(a: np.ndarray, b: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """How many grid points a leg a -> b visits (a excluded, b included) that are <= limit."""
    low = np.minimum(a, b) + (b > a)
    high = np.maximum(a, b) - (b < a)
    count = np.clip(np.minimum(high, limit) - low + 1, 0, None)
    return np.where(a == b, 0.0, count)


def _row_sums(matrix: np.ndarray) -> np.ndarray:
    """Each row's sum in the order `pairwise_sum` defines."""
    return np.array([pairwise_sum([float(v) for v in row]) for row in matrix], np.float64)


def pairwise_sum(values: list[float]) -> float:
    """numpy's summation order for a contiguous row of up to 128 values, written out: under
    8 values left to right; else eight interleaved partial sums, added in pairs, then the
    rest left to right."""
    n = len(values)
    if n < 8:
        total = 0.0
        for value in values:
            total += value
        return total
    partial = values[:8]
    whole = n - n % 8
    for start in range(8, whole, 8):
        partial = [p + v for p, v in zip(partial, values[start:start + 8])]
    total = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + (
        (partial[4] + partial[5]) + (partial[6] + partial[7]))
    for value in values[whole:]:
        total += value
    return total
