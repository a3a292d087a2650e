"""Orders and their lifecycle events: the vocabulary shared by brokers, risk and the ledger.

Amounts and prices are `Decimal` on the instrument's grid. Events are immutable and carry
the exchange time (`ts_event`) and our receive time (`ts_recv`), epoch ms. A broker emits,
per order: one `Accepted` or `Rejected`, then any number of `PartiallyFilled`, then at most
one terminal `Filled` or `Canceled`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from model.instruments import Side


class OrderType(Enum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"


class Liquidity(Enum):
    MAKER = "MAKER"
    TAKER = "TAKER"


class RejectReason(Enum):
    PRICE_FILTER = "PRICE_FILTER"
    LOT_SIZE = "LOT_SIZE"
    MIN_NOTIONAL = "MIN_NOTIONAL"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    DUPLICATE_CLIENT_ID = "DUPLICATE_CLIENT_ID"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    EXCHANGE_REJECTED = "EXCHANGE_REJECTED"  # a live exchange refused it for another reason


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What the engine asks a broker to do (after the risk gate said yes)."""

    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    amount: Decimal
    price: Decimal | None  # None for MARKET
    ts_event: int  # decision time


@dataclass(frozen=True, slots=True)
class Accepted:
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    amount: Decimal
    price: Decimal | None
    ts_event: int
    ts_recv: int


@dataclass(frozen=True, slots=True)
class Rejected:
    client_order_id: str
    symbol: str
    reason: RejectReason
    detail: str  # human words: "price 0.123 not a multiple of tick 0.01"
    ts_event: int
    ts_recv: int


@dataclass(frozen=True, slots=True)
class PartiallyFilled:
    client_order_id: str
    symbol: str
    side: Side
    trade_id: str
    price: Decimal
    amount: Decimal  # this fill's amount
    fee: Decimal  # in the quote asset
    liquidity: Liquidity
    remaining: Decimal  # amount still open after this fill
    ts_event: int
    ts_recv: int


@dataclass(frozen=True, slots=True)
class Filled:
    """The fill that completes the order (remaining becomes zero)."""

    client_order_id: str
    symbol: str
    side: Side
    trade_id: str
    price: Decimal
    amount: Decimal
    fee: Decimal
    liquidity: Liquidity
    ts_event: int
    ts_recv: int


@dataclass(frozen=True, slots=True)
class Canceled:
    client_order_id: str
    symbol: str
    remaining: Decimal  # amount that will never fill
    ts_event: int
    ts_recv: int


OrderEvent = Accepted | Rejected | PartiallyFilled | Filled | Canceled


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """A snapshot of one open order, as `open_orders()` reports it."""

    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    price: Decimal | None
    amount: Decimal
    remaining: Decimal
    cancel_requested_ms: int | None
    ts_event: int
