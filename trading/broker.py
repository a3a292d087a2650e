"""The broker interface the trader uses, whichever broker sits behind it.

Synchronous on purpose: the decision step is pure and fast (ARCHITECTURE principle 2), so
it must never await the network. A paper broker answers at once (`submit` returns its
`Accepted`/`Rejected`); a live broker queues the request, returns nothing, and reports the
exchange's answers later through its listener (or from `on_bars`). Either way every event
reaches the ledger through the same `Trader._record`.

Paper and live differ in a few rules the trader must follow; the broker says which, so the
trader never asks what kind of broker it holds (ADR: "Trader built once; the broker carries
paper vs live"): `balances_run_ahead` and `cancel_may_still_fill` are declared, and
`restore_balances`, `restore_open_order`, `resumable_id_stems` and `close_market_until` do
what each kind needs (a no-op, or an empty answer, where it needs nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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
    # True when `balances()` can show a fill the broker has not reported as an event yet
    # (live: the exchange's account moves first). The trader then takes its cash from the
    # ledger, moved by the same booked events as its positions (ADR-029).
    balances_run_ahead: bool
    # True when an order with a cancel requested may still fill until the cancel is
    # confirmed (live). False when a requested cancel is final for matching (paper, ADR-011):
    # such a buy then no longer counts against the risk gate's pending-buy cap.
    cancel_may_still_fill: bool

    def next_client_order_id(self) -> str:
        """A client order id never issued before (persist `counters()` to keep it so)."""

    def counters(self) -> tuple[int, int]:
        """(last client order number, last trade number)."""

    def restore_counters(self, order_seq: int, trade_seq: int) -> None:
        """Resume numbering after a restart; never moves back."""

    def resumable_id_stems(self) -> tuple[str, str] | None:
        """What the client order ids and trade ids this broker numbers itself start with
        before their number, so a restart resumes after the highest the ledger holds; None
        when the ledger's ids say nothing about its counters (live: trade ids are the
        exchange's)."""

    def restore_balances(self, totals: Mapping[str, Decimal]) -> None:
        """Restart: the ledger's balances per asset (free + locked). Paper: the simulated
        account starts again from them, before open orders are restored; live: ignored,
        the exchange's balances are its own."""

    def balances(self) -> dict[str, Decimal]:
        """Total holdings per asset (free + locked)."""

    def free_balances(self) -> dict[str, Decimal]:
        """Holdings not locked by open orders (nor by orders still on their way)."""

    def free_balance(self, asset: str) -> Decimal:
        """`free_balances().get(asset, Decimal(0))`: a decision step reads only its quote
        asset's, and a broker may answer that without building every asset's."""

    def open_orders(self) -> list[OpenOrder]:
        """Open orders, oldest first, including those sent but not yet acknowledged."""

    def submit(self, request: OrderRequest) -> list[OrderEvent]:
        """Place an order; returns the events known at once (none for a live broker)."""

    def cancel(self, client_order_id: str, ts: int) -> list[OrderEvent]:
        """Request a cancel; returns the events known at once."""

    def on_bars(self, bars: Iterable[Bar]) -> list[OrderEvent]:
        """A minute closed: fills it caused (paper) or events that arrived since (live)."""

    def close_market_until(self, ts_ms: int) -> list[OrderEvent]:
        """A decision step at `ts_ms`: no market event before it is still to come. Paper:
        cancels requested before it end now (ADR-011); live: none (the exchange says)."""

    def restore_open_order(self, request: OrderRequest, remaining: Decimal, *,
                           acknowledged: bool = True) -> bool:
        """Re-adopt an order the ledger says is open (restart); False when this broker
        cannot: paper never saw an order that was sent but not acknowledged before the stop
        (a live broker looks it up on the exchange by client id)."""
