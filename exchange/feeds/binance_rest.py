"""Binance spot REST market data: exchangeInfo -> Instruments, klines -> BarHistory.

Parsing (`parse_exchange_info`, `parse_klines`) is pure; the `fetch_*` coroutines wrap it
with aiohttp and turn HTTP errors into `ExchangeError` carrying Binance's code and message.
"""

from __future__ import annotations

import logging
from decimal import InvalidOperation
from typing import Any

import aiohttp
import numpy as np
import orjson

from exchange.feeds.errors import MalformedFrame, TooManySymbols, exchange_error
from model.instruments import Instrument, instrument_from_binance
from model.market import MINUTE_MS, BarHistory, concat_histories, empty_history, history_after

log = logging.getLogger(__name__)

KLINES_PAGE = 1000  # Binance's maximum `limit` for /api/v3/klines
REQUEST_TIMEOUT_S = 30.0


# ---------------------------------------------------------------- exchangeInfo


def parse_exchange_info(payload: Any, *, trading_only: bool = False,
                        max_symbols: int | None = None) -> list[Instrument]:
    """Instruments from a `/api/v3/exchangeInfo` body, in the exchange's order.

    More than `max_symbols` entries (trading ones, with `trading_only`) raise TooManySymbols
    before a single Instrument is built.

    PRICE_FILTER gives tick and price bounds, LOT_SIZE lot and quantity bounds, NOTIONAL
    (since 2023) or MIN_NOTIONAL (legacy) the minimum notional. A symbol without a positive
    tickSize and stepSize is skipped: it cannot be priced or sized safely.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("symbols"), list):
        raise MalformedFrame("exchangeInfo without a 'symbols' list")
    entries = [e for e in payload["symbols"]
               if not trading_only or (isinstance(e, dict) and e.get("status") == "TRADING")]
    if max_symbols is not None and len(entries) > max_symbols:
        raise TooManySymbols(len(entries), max_symbols)
    instruments = []
    for entry in entries:
        instrument = _instrument(entry)
        if instrument is not None:
            instruments.append(instrument)
    return instruments


def _instrument(entry: Any) -> Instrument | None:
    """The instrument of one symbol entry; None for a symbol without usable price and lot
    rules (it cannot be priced or sized safely, so it is skipped)."""
    try:
        return instrument_from_binance(entry)
    except ValueError:
        return None
    except (KeyError, TypeError, AttributeError, InvalidOperation) as exc:
        raise MalformedFrame(f"exchangeInfo symbol entry: {type(exc).__name__}: {exc}") from None


# ---------------------------------------------------------------- klines


def parse_klines(rows: Any, symbol: str, end_ms: int) -> BarHistory:
    """Closed 1m bars from a `/api/v3/klines` body: `[[open_ms, "o", "h", "l", "c", "v",
    close_ms, "q", trades, ...], ...]`. Bars not closed before `end_ms` are left out (the
    exchange includes the forming candle). Validated like websocket klines."""
    if not isinstance(rows, list) or (rows and set(map(type, rows)) != {list}):
        raise MalformedFrame("klines body is not a list of kline rows")
    if not rows:
        return empty_history(symbol)
    if min(map(len, rows)) < 9:
        raise MalformedFrame("kline row with fewer than 9 fields")
    columns = list(zip(*rows))  # transpose in C: one pass instead of one per field
    try:
        open_ms = np.array(_ints(columns[0]), dtype=np.int64)
        trades = np.array(_ints(columns[8]), dtype=np.int64)
        table = np.vstack([_floats(columns[i]) for i in (1, 2, 3, 4, 5, 7)])
    except (TypeError, ValueError, OverflowError) as exc:
        raise MalformedFrame(f"klines row with a bad field: {exc}") from None
    check_klines(open_ms, table, trades)
    closed = open_ms + (MINUTE_MS - 1) < end_ms
    o, h, low, c, v, q = (np.ascontiguousarray(col[closed]) for col in table)
    return BarHistory(symbol, open_ms[closed], o, h, low, c, v, q)


def _floats(values: tuple[Any, ...]) -> np.ndarray:
    """Decimal strings (Binance) or JSON numbers -> float64; bools and None rejected."""
    try:
        "".join(values)  # all strings: the common case, converted in one numpy call
        return np.array(values, dtype=np.float64)
    except TypeError:
        pass
    if any(isinstance(v, bool) or not isinstance(v, (str, int, float)) for v in values):
        raise TypeError("kline value that is neither a decimal string nor a number")
    return np.array([float(v) for v in values], dtype=np.float64)


def _ints(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if set(map(type, values)) != {int}:
        raise TypeError("expected integers")
    return values


def check_klines(open_ms: np.ndarray, table: np.ndarray, trades: np.ndarray) -> None:
    """The parser's judgement of a klines body's numbers (MalformedFrame when refused)."""
    o, h, low, c = table[:4]
    if not (np.isfinite(table).all() and (table >= 0).all() and (trades >= 0).all()):
        raise MalformedFrame("klines with negative or non-finite values")
    if ((open_ms % MINUTE_MS) != 0).any() or (open_ms < 0).any():
        raise MalformedFrame("klines open times not on the minute")
    if (np.diff(open_ms) <= 0).any():
        raise MalformedFrame("klines open times not strictly increasing")
    if ((low > np.minimum(o, c)) | (h < np.maximum(o, c))).any():
        raise MalformedFrame("klines high/low do not bracket open/close")










# ---------------------------------------------------------------- HTTP


async def get_json(
    session: aiohttp.ClientSession, url: str, params: dict[str, Any] | None = None
) -> Any:
    """GET `url` and decode JSON; HTTP >= 400 raises ExchangeError with Binance's code/msg."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with session.get(url, params=params, timeout=timeout) as response:
        body = await response.read()
        if response.status >= 400:
            code, msg = _binance_error(body)
            raise exchange_error(response.status, code, msg, url)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedFrame(f"{url} answered with something that is not JSON") from None


def _binance_error(body: bytes) -> tuple[int, str]:
    try:
        error = orjson.loads(body)
        return int(error["code"]), str(error["msg"])[:200]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return 0, body[:200].decode("utf-8", "replace")


async def fetch_exchange_info(
    rest_url: str, *, session: aiohttp.ClientSession | None = None, trading_only: bool = False,
    max_symbols: int | None = None,
) -> list[Instrument]:
    """Instruments of every spot symbol from `GET /api/v3/exchangeInfo` (at most
    `max_symbols`, else TooManySymbols)."""
    url = f"{rest_url.rstrip('/')}/api/v3/exchangeInfo"
    if session is not None:
        return parse_exchange_info(await get_json(session, url), trading_only=trading_only,
                                   max_symbols=max_symbols)
    async with aiohttp.ClientSession() as own_session:
        return parse_exchange_info(await get_json(own_session, url), trading_only=trading_only,
                                   max_symbols=max_symbols)


async def fetch_server_time(session: aiohttp.ClientSession, rest_url: str) -> int:
    """The exchange's clock (`GET /api/v3/time`), epoch ms."""
    body = await get_json(session, f"{rest_url.rstrip('/')}/api/v3/time")
    if not isinstance(body, dict) or type(body.get("serverTime")) is not int:
        raise MalformedFrame("/api/v3/time without an integer serverTime")
    return int(body["serverTime"])


async def fetch_klines(
    session: aiohttp.ClientSession, rest_url: str, symbol: str, start_ms: int, end_ms: int
) -> BarHistory:
    """Closed 1m bars of `symbol` that open at or after `start_ms` and close before `end_ms`,
    oldest first, paging 1000 at a time. Raises ExchangeError on HTTP errors."""
    url = f"{rest_url.rstrip('/')}/api/v3/klines"
    pages: list[BarHistory] = []
    cursor = start_ms
    while cursor < end_ms:
        params = {
            "symbol": symbol,
            "interval": "1m",
            "startTime": cursor,
            "endTime": end_ms - 1,
            "limit": KLINES_PAGE,
        }
        rows = await get_json(session, url, params)
        page = parse_klines(rows, symbol, end_ms)
        pages.append(history_after(page, cursor - 1))
        if not isinstance(rows, list) or len(rows) < KLINES_PAGE or not len(page):
            break
        cursor = int(page.open_ms[-1]) + MINUTE_MS
    return concat_histories(symbol, pages)
