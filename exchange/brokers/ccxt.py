"""Live broker: a ccxt async exchange behind the synchronous `Broker` interface.

The trader's decision step never awaits: `submit` and `cancel` put the request in a queue
and return; one worker task sends them in order; fills and closes come from the user data
stream (Binance), and a poll task watches open orders over REST while that stream is silent
(or always, without one: Upbit). What the exchange answers (Accepted, Rejected, fills,
Canceled) goes to `listener` as soon as it is known, or waits for the next `on_bars` when no
listener is set. A create or cancel the broker gives up on (refused by the exchange, retries
exhausted, never received) is also told to `on_command_failed` as one `CommandFailed`
(exchange/brokers/failures.py), after the order's own events went to `listener`.

This module is the broker's public face and its order worker (place, cancel, adopt). The
rest is layered under it: `ccxt_stream.py` applies the user data stream and decides when
REST polls are due, `ccxt_settle.py` polls and settles open orders (fills keyed by
trade id, closes), `ccxt_requests.py` talks to the exchange (rate gate, retried reads,
lookups by client id, balances), `ccxt_errors.py` says what each ccxt exception means
(retry, look up, or reject), and `ccxt_orders.py` keeps the I/O-free order bookkeeping.
Balances are the exchange's (`fetch_balance`); `free_balances` also subtracts what orders
still on their way will lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import ccxt

from exchange.brokers.ccxt_client import RequestGate
from exchange.brokers.ccxt_errors import (
    CERTAIN_REFUSALS,
    FILTERS,
    exchange_message,
    is_final_cancel_error,
    is_transient,
    reject_reason,
)
from exchange.brokers.ccxt_orders import (
    CLOSED,
    OPEN,
    PENDING,
    ZERO,
    LiveOrder,
    LivePolicy,
    lock_estimate,
    wall_ms,
)
from exchange.brokers.ccxt_stream import StreamSettling
from model.fills import FillParams
from model.instruments import Instrument
from model.market import Bar
from model.orders import (
    Accepted,
    OpenOrder,
    OrderEvent,
    OrderRequest,
    OrderType,
    Rejected,
    RejectReason,
)

__all__ = ["CcxtBroker", "LivePolicy"]

log = logging.getLogger(__name__)


class CcxtBroker(StreamSettling):
    """Orders on a real (or simulated) exchange through ccxt; see the module docstring."""

    # The exchange's balances show a fill before its event reaches the trader (ADR-029).
    balances_run_ahead = True
    # An order may fill on the exchange until the cancel is confirmed there.
    cancel_may_still_fill = True

    def __init__(self, exchange: Any, instruments: Iterable[Instrument], *,
                 fill_params: FillParams | None = None, id_prefix: str = "E",
                 policy: LivePolicy | None = None, gate: RequestGate | None = None,
                 clock_ms: Callable[[], int] = wall_ms) -> None:
        super().__init__(exchange, instruments, policy=policy, gate=gate, clock_ms=clock_ms)
        self.fill_params = fill_params or FillParams()  # fees to size with; the exchange decides
        self.id_prefix = id_prefix
        self._commands: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._order_seq = 0
        self._busy = False

    # ------------------------------------------------------------ ids and queries (sync)

    def next_client_order_id(self) -> str:
        self._order_seq += 1
        return f"{self.id_prefix}-{self._order_seq:08d}"

    def counters(self) -> tuple[int, int]:
        return self._order_seq, self._trade_seq

    def restore_counters(self, order_seq: int, trade_seq: int) -> None:
        self._order_seq = max(self._order_seq, order_seq)
        self._trade_seq = max(self._trade_seq, trade_seq)

    def resumable_id_stems(self) -> None:
        """None: the trade ids are the exchange's, and the client ids carry this ledger's
        own prefix (bot/app/live.py); the saved counters are what resumes numbering."""
        return None

    def restore_balances(self, totals: Mapping[str, Decimal]) -> None:
        """Nothing to do: the balances are the exchange's (`fetch_balance`)."""

    def balances(self) -> dict[str, Decimal]:
        return dict(self._totals)

    def free_balances(self) -> dict[str, Decimal]:
        free = dict(self._free)
        for order in self._orders.values():
            if order.state == PENDING:
                asset, amount = order.pending_lock
                free[asset] = free.get(asset, ZERO) - amount
        return free

    def free_balance(self, asset: str) -> Decimal:
        """`free_balances().get(asset, Decimal(0))`."""
        return self.free_balances().get(asset, ZERO)

    def open_orders(self) -> list[OpenOrder]:
        return [
            OpenOrder(cid, o.request.symbol, o.request.side, o.request.type, o.request.price,
                      o.request.amount, o.remaining, o.cancel_requested_ms, o.request.ts_event)
            for cid, o in self._orders.items() if o.state != CLOSED
        ]

    # ------------------------------------------------------------ requests (sync, queued)

    def submit(self, request: OrderRequest) -> list[OrderEvent]:
        """Queue an order. The instrument's filters are checked here first: ccxt would
        silently truncate an off-grid amount, and the ledger would then wait forever for
        the difference."""
        ts = request.ts_event

        def reject(reason: RejectReason, detail: str) -> list[OrderEvent]:
            return [Rejected(request.client_order_id, request.symbol, reason, detail, ts, ts)]

        if request.client_order_id in self._orders:
            return reject(RejectReason.DUPLICATE_CLIENT_ID, "client order id already used")
        instrument = self.instruments.get(request.symbol)
        if instrument is None:
            return reject(RejectReason.UNKNOWN_SYMBOL, f"no instrument {request.symbol}")
        if request.type is OrderType.LIMIT:
            if request.price is None:
                return reject(RejectReason.PRICE_FILTER, "limit order without a price")
            violation = instrument.check(request.price, request.amount)
            if violation is not None:
                return reject(FILTERS[violation.filter], violation.detail)
        order = LiveOrder(request, pending_lock=self._lock_estimate(request))
        self._orders[request.client_order_id] = order
        self._commands.put_nowait(("place", request.client_order_id))
        return []

    def cancel(self, client_order_id: str, ts: int) -> list[OrderEvent]:
        order = self._orders.get(client_order_id)
        if order is None or order.state == CLOSED:
            return [Rejected(client_order_id, order.request.symbol if order else "",
                             RejectReason.UNKNOWN_ORDER, f"{client_order_id} is not open", ts, ts)]
        if order.cancel_requested_ms is None:
            order.cancel_requested_ms = ts
            self._commands.put_nowait(("cancel", client_order_id))
        return []

    def on_bars(self, bars: Iterable[Bar]) -> list[OrderEvent]:
        """Live fills come from the exchange: hand over what arrived since the last call."""
        events, self._undelivered = self._undelivered, []
        return events

    def close_market_until(self, ts_ms: int) -> list[OrderEvent]:
        """Nothing: the exchange, not the clock, says when a cancel took effect."""
        return []

    def restore_open_order(self, request: OrderRequest, remaining: Decimal, *,
                           acknowledged: bool = True) -> bool:
        """Adopt an order the ledger has as open, acknowledged or not (it may have reached
        the exchange before the stop): the worker looks it up by client id and carries on
        from what the exchange says. A partly filled one also needs `restore_trade_ids`
        before `run()`. Always True."""
        order = LiveOrder(request, state=PENDING, filled=request.amount - remaining)
        self._orders[request.client_order_id] = order
        self._commands.put_nowait(("adopt", request.client_order_id))
        return True

    def restore_trade_ids(self, client_order_id: str, trade_ids: Iterable[str]) -> None:
        """The trades of a restored order that the ledger already has. Fills are keyed by
        trade id; without these, the order's next fill would report its old trades again
        (a duplicate fill, and a remaining amount that goes negative)."""
        order = self._orders.get(client_order_id)
        if order is None:
            raise KeyError(f"{client_order_id} was not restored; call restore_open_order first")
        order.trade_ids.update(str(t) for t in trade_ids)

    # ------------------------------------------------------------ lifecycle (async)

    async def start(self) -> None:
        """Load markets and the account's balances (call before trading). A 5xx or a
        timeout here is retried like any read: one bad answer must not stop the daemon."""
        await self._read(self.exchange.load_markets)
        await self._refresh_balances()

    async def run(self) -> None:
        """Send queued requests, follow the user data stream (if `use_user_stream` was
        called) and poll open orders over REST when due, until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._work(), name="broker-orders")
            tasks.create_task(self._poll_forever(), name="broker-poll")
            tasks.create_task(self._run_stream(), name="broker-stream")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.exchange.close()

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait until every queued request was sent (tests and orderly shutdown)."""
        async with asyncio.timeout(timeout_s):
            while not self._commands.empty() or self._busy:
                await asyncio.sleep(0.02)

    # ------------------------------------------------------------ the worker

    async def _work(self) -> None:
        while True:
            command, cid = await self._commands.get()
            self._busy = True
            try:
                await self._run_command(command, self._orders[cid])
            except ccxt.BaseError as exc:
                if not is_transient(exc):
                    log.error("%s %s failed: %s", command, cid, exchange_message(exc))
                    continue
                # A follow-up request (balances, trades) failed: the command is safe to
                # run again (a placed order is looked up, not created twice).
                log.warning("%s %s interrupted (%s); retrying", command, cid, type(exc).__name__)
                await asyncio.sleep(self.policy.backoff_initial_s)
                self._commands.put_nowait((command, cid))
            finally:
                self._busy = False

    async def _run_command(self, command: str, order: LiveOrder) -> None:
        if command == "place":
            if order.state == PENDING and order.exchange_id is None:
                await self._place(order)
            elif order.state == PENDING and (found := await self._lookup(order)) is not None:
                await self._acknowledged(order, found)
            elif order.state == OPEN:
                await self._settle(order)
        elif command == "cancel":
            await self._cancel(order)
        else:
            await self._adopt(order)

    async def _place(self, order: LiveOrder) -> None:
        request = order.request
        params = {self.dialect.client_id_param: request.client_order_id}
        last_error = "NoAnswer"
        for attempt in range(self.policy.max_place_attempts):
            try:
                self.stats["creates"] += attempt == 0
                self.stats["create_retries"] += attempt > 0
                response = await self._call(
                    self.exchange.create_order, self._market(request.symbol),
                    request.type.value.lower(), request.side.value.lower(),
                    float(request.amount),
                    None if request.price is None else float(request.price), params)
            except ccxt.BaseError as exc:
                if not is_transient(exc):
                    await self._refused(order, exc)
                    return
                # network, timeout, 5xx, -1000/-1001: the outcome is unknown
                last_error = type(exc).__name__
                log.warning("order %s: %s; looking it up before retrying",
                            request.client_order_id, type(exc).__name__)
                await asyncio.sleep(self._backoff(attempt))
                found = await self._lookup(order)
                if found is not None:
                    await self._acknowledged(order, found)
                    return
                continue
            # Outside the try: a failure while recording the answer (balances) must not
            # count as a failed create; the worker runs the command again (a lookup).
            await self._acknowledged(order, response)
            return
        await self._reject(order, RejectReason.EXCHANGE_REJECTED,
                           f"no answer after {self.policy.max_place_attempts} attempts; the "
                           "exchange does not know the order", error_class=last_error,
                           retryable=True)

    async def _refused(self, order: LiveOrder, exc: ccxt.BaseError) -> None:
        """A create the exchange answered with an error that is not transient. Known
        refusals are rejected with the reason; anything else (an error class we do not
        know) is looked up first, since it is not certain that nothing was placed."""
        if isinstance(exc, ccxt.InsufficientFunds):
            await self._reject(order, RejectReason.INSUFFICIENT_FUNDS, exc, retryable=False)
            return
        certain = isinstance(exc, CERTAIN_REFUSALS)
        duplicate = "Duplicate order" in str(exc)  # our first attempt did arrive
        if (duplicate or not certain) and (found := await self._lookup(order)) is not None:
            await self._acknowledged(order, found)
            return
        await self._reject(order, reject_reason(exc), exc, retryable=False)

    async def _acknowledged(self, order: LiveOrder, response: dict[str, Any]) -> None:
        request = order.request
        order.exchange_id = str(response["id"])
        self._by_exchange_id[order.exchange_id] = request.client_order_id
        now = self.clock_ms()
        ts = int(response.get("timestamp") or now)
        await self._refresh_balances()
        if order.state == PENDING:
            order.state = OPEN
            self._emit([Accepted(request.client_order_id, request.symbol, request.side,
                                 request.type, request.amount, request.price, ts, now)])
        await self._replay_early(order)  # what the stream said before the acknowledgement
        await self._settle(order, response)

    async def _reject(self, order: LiveOrder, reason: RejectReason, why: Exception | str, *,
                      retryable: bool, error_class: str | None = None) -> None:
        """Give up on a create: the ledger gets its `Rejected`, then `on_command_failed`
        its `CommandFailed` (`error_class` names the cause when `why` is not an exception)."""
        self.stats["rejects"] += 1
        request, now = order.request, self.clock_ms()
        order.state = CLOSED
        self._forget_early(request.client_order_id)
        detail = why if isinstance(why, str) else exchange_message(why)
        log.info("order %s rejected by the exchange: %s", request.client_order_id, detail)
        self._emit([Rejected(request.client_order_id, request.symbol, reason, detail, now, now)])
        if isinstance(why, str):
            self._command_failed(order, "create", error_class or reason.value, why,
                                 retryable=retryable)
        else:
            self._command_failed(order, "create", type(why).__name__, str(why),
                                 retryable=retryable)

    async def _cancel(self, order: LiveOrder) -> None:
        if order.state == PENDING:
            # Its place (or adopt) command was interrupted and queued again behind this
            # cancel: cancel after it, or the order stays open although we asked to cancel.
            log.info("cancel %s: waiting for its acknowledgement", order.request.client_order_id)
            await asyncio.sleep(self.policy.backoff_initial_s)
            self._commands.put_nowait(("cancel", order.request.client_order_id))
            return
        if order.state != OPEN:
            return
        cid = order.request.client_order_id
        for attempt in range(self.policy.max_cancel_attempts):
            try:
                self.stats["cancel_retries"] += attempt > 0
                await self._call(self.exchange.cancel_order, order.exchange_id,
                                 self._market(order.request.symbol))
                break
            except ccxt.OrderNotFound:
                self.stats["cancel_reconciles"] += 1
                log.info("cancel %s: the exchange no longer has it open; reconciling", cid)
                break
            except ccxt.BaseError as exc:
                if is_final_cancel_error(exc):
                    # Refused (a key without trade rights, ...): sending it again fails the
                    # same way, so the order keeps its cancel request and is not cancelled
                    # again; the operator must (bot/app/live_status.py says how).
                    log.error("cancel %s refused by the exchange: %s", cid, exchange_message(exc))
                    self._command_failed(order, "cancel", type(exc).__name__, str(exc),
                                         retryable=False)
                    return
                if attempt + 1 == self.policy.max_cancel_attempts:
                    # The exchange stayed unreachable: hand the decision back to the trader,
                    # which sees the order as working again and may ask for the cancel anew.
                    log.error("cancel %s: no answer after %d attempts (%s)", cid, attempt + 1,
                              type(exc).__name__)
                    order.cancel_requested_ms = None
                    self._command_failed(order, "cancel", type(exc).__name__, str(exc),
                                         retryable=True)
                    return
                await asyncio.sleep(self._backoff(attempt))
        await self._settle(order)

    async def _adopt(self, order: LiveOrder) -> None:
        found = await self._lookup(order)
        if found is None:
            await self._reject(order, RejectReason.EXCHANGE_REJECTED,
                               "after restart: the exchange never received this order",
                               retryable=True, error_class="NotReceived")
            return
        order.state = OPEN  # the ledger already has its Accepted
        order.exchange_id = str(found["id"])
        self._by_exchange_id[order.exchange_id] = order.request.client_order_id
        await self._replay_early(order)
        await self._settle(order, found)

    # ------------------------------------------------------------ plumbing

    def _lock_estimate(self, request: OrderRequest) -> tuple[str, Decimal]:
        return lock_estimate(request, self.instruments[request.symbol], self.fill_params)
