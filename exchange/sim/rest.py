"""REST side of the simulated exchange: Binance spot public market endpoints.

`/api/v3/ping`, `/time`, `/exchangeInfo`, `/klines`, `/ticker/24hr`, `/ticker/bookTicker`.
Bad requests get HTTP 400 with Binance's `{"code": -11xx, "msg": ...}` body, so a client's
error mapping (ccxt's included) behaves as it would against the real exchange.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

import exchange.sim.protocol as protocol
from model import errors

if TYPE_CHECKING:
    from exchange.sim.venue import SimVenue

KLINE_DEFAULT_LIMIT, KLINE_MAX_LIMIT = 500, 1000
KLINE_INTERVALS = (
    "1s",
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1h",
    "2h",
    "4h",
    "6h",
    "8h",
    "12h",
    "1d",
    "3d",
    "1w",
    "1M",
)


class BadRequest(errors.OperatorError):
    """A request Binance would refuse with HTTP 400 and this code."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _mandatory(request: web.Request, name: str) -> str:
    value = request.query.get(name, "")
    if not value:
        raise BadRequest(
            -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )
    return value


def _optional_int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 20:
        raise BadRequest(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(value)


class RestApi:
    """Handlers bound to one SimExchange."""

    def __init__(self, sim: SimVenue) -> None:
        self.sim = sim

    def routes(self) -> list[web.RouteDef]:
        handlers: dict[str, Callable[[web.Request], Any]] = {
            "/api/v3/ping": lambda r: {},
            "/api/v3/time": lambda r: {"serverTime": self.sim.now_ms},
            "/api/v3/exchangeInfo": self.exchange_info,
            "/api/v3/klines": self.klines,
            "/api/v3/ticker/24hr": self.ticker_24hr,
            "/api/v3/ticker/bookTicker": self.book_ticker,
        }
        return [web.get(path, self._wrap(handler)) for path, handler in handlers.items()]

    @staticmethod
    def _wrap(handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
        async def endpoint(request: web.Request) -> web.Response:
            try:
                return _json(handler(request))
            except BadRequest as exc:
                return _json(protocol.rest_error(exc.code, exc.msg), status=400)

        return endpoint

    # -- helpers ---------------------------------------------------------------------------
    def _symbol_index(self, symbol: str) -> int:
        index = self.sim.symbol_index(symbol)
        if index is None:
            raise BadRequest(-1121, "Invalid symbol.")
        return index

    def _selected(self, request: web.Request) -> tuple[list[int], bool]:
        """Symbols chosen by `symbol` or `symbols` (JSON array); (indices, single)."""
        symbol, symbols = request.query.get("symbol"), request.query.get("symbols")
        if symbol is not None and symbols is not None:
            raise BadRequest(-1128, "Combination of optional parameters invalid.")
        if symbol is not None:
            if not symbol:
                _mandatory(request, "symbol")
            return [self._symbol_index(symbol)], True
        if symbols is not None:
            try:
                names = orjson.loads(symbols)
            except orjson.JSONDecodeError:
                names = None
            if (
                not isinstance(names, list)
                or not names
                or not all(isinstance(n, str) for n in names)
            ):
                raise BadRequest(
                    -1100,
                    "Illegal characters found in parameter 'symbols'; legal "
                    'range is \'^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$\'.',
                )
            return [self._symbol_index(n) for n in names], False
        return list(range(len(self.sim.symbols))), False

    # -- endpoints -------------------------------------------------------------------------
    def exchange_info(self, request: web.Request) -> dict[str, Any]:
        has_filter = "symbol" in request.query or "symbols" in request.query
        indices, _ = (
            self._selected(request) if has_filter else (list(range(len(self.sim.symbols))), False)
        )
        instruments = [self.sim.instruments[i] for i in indices]
        return protocol.exchange_info(instruments, self.sim.now_ms)

    def klines(self, request: web.Request) -> list[list[Any]]:
        symbol = _mandatory(request, "symbol")
        index = self._symbol_index(symbol)
        interval = _mandatory(request, "interval")
        if interval not in KLINE_INTERVALS:
            raise BadRequest(-1120, "Invalid interval.")
        if interval != "1m":
            raise BadRequest(
                -1120,
                f"Invalid interval: the simulator serves only 1m klines, "
                f"not {interval}; aggregate 1m bars instead.",
            )
        limit = _optional_int(request, "limit")
        limit = KLINE_DEFAULT_LIMIT if limit is None else min(max(limit, 1), KLINE_MAX_LIMIT)
        start_ms, end_ms = _optional_int(request, "startTime"), _optional_int(request, "endTime")
        if start_ms is not None and end_ms is not None and start_ms > end_ms:
            raise BadRequest(-1023, "Start time is greater than end time.")
        return self.sim.kline_rows(index, start_ms, end_ms, limit)

    def ticker_24hr(self, request: web.Request) -> Any:
        indices, single = self._selected(request)
        bodies = [protocol.rest_ticker_24hr(self.sim.ticker_stats(i)) for i in indices]
        return bodies[0] if single else bodies

    def book_ticker(self, request: web.Request) -> Any:
        indices, single = self._selected(request)
        bodies = [protocol.rest_book_ticker(self.sim.ticker_stats(i)) for i in indices]
        return bodies[0] if single else bodies
