"""Typed rows the ledger's queries return: money back as Decimal, enums back as enums.

Callers never see the TEXT storage form; a row read back compares equal to what was written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from model.instruments import Side
from model.orders import Liquidity, OrderType
from state.codec import LedgerEvent, optional_decimal


@dataclass(frozen=True, slots=True)
class OrderRow:
    """An order as the ledger knows it; side/type/amount are None only for an order first
    heard of through its rejection."""

    client_order_id: str
    symbol: str
    side: Side | None
    type: OrderType | None
    price: Decimal | None
    amount: Decimal | None
    filled: Decimal
    locked: Decimal  # what it still holds of the account: quote for a buy, base for a sell
    status: str  # SUBMITTED ACCEPTED PARTIALLY_FILLED FILLED CANCELED REJECTED
    created_ts: int
    updated_ts: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> OrderRow:
        return cls(row["client_order_id"], row["symbol"],
                   None if row["side"] is None else Side(row["side"]),
                   None if row["type"] is None else OrderType(row["type"]),
                   optional_decimal(row["price"]), optional_decimal(row["amount"]),
                   Decimal(row["filled"]), Decimal(row["locked"]), row["status"],
                   row["created_ts"], row["updated_ts"])


@dataclass(frozen=True, slots=True)
class FillRow:
    """One trade of one of our orders."""

    trade_id: str
    client_order_id: str
    symbol: str
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal  # quote asset
    liquidity: Liquidity | None
    ts_event: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FillRow:
        return cls(row["trade_id"], row["client_order_id"], row["symbol"], Side(row["side"]),
                   Decimal(row["price"]), Decimal(row["amount"]), Decimal(row["fee"]),
                   None if row["liquidity"] is None else Liquidity(row["liquidity"]),
                   row["ts_event"])


@dataclass(frozen=True, slots=True)
class PositionRow:
    """Net amount held of a symbol, its average entry price and the PnL already realized
    (net of every fee paid on the symbol)."""

    symbol: str
    amount: Decimal
    avg_price: Decimal
    realized_pnl: Decimal
    updated_ts: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> PositionRow:
        return cls(row["symbol"], Decimal(row["amount"]), Decimal(row["avg_price"]),
                   Decimal(row["realized_pnl"]), row["updated_ts"])


@dataclass(frozen=True, slots=True)
class BalanceRow:
    """One asset of the account."""

    asset: str
    free: Decimal
    locked: Decimal
    updated_ts: int

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> BalanceRow:
        return cls(row["asset"], Decimal(row["free"]), Decimal(row["locked"]),
                   row["updated_ts"])


@dataclass(frozen=True, slots=True)
class EquityPoint:
    """Account value at one instant, split into cash and marked positions."""

    ts: int
    equity: Decimal
    cash: Decimal
    positions_value: Decimal

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EquityPoint:
        return cls(row["ts"], Decimal(row["equity"]), Decimal(row["cash"]),
                   Decimal(row["positions_value"]))


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """The audit record of one decision: what was considered, why, and what risk said."""

    id: int
    ts: int
    symbol: str
    score: float | None
    reasons: Any  # JSON value as written (Decimals come back as strings)
    action: str
    sizing: Any
    verdict: str
    detail: str | None
    forecast_return: float | None = None  # schema v5: the served forecast, NULL when off
    forecast_confidence: float | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> DecisionRow:
        return cls(row["id"], row["ts"], row["symbol"], row["score"],
                   None if row["reasons"] is None else json.loads(row["reasons"]),
                   row["action"], None if row["sizing"] is None else json.loads(row["sizing"]),
                   row["verdict"], row["detail"], row.get("forecast_return"),
                   row.get("forecast_confidence"))


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as logged: its sequence number, both timestamps and the event itself."""

    seq: int
    ts_event: int
    ts_recv: int
    kind: str
    event: LedgerEvent
