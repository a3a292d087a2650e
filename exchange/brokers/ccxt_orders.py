"""The live broker's bookkeeping, without I/O: order state, policy, and turning what ccxt
returns (floats, exchange-specific fees) into exact ledger events. What its exceptions mean
is in `ccxt_errors.py`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from model.fills import FillParams
from model.instruments import Instrument, Side, to_grid
from model.orders import (
    Filled,
    Liquidity,
    OrderEvent,
    OrderRequest,
    PartiallyFilled,
)

ZERO = Decimal(0)
PENDING, OPEN, CLOSED = "PENDING", "OPEN", "CLOSED"
TERMINAL = ("canceled", "cancelled", "expired", "rejected")


@dataclass(frozen=True, slots=True)
class LivePolicy:
    """Timing of the live broker's retries and polls."""

    poll_interval_s: float = 1.0
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 10.0
    max_place_attempts: int = 6
    max_cancel_attempts: int = 6  # then the cancel is given up (CommandFailed, retryable)
    # User data stream (ccxt_stream.py): REST polls open orders only while the stream is
    # down or has said nothing (no frame, no pong) for this long ...
    stream_silent_after_s: float = 10.0
    # ... and, as a safety net, this often even while it is healthy (Hummingbot: 120 s).
    stream_safety_poll_s: float = 60.0
    stream_keepalive_s: float = 1800.0  # listenKey renewal (Binance: valid for 60 min)


@dataclass(slots=True)
class LiveOrder:
    request: OrderRequest
    state: str = PENDING
    exchange_id: str | None = None
    filled: Decimal = ZERO
    cancel_requested_ms: int | None = None
    trade_ids: set[str] = field(default_factory=set)
    pending_lock: tuple[str, Decimal] = ("", ZERO)
    # The worker, the poll task and callers may settle one order concurrently; one at a
    # time, or the same trade would be reported twice.
    settling: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def remaining(self) -> Decimal:
        return self.request.amount - self.filled


def wall_ms() -> int:
    return int(time.time() * 1000)


def trade_events(order: LiveOrder, trades: list[dict[str, Any]], instrument: Instrument,
                 now_ms: int) -> list[OrderEvent]:
    """Ledger events for an order's new trades (oldest first), updating its filled amount:
    PartiallyFilled, and Filled for the trade that completes it."""
    request = order.request
    events: list[OrderEvent] = []
    for trade in trades:
        order.trade_ids.add(str(trade["id"]))
        amount = to_grid(dec(trade["amount"]), instrument.lot)  # ccxt hands floats over
        price = to_grid(dec(trade["price"]), instrument.tick_at(dec(trade["price"])))
        fee = fee_in_quote(trade, instrument, price)
        order.filled += amount
        liquidity = Liquidity.MAKER if trade.get("takerOrMaker") == "maker" else Liquidity.TAKER
        ts = int(trade.get("timestamp") or now_ms)
        common = (request.client_order_id, request.symbol, request.side, str(trade["id"]),
                  price, amount, fee, liquidity)
        if order.remaining <= 0:
            order.state = CLOSED
            events.append(Filled(*common, ts, now_ms))
        else:
            events.append(PartiallyFilled(*common, order.remaining, ts, now_ms))
    return events


def lock_estimate(request: OrderRequest, instrument: Instrument,
                  fill_params: FillParams) -> tuple[str, Decimal]:
    """What an order still on its way will lock once the exchange has it (asset, amount)."""
    if request.side is Side.SELL:
        return instrument.base, request.amount
    price = request.price if request.price is not None else ZERO
    rate = Decimal(str(max(fill_params.maker_fee_bps, fill_params.taker_fee_bps)))
    return instrument.quote, request.amount * price * (1 + rate / 10_000)


def dec(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(str(value))


def fee_in_quote(trade: dict[str, Any], instrument: Instrument, price: Decimal) -> Decimal:
    """The trade's fee in the quote asset (a base-asset fee is valued at the fill price)."""
    fee = trade.get("fee") or {}
    cost = dec(fee.get("cost"))
    if fee.get("currency") == instrument.base:
        return cost * price
    return cost
