"""Binance user-data-stream frames turned into exact, immutable updates (no I/O).

The live broker learns of fills and order changes from the account's user data stream
(`user_stream_client.py`); this module only reads the frames. Two events matter:

* `executionReport`: one order change (NEW, TRADE, CANCELED, EXPIRED, ...) with the trade's
  id, quantity, price and commission when it is a TRADE -> `ExecutionUpdate`;
* `outboundAccountPosition`: the balances the change touched -> `BalanceUpdate`.

`listenKeyExpired` (and the ws-api's `eventStreamTerminated`) means the subscription is over:
`StreamExpired` tells the client to open a new one. Other events (balanceUpdate, listStatus)
carry nothing the broker uses and are skipped. Frames come in three framings: the listenKey
socket's bare event object, the combined-stream `{"stream", "data"}` wrapper and the ws-api
`{"subscriptionId", "event"}` wrapper; all three are read, so the broker can move to the
ws-api subscription (Binance is retiring spot listenKeys) without changing this module.

Amounts stay `Decimal` from the wire's decimal strings: a float would have to be put back on
the lot grid, and the ledger compares fills to the last digit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from exchange.feeds.errors import MalformedFrame

__all__ = ["BalanceUpdate", "ExecutionUpdate", "MalformedFrame", "StreamExpired",
           "UserUpdate", "parse_user_frame"]

TERMINAL_STATUSES = frozenset({"CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"})
EXPIRY_EVENTS = frozenset({"listenKeyExpired", "eventStreamTerminated"})
IGNORED_EVENTS = frozenset({"balanceUpdate", "listStatus", "externalLockUpdate"})


@dataclass(frozen=True, slots=True)
class ExecutionUpdate:
    """One `executionReport`: an order's change as the exchange saw it."""

    symbol: str
    client_order_id: str  # the order's own id (for a cancel: the canceled order's, not the cancel's)
    exchange_order_id: str
    execution: str  # x: NEW, TRADE, CANCELED, EXPIRED, REJECTED, ...
    status: str  # X: the order's status after this change
    trade_id: str | None  # t, for TRADE only
    last_qty: Decimal  # l: this trade's quantity
    last_price: Decimal  # L: this trade's price
    commission: Decimal  # n
    commission_asset: str | None  # N
    maker: bool  # m
    cum_qty: Decimal  # z: the order's filled quantity after this change
    ts_event: int  # T: when it happened on the exchange, ms
    ts_recv: int  # when we read it, ms

    @property
    def is_trade(self) -> bool:
        return self.execution == "TRADE" and self.trade_id is not None

    @property
    def is_terminal(self) -> bool:
        """The order is closed without (further) fills: canceled, expired or rejected."""
        return self.status in TERMINAL_STATUSES

    def as_ccxt_trade(self) -> dict[str, Any]:
        """The trade in the shape ccxt's `fetch_order_trades` gives, so the broker turns
        stream and REST trades into ledger events with one function (`trade_events`)."""
        return {"id": self.trade_id, "amount": self.last_qty, "price": self.last_price,
                "fee": {"cost": self.commission, "currency": self.commission_asset},
                "takerOrMaker": "maker" if self.maker else "taker", "timestamp": self.ts_event}


@dataclass(frozen=True, slots=True)
class BalanceUpdate:
    """One `outboundAccountPosition`: (asset, free, locked) for every asset a change touched."""

    balances: tuple[tuple[str, Decimal, Decimal], ...]
    ts_event: int


@dataclass(frozen=True, slots=True)
class StreamExpired:
    """The exchange ended the subscription (listenKey expired): subscribe again."""

    reason: str


UserUpdate = ExecutionUpdate | BalanceUpdate | StreamExpired


def parse_user_frame(raw: str | bytes, ts_recv: int) -> UserUpdate | None:
    """The update one frame carries, or None for events the broker does not use.
    Raises `MalformedFrame` (with a short reason, never the payload) for anything else."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedFrame(f"not JSON ({exc.msg})") from None
    event = _unwrap(message)
    kind = event.get("e")
    if kind == "executionReport":
        return _execution(event, ts_recv)
    if kind == "outboundAccountPosition":
        return _balances(event)
    if kind in EXPIRY_EVENTS:
        return StreamExpired(str(kind))
    if kind in IGNORED_EVENTS:
        return None
    raise MalformedFrame(f"unknown event type {str(kind)[:40]!r}")


def _unwrap(message: Any) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise MalformedFrame(f"expected an object, got {type(message).__name__}")
    for wrapper in ("event", "data"):  # ws-api subscription / combined stream
        inner = message.get(wrapper)
        if isinstance(inner, dict) and "e" not in message:
            return inner
    return message


def _execution(event: dict[str, Any], ts_recv: int) -> ExecutionUpdate:
    execution = _text(event, "x")
    own_id = _text(event, "c")
    original = event.get("C")
    if execution == "CANCELED" and isinstance(original, str) and original:
        own_id = original  # "c" is the cancel request's id; "C" the order's
    trade = event.get("t")
    is_trade = execution == "TRADE"
    if is_trade and (isinstance(trade, bool) or not isinstance(trade, int) or trade < 0):
        raise MalformedFrame("executionReport TRADE without a trade id 't'")
    asset = event.get("N")
    return ExecutionUpdate(
        symbol=_text(event, "s"), client_order_id=own_id,
        exchange_order_id=str(_integer(event, "i")), execution=execution,
        status=_text(event, "X"), trade_id=str(trade) if is_trade else None,
        last_qty=_decimal(event, "l"), last_price=_decimal(event, "L"),
        commission=_decimal(event, "n"),
        commission_asset=asset if isinstance(asset, str) and asset else None,
        maker=event.get("m") is True, cum_qty=_decimal(event, "z"),
        ts_event=_integer(event, "T"), ts_recv=ts_recv)


def _balances(event: dict[str, Any]) -> BalanceUpdate:
    rows = event.get("B")
    if not isinstance(rows, list):
        raise MalformedFrame("outboundAccountPosition without a balance list 'B'")
    balances = []
    for row in rows:
        if not isinstance(row, dict):
            raise MalformedFrame("outboundAccountPosition balance row is not an object")
        balances.append((_text(row, "a"), _decimal(row, "f"), _decimal(row, "l")))
    return BalanceUpdate(tuple(balances), _integer(event, "E"))


def _text(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedFrame(f"field {key!r} missing or not text")
    return value


def _integer(event: dict[str, Any], key: str) -> int:
    value = event.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedFrame(f"field {key!r} missing or not an integer")
    return value


def _decimal(event: dict[str, Any], key: str) -> Decimal:
    value = event.get(key)
    if not isinstance(value, str):
        raise MalformedFrame(f"field {key!r} missing or not a decimal string")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise MalformedFrame(f"field {key!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise MalformedFrame(f"field {key!r} is not a finite non-negative number")
    return number
