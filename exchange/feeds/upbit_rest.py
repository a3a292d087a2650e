"""Upbit quotation REST: markets -> Instruments (with KRW tick bands), candles -> BarHistory.

Parsing is pure; the `fetch_*` coroutines wrap it with aiohttp and turn HTTP errors into
`ExchangeError` (Upbit answers `{"error": {"name": ..., "message": ...}}`; 429 means too
many requests and is temporary). Upbit has no server-time endpoint: the exchange clock is
the `timestamp` of a `/v1/ticker` answer.

Prices on Upbit have no per-market tick in `/v1/market/all`: the tick is a function of the
price band and the date (KRW: `model.instruments.upbit_krw_bands`; USDT: the bands below;
BTC: a flat 1 satoshi). ccxt does not round Upbit KRW prices to these ticks, so every order
price must go through `Instrument.price()`, which uses the band of the order's own price.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import numpy as np
import orjson

from exchange.feeds.errors import MalformedFrame, TooManySymbols, exchange_error
from model.instruments import (
    Instrument,
    TickBands,
    _kst_midnight_ms,
    upbit_krw_instrument,
)
from model.market import MINUTE_MS, BarHistory, concat_histories, empty_history, history_after

CANDLES_PAGE = 200  # Upbit's maximum `count` for /v1/candles/minutes/1
REQUEST_TIMEOUT_S = 30.0
LOT = Decimal("0.00000001")
# Upbit changed the BTC- and USDT-market rules on 2024-08-19 (KST).
UPBIT_2024_08_FROM_MS = _kst_midnight_ms(2024, 8, 19)
USDT_BANDS: TickBands = tuple(
    (Decimal(low), Decimal(tick))
    for low, tick in (
        ("10", "0.01"), ("1", "0.001"), ("0.1", "0.0001"), ("0.01", "0.00001"),
        ("0.001", "0.000001"), ("0.0001", "0.0000001"), ("0", "0.00000001"),
    )
)  # fmt: skip


# ---------------------------------------------------------------- markets and instruments


def parse_markets(payload: Any) -> list[str]:
    """Market codes ("KRW-BTC") from a `/v1/market/all` body, in the exchange's order."""
    if not isinstance(payload, list):
        raise MalformedFrame("/v1/market/all did not answer a list")
    codes = []
    for entry in payload:
        code = entry.get("market") if isinstance(entry, dict) else None
        if not isinstance(code, str) or code.count("-") != 1:
            raise MalformedFrame("/v1/market/all entry without a QUOTE-BASE market code")
        codes.append(code)
    return codes


def upbit_instrument(code: str, price: float, at_ms: int) -> Instrument:
    """The trading rules of one Upbit market at `at_ms`; `price` only sets the nominal tick.

    KRW: tick bands by era (min order 5,000 KRW). BTC: 1 satoshi tick; min order 0.0005 BTC,
    0.00005 BTC since 2024-08-19. USDT: tick bands, min order 0.5 USDT (since 2024-08-19).
    Amounts have 8 decimals everywhere.
    """
    quote, base = code.split("-", 1)
    if quote == "KRW":
        return upbit_krw_instrument(base, price, at_ms)
    if quote == "USDT":
        bands = USDT_BANDS
        tick = next(t for low, t in bands if Decimal(str(price)) >= low)
        min_notional = Decimal("0.5")
    else:  # BTC and any other quote: one satoshi
        bands, tick = (), LOT
        min_notional = Decimal("0.00005") if at_ms >= UPBIT_2024_08_FROM_MS else Decimal("0.0005")
    return Instrument(
        symbol=code, base=base, quote=quote, tick=tick, lot=LOT, min_notional=min_notional,
        min_qty=LOT, max_qty=Decimal(0), tick_bands=bands,
    )


def parse_ticker_prices(payload: Any) -> tuple[dict[str, float], int]:
    """({market: last price}, newest timestamp ms) from a `/v1/ticker` body."""
    if not isinstance(payload, list):
        raise MalformedFrame("/v1/ticker did not answer a list")
    prices: dict[str, float] = {}
    newest = 0
    for entry in payload:
        try:
            prices[str(entry["market"])] = float(entry["trade_price"])
            newest = max(newest, int(entry["timestamp"]))
        except (KeyError, TypeError, ValueError):
            raise MalformedFrame("/v1/ticker entry without market, trade_price, timestamp") from None
    return prices, newest


# ---------------------------------------------------------------- candles


def parse_candles(rows: Any, code: str, end_ms: int) -> BarHistory:
    """Closed 1m bars, oldest first, from a `/v1/candles/minutes/1` body (newest first, open
    time in `candle_date_time_utc`). Bars not closed before `end_ms` are left out."""
    if not isinstance(rows, list):
        raise MalformedFrame("candles body is not a list")
    parsed: list[tuple[int, float, float, float, float, float, float]] = []
    for row in rows:
        try:
            parsed.append((
                _utc_ms(row["candle_date_time_utc"]), float(row["opening_price"]),
                float(row["high_price"]), float(row["low_price"]), float(row["trade_price"]),
                float(row["candle_acc_trade_volume"]), float(row["candle_acc_trade_price"]),
            ))
        except (KeyError, TypeError, ValueError):
            raise MalformedFrame("candle without the usual fields") from None
    parsed.sort()
    parsed = [p for p in parsed if p[0] + MINUTE_MS <= end_ms]
    if not parsed:
        return empty_history(code)
    columns = list(zip(*parsed))
    open_ms = np.array(columns[0], dtype=np.int64)
    table = np.array(columns[1:], dtype=np.float64)
    o, h, low, c = table[:4]
    if not (np.isfinite(table).all() and (table >= 0).all()) or (np.diff(open_ms) <= 0).any():
        raise MalformedFrame("candles with bad values or repeated open times")
    if ((low > np.minimum(o, c)) | (h < np.maximum(o, c))).any():
        raise MalformedFrame("candles whose high/low do not bracket open/close")
    return BarHistory(code, open_ms, *(np.ascontiguousarray(col) for col in table))


def _utc_ms(text: Any) -> int:
    """"2020-02-20T11:59:00" (UTC, no zone) -> epoch ms; minute-aligned or MalformedFrame."""
    moment = datetime.strptime(str(text)[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    value = int(moment.timestamp() * 1000)
    if value % MINUTE_MS:
        raise ValueError("candle time not on a minute")
    return value


def utc_text(ts_ms: int) -> str:
    """Epoch ms -> the ISO 8601 UTC form Upbit's `to` parameter takes."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- HTTP


class RequestPacer:
    """At most one request per `interval_s` (Upbit quotation: 10 requests/s per IP). Zero
    turns pacing off (the local simulator)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._next_s = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if self.interval_s <= 0:
            return
        async with self._lock:
            delay = self._next_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self._next_s = time.monotonic() + self.interval_s


async def get_json(
    session: aiohttp.ClientSession, url: str, params: dict[str, Any] | None = None,
    pacer: RequestPacer | None = None,
) -> Any:
    """GET `url` and decode JSON; HTTP >= 400 raises ExchangeError with Upbit's error name."""
    if pacer is not None:
        await pacer.wait()
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with session.get(url, params=params, timeout=timeout) as response:
        body = await response.read()
        if response.status >= 400:
            raise exchange_error(response.status, 0, _upbit_error(body), url)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedFrame(f"{url} answered with something that is not JSON") from None


def _upbit_error(body: bytes) -> str:
    try:
        error = orjson.loads(body)["error"]
        return f"{error.get('name')}: {error.get('message')}"[:200]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return body[:200].decode("utf-8", "replace")


async def fetch_markets(session: aiohttp.ClientSession, rest_url: str,
                        pacer: RequestPacer | None = None) -> list[str]:
    """Every market code from `GET /v1/market/all`."""
    return parse_markets(await get_json(session, f"{rest_url}/v1/market/all", None, pacer))


async def fetch_ticker_prices(
    session: aiohttp.ClientSession, rest_url: str, codes: list[str],
    pacer: RequestPacer | None = None,
) -> tuple[dict[str, float], int]:
    """Last prices of `codes` and the exchange's clock, from `GET /v1/ticker` (in chunks)."""
    prices: dict[str, float] = {}
    newest = 0
    for start in range(0, len(codes), 100):
        params = {"markets": ",".join(codes[start : start + 100])}
        chunk, ts = parse_ticker_prices(
            await get_json(session, f"{rest_url}/v1/ticker", params, pacer)
        )
        prices.update(chunk)
        newest = max(newest, ts)
    return prices, newest


async def fetch_instruments(
    rest_url: str, *, session: aiohttp.ClientSession | None = None,
    pacer: RequestPacer | None = None, max_symbols: int | None = None,
) -> list[Instrument]:
    """Instruments of every Upbit market, ticks banded at the exchange's current time; more
    than `max_symbols` markets raise TooManySymbols before their tickers are fetched."""
    rest_url = rest_url.rstrip("/")
    if session is None:
        async with aiohttp.ClientSession() as own:
            return await fetch_instruments(rest_url, session=own, pacer=pacer,
                                           max_symbols=max_symbols)
    codes = await fetch_markets(session, rest_url, pacer)
    if max_symbols is not None and len(codes) > max_symbols:
        raise TooManySymbols(len(codes), max_symbols, "/v1/market/all")
    prices, now_ms = await fetch_ticker_prices(session, rest_url, codes, pacer)
    now_ms = now_ms or int(time.time() * 1000)
    return [upbit_instrument(code, prices.get(code, 1.0), now_ms) for code in codes]


async def fetch_candles(
    session: aiohttp.ClientSession, rest_url: str, code: str, start_ms: int, end_ms: int,
    pacer: RequestPacer | None = None,
) -> BarHistory:
    """Closed 1m bars of `code` opening in [start_ms, end_ms - 1m], oldest first. Upbit
    pages backwards from `to` (exclusive), 200 candles at a time."""
    url = f"{rest_url.rstrip('/')}/v1/candles/minutes/1"
    pages: list[BarHistory] = []
    cursor_ms = end_ms
    while cursor_ms > start_ms:
        params = {"market": code, "to": utc_text(cursor_ms), "count": CANDLES_PAGE}
        rows = await get_json(session, url, params, pacer)
        page = history_after(parse_candles(rows, code, end_ms), start_ms - 1)
        pages.append(page)
        if not isinstance(rows, list) or len(rows) < CANDLES_PAGE or not len(page):
            break
        cursor_ms = int(page.open_ms[0])
    return concat_histories(code, pages[::-1])
