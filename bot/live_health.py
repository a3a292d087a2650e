"""Watching the live broker for the operator: count its requests and errors, and hear of
the failures it only logged.

Wired once by `bot.live.start_live_broker`: the broker gets a `CountingGate` (the rate gate
of exchange/brokers/ccxt_client.py, which also counts what went through it), and
`watch_live_broker` puts an `OrderFailures` (bot/live_status.py) between the broker and the
trader. Each non-retryable failure then becomes an ORDER_FAILED notice and a counter in
`status`:

* an order the exchange refused (InsufficientFunds, InvalidOrder and the other certain
  refusals; or one it never received after a restart) reaches the trader as an
  asynchronous `Rejected`: the listener sees it on its way to the ledger;
* a cancel the exchange answered with an error that retrying will not cure (e.g. an
  AuthenticationError or PermissionDenied: the key lost its trade permission) is raised
  by the broker's worker and only logged there, so the exchange client's `cancel_order`
  is wrapped to see it. OrderNotFound is not a failure (the broker reconciles: the order
  filled or was closed), nor is anything transient (the broker retries it).

Synchronous answers of `submit`/`cancel` (a local filter check, a cancel of an order that
is already closed) stay as they are: they are the daemon's own checks, not the exchange's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import ccxt

from bot.live_status import OrderFailures
from exchange.brokers.ccxt_client import RequestGate
from exchange.brokers.ccxt_errors import is_transient
from exchange.orders import OrderEvent, Rejected

if TYPE_CHECKING:
    from bot.trader import Trader
    from exchange.brokers.ccxt import CcxtBroker

log = logging.getLogger(__name__)

T = TypeVar("T")


class CountingGate(RequestGate):
    """A `RequestGate` that counts every request it lets through and every failed one by
    error class (NetworkError, DDoSProtection, InsufficientFunds, ...), for status."""

    def __init__(self, requests_per_s: float, **kwargs: Any) -> None:
        super().__init__(requests_per_s, **kwargs)
        self.requests = 0
        self.errors: dict[str, int] = {}

    async def call(self, request: Callable[[], Awaitable[T]]) -> T:
        """`RequestGate.call`, counted."""
        self.requests += 1
        try:
            return await super().call(request)
        except Exception as exc:  # counted and raised on: the broker decides what it means
            name = type(exc).__name__
            self.errors[name] = self.errors.get(name, 0) + 1
            raise


def is_cancel_failure(error: BaseException) -> bool:
    """Whether a cancel's error is final: not transient (the broker retries those) and not
    OrderNotFound (the broker reconciles those: the order is no longer open)."""
    return (isinstance(error, ccxt.BaseError) and not isinstance(error, ccxt.OrderNotFound)
            and not is_transient(error))


def watch_live_broker(trader: Trader, broker: CcxtBroker) -> OrderFailures:
    """Deliver the broker's events to `trader` (as `broker.listener`), telling the operator
    of every asynchronous rejection on the way, and watch its cancels. Sets and returns
    `trader.order_failures`."""
    failures = OrderFailures(lambda: trader.notifier)
    book = trader.on_order_events

    def deliver(events: list[OrderEvent]) -> None:
        book(events)  # the ledger first: a notice must never get ahead of the books
        for event in events:
            if isinstance(event, Rejected):
                failures.order_rejected(event)

    broker.listener = deliver
    _watch_cancels(broker, failures)
    trader.order_failures = failures
    return failures


def _watch_cancels(broker: CcxtBroker, failures: OrderFailures) -> None:
    """Wrap the exchange client's `cancel_order` to report final failures (module doc)."""
    exchange = broker.exchange
    cancel_order = exchange.cancel_order

    async def watched_cancel_order(id: str, symbol: str | None = None,  # ccxt's names
                                   params: dict[str, Any] | None = None) -> Any:
        try:
            return await cancel_order(id, symbol, params or {})
        except Exception as exc:
            if is_cancel_failure(exc):
                client_order_id = _client_id(broker, id)
                log.error("cancel of %s failed for good: %s", client_order_id, type(exc).__name__)
                failures.cancel_failed_with(client_order_id, _symbol(broker, client_order_id,
                                                                     symbol), exc)
            raise

    exchange.cancel_order = watched_cancel_order


def _client_id(broker: CcxtBroker, exchange_id: str) -> str:
    """Our client order id of an exchange order id (the exchange's id if unknown)."""
    known: dict[str, str] = getattr(broker, "_by_exchange_id", {})
    return known.get(str(exchange_id), str(exchange_id))


def _symbol(broker: CcxtBroker, client_order_id: str, market: str | None) -> str:
    for order in broker.open_orders():
        if order.client_order_id == client_order_id:
            return order.symbol
    return (market or "").replace("/", "")
