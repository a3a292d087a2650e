"""The user data stream of the simulated exchange: listenKeys and their websocket.

`POST /api/v3/userDataStream` (API key header, no signature) returns a listenKey, the same
one while it is alive, as Binance did; `PUT` keeps it alive, `DELETE` closes it. A client
connects to `/ws/<listenKey>` and receives the account's events as raw JSON payloads:
`executionReport` for every order change and `outboundAccountPosition` with the balances the
change touched (legacy listenKey framing: the event object itself, no wrapper).
"""

from __future__ import annotations

import asyncio
import secrets
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from exchange.sim.account import CANCELED, Execution
from exchange.sim.auth import ApiError

MAX_PENDING_FRAMES = 10_000
CLOSE_TIMEOUT_S = 0.3


def num(value: Decimal) -> str:
    """Binance's decimal strings: at least 8 decimals, never rounded."""
    text = format(value, "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(8, '0')}"


def execution_report(execution: Execution, event_ms: int) -> dict[str, Any]:
    """One `executionReport` payload (fields as in the spot user data stream docs)."""
    order, trade = execution.order, execution.trade
    canceled = execution.kind == CANCELED
    return {
        "e": "executionReport",
        "E": event_ms,
        "s": order.symbol,
        "c": f"cancel-{order.order_id}" if canceled else order.client_order_id,
        "S": order.side.value,
        "o": order.type.value,
        "f": "GTC",
        "q": num(order.orig_qty),
        "p": num(order.price),
        "P": num(Decimal(0)),
        "F": num(Decimal(0)),
        "g": -1,
        "C": order.client_order_id if canceled else "",
        "x": execution.kind,
        "X": order.status,
        "r": "NONE",
        "i": order.order_id,
        "l": num(trade.qty if trade else Decimal(0)),
        "z": num(order.executed_qty),
        "L": num(trade.price if trade else Decimal(0)),
        "n": num(trade.commission if trade else Decimal(0)),
        "N": trade.commission_asset if trade else None,
        "T": execution.ts_ms,
        "t": trade.trade_id if trade else -1,
        "I": execution.ts_ms,
        "w": order.is_open,
        "m": bool(trade and trade.is_maker),
        "M": False,
        "O": order.time_ms,
        "Z": num(order.cum_quote),
        "Y": num(trade.quote_qty if trade else Decimal(0)),
        "Q": num(Decimal(0)),
        "W": order.time_ms,
        "V": "NONE",
    }


def account_position(balances: dict[str, tuple[Decimal, Decimal]], assets: list[str],
                     event_ms: int) -> dict[str, Any]:
    """One `outboundAccountPosition` payload for the assets an event touched."""
    rows = [{"a": a, "f": num(balances.get(a, (Decimal(0), Decimal(0)))[0]),
             "l": num(balances.get(a, (Decimal(0), Decimal(0)))[1])} for a in assets]
    return {"e": "outboundAccountPosition", "E": event_ms, "u": event_ms, "B": rows}


class _Client:
    """One connected user-stream socket with its own queue (a slow client never blocks)."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws, self.request = ws, request
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=MAX_PENDING_FRAMES)

    def push(self, frame: bytes) -> None:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.abort()

    def abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()


class UserStreams:
    """listenKeys per account and the sockets listening on them."""

    def __init__(self) -> None:
        self._owner: dict[str, str] = {}  # listenKey -> account api key
        self._key_of: dict[str, str] = {}  # account api key -> listenKey
        self._clients: dict[str, set[_Client]] = {}

    def create(self, account: str) -> str:
        """The account's listenKey, creating one if it has none alive."""
        key = self._key_of.get(account)
        if key is None:
            key = secrets.token_hex(32)
            self._owner[key], self._key_of[account] = account, key
        return key

    def keepalive(self, account: str, listen_key: str) -> None:
        """Extend a listenKey's validity (keys never expire here; unknown ones are errors)."""
        if self._owner.get(listen_key) != account:
            raise ApiError(400, -1125, "This listenKey does not exist.")

    def close(self, account: str, listen_key: str) -> None:
        """Invalidate a listenKey and disconnect its sockets."""
        self.keepalive(account, listen_key)
        del self._owner[listen_key]
        self._key_of.pop(account, None)
        for client in self._clients.pop(listen_key, set()):
            client.abort()

    def is_listen_key(self, text: str) -> bool:
        return text in self._owner

    def publish(self, account: str, payload: dict[str, Any]) -> None:
        """Send one event to every socket of the account's listenKey."""
        if self.connected(account):  # serialized only when someone listens
            self.publish_raw(account, orjson.dumps(payload))

    def publish_raw(self, account: str, frame: bytes) -> int:
        """Test and chaos hook: send `frame` as it is (e.g. a malformed one) to every socket
        of the account's listenKey; returns how many sockets got it."""
        key = self._key_of.get(account)
        clients = list(self._clients.get(key, set())) if key else []
        for client in clients:
            client.push(frame)
        return len(clients)

    def connected(self, account: str) -> int:
        """How many sockets listen on the account's listenKey (tests wait on it)."""
        key = self._key_of.get(account)
        return len(self._clients.get(key, set())) if key else 0

    async def handle(self, request: web.Request, listen_key: str) -> web.WebSocketResponse:
        """Serve `/ws/<listenKey>` until the client or the server closes it."""
        ws = web.WebSocketResponse(heartbeat=20.0, autoping=True, timeout=CLOSE_TIMEOUT_S)
        await ws.prepare(request)
        client = _Client(ws, request)
        self._clients.setdefault(listen_key, set()).add(client)
        sender = asyncio.create_task(self._send_loop(client))
        try:
            async for message in ws:
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            self._clients.get(listen_key, set()).discard(client)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        return ws

    @staticmethod
    async def _send_loop(client: _Client) -> None:
        try:
            while True:
                frame = await client.queue.get()
                await client.ws.send_frame(frame, WSMsgType.TEXT)
        except (ConnectionError, RuntimeError):
            client.abort()

    def drop_all(self) -> None:
        """Abort every user-stream socket (a network drop)."""
        for clients in self._clients.values():
            for client in list(clients):
                client.abort()

    async def close_all(self) -> None:
        """Close every user-stream socket (server shutdown)."""
        for clients in list(self._clients.values()):
            for client in list(clients):
                try:
                    await asyncio.wait_for(client.ws.close(code=1001), CLOSE_TIMEOUT_S)
                except (TimeoutError, ConnectionError, RuntimeError):
                    pass
                client.abort()
