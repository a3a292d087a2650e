"""The broker interface the trader uses, whichever broker sits behind it.

Synchronous on purpose: the decision step is pure and fast (ARCHITECTURE principle 2), so
it must never await the network. A paper broker answers at once (`submit` returns its
`Accepted`/`Rejected`); a live broker queues the request, returns nothing, and reports the
exchange's answers later through its listener (or from `on_bars`). Either way every event
reaches the ledger through the same `Trader._record`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Protocol, runtime_checkable

from model.fills import FillParams
from model.market import Bar
from model.orders import OpenOrder, OrderEvent, OrderRequest

EventListener = Callable[[list[OrderEvent]], None]


@runtime_checkable
class Broker(Protocol):
    """What `trading.trader.Trader` needs from a broker (PaperBroker and CcxtBroker have it)."""

    fill_params: FillParams
    id_prefix: str

    def next_client_order_id(self) -> str:
        """A client order id never issued before (persist `counters()` to keep it so)."""

    def counters(self) -> tuple[int, int]:
        """(last client order number, last trade number)."""

    def restore_counters(self, order_seq: int, trade_seq: int) -> None:
        """Resume numbering after a restart; never moves back."""

    def balances(self) -> dict[str, Decimal]:
        """Total holdings per asset (free + locked)."""

    def free_balances(self) -> dict[str, Decimal]:
        """Holdings not locked by open orders (nor by orders still on their way)."""

    def open_orders(self) -> list[OpenOrder]:
        """Open orders, oldest first, including those sent but not yet acknowledged."""

    def submit(self, request: OrderRequest) -> list[OrderEvent]:
        """Place an order; returns the events known at once (none for a live broker)."""

    def cancel(self, client_order_id: str, ts: int) -> list[OrderEvent]:
        """Request a cancel; returns the events known at once."""

    def on_bars(self, bars: Iterable[Bar]) -> list[OrderEvent]:
        """A minute closed: fills it caused (paper) or events that arrived since (live)."""

    def restore_open_order(self, request: OrderRequest, remaining: Decimal) -> None:
        """Re-adopt an order the ledger says is open (restart)."""
