"""What a real trade tape says about resting orders placed at the touch: did they fill?

The fill model (model/fills.py) guesses from 1m bars how often a passive order fills; a
trade tape (`timestamp_ms,trade_id,price,amount,side`, side = the taker's) answers it. This
module replays a tape against hypothetical orders and measures the tape's fill rate, so
model/tape_compare.py can hold the model's prediction against it and calibrate its queue.

Rules of the replay (price-time priority, no market impact of our own order):
* An order is placed at `placed_ms` at the touch: a buy at the best bid, a sell at the best
  ask. The touch comes from quotes (the last quote at or before placement) where given;
  else it is inferred from the tape (`touch_from_tape`): the bid is the price of the last
  sell-taker trade (a seller hit the bid there), the ask that of the last buy-taker trade,
  the side of the newest trade wins when they cross.
* Its queue ahead is the quoted size at its price (quotes), else a stated assumption given
  by the caller (`revealed_touch_sizes` measures one from the tape's sweeps).
* Trades at or after `placed_ms` and before `placed_ms + horizon_ms` are met in tape order.
  A trade AT the price by a taker of the other side (a seller for a buy) first eats the queue
  ahead, then fills the order with what is left of it. Queue ahead shrinks by trades only
  (cancellations ahead of us are unseen: the conservative reading).
* A trade strictly through the order's price (below a buy's, above a sell's; either taker
  side) means the whole level was taken, the queue ahead included. How much of it would have
  been ours is the rule `through` (`THROUGH_RULES`):
  - "volume" (the default): the trade's own amount. Had our order rested there, the taker
    would have met it before printing beyond it, so what printed through our price is what
    would have reached us: a large order is not filled whole by one small trade through it.
    The fill model's bar rule is the same principle (`FillParams.through_volume_share` of
    the volume at or through the price), so the two are held to one reading.
  - "whole": all that is left (the reading of ADR-087; right for orders small against the
    trades, optimistic for large ones), kept to reproduce its figures.
Pure functions over numpy arrays; no clock, no randomness.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.errors import DataError
from model.fill_kernel import BUY, SELL

_GRID_TOLERANCE = 1e-9  # relative float noise allowed when testing a value is on a grid
#: How a trade through a resting order's price fills it (see the module docstring).
THROUGH_RULES = ("volume", "whole")


class TapeError(DataError, ValueError):
    """A tape or quote table that cannot be replayed; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Tape:
    """Trades in time order; `taker_side` is BUY (+1) when the buyer took liquidity."""

    ts_ms: np.ndarray  # int64, non-decreasing
    price: np.ndarray  # float64
    amount: np.ndarray  # float64 base amount
    taker_side: np.ndarray  # int8: BUY or SELL

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])

    def between(self, start_ms: int, end_ms: int) -> Tape:
        """The trades with start_ms <= ts < end_ms."""
        lo, hi = np.searchsorted(self.ts_ms, [start_ms, end_ms], side="left")
        return Tape(self.ts_ms[lo:hi], self.price[lo:hi], self.amount[lo:hi],
                    self.taker_side[lo:hi])


@dataclass(frozen=True, slots=True)
class Quotes:
    """Best bid and ask with their sizes, in time order."""

    ts_ms: np.ndarray  # int64, non-decreasing
    bid: np.ndarray  # float64
    bid_size: np.ndarray
    ask: np.ndarray
    ask_size: np.ndarray


@dataclass(frozen=True, slots=True)
class Touch:
    """The touch each order joins: one row per placement time (NaN where unknown)."""

    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray


@dataclass(frozen=True, slots=True)
class TouchOrders:
    """Resting orders at the touch, one row each."""

    placed_ms: np.ndarray  # int64
    side: np.ndarray  # int8: BUY or SELL
    price: np.ndarray  # float64
    amount: np.ndarray  # float64 base
    queue_ahead: np.ndarray  # float64 base amount ahead at the price when it joins

    def __len__(self) -> int:
        return int(self.placed_ms.shape[0])

    def take(self, rows: np.ndarray) -> TouchOrders:
        """The orders at `rows` (a mask or indices)."""
        return TouchOrders(self.placed_ms[rows], self.side[rows], self.price[rows],
                           self.amount[rows], self.queue_ahead[rows])


def make_tape(ts_ms: np.ndarray, price: np.ndarray, amount: np.ndarray,
              taker_side: np.ndarray) -> Tape:
    """A checked tape: refuses an empty one, unsorted times, non-positive prices or amounts."""
    tape = Tape(np.asarray(ts_ms, np.int64), np.asarray(price, np.float64),
                np.asarray(amount, np.float64), np.asarray(taker_side, np.int8))
    if len(tape) == 0:
        raise TapeError("the tape has no trades: give a file with at least one trade row")
    if np.any(np.diff(tape.ts_ms) < 0):
        raise TapeError("the tape's timestamps go backwards: sort it by timestamp_ms")
    if not (np.all(tape.price > 0) and np.all(tape.amount > 0)):
        raise TapeError("the tape has trades with a price or amount <= 0 (or NaN): drop them")
    if not np.all(np.isin(tape.taker_side, (BUY, SELL))):
        raise TapeError("every trade needs a taker side, buy or sell")
    return tape


def grid_step(values: np.ndarray, max_decimals: int = 12) -> float:
    """The coarsest power-of-ten step, 1 at most, all `values` sit on (1e-8 for
    0.00141342): the tick of prices or the lot of amounts, when the data does not state
    them."""
    finite = np.abs(values[np.isfinite(values)])
    for decimals in range(max_decimals + 1):
        scaled = finite * 10.0**decimals
        if np.all(np.abs(scaled - np.rint(scaled)) <= _GRID_TOLERANCE * np.maximum(1, scaled)):
            return float(10.0**-decimals)
    return float(10.0**-max_decimals)


def touch_from_quotes(quotes: Quotes, at_ms: np.ndarray) -> Touch:
    """The last quote at or before each time; NaN before the first quote."""
    row = np.searchsorted(quotes.ts_ms, at_ms, side="right") - 1
    known = row >= 0
    safe = np.maximum(row, 0)

    def pick(column: np.ndarray) -> np.ndarray:
        return np.where(known, column[safe], np.nan)

    return Touch(pick(quotes.bid), pick(quotes.ask), pick(quotes.bid_size),
                 pick(quotes.ask_size))


def touch_from_tape(tape: Tape, at_ms: np.ndarray, tick: float) -> Touch:
    """The touch just before each time as the tape reveals it: bid = the last price a
    seller hit, ask = the last price a buyer lifted; if those cross (a stale side), the
    newer trade's side stands and the other is put one tick away. NaN until both sides
    have traded. Sizes are unknown here (NaN)."""
    before = np.searchsorted(tape.ts_ms, at_ms, side="left") - 1  # strictly before
    bid = _last_price_of(tape, SELL, before)
    ask = _last_price_of(tape, BUY, before)
    newest_side = np.where(before >= 0, tape.taker_side[np.maximum(before, 0)], 0)
    newest = np.where(before >= 0, tape.price[np.maximum(before, 0)], np.nan)
    crossed = bid >= ask
    bid = np.where(crossed & (newest_side == BUY), newest - tick, bid)
    ask = np.where(crossed & (newest_side == SELL), newest + tick, ask)
    unknown = np.full(bid.shape, np.nan)
    return Touch(bid, ask, unknown, unknown.copy())


def _last_price_of(tape: Tape, side: int, row: np.ndarray) -> np.ndarray:
    """The price of the last trade of `side` at or before each tape row (NaN if none)."""
    index = np.where(tape.taker_side == side, np.arange(len(tape)), -1)
    last = np.maximum.accumulate(index)
    found = np.where(row >= 0, last[np.maximum(row, 0)], -1)
    return np.where(found >= 0, tape.price[np.maximum(found, 0)], np.nan)


def revealed_touch_sizes(tape: Tape, side: int) -> np.ndarray:
    """Touch sizes the tape reveals on the side a taker of `side` hits: when one taker
    order sweeps several levels (consecutive trades, same millisecond, same side, moving
    price), every level but its last was emptied, so its first trade's amount is the whole
    touch size then. Biased low (sweeps happen where the book is thin); empty if none."""
    same_sweep = ((np.diff(tape.ts_ms) == 0) & (tape.taker_side[1:] == tape.taker_side[:-1])
                  & (tape.price[1:] != tape.price[:-1]))
    starts = np.flatnonzero(same_sweep & ~np.concatenate([[False], same_sweep[:-1]]))
    return tape.amount[starts[tape.taker_side[starts] == side]]


def orders_at_touch(placed_ms: np.ndarray, touch: Touch, amount: float,
                    queue_ahead: tuple[float, float] | None = None) -> TouchOrders:
    """A buy at the bid and a sell at the ask at each time where the touch is known (buys
    first, then sells, each in time order). Queue ahead: the touch's sizes, or the
    (bid, ask) queue given when the touch has no sizes."""
    placed = np.asarray(placed_ms, np.int64)
    rows = []
    for side, price, size, given in ((BUY, touch.bid, touch.bid_size, 0),
                                     (SELL, touch.ask, touch.ask_size, 1)):
        queue = size if queue_ahead is None else np.full(price.shape, queue_ahead[given])
        known = np.isfinite(price) & np.isfinite(queue)
        rows.append(TouchOrders(placed[known], np.full(int(known.sum()), side, np.int8),
                                price[known], np.full(int(known.sum()), float(amount)),
                                queue[known]))
    return TouchOrders(*(np.concatenate([getattr(r, f) for r in rows])
                         for f in TouchOrders.__dataclass_fields__))


def tape_fill(side: int, price: float, amount: float, queue_ahead: float, trades: Tape,
              tick: float, through: str = "volume") -> float:
    """How much of ONE resting order the `trades` (those it meets, in order) fill; `through`
    is the rule for trades through its price (`THROUGH_RULES`)."""
    if through not in THROUGH_RULES:
        raise ValueError(f"through must be one of {', '.join(THROUGH_RULES)}, got {through!r}")
    half_tick = 0.5 * tick
    left, queue = amount, queue_ahead
    for trade_price, trade_amount, taker in zip(trades.price.tolist(), trades.amount.tolist(),
                                                trades.taker_side.tolist(), strict=True):
        beyond = (price - trade_price) if side == BUY else (trade_price - price)
        if beyond > half_tick:  # through the price: the whole level was taken
            if through == "whole":
                return amount
            queue = 0.0  # everyone ahead of us went first
            left -= min(left, trade_amount)
        elif beyond > -half_tick and taker == -side:  # at the price, hitting our side
            reaches_us = max(trade_amount - queue, 0.0)
            queue = max(queue - trade_amount, 0.0)
            left -= min(left, reaches_us)
        if left <= 0:
            return amount
    return amount - left


def replay(tape: Tape, orders: TouchOrders, horizon_ms: int, tick: float,
           through: str = "volume") -> np.ndarray:
    """The amount of each order the tape fills within `horizon_ms` of its placement."""
    filled = np.zeros(len(orders))
    for i in range(len(orders)):
        start = int(orders.placed_ms[i])
        filled[i] = tape_fill(int(orders.side[i]), float(orders.price[i]),
                              float(orders.amount[i]), float(orders.queue_ahead[i]),
                              tape.between(start, start + horizon_ms), tick, through)
    return filled
