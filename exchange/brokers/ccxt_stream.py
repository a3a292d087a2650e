"""The live broker's fills from the user data stream, and REST polling only while it is silent.

Hummingbot's rule (ADR-033): fills and order changes come from the account's user data
stream (`user_stream_client.py`); the REST poll of open orders runs only while the stream is
down or silent beyond `LivePolicy.stream_silent_after_s`, once after every (re)connect
(what happened while it was down), after a frame it could not read or a gap it noticed (an
order's cumulative fill ahead of ours), and as a slow safety net every
`stream_safety_poll_s`. Each trade id is applied once whichever path sees it first: both
paths settle an order under its lock and skip the trade ids it already has.

Details that keep the ledger exact:
* an update for an order still on its way (PENDING: the stream can beat the REST
  acknowledgement) is kept and replayed right after its `Accepted` (`_replay_early`);
* stream events are held until the `outboundAccountPosition` that follows them (or
  `BALANCE_WAIT_S`, then a REST balance refresh), so `balances()` already includes a fill
  when the trader records it, as on the REST path; any event the REST path emits first
  flushes them, so an order's events keep their order.

The layer between `OrderSettling` (`ccxt_settle.py`) and `CcxtBroker` (`ccxt.py`). Binance
only: Upbit's private websocket (myOrder) is not used, Upbit orders stay on REST polling.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import ccxt

from exchange.brokers.ccxt_client import RequestGate
from exchange.brokers.ccxt_orders import (
    CLOSED,
    OPEN,
    PENDING,
    LiveOrder,
    LivePolicy,
    trade_events,
    wall_ms,
)
from exchange.brokers.ccxt_settle import OrderSettling
from exchange.brokers.user_stream_client import UserStreamClient
from exchange.brokers.user_stream_events import BalanceUpdate, ExecutionUpdate, UserUpdate
from exchange.feeds.common import describe
from model.instruments import Instrument, to_grid
from model.orders import Canceled, OrderEvent

log = logging.getLogger("exchange.brokers.ccxt")

BALANCE_WAIT_S = 0.5  # a fill waits this long for its balance update, then REST is asked
STREAM_EXCHANGES = ("binance",)


class StreamSettling(OrderSettling):
    """Order settling fed by the user data stream, with REST as the fallback."""

    def __init__(self, exchange: Any, instruments: Iterable[Instrument], *,
                 policy: LivePolicy | None = None, gate: RequestGate | None = None,
                 clock_ms: Callable[[], int] = wall_ms,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(exchange, instruments, policy=policy, gate=gate, clock_ms=clock_ms)
        self.user_stream: UserStreamClient | None = None
        self._by_exchange_id: dict[str, str] = {}
        self._clock = clock
        self._catch_up = False
        self._last_poll_s = float("-inf")
        self._early: dict[str, list[ExecutionUpdate]] = {}
        self._held: list[OrderEvent] = []
        self._held_since_s = 0.0
        self.stats.update({"stream_events": 0, "stream_reconnects": 0, "stream_malformed": 0,
                           "stream_catchups": 0, "stream_connected": False,
                           "stream_silent": False})

    def use_user_stream(self, ws_url: str) -> None:
        """Take fills from the account's user data stream at `ws_url` (the exchange's
        websocket base, e.g. `wss://stream.binance.com:9443`); call before `run()`."""
        if self.exchange.id not in STREAM_EXCHANGES:
            raise ValueError(f"no user data stream for {self.exchange.id}; its orders are "
                             "polled over REST (set live.user_stream = false)")
        policy = self.policy
        self.user_stream = UserStreamClient(
            ws_url, self._open_listen_key, self._keep_listen_key, self._on_stream_update,
            on_connected=self._stream_connected, on_malformed=self._request_catch_up,
            silent_after_s=policy.stream_silent_after_s, keepalive_s=policy.stream_keepalive_s,
            reconnect_min_s=policy.backoff_initial_s, reconnect_max_s=policy.backoff_max_s,
            clock=self._clock)
        self.stats["stream_silent"] = True

    async def _run_stream(self) -> None:
        """The stream and its held-event flusher (nothing to do without a stream)."""
        if self.user_stream is None:
            return
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.user_stream.run(), name="broker-user-stream")
            tasks.create_task(self._flush_late_forever(), name="broker-stream-flush")

    # ------------------------------------------------------------ REST polling policy

    def _rest_poll_due(self) -> bool:
        """Whether the open-order poll should run now (see the module docstring)."""
        if self.user_stream is None:
            return True
        silent = self._refresh_stream_stats()
        safety_due = self._clock() - self._last_poll_s >= self.policy.stream_safety_poll_s
        return self._catch_up or silent or safety_due

    def _refresh_stream_stats(self) -> bool:
        """Copy the stream's counters into the flat `stats` (status reads them); returns
        whether it is silent now."""
        stream = self.user_stream
        if stream is None:
            return False
        silent = stream.silent()
        self.stats.update({"stream_events": stream.events, "stream_reconnects": stream.reconnects,
                           "stream_malformed": stream.malformed, "stream_silent": silent,
                           "stream_connected": stream.connected})
        return silent

    async def poll_once(self) -> None:
        catch_up, self._catch_up = self._catch_up, False
        self._last_poll_s = self._clock()
        try:
            await super().poll_once()
        except BaseException:
            self._catch_up = self._catch_up or catch_up  # not caught up yet: try again
            raise
        self.stats["stream_catchups"] += catch_up

    def _stream_connected(self) -> None:
        """(Re)subscribed: what happened while the stream was down is only on REST."""
        self._request_catch_up()

    def _request_catch_up(self) -> None:
        self._catch_up = True
        self._wake.set()

    # ------------------------------------------------------------ stream updates

    async def _open_listen_key(self) -> str:
        response = await self._call(self.exchange.publicPostUserDataStream)
        return str(response["listenKey"])

    async def _keep_listen_key(self, listen_key: str) -> None:
        await self._call(self.exchange.publicPutUserDataStream, {"listenKey": listen_key})

    async def _on_stream_update(self, update: UserUpdate) -> None:
        if isinstance(update, BalanceUpdate):
            for asset, free, locked in update.balances:
                self._free[asset], self._totals[asset] = free, free + locked
            self._release_held()
            return
        if not isinstance(update, ExecutionUpdate):
            return
        cid = update.client_order_id
        if cid not in self._orders:
            cid = self._by_exchange_id.get(update.exchange_order_id, cid)
        order = self._orders.get(cid)
        if order is None:
            log.debug("user stream: %s of an order not ours (%s)", update.execution, cid)
            return
        if order.state == PENDING:
            self._early.setdefault(cid, []).append(update)  # replayed after its Accepted
            return
        events = await self._apply(order, update)
        if events:
            if not self._held:
                self._held_since_s = self._clock()
            self._held.extend(events)

    async def _apply(self, order: LiveOrder, update: ExecutionUpdate) -> list[OrderEvent]:
        """The ledger events one update brings (new trade, close), under the order's lock."""
        async with order.settling:
            if order.state != OPEN:
                return []
            events: list[OrderEvent] = []
            instrument = self.instruments[order.request.symbol]
            if update.is_trade and update.trade_id not in order.trade_ids:
                events = trade_events(order, [update.as_ccxt_trade()], instrument,
                                      self.clock_ms())
                self._trade_seq += len(events)
            behind = to_grid(update.cum_qty, instrument.lot) > order.filled
            if behind:
                # A trade we never saw (a frame lost while the socket was down or
                # unreadable): REST has it; the order stays open until the poll brings it.
                log.info("user stream: %s filled %s on the exchange, %s here; polling REST",
                         order.request.client_order_id, update.cum_qty, order.filled)
                self._request_catch_up()
            elif update.is_terminal and order.state == OPEN:
                order.state = CLOSED
                events.append(Canceled(order.request.client_order_id, order.request.symbol,
                                       order.remaining, update.ts_event, self.clock_ms()))
            return events

    async def _replay_early(self, order: LiveOrder) -> None:
        """The stream updates that arrived before the order's acknowledgement, applied now
        that it is OPEN (balances were refreshed with the acknowledgement)."""
        for update in self._early.pop(order.request.client_order_id, []):
            self._emit(await self._apply(order, update))

    def _forget_early(self, client_order_id: str) -> None:
        self._early.pop(client_order_id, None)

    # ------------------------------------------------------------ holding events for balances

    def _emit(self, events: list[OrderEvent]) -> None:
        """Every emitted batch first releases the stream events held before it (order)."""
        held, self._held = self._held, []
        super()._emit(held + events)

    def _release_held(self) -> None:
        if self._held:
            self._emit([])

    async def _flush_late_forever(self) -> None:
        """Held events whose balance update never came: REST balances, then release (and
        keep the stream's counters in `stats` fresh)."""
        while True:
            await asyncio.sleep(BALANCE_WAIT_S / 2)
            self._refresh_stream_stats()
            if self._held and self._clock() - self._held_since_s >= BALANCE_WAIT_S:
                try:
                    await self._refresh_balances()
                except ccxt.BaseError as exc:  # the fills are certain; balances catch up later
                    log.warning("balances after stream fills: %s", describe(exc))
                self._release_held()
