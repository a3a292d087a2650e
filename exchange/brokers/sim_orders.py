"""The paper broker's orders: what a request must pass, and what an open order keeps,
locks and shows.

Kept apart from the broker (exchange/brokers/sim.py) so the per-order rules read in one
place: the exchange's checks a request meets before its funds are looked at, the funds it
reserves when it is placed, the mutable state of an open order, its public `OpenOrder`
view, and the columns a batch of them becomes for the fill model (model/fills.py). The
broker keeps the orders, the wallet and the ids, and decides what happens to them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

import numpy as np

from exchange.brokers.fill_grid import fill_budget
from exchange.brokers.sim_market import Quote
from model import fills
from model.instruments import Instrument, Side
from model.orders import OpenOrder, OrderRequest, OrderType, RejectReason
from model.settlement import FEE_QUANTUM

_SIDES = {Side.BUY: fills.BUY, Side.SELL: fills.SELL}
_FILTER_REASONS = {
    "PRICE_FILTER": RejectReason.PRICE_FILTER,
    "LOT_SIZE": RejectReason.LOT_SIZE,
    "MIN_NOTIONAL": RejectReason.MIN_NOTIONAL,
    "NOTIONAL": RejectReason.MIN_NOTIONAL,  # orders.RejectReason has one notional reason
}


@dataclass(slots=True)
class PaperOrder:
    """Mutable broker-side state of one open order."""

    request: OrderRequest
    remaining: Decimal
    reserved: Decimal  # quote for buys (incl. fees), base for sells
    tick: Decimal  # tick at the order's price (Upbit bands)
    queue_ahead: float = math.nan
    cancel_ms: int = fills.NO_CANCEL_MS
    # Fees charged so far minus their exact (unrounded) amount: each fill's fee is rounded
    # up, the reservation rounded the whole order's fee up once. Given back to the budget
    # the fill model sees, which reckons exact fees, so the rounding never costs a lot.
    fee_prepaid: Decimal = Decimal(0)

    def open_order(self, client_order_id: str) -> OpenOrder:
        """The order as `Broker.open_orders` reports it."""
        request = self.request
        return OpenOrder(
            client_order_id=client_order_id,
            symbol=request.symbol,
            side=request.side,
            type=request.type,
            price=request.price,
            amount=request.amount,
            remaining=self.remaining,
            cancel_requested_ms=None if self.cancel_ms == fills.NO_CANCEL_MS else self.cancel_ms,
            ts_event=request.ts_event,
        )


def reference_price(request: OrderRequest, quote: Quote | None) -> Decimal | None:
    """The price a request is checked and placed at: a market order's is the last close
    (None before any bar), a limit order's its own (None if it has none)."""
    if request.type is OrderType.MARKET:
        return quote.last if quote is not None else None
    return request.price


def request_refusal(request: OrderRequest, instrument: Instrument,
                    quote: Quote | None) -> tuple[RejectReason, str] | None:
    """Why the exchange refuses `request` before its funds are looked at, or None: a market
    order with no quote yet to check it against, a limit order without a price, or an
    instrument filter (tick, lot, notional) it breaks at its `reference_price`."""
    is_market = request.type is OrderType.MARKET
    if is_market and quote is None:
        detail = f"no market price for {request.symbol} yet to check a market order"
        return RejectReason.MIN_NOTIONAL, detail
    if not is_market and request.price is None:
        return RejectReason.PRICE_FILTER, "limit order without a price"
    price = reference_price(request, quote)
    assert price is not None
    violation = instrument.check(price, request.amount, is_market=is_market)
    if violation is not None:
        return _FILTER_REASONS[violation.filter], violation.detail
    return None


def reservation(
    request: OrderRequest,
    instrument: Instrument,
    quote: Quote | None,
    *,
    market_buy_margin: Decimal,
    maker_rate: Decimal,
    taker_rate: Decimal,
) -> tuple[str, Decimal]:
    """Which asset the order locks, and how much (buys: worst-case cost with fee).

    A market buy's cost is unknown until it fills: it locks the reference ask times
    `market_buy_margin`, plus the taker fee; a limit buy its price plus the worse fee."""
    if request.side is Side.SELL:
        return instrument.base, request.amount
    if request.type is OrderType.MARKET:
        assert quote is not None
        cost = request.amount * quote.ask * market_buy_margin * (1 + taker_rate)
    else:
        assert request.price is not None
        worst_rate = max(maker_rate, taker_rate)
        cost = request.amount * request.price * (1 + worst_rate)
    return instrument.quote, cost.quantize(FEE_QUANTUM, rounding=ROUND_CEILING)


def order_arrays(orders: list[PaperOrder],
                 instruments: Mapping[str, Instrument]) -> fills.OrderArrays:
    """The fill model's columns of `orders`, in their order (every `event` 0: a caller
    matching them against several events sets it)."""
    n = len(orders)
    requests = [o.request for o in orders]
    rules = [instruments[r.symbol] for r in requests]
    return fills.OrderArrays(
        event=np.zeros(n, np.int64),
        side=np.array([_SIDES[r.side] for r in requests], np.int8),
        is_market=np.array([r.type is OrderType.MARKET for r in requests], bool),
        price=np.array([math.nan if r.price is None else float(r.price) for r in requests]),
        remaining=np.array([float(o.remaining) for o in orders]),
        queue_ahead=np.array([o.queue_ahead for o in orders]),
        placed_ms=np.array([r.ts_event for r in requests], np.int64),
        cancel_ms=np.array([o.cancel_ms for o in orders], np.int64),
        budget=np.array([fill_budget(o.request.side, o.reserved, o.fee_prepaid)
                         for o in orders]),
        tick=np.array([float(o.tick) for o in orders]),
        lot=np.array([float(i.lot) for i in rules]),
    )
