"""The one fill model: which resting or incoming orders fill, how much, at what price.

Used by the paper broker (a batch of one symbol's open orders), the replay backtester and
the RL environment (thousands of orders per step), so the core `match()` is a pure function
over numpy arrays: no clock, no randomness; same arrays in, same arrays out. Its rules run
per order in `model/fill_kernel.py`, compiled by numba (ADR-039): the RL env's compiled
step calls the very same per-order function.

Layout. `MarketArrays` has one row per market event (a tick or a closed 1m bar of one
symbol); `OrderArrays` has one row per order, and `orders.event[i]` is the market row that
order i meets. State that lives between events (remaining amount, queue ahead) is returned
in `FillArrays`; `advance()` folds it back into the orders and drops closed ones, so a
backtester can stay in arrays from step to step.

Rules (each has a row in tests/scenarios/):
* An order meets an event only if the event starts at or after the order was placed, and
  before a requested cancel. A cancel takes effect at the next event: an event already in
  progress at the cancel time (a bar that opened before it) can still fill the order; the
  order is then closed with `canceled`.
* On the first event it meets, an order is *marketable* when a buy's limit >= ask (a sell's
  <= bid), or it is a market order. It then takes liquidity (taker fee) by walking a book
  synthesized from top-of-book: level k sits `k * book_level_spacing_ticks` ticks behind the
  touch with size `top_size * book_level_growth**k`, for `book_levels` levels. Slippage thus
  grows with size; prices never go past the limit. What a market order cannot take in that
  walk expires (`canceled`); a limit's remainder rests at its price, first in its queue.
* Otherwise it rests. Its queue ahead is the book size at its price then: the best bid size
  when it joins the best bid, zero when it improves the spread, the synthesized level size
  when it sits deeper (the last level's size beyond `book_levels`). A resting buy fills
  (maker, at its limit) when the market trades *through* its price (prices below it were
  visited, or on a tick the ask crossed down to it): the level was cleared, queue and all,
  so it fills whole, up to all the volume traded at or through the price in the event
  (plus, on a crossing tick, the crossing quote's size; `through_volume_share` < 1 caps it
  at that share, for tests that need an order to fill in parts). On a mere *touch* (lowest price
  == limit) only the volume at the price beyond the queue ahead can fill it, at most
  `max_volume_share` of that volume, and that volume first shrinks the queue. Sells mirror
  this. Why whole: on a real trade tape (`entasis sim fills`, model/tape_fills.py) a
  resting order fills all-or-nothing when the price trades through it, whatever its size;
  a through-fill capped at a share of the bar's volume made the fill rate fall with order
  size (XRP/ETH at 1 min: 44 % for 10, 16 % for 300 XRP, against 38 % on the tape for both).
* A bar's volume is spread evenly over the tick-grid points of its intra-bar path,
  open -> low -> high -> close when close >= open, else open -> high -> low -> close (the
  path exchange/sim/ticks.py synthesizes ticks along). A tick is a one-point path at `last`
  carrying the volume traded since the previous tick. A tick is an instant: an order placed
  at it sees its book (and may take), but rests before its trades; a bar lasts a minute, so
  an order resting from its open can fill on its path.
* Amounts are floored to the lot grid, prices are on the tick grid, fees are in quote.
  Orders are matched independently (one order's fill does not consume another's volume).

Floats inside, on purpose: exact `Decimal` amounts belong to the ledger, and the paper
broker converts at the boundary (nearest grid point, then clamped to the exact remaining).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields, replace

import numpy as np
from numpy.typing import ArrayLike

from model import costs, fill_kernel

# Re-exported (the `as` form says so to mypy): callers speak of sides and liquidity via fills.
from model.fill_kernel import BUY as BUY
from model.fill_kernel import MAKER as MAKER
from model.fill_kernel import NO_FILL as NO_FILL
from model.fill_kernel import SELL as SELL
from model.fill_kernel import TAKER as TAKER

NO_CANCEL_MS = int(np.iinfo(np.int64).max)
_EPS = fill_kernel.EPS  # float tolerance in grid units
# Relative float tolerance when flooring to lots: an amount of 1e9 lots (46 coins at a 1e-8
# lot) carries float error near 1e-6 lots, far above _EPS, and callers shave budgets by
# 1e-12 of their size for float safety; either would otherwise floor the last lot away.
_REL_EPS = fill_kernel.REL_EPS


@dataclass(frozen=True, slots=True)
class FillParams:
    """Knobs of the fill model; the same values must drive paper, backtest and RL."""

    max_volume_share: float = 0.1  # touch fill cap: share of the volume at the price
    # Through fill cap: share of the volume at or through the price; 1 = the order fills
    # whole up to all of it (what trade tapes show). Below 1 only to trickle fills in tests.
    through_volume_share: float = 1.0
    maker_fee_bps: float = 10.0
    taker_fee_bps: float = 10.0
    book_levels: int = 10  # synthesized depth walked by takers
    book_level_growth: float = 1.2  # level k size = top size * growth**k (<1 decays)
    book_level_spacing_ticks: int = 1
    bar_book_share: float = 0.08  # bars: top-of-book size as a share of the bar's volume
    bar_spread_ticks: int = 1  # bars: synthesized spread, bid = open, ask = open + spread


@dataclass(frozen=True, slots=True)
class MarketArrays:
    """One row per market event. Ticks have open = high = low = close = last."""

    is_bar: np.ndarray  # bool
    start_ms: np.ndarray  # int64: tick time, or bar open time
    end_ms: np.ndarray  # int64: tick time, or bar close time (open + 59_999)
    open: np.ndarray  # float64, as all below
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # base amount traded during the event
    bid: np.ndarray  # top of book as the event starts
    ask: np.ndarray
    bid_qty: np.ndarray
    ask_qty: np.ndarray

    def __len__(self) -> int:
        return int(self.start_ms.shape[0])


@dataclass(frozen=True, slots=True)
class OrderArrays:
    """One row per open order; `event[i]` is the MarketArrays row order i meets."""

    event: np.ndarray  # int64
    side: np.ndarray  # int8: BUY (+1) or SELL (-1)
    is_market: np.ndarray  # bool
    price: np.ndarray  # float64 limit price (ignored for market orders)
    remaining: np.ndarray  # float64 base amount still open
    queue_ahead: np.ndarray  # float64 base amount ahead at the price; NaN = not yet resting
    placed_ms: np.ndarray  # int64
    cancel_ms: np.ndarray  # int64, NO_CANCEL_MS when no cancel was requested
    budget: np.ndarray  # float64 quote a buy may still spend incl. fees (inf = no cap)
    tick: np.ndarray  # float64 tick size at the order's price
    lot: np.ndarray  # float64 lot size

    def __len__(self) -> int:
        return int(self.event.shape[0])


@dataclass(frozen=True, slots=True)
class FillArrays:
    """What happened to each order in its event. Level columns: taker fills use one column
    per book level walked (prices on the tick grid); a maker fill uses column 0."""

    amount: np.ndarray  # float64 base filled in this event (on the lot grid)
    notional: np.ndarray  # float64 quote, sum of level_price * level_amount
    fee: np.ndarray  # float64 quote
    liquidity: np.ndarray  # int8: NO_FILL, MAKER or TAKER
    level_price: np.ndarray  # float64 (n, book_levels)
    level_amount: np.ndarray  # float64 (n, book_levels), zero where nothing filled
    remaining: np.ndarray  # float64 after this event
    queue_ahead: np.ndarray  # float64 after this event (NaN while not yet resting)
    canceled: np.ndarray  # bool: closed with `remaining` unfilled (cancel, or market expiry)
    done: np.ndarray  # bool: closed (filled or canceled); drop it before the next event


def orders(
    event: ArrayLike,
    side: ArrayLike,
    price: ArrayLike,
    amount: ArrayLike,
    tick: ArrayLike,
    lot: ArrayLike,
    *,
    is_market: ArrayLike | None = None,
    placed_ms: ArrayLike | None = None,
    budget: ArrayLike | None = None,
) -> OrderArrays:
    """New orders (not yet resting, no cancel) with the optional columns defaulted."""
    n = np.asarray(event).shape[0]
    return OrderArrays(
        event=np.asarray(event, dtype=np.int64),
        side=np.asarray(side, dtype=np.int8),
        is_market=np.zeros(n, bool) if is_market is None else np.asarray(is_market, bool),
        price=np.asarray(price, dtype=np.float64),
        remaining=np.asarray(amount, dtype=np.float64),
        queue_ahead=np.full(n, np.nan),
        placed_ms=np.zeros(n, np.int64) if placed_ms is None else np.asarray(placed_ms, np.int64),
        cancel_ms=np.full(n, NO_CANCEL_MS, np.int64),
        budget=np.full(n, np.inf) if budget is None else np.asarray(budget, np.float64),
        tick=np.broadcast_to(np.asarray(tick, np.float64), (n,)).copy(),
        lot=np.broadcast_to(np.asarray(lot, np.float64), (n,)).copy(),
    )


def market_from_ticks(
    ts_ms: ArrayLike,
    last: ArrayLike,
    bid: ArrayLike,
    ask: ArrayLike,
    bid_qty: ArrayLike,
    ask_qty: ArrayLike,
    volume: ArrayLike,
) -> MarketArrays:
    """Market rows from ticks; `volume` is the base amount traded since the previous tick."""
    ts = np.asarray(ts_ms, dtype=np.int64)
    px = np.asarray(last, dtype=np.float64)
    return MarketArrays(
        is_bar=np.zeros(ts.shape[0], bool),
        start_ms=ts,
        end_ms=ts,
        open=px,
        high=px,
        low=px,
        close=px,
        volume=np.nan_to_num(np.asarray(volume, np.float64), nan=0.0),
        bid=np.asarray(bid, np.float64),
        ask=np.asarray(ask, np.float64),
        bid_qty=np.nan_to_num(np.asarray(bid_qty, np.float64), nan=0.0),
        ask_qty=np.nan_to_num(np.asarray(ask_qty, np.float64), nan=0.0),
    )


def market_from_bars(
    open_ms: ArrayLike,
    open_: ArrayLike,
    high: ArrayLike,
    low: ArrayLike,
    close: ArrayLike,
    volume: ArrayLike,
    tick: ArrayLike,
    params: FillParams,
    spread: ArrayLike | None = None,
) -> MarketArrays:
    """Market rows from closed 1m bars, with a top of book synthesized at the open:
    bid = open, ask = open + the spread, both `bar_book_share` of the volume. The spread is
    `bar_spread_ticks` ticks, or with `spread` (each row's symbol's relative spread,
    model/costs.py) that share of the open in whole ticks, never below `bar_spread_ticks`."""
    start = np.asarray(open_ms, dtype=np.int64)
    o = np.ascontiguousarray(open_, np.float64)
    v = np.ascontiguousarray(volume, np.float64)
    ticks = np.ascontiguousarray(np.broadcast_to(np.asarray(tick, np.float64), o.shape))
    floor = float(params.bar_spread_ticks)
    widths: float | np.ndarray = (floor if spread is None else np.ascontiguousarray(
        costs.spread_ticks(np.asarray(spread, np.float64), o, ticks, floor)))
    bid, ask, bid_qty, ask_qty = fill_kernel.bar_book(
        o, v, ticks, widths, float(params.bar_book_share))
    return MarketArrays(
        is_bar=np.ones(start.shape[0], bool),
        start_ms=start,
        end_ms=start + fill_kernel.BAR_LAST_MS,
        open=o,
        high=np.asarray(high, np.float64),
        low=np.asarray(low, np.float64),
        close=np.asarray(close, np.float64),
        volume=v,
        bid=bid.copy(),
        ask=ask,
        bid_qty=bid_qty,
        ask_qty=ask_qty.copy(),
    )


def bar_path(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """The intra-bar path's four waypoints, shape (4, n): open, low, high, close when the
    bar closed up (close >= open), else open, high, low, close. exchange/sim/ticks.py
    synthesizes ticks along the same path, so paper fills on simulated ticks and backtest
    fills on the bars they came from agree on which prices were visited, and in what order."""
    up = close >= open_
    return np.stack([open_, np.where(up, low, high), np.where(up, high, low), close])


def floor_to_lot(amount: np.ndarray, lot: np.ndarray) -> np.ndarray:
    """Largest multiple of `lot` not above `amount`, tolerant of float noise: `_EPS` lots
    plus `_REL_EPS` of the amount (so a budget may be overrun by that share at most; the
    paper broker settles in exact Decimal and never charges beyond a reservation)."""
    lots = amount / lot
    return np.floor(lots + _EPS + np.abs(lots) * _REL_EPS) * lot


def match(orders: OrderArrays, market: MarketArrays, params: FillParams) -> FillArrays:
    """Match every order against its market event; see the module docstring for rules."""
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN limits of market orders
        return _match(orders, market, params)


def _match(orders: OrderArrays, market: MarketArrays, params: FillParams) -> FillArrays:
    n, levels = len(orders), params.book_levels
    out = FillArrays(
        amount=np.zeros(n), notional=np.zeros(n), fee=np.zeros(n),
        liquidity=np.zeros(n, np.int8), level_price=np.zeros((n, levels)),
        level_amount=np.zeros((n, levels)), remaining=np.zeros(n), queue_ahead=np.zeros(n),
        canceled=np.zeros(n, bool), done=np.zeros(n, bool))
    if n == 0:
        return out
    c = np.ascontiguousarray
    fill_kernel.match_batch(  # type: ignore[call-arg]  # *columns: mypy cannot count
        c(orders.event, np.int64), c(orders.side, np.int8), c(orders.is_market, bool),
        c(orders.price, np.float64), c(orders.remaining, np.float64),
        c(orders.queue_ahead, np.float64), c(orders.placed_ms, np.int64),
        c(orders.cancel_ms, np.int64), c(orders.budget, np.float64),
        c(orders.tick, np.float64), c(orders.lot, np.float64),
        *(c(getattr(market, name), _MARKET_DTYPES[name]) for name in _MARKET_COLUMNS),  # type: ignore[arg-type]
        float(params.max_volume_share), float(params.through_volume_share),
        float(params.maker_fee_bps),
        float(params.taker_fee_bps), int(levels), float(params.book_level_growth),
        _level_growth(float(params.book_level_growth), int(levels)),
        int(params.book_level_spacing_ticks),
        out.amount, out.notional, out.fee, out.liquidity, out.level_price, out.level_amount,
        out.remaining, out.queue_ahead, out.canceled, out.done)
    return out


@functools.lru_cache(maxsize=16)
def _level_growth(growth: float, levels: int) -> np.ndarray:
    """`fill_kernel.level_growth`, once per (growth, levels): the same table for every batch,
    without ten `math.pow` calls per `match` (shared: the kernel only reads it; left
    writeable so that the kernel keeps its one compiled signature)."""
    return fill_kernel.level_growth(growth, levels)


_MARKET_COLUMNS = tuple(f.name for f in fields(MarketArrays))
_MARKET_DTYPES = {name: (bool if name == "is_bar" else np.int64 if name.endswith("_ms")
                         else np.float64) for name in _MARKET_COLUMNS}


def advance(orders: OrderArrays, fills: FillArrays) -> tuple[OrderArrays, np.ndarray]:
    """Orders still open after `fills`, carrying their new remaining and queue ahead, and
    the boolean mask of kept rows (to carry the caller's own per-order columns along)."""
    keep = ~fills.done
    columns = [f.name for f in fields(OrderArrays)]
    kept = replace(
        orders,
        remaining=fills.remaining,
        queue_ahead=fills.queue_ahead,
        budget=orders.budget - np.where(orders.side == BUY, fills.notional + fills.fee, 0.0),
    )
    return (
        OrderArrays(*(getattr(kept, name)[keep] for name in columns)),
        keep,
    )
