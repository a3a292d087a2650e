"""The fill model on a trade tape's own ticks, the touch known: its queue rule held to the tape.

`entasis sim fills --events ticks` (bot/cli/sim_fills.py). Where the touch is known — a live
or paper feed with the book's best bid and ask, here inferred from the tape or read from
quotes — the fill model meets a resting order tick by tick (`fills.market_from_ticks`), and
the question is only its queue rule: does an order at the touch fill as often as the tape
says (model/tape_fills.py)? On bars the touch is the model's guess (model/tape_compare.py);
this module takes that guess away.

One tick a trade, carrying that trade's amount at its price, and one tick of no volume at
each placement time, the book then. Why the extra tick: a tick carries the volume traded
since the tick before it, so an order the fill model meets first on a trade's tick rests
*after* that trade (the kernel's rule for a new order on a tick); the placement tick gives
the order the book at its time, and every trade after it is its own later tick, as on the
tape. A placement tick sorts before trades of the same millisecond (the tape counts those
trades as after the placement).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from model import fills
from model.tape_fills import Quotes, Tape, TouchOrders, touch_from_quotes, touch_from_tape

#: What the fill model meets the tape's orders on: the bars (its touch guessed from each
#: open, as in a backtest) or the tape's own ticks (the touch known).
EVENTS = ("bars", "ticks")


@dataclass(frozen=True, slots=True)
class TickMarket:
    """The fill model's market rows, one a tick, in time order."""

    market: fills.MarketArrays
    ts_ms: np.ndarray  # int64, the rows' times (non-decreasing)

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])


def tick_market(tape: Tape, placed_ms: np.ndarray, tick: float,
                queue: tuple[float, float] | None = None,
                quotes: Quotes | None = None) -> TickMarket:
    """Ticks of the tape's trades and of each placement time (see the module docstring).
    The book at each tick: `quotes` (prices and sizes) when given, else the touch the tape
    reveals (model/tape_fills.py) with `queue` = (bid, ask) sizes; before both sides have
    traded, the last price and one tick above it."""
    places = np.unique(np.asarray(placed_ms, np.int64))
    ts_ms = np.concatenate([places, tape.ts_ms])
    is_trade = np.concatenate([np.zeros(places.shape[0], bool), np.ones(len(tape), bool)])
    before = np.searchsorted(tape.ts_ms, places, side="left") - 1
    last_then = np.where(before >= 0, tape.price[np.maximum(before, 0)], np.nan)
    last = np.concatenate([last_then, tape.price])
    volume = np.concatenate([np.zeros(places.shape[0]), tape.amount])
    order = np.lexsort((is_trade, ts_ms))  # by time; a placement before its ms's trades
    ts_ms, last, volume = ts_ms[order], last[order], volume[order]
    if quotes is not None:
        touch = touch_from_quotes(quotes, ts_ms)
        bid_size, ask_size = touch.bid_size, touch.ask_size
    else:
        touch = touch_from_tape(tape, ts_ms, tick)
        bid_queue, ask_queue = queue if queue is not None else (0.0, 0.0)
        bid_size, ask_size = np.full(ts_ms.shape, bid_queue), np.full(ts_ms.shape, ask_queue)
    first_price = tape.price[0] if len(tape) else np.nan
    last = np.where(np.isfinite(last), last, first_price)
    bid = np.where(np.isfinite(touch.bid), touch.bid, last)
    ask = np.where(np.isfinite(touch.ask), touch.ask, last + tick)
    market = fills.market_from_ticks(ts_ms, last, bid, ask, bid_size, ask_size, volume)
    return TickMarket(market, ts_ms)


def tick_fills(ticks: TickMarket, orders: TouchOrders, horizon_ms: int,
               params: fills.FillParams, tick: float, lot: float) -> np.ndarray:
    """The amount the fill model fills of each order, resting from its placement tick at
    its own price over the ticks within `horizon_ms`."""
    start = np.searchsorted(ticks.ts_ms, orders.placed_ms, side="left")
    if np.any(start >= len(ticks)) or np.any(ticks.ts_ms[np.minimum(start, len(ticks) - 1)]
                                             != orders.placed_ms):
        raise ValueError("every order needs its placement tick (tick_market(placed_ms=...))")
    batch = fills.orders(start, orders.side, orders.price, orders.amount, tick, lot,
                         placed_ms=orders.placed_ms)
    return rest_within(batch, ticks.market, ticks.ts_ms, orders.placed_ms + horizon_ms,
                       params)


def rest_within(batch: fills.OrderArrays, market: fills.MarketArrays, event_ms: np.ndarray,
                ends_ms: np.ndarray, params: fills.FillParams) -> np.ndarray:
    """The amount filled of each order of `batch` (one row each, at its first event), met
    event by event through `fills.match` / `fills.advance` while its event starts before
    its end in `ends_ms`."""
    filled = np.zeros(len(batch))
    ids = np.arange(len(batch))
    while len(batch):
        within = batch.event < event_ms.shape[0]
        within[within] &= event_ms[batch.event[within]] < ends_ms[ids[within]]
        batch, ids = keep_orders(batch, within), ids[within]
        if not len(batch):
            break
        result = fills.match(batch, market, params)
        filled[ids] += result.amount
        batch, kept = fills.advance(batch, result)
        ids = ids[kept]
        batch = replace(batch, event=batch.event + 1)
    return filled


def keep_orders(batch: fills.OrderArrays, rows: np.ndarray) -> fills.OrderArrays:
    """The orders of `batch` at `rows` (a mask or indices)."""
    return fills.OrderArrays(*(getattr(batch, name)[rows]
                               for name in fills.OrderArrays.__dataclass_fields__))
