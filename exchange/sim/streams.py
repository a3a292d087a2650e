"""Websocket side of the simulated exchange: connections, subscriptions, fan-out.

Paths: `/ws`, `/ws/<stream>/<stream>...` (raw payloads; ccxt.pro opens `/ws/0`, whose
non-stream tail is ignored) and `/stream?streams=a/b/c` (combined: `{"stream","data"}`).
Control messages follow Binance: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY,
GET_PROPERTY. Each connection has its own bounded queue and sender task, so one slow client
never delays the market clock or the others; a client that falls too far behind is dropped,
as Binance does.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from exchange.sim.protocol import combined, ws_error, ws_result

log = logging.getLogger(__name__)

PING_INTERVAL_S = 20.0  # Binance pings every 20 s; aiohttp answers pongs and drops the dead
MAX_PENDING_FRAMES = 50_000
#: Bytes a client may fall behind before it is dropped. Frames alone do not bound memory: a
#: 500-coin `!ticker@arr` frame is tens of KB, and a starved reader once let ~160 MB of them
#: pile up in the embedded simulator inside the paper daemon's own process.
MAX_PENDING_BYTES = 32 * 1024 * 1024
CLOSE_TIMEOUT_S = 0.3
METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")


def is_stream_name(text: str) -> bool:
    """Stream names look like `btcusdt@ticker` or `!ticker@arr`."""
    return "@" in text and len(text) <= 200


class Connection:
    """One client websocket: its subscriptions, framing mode and outgoing queue."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, combined: bool) -> None:
        self.ws, self.request, self.combined = ws, request, combined
        self.streams: dict[str, None] = {}  # ordered set
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=MAX_PENDING_FRAMES)
        self.pending_bytes = 0  # queued, not yet handed to the socket
        self.dropped = False  # too slow: nothing more is queued for it

    def push(self, frame: bytes) -> None:
        """Queue a frame; a client that cannot keep up (`MAX_PENDING_FRAMES` frames or
        `MAX_PENDING_BYTES` bytes behind) is disconnected, its queue released."""
        if self.dropped:
            return
        if self.pending_bytes + len(frame) > MAX_PENDING_BYTES:
            self._drop()
            return
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self._drop()
            return
        self.pending_bytes += len(frame)

    def taken(self, frame: bytes) -> None:
        """The sender took `frame` off the queue."""
        self.pending_bytes -= len(frame)

    def _drop(self) -> None:
        self.dropped = True
        log.warning("dropping slow websocket client %s (%d frames, %d bytes behind)",
                    self.request.remote, self.queue.qsize(), self.pending_bytes)
        while not self.queue.empty():  # nothing more goes out: free the backlog now
            self.taken(self.queue.get_nowait())
        self.abort()

    def abort(self) -> None:
        """Close the TCP connection at once, without a close handshake (a network drop)."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()


class StreamHub:
    """All websocket connections and who listens to which stream."""

    def __init__(self) -> None:
        self.connections: set[Connection] = set()
        self._listeners: dict[str, set[Connection]] = {}

    @property
    def wanted(self) -> set[str]:
        """Streams at least one client listens to (the only ones worth building)."""
        return {name for name, conns in self._listeners.items() if conns}

    def listens(self, stream: str) -> bool:
        return bool(self._listeners.get(stream))

    def publish(self, stream: str, payload: Any) -> None:
        """Send one payload to every subscriber of `stream`, serialized once."""
        conns = self._listeners.get(stream)
        if not conns:
            return
        raw = orjson.dumps(payload)
        wrapped: bytes | None = None
        for conn in list(conns):
            if conn.combined:
                wrapped = wrapped or combined(stream, raw)
                conn.push(wrapped)
            else:
                conn.push(raw)

    # -- subscriptions ---------------------------------------------------------------------
    def _subscribe(self, conn: Connection, streams: list[str]) -> None:
        for name in streams:
            conn.streams[name] = None
            self._listeners.setdefault(name, set()).add(conn)

    def _unsubscribe(self, conn: Connection, streams: list[str]) -> None:
        for name in streams:
            conn.streams.pop(name, None)
            listeners = self._listeners.get(name)
            if listeners is not None:
                listeners.discard(conn)
                if not listeners:
                    del self._listeners[name]

    # -- lifecycle -------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """aiohttp handler for `/ws...` and `/stream`."""
        ws = web.WebSocketResponse(
            heartbeat=PING_INTERVAL_S, autoping=True, timeout=CLOSE_TIMEOUT_S
        )
        await ws.prepare(request)
        is_combined = request.path.rstrip("/") == "/stream"
        if is_combined:
            initial = request.query.get("streams", "").split("/")
        else:
            initial = request.path[len("/ws") :].split("/")
        conn = Connection(ws, request, is_combined)
        self.connections.add(conn)
        self._subscribe(conn, [s for s in initial if is_stream_name(s)])
        sender = asyncio.create_task(self._send_loop(conn))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._control(conn, message.data)
                elif message.type == WSMsgType.BINARY:
                    conn.push(
                        orjson.dumps(ws_error(3, "Invalid JSON: binary frames are not accepted"))
                    )
        finally:
            self.connections.discard(conn)
            self._unsubscribe(conn, list(conn.streams))
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        return ws

    async def _send_loop(self, conn: Connection) -> None:
        try:
            while True:
                frame = await conn.queue.get()
                conn.taken(frame)
                await conn.ws.send_frame(frame, WSMsgType.TEXT)
        except (ConnectionError, RuntimeError):
            conn.abort()  # peer gone or socket closed under us; the reader ends the handler

    async def drop_all(self) -> None:
        """Abruptly close every websocket (simulated network drop)."""
        for conn in list(self.connections):
            conn.abort()
        await asyncio.sleep(0)

    async def close_all(self) -> None:
        """Close every websocket with 1001 (going away), aborting any that lingers."""
        conns = list(self.connections)

        async def close(conn: Connection) -> None:
            try:
                await asyncio.wait_for(
                    conn.ws.close(code=1001, message=b"server shutdown"), CLOSE_TIMEOUT_S
                )
            except (TimeoutError, ConnectionError, RuntimeError):
                pass
            conn.abort()

        await asyncio.gather(*(close(c) for c in conns), return_exceptions=True)

    # -- control messages ------------------------------------------------------------------
    def _control(self, conn: Connection, text: str) -> None:
        conn.push(orjson.dumps(self.answer(conn, text)))

    def answer(self, conn: Connection, text: str) -> dict[str, Any]:
        """The reply to one control message (Binance codes: 0 property, 1 type, 2 request,
        3 JSON)."""
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return ws_error(3, f"Invalid JSON: {exc}")
        if not isinstance(request, dict):
            return ws_error(2, "Invalid request: expected a JSON object")
        request_id = request.get("id")
        if "id" not in request or not _valid_id(request_id):
            return ws_error(2, "Invalid request: request ID must be an unsigned integer")
        method = request.get("method")
        if method is None:
            return ws_error(2, "Invalid request: missing field `method`", request_id)
        if method not in METHODS:
            expected = ", ".join(f"`{m}`" for m in METHODS)
            return ws_error(
                2,
                f"Invalid request: unknown variant `{method}`, expected one of {expected}",
                request_id,
            )
        params = request.get("params", [])
        if not isinstance(params, list):
            return ws_error(2, "Invalid request: params must be an array", request_id)
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not all(isinstance(p, str) and is_stream_name(p) for p in params):
                return ws_error(2, "Invalid request: params must be stream names", request_id)
            (self._subscribe if method == "SUBSCRIBE" else self._unsubscribe)(conn, params)
            return ws_result(request_id)
        if method == "LIST_SUBSCRIPTIONS":
            return ws_result(request_id, list(conn.streams))
        if not params or not isinstance(params[0], str):
            return ws_error(2, "Invalid request: property name must be a string", request_id)
        if params[0] != "combined":
            return ws_error(0, "Unknown property", request_id)
        if method == "GET_PROPERTY":
            return ws_result(request_id, conn.combined)
        if len(params) != 2 or not isinstance(params[1], bool):
            return ws_error(1, "Invalid value type: expected Boolean", request_id)
        conn.combined = params[1]
        return ws_result(request_id)


def _valid_id(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, str) and len(value) <= 36 and value.isalnum()
