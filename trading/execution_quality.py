"""What the fill model expected of an order, and what the market then did with it.

The feedback loop from real outcomes to the model (issue 16 item 4): at submission an order
gets an `Expectation` computed by the one fill model (model/fills.py) from the decision-time
quote; when it ends (filled, partly filled, canceled, expired) a `Realization` from its fills.
The execution monitor (trading/execution_monitor.py) stores both side by side in the
ledger's `executions` table, and the drift detector (trading/execution_drift.py) compares
them over the last orders. Pure functions: no clock, no I/O.

Sign convention: slippage is a *cost* in bps of the reference price (the mid at decision):
a buy above the mid and a sell below it are positive. A passive order filled at its limit
has the negative slippage of its limit (it earned part of the spread), the same as modeled.

The expectation, for an order of `amount` at limit `L` (None: market):
* Book: the decision-time quote (bid, ask and their sizes) when the feed has one, else the
  book the fill model synthesizes for a bar from the last close (bid = close, ask = close +
  the symbol's spread in whole ticks, at least `bar_spread_ticks`, model/costs.py; each side
  `bar_book_share` of the recent volume per minute).
  Deeper levels are the fill model's own (`book_levels`, `book_level_growth`).
* Marketable part: the fill model matches the order against that book as one tick with no
  volume: what it takes walking the levels (taker), at the walk's average price. That is
  the *expected price* of a marketable order: touch + modeled slippage. A passive order's
  expected price is its limit.
* Fill probability within `horizon_min` minutes, for the part that rests (share of the
  order expected to fill, the taker part counting as filled):

      p_reach   = 1                                  at or inside the touch
                = erfc(d / (sigma * sqrt(2 * H)))    behind it, d = |ln(L / touch)|
      p_through = erfc((d + t) / (sigma * sqrt(2 * H)))   t = |ln(L -+ tick) / L)|
      V         = 1/2 * v * H                        volume expected on the order's side
      p_fill    = p_through * min(1, u * V / r)
                + (p_reach - p_through) * min(1, min(max(0, V - q), s * V) / r)

  with sigma the 1m log-return volatility (last hour), v the recent volume per minute (last
  hour, base units), q the queue ahead the fill model gives the order when it rests, s the
  fill model's `max_volume_share`, u its `through_volume_share`, r the resting amount. In
  words: the price must reach the limit (a driftless random walk's first passage,
  reflection principle); if it trades one tick through it, the order fills whole up to
  the volume (the fill model's through rule); if it only touches it, the volume on our side
  of the book (half of what trades) must first clear the queue ahead, of which the fill
  model lets an order take at most `s`. A first-order model on purpose: the drift
  detector's job is to say when it is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

import numpy as np

from model import costs, fills
from model.fills import FillParams
from model.instruments import Side
from model.orders import OrderType

BPS = 10_000.0
_SIDES = {Side.BUY: fills.BUY, Side.SELL: fills.SELL}


class Outcome(str, Enum):
    """How an order ended."""

    FILLED = "FILLED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"  # ended (canceled or expired) with some filled
    CANCELED = "CANCELED"  # canceled with nothing filled
    EXPIRED = "EXPIRED"  # a market order the book could not fill, nothing filled
    REJECTED = "REJECTED"  # never reached the book: no execution to compare


@dataclass(frozen=True, slots=True)
class DecisionQuote:
    """One symbol's market at the decision: what the expectation is computed from.

    `bid`/`ask`/`*_qty` are the feed's quote (NaN without one); `last` the newest price,
    `volume_per_min` the recent base volume per minute, `sigma_per_min` the 1m log-return
    volatility (NaN while unknown); `tick`/`lot` the instrument's grid at `last`; `spread`
    the symbol's relative spread the paper broker prices a bar's book at (0: one tick)."""

    last: float
    bid: float
    ask: float
    bid_qty: float
    ask_qty: float
    volume_per_min: float
    sigma_per_min: float
    tick: float
    lot: float
    spread: float = 0.0

    def book(self, params: FillParams) -> tuple[float, float, float, float]:
        """(bid, ask, bid_qty, ask_qty): the quote when it is a sound one, else the book the
        fill model synthesizes for a bar opening at `last` (model.fill_kernel.bar_book)."""
        quoted = (self.bid, self.ask, self.bid_qty, self.ask_qty)
        if all(math.isfinite(x) and x > 0 for x in quoted) and self.bid < self.ask:
            return quoted
        volume = self.volume_per_min if math.isfinite(self.volume_per_min) else 0.0
        top = max(volume, 0.0) * params.bar_book_share
        width = float(costs.spread_ticks(self.spread, self.last, self.tick,
                                         float(params.bar_spread_ticks)))
        return self.last, self.last + width * self.tick, top, top


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the fill model expects of one order, fixed at submission."""

    reference_price: float  # mid of the book at decision
    expected_price: float  # limit (passive) or the modeled taker average (marketable)
    expected_slippage_bps: float  # cost vs the reference, see the module docstring
    fill_probability: float  # expected filled share within the horizon, in [0, 1]
    queue_ahead: float | None  # base amount ahead when it rests (None: it does not rest)
    marketable: bool  # takes liquidity at once (in part or whole)
    horizon_ms: int


@dataclass(frozen=True, slots=True)
class FillPoint:
    """One fill of the order, as the ledger has it."""

    ts_ms: int
    price: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Realization:
    """What happened to one order, once it ended."""

    outcome: Outcome
    filled_amount: Decimal
    avg_fill_price: Decimal | None  # None when nothing filled
    filled_share: float
    filled_share_in_horizon: float  # what `Expectation.fill_probability` predicts
    realized_slippage_bps: float | None  # None when nothing filled
    time_to_fill_ms: int | None  # submission to the last fill; None when nothing filled


def slippage_bps(side: Side, price: float, reference: float) -> float:
    """The cost of trading at `price` against `reference`, in bps (buys above and sells
    below the reference cost; the other way round earns)."""
    sign = 1.0 if side is Side.BUY else -1.0
    return sign * (price - reference) / reference * BPS


def expect(side: Side, order_type: OrderType, amount: Decimal, limit: Decimal | None,
           quote: DecisionQuote, params: FillParams, *, ts_ms: int,
           horizon_min: float) -> Expectation:
    """The expectation of an order placed at `ts_ms` on `quote` (module docstring)."""
    bid, ask, bid_qty, ask_qty = quote.book(params)
    is_market = order_type is OrderType.MARKET or limit is None
    book = fills.market_from_ticks([ts_ms], [(bid + ask) / 2], [bid], [ask], [bid_qty],
                                   [ask_qty], [0.0])
    order = fills.orders([0], [_SIDES[side]], [math.nan if limit is None else float(limit)],
                         [float(amount)], [quote.tick], [quote.lot], is_market=[is_market],
                         placed_ms=[ts_ms])
    taken = fills.match(order, book, params)
    size = float(amount)
    taken_amount = float(taken.amount[0])
    reference = (bid + ask) / 2
    if taken_amount > 0:
        expected_price = float(taken.notional[0]) / taken_amount
    elif limit is not None:
        expected_price = float(limit)
    else:  # a market order the synthesized book cannot fill: the touch is all we know
        expected_price = ask if side is Side.BUY else bid
    resting = 0.0 if (is_market or bool(taken.done[0])) else size - taken_amount
    queue = float(taken.queue_ahead[0]) if resting > 0 else math.nan
    rest_share = 0.0
    if resting > 0 and limit is not None:
        touch = bid if side is Side.BUY else ask
        rest_share = resting_fill_share(
            float(limit), touch, side, resting, queue, quote.volume_per_min,
            quote.sigma_per_min, params.max_volume_share, horizon_min, tick=quote.tick,
            through_volume_share=params.through_volume_share)
    probability = (taken_amount + resting * rest_share) / size if size > 0 else 0.0
    return Expectation(
        reference_price=reference, expected_price=expected_price,
        expected_slippage_bps=slippage_bps(side, expected_price, reference),
        fill_probability=min(1.0, max(0.0, probability)),
        queue_ahead=queue if math.isfinite(queue) else None,
        marketable=taken_amount > 0, horizon_ms=round(horizon_min * 60_000))


def resting_fill_share(limit: float, touch: float, side: Side, resting: float, queue: float,
                       volume_per_min: float, sigma_per_min: float, max_volume_share: float,
                       horizon_min: float, *, tick: float,
                       through_volume_share: float) -> float:
    """Expected filled share of a resting order within the horizon (module docstring):
    the chance the price trades through the limit times the share the volume lets a trade
    through fill, plus the chance it only touches it times the share the volume on the
    order's side, after the queue ahead, lets it fill."""
    behind = (limit < touch) if side is Side.BUY else (limit > touch)
    distance = abs(math.log(limit / touch)) if behind else 0.0
    beyond = limit - tick if side is Side.BUY else limit + tick
    through_distance = distance + (abs(math.log(beyond / limit)) if beyond > 0 else math.inf)
    moves = math.isfinite(sigma_per_min) and sigma_per_min > 0 and horizon_min > 0
    scale = sigma_per_min * math.sqrt(2.0 * horizon_min) if moves else 0.0

    def passage(d: float) -> float:
        """First passage of a driftless walk to a distance d within the horizon."""
        if d <= 0.0:
            return 1.0
        return math.erfc(d / scale) if moves else 0.0  # a still price reaches nothing

    reach, through = passage(distance), passage(through_distance)
    volume = 0.5 * max(volume_per_min, 0.0) * horizon_min if math.isfinite(volume_per_min) else 0.0
    ahead = queue if math.isfinite(queue) else 0.0
    touched = min(max(0.0, volume - ahead), max_volume_share * volume)
    if resting <= 0:
        return 0.0
    return (through * min(1.0, through_volume_share * volume / resting)
            + (reach - through) * min(1.0, touched / resting))


def realize(side: Side, order_type: OrderType, amount: Decimal, submitted_ms: int,
            expectation_reference: float, horizon_ms: int, points: Sequence[FillPoint],
            *, rejected: bool = False) -> Realization:
    """The realization of an order that ended, from its fills (in any order)."""
    filled = sum((p.amount for p in points), Decimal(0))
    share = float(filled / amount) if amount > 0 else 0.0
    in_horizon = sum((p.amount for p in points if p.ts_ms <= submitted_ms + horizon_ms),
                     Decimal(0))
    if rejected:
        outcome = Outcome.REJECTED
    elif amount > 0 and filled >= amount:
        outcome = Outcome.FILLED
    elif filled > 0:
        outcome = Outcome.PARTIALLY_FILLED
    else:
        outcome = Outcome.EXPIRED if order_type is OrderType.MARKET else Outcome.CANCELED
    if filled <= 0:
        return Realization(outcome, filled, None, share, 0.0, None, None)
    average = sum((p.price * p.amount for p in points), Decimal(0)) / filled
    return Realization(
        outcome=outcome, filled_amount=filled, avg_fill_price=average, filled_share=share,
        filled_share_in_horizon=float(in_horizon / amount),
        realized_slippage_bps=slippage_bps(side, float(average), expectation_reference),
        time_to_fill_ms=max(p.ts_ms for p in points) - submitted_ms)


def decision_quote(last: float, bid: float, ask: float, bid_qty: float, ask_qty: float,
                   quote_volume_per_min: float, sigma_per_min: float, tick: Decimal,
                   lot: Decimal, spread: float = 0.0) -> DecisionQuote:
    """A `DecisionQuote` from a feature book's numbers (quote volume turned into base)."""
    base_volume = quote_volume_per_min / last if last > 0 else math.nan
    return DecisionQuote(float(last), float(bid), float(ask), float(bid_qty), float(ask_qty),
                         float(base_volume), float(sigma_per_min), float(tick), float(lot),
                         float(spread))


def finite_or_none(value: float) -> float | None:
    """`value`, or None where it is NaN or infinite (SQLite stores NaN as NULL anyway)."""
    return value if np.isfinite(value) else None
