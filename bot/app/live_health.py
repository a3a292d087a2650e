"""Watching the live broker for the operator: count its requests and errors, and hear of
every command it gave up on.

Wired once, when `bot.app.assembly.make_trader` builds the live trader: the broker's
`RequestGate` (exchange/brokers/ccxt_client.py) counts its requests and failures by error
class, and `watch_live_broker` makes the trader the broker's `listener` and the trader's
`OrderFailures` (bot/app/live_status.py) its `on_command_failed` hook. The broker itself
reports each create or cancel it gives up on as one `CommandFailed`
(exchange/brokers/failures.py): an order the exchange refused (InsufficientFunds,
InvalidOrder and the other certain refusals), one it never answered through every retry or
never received (after a restart), and a cancel the
exchange refused for a reason other than OrderNotFound (e.g. AuthenticationError or
PermissionDenied: the key lost its trade permission) or never answered. Each becomes an
ORDER_FAILED notice and a counter in `status`. OrderNotFound on a cancel is not a failure
(the broker reconciles: the order filled or was closed), nor is a transient error the
broker is still retrying.

Synchronous answers of `submit`/`cancel` (a local filter check, a cancel of an order that
is already closed) stay as they are: they are the daemon's own checks, not the exchange's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.app.live_status import OrderFailures
    from exchange.brokers.ccxt import CcxtBroker
    from trading.trader import Trader


def watch_live_broker(trader: Trader, broker: CcxtBroker, failures: OrderFailures) -> None:
    """Deliver the broker's events to `trader` (as `broker.listener`) and the commands it
    gives up on to `failures`, the trader's `order_failures` (as `broker.on_command_failed`;
    the broker calls it after the order's events reached the ledger)."""
    broker.listener = trader.on_order_events
    broker.on_command_failed = failures.command_failed
