"""Watching the live broker for the operator: count its requests and errors, and hear of
every command it gave up on.

Wired once by `bot.live.start_live_broker`: the broker gets a `CountingGate` (the rate gate
of exchange/brokers/ccxt_client.py, which also counts what went through it), and
`watch_live_broker` makes the trader the broker's `listener` and an `OrderFailures`
(bot/live_status.py) its `on_command_failed` hook. The broker itself reports each create or
cancel it gives up on as one `CommandFailed` (exchange/brokers/failures.py): an order the
exchange refused (InsufficientFunds, InvalidOrder and the other certain refusals), one it
never answered through every retry or never received (after a restart), and a cancel the
exchange refused for a reason other than OrderNotFound (e.g. AuthenticationError or
PermissionDenied: the key lost its trade permission) or never answered. Each becomes an
ORDER_FAILED notice and a counter in `status`. OrderNotFound on a cancel is not a failure
(the broker reconciles: the order filled or was closed), nor is a transient error the
broker is still retrying.

Synchronous answers of `submit`/`cancel` (a local filter check, a cancel of an order that
is already closed) stay as they are: they are the daemon's own checks, not the exchange's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from bot.live_status import OrderFailures
from exchange.brokers.ccxt_client import RequestGate

if TYPE_CHECKING:
    from bot.trader import Trader
    from exchange.brokers.ccxt import CcxtBroker

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


def watch_live_broker(trader: Trader, broker: CcxtBroker) -> OrderFailures:
    """Deliver the broker's events to `trader` (as `broker.listener`) and the commands it
    gives up on to a new `OrderFailures` (as `broker.on_command_failed`; the broker calls it
    after the order's events reached the ledger). Sets and returns `trader.order_failures`."""
    failures = OrderFailures(lambda: trader.notifier)
    broker.listener = trader.on_order_events
    broker.on_command_failed = failures.command_failed
    trader.order_failures = failures
    return failures
