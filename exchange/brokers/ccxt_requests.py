"""The live broker's requests to the exchange: through the rate gate, reads retried in place,
orders looked up by client id, balances kept.

The bottom layer of `CcxtBroker` (`ccxt.py`): `OrderSettling` (`ccxt_settle.py`) builds on
it, and the broker on that. Which errors are retried is decided in `ccxt_errors.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import ccxt

from exchange.brokers.ccxt_client import RequestGate, dialect_for, retry_after_s
from exchange.brokers.ccxt_errors import is_transient
from exchange.brokers.ccxt_orders import LiveOrder, LivePolicy, dec, wall_ms
from model.instruments import Instrument


class CcxtRequests:
    """One ccxt exchange behind a rate gate, with the retry loops every broker command uses."""

    def __init__(self, exchange: Any, instruments: Iterable[Instrument], *,
                 policy: LivePolicy | None = None, gate: RequestGate | None = None,
                 clock_ms: Callable[[], int] = wall_ms) -> None:
        self.exchange = exchange
        self.instruments = {i.symbol: i for i in instruments}
        self.policy = policy or LivePolicy()
        self.dialect = dialect_for(exchange.id)
        self.gate = gate or RequestGate(self.dialect.requests_per_s)
        self.clock_ms = clock_ms
        self._totals: dict[str, Decimal] = {}
        self._free: dict[str, Decimal] = {}
        self.stats = {"creates": 0, "create_retries": 0, "lookups": 0, "rejects": 0,
                      "cancel_reconciles": 0, "polls": 0, "create_failures": 0,
                      "cancel_failures": 0, "cancel_retries": 0}

    async def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        """One exchange request through the gate; rate limits back everything off."""
        while True:
            try:
                return await self.gate.call(lambda: method(*args))
            except (ccxt.DDoSProtection, ccxt.RateLimitExceeded):
                # ccxt raises RateLimitExceeded, not a DDoSProtection subclass, for a 429
                # that the exchange's own error handler does not map (Upbit's plain 429)
                self.gate.back_off(retry_after_s(self.exchange))

    async def _read(self, method: Callable[..., Any], *args: Any) -> Any:
        """`_call` for a request that changes nothing (markets, balances): a transient
        error is retried here with back-off, a few times, rather than aborting the command
        that needed it. Raises the last error when the exchange stays down."""
        for attempt in range(self.policy.max_place_attempts):
            try:
                return await self._call(method, *args)
            except ccxt.BaseError as exc:
                if not is_transient(exc) or attempt + 1 == self.policy.max_place_attempts:
                    raise
                await asyncio.sleep(self._backoff(attempt))
        raise AssertionError("unreachable")

    async def _lookup(self, order: LiveOrder) -> dict[str, Any] | None:
        """The exchange's view of an order by our client id, or None if it never arrived."""
        self.stats["lookups"] += 1
        request = order.request
        attempt = 0
        while True:
            try:
                if order.exchange_id is not None:
                    return await self._call(self.exchange.fetch_order, order.exchange_id,
                                            self._market(request.symbol))
                return await self._call(self.exchange.fetch_order, None,
                                        self._market(request.symbol),
                                        {"clientOrderId": request.client_order_id})
            except ccxt.OrderNotFound:
                return None
            except ccxt.BaseError as exc:
                if not is_transient(exc):
                    raise
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1

    async def _refresh_balances(self) -> None:
        balance = await self._read(self.exchange.fetch_balance)
        totals, free = balance.get("total") or {}, balance.get("free") or {}
        self._totals = {a: dec(v) for a, v in totals.items() if v is not None}
        self._free = {a: dec(v) for a, v in free.items() if v is not None}

    def _backoff(self, attempt: int) -> float:
        return min(self.policy.backoff_max_s, self.policy.backoff_initial_s * 2 ** attempt)

    def _market(self, symbol: str) -> str:
        markets = getattr(self.exchange, "markets_by_id", None) or {}
        found = markets.get(symbol)
        if found:
            return str(found[0]["symbol"])
        instrument = self.instruments[symbol]
        return f"{instrument.base}/{instrument.quote}"
