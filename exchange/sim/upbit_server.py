"""The simulated exchange's Upbit face: quotation REST, the `/websocket/v1` stream, and the
exchange (private) REST API for orders and balances (`upbit_orders_api.py`, JWT auth).

Mounted beside the Binance protocol on the same port, over the same market: the same
instants, prices and bars, in Upbit's shapes. Markets are named QUOTE-BASE (`KRW-BTC`).

REST: `GET /v1/market/all`, `/v1/ticker?markets=`, `/v1/candles/minutes/1?market=&to=&count=`
(newest first, `to` exclusive, at most 200), errors as `{"error": {"name", "message"}}`.

Websocket: the client sends one JSON array (text or binary) `[{"ticket"}, {"type", "codes",
"isOnlyRealtime"?}, ..., {"format"}]`; a new request replaces the connection's subscription.
Types `ticker`, `trade`, `orderbook`; formats `DEFAULT` and `SIMPLE`. Every message goes out
as a **binary** frame, as Upbit sends them. A text `PING` is answered `{"status":"UP"}`.
Unless `isOnlyRealtime`, a subscription first gets a ticker and orderbook snapshot.

Each played tick is one trade per market that traded: its price is the tick's last, its
volume what the minute's bar grew by since the previous tick, so the trades of a minute add
up to the bar that REST candles serve (exactly with the default 4 ticks per bar, which visit
open, low, high and close).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from aiohttp import WSMsgType, web

import exchange.sim.upbit_protocol as wire
from exchange.feeds.upbit_parse import to_default
from exchange.sim.bars import MinuteData
from exchange.sim.upbit_orders_api import UpbitOrdersApi

if TYPE_CHECKING:
    from exchange.sim.venue import SimVenue

log = logging.getLogger(__name__)

WS_PATH = "/websocket/v1"
TYPES = ("ticker", "trade", "orderbook")
FORMATS = ("DEFAULT", "SIMPLE")
CANDLES_MAX = 200
MAX_PENDING_FRAMES = 50_000
HEARTBEAT_S = 20.0


class _Client:
    """One websocket client: its subscription, format and outgoing queue."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.ws, self.request = ws, request
        self.wants: dict[str, frozenset[str]] = {kind: frozenset() for kind in TYPES}
        self.simple = False
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=MAX_PENDING_FRAMES)

    def send(self, message: dict[str, Any]) -> None:
        """Queue one message in this client's format."""
        message = wire.clean(message)
        self.push(orjson.dumps(message if self.simple else to_default(message)))

    def push(self, frame: bytes) -> None:
        """Queue raw bytes; a client that cannot keep up is disconnected."""
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("dropping slow Upbit websocket client %s", self.request.remote)
            self.abort()

    def abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()


class UpbitGateway:
    """Upbit REST and websocket over one SimExchange's market."""

    def __init__(self, sim: SimVenue) -> None:
        self.sim = sim
        self.codes = [wire.market_code(i) for i in sim.instruments]
        self._index = {code: i for i, code in enumerate(self.codes)}
        self.clients: set[_Client] = set()
        self._volume_done = np.zeros(len(self.codes))  # current minute's volume sent so far
        self._sequence = 0
        self.orders = UpbitOrdersApi(sim)  # private REST: accounts and orders (JWT)

    def routes(self) -> list[web.RouteDef]:
        """aiohttp routes to add to the sim's application."""
        return [
            web.get("/v1/market/all", self._rest(self.markets)),
            web.get("/v1/ticker", self._rest(self.tickers)),
            web.get("/v1/candles/minutes/{unit}", self._rest(self.candles)),
            web.get(WS_PATH, self.handle),
            *self.orders.routes(),
        ]

    # -- REST --------------------------------------------------------------------------------
    @staticmethod
    def _rest(handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
        async def endpoint(request: web.Request) -> web.Response:
            try:
                body, status = handler(request), 200
            except _Refused as exc:
                body, status = wire.rest_error(exc.name, exc.message), exc.status
            return web.Response(body=orjson.dumps(wire.clean(body)), status=status,
                                content_type="application/json")

        return endpoint

    def _code_index(self, code: str) -> int:
        index = self._index.get(code)
        if index is None:
            raise _Refused(404, 404, "Code not found")
        return index

    def markets(self, request: web.Request) -> list[dict[str, Any]]:
        details = request.query.get("isDetails", "false").lower() == "true"
        return [wire.rest_market(i, details) for i in self.sim.instruments]

    def tickers(self, request: web.Request) -> list[dict[str, Any]]:
        codes = [c for c in request.query.get("markets", "").split(",") if c]
        if not codes:
            raise _Refused(400, "validation_error", "markets is required")
        indices = [self._code_index(code) for code in codes]
        return [wire.rest_ticker(self.codes[i], self.sim.ticker_stats(i)) for i in indices]

    def candles(self, request: web.Request) -> list[dict[str, Any]]:
        if request.match_info["unit"] != "1":
            raise _Refused(400, "validation_error",
                           "the simulator serves 1-minute candles only; aggregate them")
        code = request.query.get("market", "")
        index = self._code_index(code)
        count_text = request.query.get("count", "1")
        if not count_text.isdigit() or not 1 <= int(count_text) <= CANDLES_MAX:
            raise _Refused(400, "validation_error", f"count must be 1..{CANDLES_MAX}")
        to_text = request.query.get("to", "")
        end_ms = self.sim.player.closed_until_ms
        if to_text:
            end_ms = min(end_ms, _parse_to(to_text))
        bars = self.sim.source.bars_before(self.sim.symbols[index], end_ms, int(count_text))
        rows = zip(bars.open_ms.tolist(), bars.open.tolist(), bars.high.tolist(),
                   bars.low.tolist(), bars.close.tolist(), bars.volume.tolist(),
                   bars.quote_volume.tolist())
        return [wire.rest_candle(code, *row) for row in rows][::-1]

    # -- websocket ---------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, autoping=True, timeout=0.3)
        await ws.prepare(request)
        client = _Client(ws, request)
        self.clients.add(client)
        sender = asyncio.create_task(self._send_loop(client))
        try:
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    self._on_request(client, message.data)
        finally:
            self.clients.discard(client)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        return ws

    async def _send_loop(self, client: _Client) -> None:
        try:
            while True:
                frame = await client.queue.get()
                await client.ws.send_frame(frame, WSMsgType.BINARY)
        except (ConnectionError, RuntimeError):
            client.abort()

    def _on_request(self, client: _Client, data: str | bytes) -> None:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        if text.strip() == "PING":
            client.push(orjson.dumps({"status": "UP"}))
            return
        try:
            request = orjson.loads(text)
            snapshot = self._subscribe(client, request)
        except orjson.JSONDecodeError:
            client.push(orjson.dumps(wire.ws_error("WRONG_FORMAT", "요청 형식이 올바르지 않습니다.")))
            return
        except _Refused as exc:
            client.push(orjson.dumps(wire.ws_error(str(exc.name), exc.message)))
            return
        for kind, codes in snapshot.items():
            for code in codes:
                self._snapshot(client, kind, code)

    def _subscribe(self, client: _Client, request: Any) -> dict[str, list[str]]:
        """Apply a subscription request; the (type, codes) that want a snapshot first."""
        if not isinstance(request, list) or not all(isinstance(p, dict) for p in request):
            raise _Refused(400, "WRONG_FORMAT", "요청 형식이 올바르지 않습니다.")
        if not any("ticket" in part for part in request):
            raise _Refused(400, "NO_TICKET", "티켓이 존재하지 않습니다.")
        fmt = next((p["format"] for p in request if "format" in p), "DEFAULT")
        if fmt not in FORMATS:
            raise _Refused(400, "INVALID_PARAM", f"format {str(fmt)[:20]} is not supported here")
        wants = {kind: set[str]() for kind in TYPES}
        snapshot: dict[str, list[str]] = {}
        for part in (p for p in request if "type" in p):
            kind, codes = part["type"], part.get("codes")
            if kind not in TYPES:
                raise _Refused(400, "INVALID_PARAM", f"type {str(kind)[:20]} is not supported")
            if not isinstance(codes, list) or not codes:
                raise _Refused(400, "NO_CODES", "코드가 존재하지 않습니다.")
            known = [c for c in codes if isinstance(c, str) and c in self._index]
            wants[kind].update(known)
            realtime_only = part.get("isOnlyRealtime", part.get("is_only_realtime", False))
            if not realtime_only and kind != "trade":
                snapshot[kind] = known
        if not any(wants.values()):
            raise _Refused(400, "NO_TYPE", "타입이 존재하지 않습니다.")
        client.simple = fmt == "SIMPLE"
        client.wants = {kind: frozenset(codes) for kind, codes in wants.items()}
        return snapshot

    def _snapshot(self, client: _Client, kind: str, code: str) -> None:
        i = self._index[code]
        stats = self.sim.ticker_stats(i)
        if kind == "ticker":
            client.send(wire.ws_ticker(code, stats, "BID"))
        else:
            tick = float(self.sim.instruments[i].tick)
            client.send(wire.ws_orderbook(code, stats.close_ms, stats.bid, stats.bid_qty,
                                          stats.ask, stats.ask_qty, tick))

    # -- publishing (called by the sim's clock) ----------------------------------------------
    def begin_minute(self) -> None:
        """A new minute starts: its bars have sent no volume yet."""
        self._volume_done[:] = 0.0

    def publish_tick(self, data: MinuteData) -> None:
        """After the sim applied a tick: a trade, a book and a ticker per market that traded,
        built only for markets someone listens to."""
        if not self.clients:
            return
        listening = {kind: frozenset().union(*(c.wants[kind] for c in self.clients))
                     for kind in TYPES}
        wanted = listening["ticker"] | listening["trade"] | listening["orderbook"]
        state = self.sim.state
        for k, i in enumerate(data.bars.index.tolist()):
            code = self.codes[i]
            if code not in wanted:
                continue
            stats = self.sim.ticker_stats(i)
            volume_now = state.partial_bar(k).volume
            traded = max(0.0, float(volume_now - self._volume_done[i]))
            self._volume_done[i] = volume_now
            side = "BID" if stats.last >= stats.ask else "ASK"
            book = (stats.bid, stats.bid_qty, stats.ask, stats.ask_qty)
            for kind in ("trade", "orderbook", "ticker"):  # Upbit's usual order per trade
                if code not in listening[kind]:
                    continue
                if kind == "trade":
                    message = wire.ws_trade(code, stats.close_ms, stats.last, traded, side,
                                            stats.prev_close, self._next_sequence(stats.close_ms),
                                            book)
                elif kind == "orderbook":
                    tick = float(self.sim.instruments[i].tick_at(stats.bid))
                    message = wire.ws_orderbook(code, stats.close_ms, stats.bid, stats.bid_qty,
                                                stats.ask, stats.ask_qty, tick)
                else:
                    message = wire.ws_ticker(code, stats, side)
                for client in self.clients:
                    if code in client.wants[kind]:
                        client.send(message)

    def _next_sequence(self, ts_ms: int) -> int:
        self._sequence += 1
        return ts_ms * 1000 + self._sequence % 1000  # Upbit: ms timestamp then a counter

    # -- test hooks and lifecycle ------------------------------------------------------------
    def push_raw(self, frame: bytes) -> None:
        """Test hook: send raw bytes (say, a malformed frame) to every client."""
        for client in self.clients:
            client.push(frame)

    def drop_all(self) -> None:
        """Abruptly close every Upbit websocket (simulated network drop)."""
        for client in list(self.clients):
            client.abort()

    async def close_all(self) -> None:
        for client in list(self.clients):
            try:
                await asyncio.wait_for(client.ws.close(code=1001), 0.3)
            except (TimeoutError, ConnectionError, RuntimeError):
                pass
            client.abort()


class _Refused(Exception):
    def __init__(self, status: int, name: str | int, message: str) -> None:
        super().__init__(message)
        self.status, self.name, self.message = status, name, message


def _parse_to(text: str) -> int:
    """Upbit's `to`: ISO 8601 with Z or an offset, or "yyyy-MM-dd HH:mm:ss" (UTC)."""
    cleaned = text.strip().replace(" ", "T").replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise _Refused(400, "validation_error", f"to: cannot read {text[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
