"""The exchange's side of reconciliation at start, read through ccxt: `CcxtAccountView`.

A snapshot is only useful if the account stood still while we looked (fills keep happening
on a live exchange during a restart), so the balances are read before and after the orders
and trades, and the whole snapshot is taken again until both readings agree.

Every request is retried on the errors a restart meets in practice (network errors,
timeouts, 5xx, 429/418 with their `Retry-After`), boundedly: a start that cannot reach the
exchange fails with the reason rather than trading blind. Kept apart from
bot/app/reconcile.py so a paper daemon, which reconciles against its own ledger, never
imports ccxt (about 60 MB of exchange classes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import ccxt

from exchange.brokers.ccxt_client import RequestGate, dialect_for, retry_after_s
from model import errors
from model.instruments import Instrument, Side, to_grid
from model.orders import Liquidity, OrderType
from state.records import OrderRow
from state.recovery import (
    CANCELED,
    EXPIRED,
    FILLED,
    OPEN,
    REJECTED,
    BrokerOrder,
    BrokerSnapshot,
    BrokerTrade,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
ZERO = Decimal(0)
STILL_ATTEMPTS = 6  # snapshots taken until the balances stand still across one
MAX_REQUEST_ATTEMPTS = 10
_STATUS = {"open": OPEN, "closed": FILLED, "canceled": CANCELED, "cancelled": CANCELED,
           "expired": EXPIRED, "rejected": REJECTED}


class ExchangeUnreachable(errors.TemporaryError, RuntimeError):
    """Reconciliation could not read the account; the message says which call failed."""


class CcxtAccountView:
    """`state.recovery.AccountView` over a ccxt async exchange (Binance, Upbit, the sim)."""

    def __init__(self, exchange: Any, instruments: Mapping[str, Instrument], *,
                 gate: RequestGate | None = None, backoff_s: float = 0.2,
                 clock_ms: Callable[[], int] | None = None) -> None:
        self.exchange = exchange
        self.instruments = dict(instruments)
        self.gate = gate or RequestGate(dialect_for(exchange.id).requests_per_s)
        self.backoff_s = backoff_s
        self.clock_ms = clock_ms or (lambda: int(exchange.milliseconds()))
        self._client_ids: dict[str, str] = {}  # exchange order id -> client order id
        self.requests = 0

    # -- AccountView ----------------------------------------------------------------------
    async def snapshot(self, open_orders: list[OrderRow]) -> BrokerSnapshot:
        if not self.exchange.markets:
            await self._call(self.exchange.load_markets)
        for _ in range(STILL_ATTEMPTS):
            before = await self._balances()
            listed = await self._open_orders()
            by_client_id = {o.client_order_id: o for o in listed}
            orders: dict[str, BrokerOrder | None] = {}
            trades: dict[str, tuple[BrokerTrade, ...]] = {}
            for row in open_orders:
                cid = row.client_order_id
                order = by_client_id.get(cid) or await self.lookup(row)  # closed, or lost
                orders[cid] = order
                if order is not None and order.filled != row.filled:  # fills while down
                    trades[cid] = await self._order_trades(order)
            after = await self._balances()
            if before == after:
                break
            log.info("reconciliation: the account moved while it was read; reading again")
        totals = {asset: free + locked for asset, (free, locked) in after.items()}
        return BrokerSnapshot(orders, trades, tuple(listed), totals, self.clock_ms())

    async def trades_since(self, symbols: list[str], since_ms: int) -> list[BrokerTrade]:
        return await self._recent_trades(symbols, since_ms)

    async def lookup(self, order: OrderRow) -> BrokerOrder | None:
        try:
            found = await self._call(self.exchange.fetch_order, None, self._market(order.symbol),
                                     {"clientOrderId": order.client_order_id})
        except ccxt.OrderNotFound:
            return None
        return self._order(found, order.symbol)

    # -- reads ----------------------------------------------------------------------------
    async def _balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        balance = await self._call(self.exchange.fetch_balance)
        free, used = balance.get("free") or {}, balance.get("used") or {}
        return {asset: (_dec(free.get(asset)), _dec(used.get(asset)))
                for asset in sorted(set(free) | set(used))
                if _dec(free.get(asset)) or _dec(used.get(asset))}

    async def _open_orders(self) -> list[BrokerOrder]:
        options = self.exchange.options.setdefault("fetchOpenOrders", {})
        options["warnWithoutSymbol"] = False  # one call for the whole account, on purpose
        listed = await self._call(self.exchange.fetch_open_orders)
        return [self._order(o) for o in listed]

    async def _order_trades(self, order: BrokerOrder) -> tuple[BrokerTrade, ...]:
        found = await self._call(self.exchange.fetch_order_trades, order.exchange_id,
                                 self._market(order.symbol))
        return tuple(self._trade(t, order.symbol) for t in found)

    async def _recent_trades(self, symbols: list[str], since_ms: int) -> list[BrokerTrade]:
        trades: list[BrokerTrade] = []
        for symbol in symbols:
            cursor, seen = since_ms, set()
            while True:
                page = await self._call(self.exchange.fetch_my_trades, self._market(symbol),
                                        cursor, 1000)
                fresh = [t for t in page if str(t["id"]) not in seen]
                for raw in fresh:
                    seen.add(str(raw["id"]))
                    trade = self._trade(raw, symbol)
                    if trade.client_order_id is None:
                        trade = await self._resolve(trade)
                    trades.append(trade)
                if len(page) < 1000 or not fresh:
                    break
                cursor = int(page[-1]["timestamp"])
        return trades

    async def _resolve(self, trade: BrokerTrade) -> BrokerTrade:
        """Fill in the client id of a trade's order (myTrades carries only the order id)."""
        try:
            found = await self._call(self.exchange.fetch_order, trade.exchange_order_id,
                                     self._market(trade.symbol))
        except ccxt.OrderNotFound:
            return trade
        order = self._order(found, trade.symbol)
        return BrokerTrade(trade.trade_id, trade.exchange_order_id, order.client_order_id,
                           trade.symbol, trade.side, trade.price, trade.amount, trade.fee,
                           trade.liquidity, trade.ts_event)

    # -- conversions ----------------------------------------------------------------------
    def _order(self, raw: dict[str, Any], symbol: str | None = None) -> BrokerOrder:
        info = raw.get("info") or {}
        symbol = symbol or str(info.get("symbol") or raw["symbol"]).replace("/", "")
        instrument = self.instruments.get(symbol)
        cid = str(raw.get("clientOrderId") or info.get("clientOrderId") or "")
        exchange_id = str(raw["id"])
        self._client_ids[exchange_id] = cid
        otype = OrderType.MARKET if raw.get("type") == "market" else OrderType.LIMIT
        price = _dec(raw.get("price"))
        amount, filled = _dec(raw.get("amount")), _dec(raw.get("filled"))
        if instrument is not None:
            amount, filled = to_grid(amount, instrument.lot), to_grid(filled, instrument.lot)
            if price:
                price = to_grid(price, instrument.tick_at(price))
        created = int(raw.get("timestamp") or 0)
        updated = int(raw.get("lastUpdateTimestamp") or raw.get("lastTradeTimestamp") or created)
        return BrokerOrder(cid, exchange_id, symbol, Side(str(raw["side"]).upper()), otype,
                           price if otype is OrderType.LIMIT else None, amount, filled,
                           _STATUS.get(str(raw.get("status")), OPEN), created, updated)

    def _trade(self, raw: dict[str, Any], symbol: str) -> BrokerTrade:
        instrument = self.instruments[symbol]
        price = _dec(raw["price"])
        price = to_grid(price, instrument.tick_at(price))  # ccxt hands floats over
        fee = raw.get("fee") or {}
        cost = _dec(fee.get("cost"))
        if fee.get("currency") == instrument.base:
            cost = cost * price  # a fee taken in the coin, valued at the fill price
        exchange_order = str(raw.get("order"))
        liquidity = Liquidity.MAKER if raw.get("takerOrMaker") == "maker" else Liquidity.TAKER
        return BrokerTrade(str(raw["id"]), exchange_order, self._client_ids.get(exchange_order),
                           symbol, Side(str(raw["side"]).upper()), price,
                           to_grid(_dec(raw["amount"]), instrument.lot), cost, liquidity,
                           int(raw.get("timestamp") or 0))

    def _market(self, symbol: str) -> str:
        found = (getattr(self.exchange, "markets_by_id", None) or {}).get(symbol)
        if found:
            return str(found[0]["symbol"])
        instrument = self.instruments[symbol]
        return f"{instrument.base}/{instrument.quote}"

    # -- requests -------------------------------------------------------------------------
    async def _call(self, method: Callable[..., Awaitable[T]], *args: Any) -> T:
        """One request, retried on rate limits and on network, timeout and 5xx errors."""
        for attempt in range(MAX_REQUEST_ATTEMPTS):
            self.requests += 1
            try:
                return await self.gate.call(lambda: method(*args))
            except (ccxt.DDoSProtection, ccxt.RateLimitExceeded):
                # ccxt raises RateLimitExceeded, not a DDoSProtection subclass, for a 429 its
                # exchange's error handler does not map (Upbit's plain-text 429, ADR-032);
                # caught here first, or the NetworkError branch below would retry it at
                # once, without the global back-off every other request must wait out
                self.gate.back_off(retry_after_s(self.exchange))
            except (ccxt.OrderNotFound, ccxt.AuthenticationError, ccxt.PermissionDenied):
                raise
            except (ccxt.NetworkError, ccxt.OperationFailed) as exc:
                # timeouts, 5xx (ExchangeNotAvailable) and Binance's -1000/-1001 "unknown
                # error" / "internal error" (OperationFailed): a read is safe to repeat
                log.warning("reconciliation: %s failed (%s); retrying",
                            getattr(method, "__name__", "request"), type(exc).__name__)
                await asyncio.sleep(min(5.0, self.backoff_s * 2 ** attempt))
        raise ExchangeUnreachable(
            f"reconciliation could not read the account: {getattr(method, '__name__', '?')} "
            f"failed {MAX_REQUEST_ATTEMPTS} times; check the exchange's status and the network, "
            "then start again")


def _dec(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(str(value))

