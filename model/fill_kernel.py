"""The fill model's rules for ONE order against ONE market event, compiled (numba).

`model.fills.match` loops this over a batch for the paper broker, the simulator's
matching engine and the backtester; the RL env's compiled step (rl/env_kernel.py) calls it
for each env's resting order. So every clock fills by the very same code, and the rules
read once, per order, top to bottom (the module docstring of model/fills.py states them).

Why compiled and per order: the RL env steps 4,096 orders at a time, where numpy's
array-at-a-time form spent most of its time dispatching ~150 small array operations per
step (1.5M env steps/s against a 5M target). A scalar loop compiled by numba does
the same arithmetic in the same order, so results are bit-identical to that form; a test
(tests/unit/test_fill_kernel.py) holds the two equal on random orders, and keeps the array
form as its oracle.

Float conventions kept from the array form, on purpose: `np.rint` (half to even) for
`np.round`, `math.pow` for `**` (numba would multiply an integer power out, one ulp off),
NaN-propagating min/max (`np.minimum`), and numpy's pairwise summation order for the
per-level sums. `error_model="numpy"`: x / 0 gives inf/NaN as in numpy, never raises.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

BUY, SELL = 1, -1
NO_FILL, MAKER, TAKER = 0, 1, 2
EPS = 1e-9  # float tolerance in grid units (= model.fills._EPS)
REL_EPS = 1e-11  # relative tolerance when flooring to lots (= model.fills._REL_EPS)
#: 1.7976931348623157e308: what np.nan_to_num turns +inf into.
_FLOAT_MAX = float(np.finfo(np.float64).max)

jit = njit(cache=True, error_model="numpy", nogil=True)
#: For helpers that take arrays and run once per order: inlined into their caller, because a
#: compiled call reference-counts every array argument (atomic operations), which cost ~10x
#: the arithmetic in the env's per-env loop.
inline_jit = njit(cache=True, error_model="numpy", nogil=True, inline="always")


@jit
def bar_book(open_, volume, tick, spread_ticks, book_share):  # type: ignore[no-untyped-def]
    """The top of book a 1m bar is given (floats or arrays): bid = open, ask = open +
    `spread_ticks` ticks, each side `book_share` of the bar's volume; a bar lasts 59,999 ms
    after its open. One rule for `model.fills.market_from_bars` and the RL env's step."""
    top = volume * book_share
    return open_, open_ + spread_ticks * tick, top, top


BAR_LAST_MS = 59_999  # a bar's close time after its open


@inline_jit
def spread_width(relative, price, tick, floor):  # type: ignore[no-untyped-def]
    """Whole ticks of a spread of `relative` x `price`, at least `floor`: the compiled twin
    of `model.costs.spread_ticks` (the same operations), for the RL env's kernel."""
    width = np.rint(relative * price / tick)
    if not np.isfinite(width):
        width = 0.0
    return width if width > floor else floor


def level_growth(growth: float, levels: int) -> np.ndarray:
    """growth**k for each book level k, computed once per batch with the `math.pow` the
    kernel would call per level (so the table is bit-identical to calling it there)."""
    return np.array([math.pow(growth, float(k)) for k in range(levels)], np.float64)


@jit
def fmin(a: float, b: float) -> float:
    """`np.minimum` for two floats: NaN if either is NaN (Python's `min` is not)."""
    if a != a:  # noqa: PLR0124  a NaN test numba compiles
        return a
    if b != b:  # noqa: PLR0124  a NaN test numba compiles
        return b
    return a if a <= b else b


@jit
def fmax(a: float, b: float) -> float:
    """`np.maximum` for two floats: NaN if either is NaN."""
    if a != a:  # noqa: PLR0124  a NaN test numba compiles
        return a
    if b != b:  # noqa: PLR0124  a NaN test numba compiles
        return b
    return a if a >= b else b


@jit
def floor_to_lot(amount: float, lot: float) -> float:
    """Largest multiple of `lot` not above `amount`, tolerant of float noise (see
    model.fills.floor_to_lot, which is this over arrays)."""
    lots = amount / lot
    return np.floor(lots + EPS + abs(lots) * REL_EPS) * lot


@inline_jit
def pairwise_sum(values: np.ndarray, n: int) -> float:
    """Sum of values[:n] in numpy's order for n <= 128 (`ndarray.sum` on a contiguous row):
    under 8 left to right; else eight interleaved partial sums, added in pairs, then the
    rest. Matching it keeps a level walk's totals bit-identical to the array form."""
    if n < 8:
        total = 0.0
        for i in range(n):
            total += values[i]
        return total
    r0, r1, r2, r3 = values[0], values[1], values[2], values[3]
    r4, r5, r6, r7 = values[4], values[5], values[6], values[7]
    i = 8
    while i < n - (n % 8):
        r0 += values[i]
        r1 += values[i + 1]
        r2 += values[i + 2]
        r3 += values[i + 3]
        r4 += values[i + 4]
        r5 += values[i + 5]
        r6 += values[i + 6]
        r7 += values[i + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        total += values[i]
        i += 1
    return total


@inline_jit
def walk_book(buy: bool, is_market: bool, limit: float, remaining: float, budget: float,
              touch: float, top_size: float, tick: float, lot: float, taker_fee_bps: float,
              levels: int, powers: np.ndarray, spacing: int,
              level_price: np.ndarray, level_amount: np.ndarray) -> None:
    """A taker's fills level by level through the book synthesized from top of book
    (level k: `k * spacing` ticks behind the touch, `top_size * growth**k` deep), within
    its limit and, for a buy, its budget. Writes the level columns (pre-zeroed)."""
    sign = 1.0 if buy else -1.0
    fee_rate = taker_fee_bps * 1e-4
    left = remaining
    for k in range(levels):
        if left <= 0.0:
            break  # every further level would take floor(0) = 0: nothing changes
        price = np.rint(touch / tick + sign * (k * spacing)) * tick
        within = is_market or (sign * (limit - price) >= -EPS * tick)
        size = top_size * powers[k]
        affordable = budget / fmax(price * (1 + fee_rate), 1e-300) if buy else np.inf
        take = floor_to_lot(fmin(fmin(size, left), affordable), lot)
        if not (within and price > 0 and math.isfinite(price)):
            take = 0.0
        take = fmax(take, 0.0)
        level_price[k] = price if take > 0 else 0.0
        level_amount[k] = take
        left = left - take
        if buy:
            budget = budget - take * price * (1 + fee_rate)


@inline_jit
def initial_queue(buy: bool, limit: float, bid: float, ask: float, bid_qty: float,
                  ask_qty: float, tick: float, levels: int, growth: float, powers: np.ndarray,
                  spacing: int) -> float:
    """Book size ahead of a newly resting order at its price: the best level's size when it
    joins the best price, zero when it improves the spread, the synthesized level's size
    when deeper (the last level's beyond the synthesized depth)."""
    best = bid if buy else ask
    best_qty = bid_qty if buy else ask_qty
    depth_ticks = np.rint(((best - limit) if buy else (limit - best)) / tick)
    depth_levels = fmin(fmax(depth_ticks, 0.0) / spacing, float(levels - 1))
    whole = depth_levels == np.floor(depth_levels)  # NaN: not whole
    deeper = best_qty * (powers[int(depth_levels)] if whole else math.pow(growth, depth_levels))
    queue = 0.0 if depth_ticks < 0 else deeper
    return queue if math.isfinite(best) else 0.0


@jit
def _leg_count(a: float, b: float, limit: float) -> float:
    """How many grid points a leg a -> b visits (a excluded, b included) that are <= limit."""
    if a == b:
        return 0.0
    low = fmin(a, b) + (1.0 if b > a else 0.0)
    high = fmax(a, b) - (1.0 if b < a else 0.0)
    return fmax(fmin(high, limit) - low + 1.0, 0.0)


@jit
def passive_fill(buy: bool, limit_price: float, remaining: float, budget: float, queue: float,
                 is_bar: bool, open_: float, high: float, low: float, close: float,
                 volume: float, bid: float, ask: float, bid_qty: float, ask_qty: float,
                 tick: float, lot: float, max_volume_share: float,
                 through_volume_share: float, maker_fee_bps: float) -> tuple[float, float]:
    """(maker amount, queue left ahead) for a resting order on the event's path: when the
    market trades through its price it fills whole, up to `through_volume_share` (1: all)
    of the volume at or through it (the level was cleared, so nothing was ahead of it); on a
    mere touch only the volume at the price beyond the queue ahead can reach it, at most
    `max_volume_share` of it."""
    sign = 1.0 if buy else -1.0
    # Signed tick units, so "at or better for a buy" is always "<= limit".
    limit = sign * np.rint(limit_price / tick)
    up = close >= open_
    w0 = sign * np.rint(open_ / tick)
    w1 = sign * np.rint((low if up else high) / tick)
    w2 = sign * np.rint((high if up else low) / tick)
    w3 = sign * np.rint(close / tick)
    points = 1.0 + abs(w1 - w0) + abs(w2 - w1) + abs(w3 - w2)
    at_or_better = ((1.0 if w0 <= limit else 0.0) + _leg_count(w0, w1, limit)
                    + _leg_count(w1, w2, limit) + _leg_count(w2, w3, limit))
    beyond = ((1.0 if w0 <= limit - 1 else 0.0) + _leg_count(w0, w1, limit - 1)
              + _leg_count(w1, w2, limit - 1) + _leg_count(w2, w3, limit - 1))
    per_point = volume / points if points > 0 else 0.0
    volume_at = per_point * (at_or_better - beyond)
    volume_through = per_point * at_or_better
    crossing = (not is_bar) and ((ask <= limit_price) if buy else (bid >= limit_price))
    volume_through = volume_through + (((ask_qty if buy else bid_qty)) if crossing else 0.0)
    through = beyond > 0 or crossing
    resting_queue = queue
    if resting_queue != resting_queue:  # noqa: PLR0124  NaN: no queue estimate yet
        resting_queue = 0.0
    elif resting_queue == np.inf:
        resting_queue = _FLOAT_MAX
    elif resting_queue == -np.inf:
        resting_queue = -_FLOAT_MAX
    if through:
        allowance = through_volume_share * volume_through
        new_queue = 0.0
    else:
        allowance = fmin(max_volume_share * volume_at, fmax(volume_at - resting_queue, 0.0))
        new_queue = fmax(resting_queue - volume_at, 0.0)
    fee_rate = maker_fee_bps * 1e-4
    affordable = budget / (limit_price * (1 + fee_rate)) if buy else np.inf
    amount = floor_to_lot(fmin(fmin(remaining, allowance), affordable), lot)
    return fmax(amount, 0.0), new_queue


@jit
def match_order(side: int, is_market: bool, limit: float, remaining: float, queue_ahead: float,
                placed_ms: int, cancel_ms: int, budget: float, tick: float, lot: float,
                is_bar: bool, start_ms: int, end_ms: int, open_: float, high: float,
                low: float, close: float, volume: float, bid: float, ask: float,
                bid_qty: float, ask_qty: float,
                max_volume_share: float, through_volume_share: float,
                maker_fee_bps: float, taker_fee_bps: float,
                levels: int, growth: float, powers: np.ndarray, spacing: int,
                level_price: np.ndarray, level_amount: np.ndarray, scratch: np.ndarray
                ) -> tuple[float, float, float, int, float, float, bool, bool]:
    """One order against the market event it meets. Writes its level columns (pre-zeroed,
    length `levels`; `scratch` is working space of that length, so a step of thousands of
    orders allocates nothing) and returns (amount, notional, fee, liquidity, remaining after,
    queue ahead after, canceled, done); see model/fills.py for the rules."""
    buy = side == BUY
    live = start_ms >= placed_ms and start_ms < cancel_ms and remaining >= lot * (1 - EPS)
    is_new = live and queue_ahead != queue_ahead  # noqa: PLR0124  NaN: not yet queued
    opposite = ask if buy else bid
    slack = EPS * tick
    marketable = (limit >= opposite - slack) if buy else (limit <= opposite + slack)
    taker = is_new and (is_market or marketable)
    if taker:
        walk_book(buy, is_market, limit, remaining, budget if buy else np.inf,
                  ask if buy else bid, ask_qty if buy else bid_qty, tick, lot, taker_fee_bps,
                  levels, powers, spacing, level_price, level_amount)

    resting = live and not taker and not is_market
    queue = queue_ahead
    if is_new and resting:
        queue = initial_queue(buy, limit, bid, ask, bid_qty, ask_qty, tick, levels, growth,
                              powers, spacing)
    if resting and (not is_new or is_bar):
        maker_amount, queue = passive_fill(
            buy, limit, remaining, budget, queue, is_bar, open_, high, low, close, volume,
            bid, ask, bid_qty, ask_qty, tick, lot, max_volume_share, through_volume_share,
            maker_fee_bps)
        level_price[0] = limit
        level_amount[0] = maker_amount

    amount = pairwise_sum(level_amount, levels)
    notional = 0.0
    if amount > 0:
        for k in range(levels):
            scratch[k] = level_price[k] * level_amount[k]
        notional = pairwise_sum(scratch, levels)
    liquidity = (TAKER if taker else MAKER) if amount > 0 else NO_FILL
    fee_bps = taker_fee_bps if taker else maker_fee_bps
    left = fmax(remaining - amount, 0.0)
    filled = left < lot * 0.5
    if filled:
        left = 0.0
    if taker and not is_market:
        queue = 0.0  # a taker's rest leads its level
    canceled = (not filled) and (end_ms >= cancel_ms or (taker and is_market))
    return (amount, notional, notional * fee_bps * 1e-4, liquidity, left, queue, canceled,
            filled or canceled)


@jit
def match_batch(event: np.ndarray, side: np.ndarray, is_market: np.ndarray, price: np.ndarray,
                remaining: np.ndarray, queue_ahead: np.ndarray, placed_ms: np.ndarray,
                cancel_ms: np.ndarray, budget: np.ndarray, tick: np.ndarray, lot: np.ndarray,
                m_is_bar: np.ndarray, m_start_ms: np.ndarray, m_end_ms: np.ndarray,
                m_open: np.ndarray, m_high: np.ndarray, m_low: np.ndarray, m_close: np.ndarray,
                m_volume: np.ndarray, m_bid: np.ndarray, m_ask: np.ndarray,
                m_bid_qty: np.ndarray, m_ask_qty: np.ndarray,
                max_volume_share: float, through_volume_share: float,
                maker_fee_bps: float, taker_fee_bps: float,
                levels: int, growth: float, powers: np.ndarray, spacing: int,
                out_amount: np.ndarray, out_notional: np.ndarray, out_fee: np.ndarray,
                out_liquidity: np.ndarray, out_level_price: np.ndarray,
                out_level_amount: np.ndarray, out_remaining: np.ndarray,
                out_queue: np.ndarray, out_canceled: np.ndarray, out_done: np.ndarray) -> None:
    """`match_order` for every row of an order batch (the arrays of model.fills)."""
    scratch = np.empty(levels)
    for i in range(event.shape[0]):
        e = event[i]
        result = match_order(
            side[i], is_market[i], price[i], remaining[i], queue_ahead[i], placed_ms[i],
            cancel_ms[i], budget[i], tick[i], lot[i],
            m_is_bar[e], m_start_ms[e], m_end_ms[e], m_open[e], m_high[e], m_low[e],
            m_close[e], m_volume[e], m_bid[e], m_ask[e], m_bid_qty[e], m_ask_qty[e],
            max_volume_share, through_volume_share, maker_fee_bps, taker_fee_bps, levels,
            growth, powers, spacing, out_level_price[i], out_level_amount[i], scratch)
        (out_amount[i], out_notional[i], out_fee[i], out_liquidity[i], out_remaining[i],
         out_queue[i], out_canceled[i], out_done[i]) = result
