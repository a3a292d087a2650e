"""The live broker's order polling and settling: bring each open order up to date with the
exchange, report its new fills and then its close, and hand the events on.

Fills come from the exchange's trades of each order (`fetch_order_trades`), keyed by trade
id, so a fill is reported once however often it is seen; after a restart the ledger's trade
ids of restored orders are handed back (`restore_trade_ids`, bot/app/live.py). Balances are
refreshed before any event is reported.

The middle layer of `CcxtBroker` (`ccxt.py`), on top of `CcxtRequests` (`ccxt_requests.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import ccxt

from exchange.brokers.ccxt_client import RequestGate
from exchange.brokers.ccxt_errors import exchange_message
from exchange.brokers.ccxt_orders import (
    CLOSED,
    OPEN,
    TERMINAL,
    LiveOrder,
    LivePolicy,
    dec,
    trade_events,
    wall_ms,
)
from exchange.brokers.ccxt_requests import CcxtRequests
from exchange.brokers.failures import (
    Command,
    CommandFailed,
    CommandFailureListener,
    redacted,
)
from model.instruments import Instrument, to_grid
from model.orders import Canceled, OrderEvent
from trading.broker import EventListener

log = logging.getLogger("exchange.brokers.ccxt")  # one logger for the whole broker


class OrderSettling(CcxtRequests):
    """The broker's orders and what it reports about them; the worker and the poll task
    both settle through here, one order at a time."""

    def __init__(self, exchange: Any, instruments: Iterable[Instrument], *,
                 policy: LivePolicy | None = None, gate: RequestGate | None = None,
                 clock_ms: Callable[[], int] = wall_ms) -> None:
        super().__init__(exchange, instruments, policy=policy, gate=gate, clock_ms=clock_ms)
        self.listener: EventListener | None = None
        # Told of every create or cancel the broker gives up on (exchange/brokers/failures.py),
        # after the ledger's events of that order went to `listener`.
        self.on_command_failed: CommandFailureListener | None = None
        self._orders: dict[str, LiveOrder] = {}
        self._wake = asyncio.Event()
        self._undelivered: list[OrderEvent] = []
        self._trade_seq = 0

    async def _poll_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.policy.poll_interval_s):
                    await self._wake.wait()
            self._wake.clear()
            if not self._rest_poll_due():
                continue
            try:
                await self.poll_once()
            except ccxt.BaseError as exc:
                log.warning("order poll failed (%s); retrying next interval",
                            exchange_message(exc))

    def _rest_poll_due(self) -> bool:
        """Whether the open-order poll runs this interval: always, without a user data
        stream (`ccxt_stream.py` polls only while its stream is silent)."""
        return True

    async def poll_once(self) -> None:
        """Compare every open order with the exchange; report fills and closes."""
        self.stats["polls"] += 1
        symbols = sorted({o.request.symbol for o in self._orders.values() if o.state == OPEN})
        first_error: ccxt.BaseError | None = None
        for symbol in symbols:
            # One symbol's failure must not starve the others of their poll (the poll is
            # what closes an order whose cancel answer was lost): go on, raise at the end.
            try:
                await self._poll_symbol(symbol)
            except ccxt.BaseError as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error

    async def _poll_symbol(self, symbol: str) -> None:
        listed = await self._call(self.exchange.fetch_open_orders, self._market(symbol))
        by_id = {str(o["id"]): o for o in listed}
        for order in [o for o in self._orders.values()
                      if o.state == OPEN and o.request.symbol == symbol]:
            seen = by_id.get(order.exchange_id or "")
            if seen is None or self._exchange_filled(order, seen) != order.filled:
                await self._settle(order, None if seen is None else seen)

    async def _settle(self, order: LiveOrder, known: dict[str, Any] | None = None) -> None:
        """Bring one order up to date: report its new fills, then its close if it closed.
        `known` is the exchange's view if we just got it (else it is fetched)."""
        async with order.settling:
            await self._settle_locked(order, known)

    async def _settle_locked(self, order: LiveOrder, known: dict[str, Any] | None) -> None:
        info = known if known is not None and known.get("status") else await self._lookup(order)
        if info is None:
            return
        log.debug("settle %s (%s): exchange %s filled %s, ours %s", order.request.client_order_id,
                  order.state, info.get("status"), info.get("filled"), order.filled)
        exchange_filled = self._exchange_filled(order, info)
        if exchange_filled > order.filled:
            await self._report_fills(order)
        if info.get("status") in TERMINAL and order.state == OPEN:
            if order.filled < exchange_filled:
                return  # its trades are not all visible yet: the next poll closes it
            order.state = CLOSED
            now = self.clock_ms()
            ts = int(info.get("lastUpdateTimestamp") or info.get("timestamp") or now)
            await self._refresh_balances()
            self._emit([Canceled(order.request.client_order_id, order.request.symbol,
                                 order.remaining, ts, now)])

    async def _report_fills(self, order: LiveOrder) -> None:
        request = order.request
        trades = await self._call(self.exchange.fetch_order_trades, order.exchange_id,
                                  self._market(request.symbol))
        fresh = sorted((t for t in trades if str(t["id"]) not in order.trade_ids),
                       key=lambda t: (t.get("timestamp") or 0, str(t["id"])))
        if not fresh:
            return
        await self._refresh_balances()
        events = trade_events(order, fresh, self.instruments[request.symbol], self.clock_ms())
        self._trade_seq += len(events)
        self._emit(events)

    def _emit(self, events: list[OrderEvent]) -> None:
        if not events:
            return
        log.debug("events: %s", ", ".join(f"{type(e).__name__} {e.client_order_id}"
                                           for e in events))
        if self.listener is not None:
            self.listener(events)
        else:
            self._undelivered.extend(events)
        self._wake.set()

    def _command_failed(self, order: LiveOrder, command: Command, error_class: str,
                        message: str, *, retryable: bool) -> CommandFailed:
        """Tell `on_command_failed` that the broker gave up on `command` for `order`. The
        message is the exchange's words without the account's keys (it goes to Telegram);
        a hook that raises is logged, never allowed to stop the worker."""
        secrets = (getattr(self.exchange, name, None) for name in ("apiKey", "secret",
                                                                    "password", "uid"))
        failure = CommandFailed(order.request.client_order_id, order.request.symbol, command,
                                error_class, redacted(message, secrets), retryable, self.clock_ms())
        self.stats[f"{command}_failures"] += 1
        if self.on_command_failed is not None:
            try:
                self.on_command_failed(failure)
            except Exception:
                log.exception("on_command_failed hook failed for %s", failure.client_order_id)
        return failure

    def _exchange_filled(self, order: LiveOrder, info: dict[str, Any]) -> Decimal:
        """The exchange's filled amount of an order on the lot grid, as our fills are: a
        float that ccxt computed (0.30000000000000004) must not look like a missing trade
        that holds the order open for ever."""
        return to_grid(dec(info.get("filled")), self.instruments[order.request.symbol].lot)
