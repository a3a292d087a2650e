"""Binance spot wire payloads, built exactly in the shapes of the recorded frames and the
official documentation examples (../shared/data/protocol/binance): numbers are strings with
eight decimals, times and ids are integers.

Pure functions from the simulator's values to JSON-ready dicts and lists; no I/O.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from exchange.sim.num_kernel import parse_back
from exchange.sim.state import PartialBar, TickerStats
from model.instruments import Instrument
from model.market import MINUTE_MS

ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


def num(value: float) -> str:
    """Binance's decimal string: fixed eight decimals ("0.35280000")."""
    return f"{value:.8f}"


# From 2**26 on, a float64's spacing exceeds 1e-8, so its 8-decimal string parses back to it.
_NUM_EXACT_FROM = 2.0**26
_NUM_DOUBT = 2.0**-25  # 4x the worst rounding error of (v - trunc(v)) * 1e8


def num_parsed(values: np.ndarray) -> np.ndarray:
    """`float(num(v))` of every element, vectorized: what a client parses back from the
    8-decimal strings, bit for bit (the replay feed's direct path skips the strings).

    Below 2**26, v = whole + fraction exactly, `whole * 1e8` is an exact integer and
    `fraction * 1e8` is off by at most 2**-27, so rounding it gives the string's last
    digits `r` unless it lies that close to a half; `r / 1e8` is then the float nearest
    to the string's value, as `float()` reads it. The doubtful few (and NaN) are
    formatted and parsed for real; the sign is the string's ("-0.00000000"). The
    arithmetic runs compiled, value by value (exchange/sim/num_kernel.py)."""
    values = np.asarray(values, dtype=np.float64)
    flat = np.ascontiguousarray(values).reshape(-1)
    out = np.empty_like(flat)
    doubtful = np.zeros(flat.shape, dtype=bool)
    if parse_back(flat, _NUM_EXACT_FROM, _NUM_DOUBT, out, doubtful):
        for at in np.flatnonzero(doubtful).tolist():
            out[at] = float(num(float(flat[at])))
    return out.reshape(values.shape)


#: `num_parsed`'s thresholds, for kernels that parse as it does (exchange/sim/ticker_kernel.py).
NUM_EXACT_FROM, NUM_DOUBT = _NUM_EXACT_FROM, _NUM_DOUBT


def parsed_tables(table: np.ndarray, doubtful: np.ndarray, any_doubtful: bool) -> np.ndarray:
    """Finish a table a kernel read back as `num_parsed` does, all but its `doubtful`
    values (still raw): those are formatted and parsed for real, in place. Returns it."""
    if any_doubtful:
        flat = table.reshape(-1)
        for at in np.flatnonzero(doubtful.reshape(-1)).tolist():
            flat[at] = float(num(float(flat[at])))
    return table


def dec(value: Any) -> str:
    """A Decimal rule value as Binance prints filter fields ("0.01000000")."""
    return f"{value:.8f}"


def taker_buy_share(open_: float, high: float, low: float, close: float) -> float:
    """Share of volume bought by takers: more on up bars (the data has no trade sides)."""
    if high <= low:
        return 0.5
    return min(0.95, max(0.05, 0.5 + 0.4 * (close - open_) / (high - low)))


# -- websocket streams ---------------------------------------------------------------------
def ws_ticker(stats: TickerStats) -> dict[str, Any]:
    """`<symbol>@ticker` payload (event type 24hrTicker)."""
    change = stats.last - stats.open
    weighted = stats.quote_volume / stats.volume if stats.volume > 0 else stats.last
    return {
        "e": "24hrTicker",
        "E": stats.close_ms,
        "s": stats.symbol,
        "p": num(change),
        "P": f"{(change / stats.open * 100 if stats.open else 0.0):.3f}",
        "w": num(weighted),
        "x": num(stats.prev_close),
        "c": num(stats.last),
        "Q": num(stats.last_qty),
        "b": num(stats.bid),
        "B": num(stats.bid_qty),
        "a": num(stats.ask),
        "A": num(stats.ask_qty),
        "o": num(stats.open),
        "h": num(stats.high),
        "l": num(stats.low),
        "v": num(stats.volume),
        "q": num(stats.quote_volume),
        "O": stats.open_ms,
        "C": stats.close_ms,
        "F": stats.first_id,
        "L": stats.last_id,
        "n": stats.count,
    }


def ws_book_ticker(
    update_id: int, symbol: str, bid: float, bid_qty: float, ask: float, ask_qty: float
) -> dict[str, Any]:
    """`<symbol>@bookTicker` payload (spot: no event type or time, as recorded)."""
    return {
        "u": update_id,
        "s": symbol,
        "b": num(bid),
        "B": num(bid_qty),
        "a": num(ask),
        "A": num(ask_qty),
    }


def ws_kline(symbol: str, bar: PartialBar, event_ms: int, closed: bool) -> dict[str, Any]:
    """`<symbol>@kline_1m` payload; `x` is true on the final update of the minute."""
    share = taker_buy_share(bar.open, bar.high, bar.low, bar.close)
    return {
        "e": "kline",
        "E": event_ms,
        "s": symbol,
        "k": {
            "t": bar.open_ms,
            "T": bar.open_ms + MINUTE_MS - 1,
            "s": symbol,
            "i": "1m",
            "f": bar.first_id,
            "L": bar.first_id + bar.trades - 1,
            "o": num(bar.open),
            "c": num(bar.close),
            "h": num(bar.high),
            "l": num(bar.low),
            "v": num(bar.volume),
            "n": bar.trades,
            "x": closed,
            "q": num(bar.quote_volume),
            "V": num(bar.volume * share),
            "Q": num(bar.quote_volume * share),
            "B": "0",
        },
    }


def combined(stream: str, payload_json: bytes) -> bytes:
    """Wrap an already serialized payload as a combined-stream frame."""
    return b'{"stream":"' + stream.encode() + b'","data":' + payload_json + b"}"


def ws_result(request_id: Any, result: Any = None) -> dict[str, Any]:
    """Answer to SUBSCRIBE / UNSUBSCRIBE (result null) or a query (LIST_SUBSCRIPTIONS...)."""
    return {"result": result, "id": request_id}


def ws_error(code: int, msg: str, request_id: Any = None) -> dict[str, Any]:
    """Error answer to a control message (codes 0-3 of the websocket docs)."""
    return {"error": {"code": code, "msg": msg}, "id": request_id}


# -- REST ----------------------------------------------------------------------------------
def rest_error(code: int, msg: str) -> dict[str, Any]:
    """Binance REST error body, sent with HTTP 400."""
    return {"code": code, "msg": msg}


def kline_row(bar: PartialBar) -> list[Any]:
    """One `/api/v3/klines` row: 12 fields, prices and volumes as strings."""
    share = taker_buy_share(bar.open, bar.high, bar.low, bar.close)
    return [
        bar.open_ms,
        num(bar.open),
        num(bar.high),
        num(bar.low),
        num(bar.close),
        num(bar.volume),
        bar.open_ms + MINUTE_MS - 1,
        num(bar.quote_volume),
        bar.trades,
        num(bar.volume * share),
        num(bar.quote_volume * share),
        "0",
    ]


def rest_ticker_24hr(stats: TickerStats) -> dict[str, Any]:
    """`/api/v3/ticker/24hr` entry (FULL type)."""
    change = stats.last - stats.open
    weighted = stats.quote_volume / stats.volume if stats.volume > 0 else stats.last
    return {
        "symbol": stats.symbol,
        "priceChange": num(change),
        "priceChangePercent": f"{(change / stats.open * 100 if stats.open else 0.0):.3f}",
        "weightedAvgPrice": num(weighted),
        "prevClosePrice": num(stats.prev_close),
        "lastPrice": num(stats.last),
        "lastQty": num(stats.last_qty),
        "bidPrice": num(stats.bid),
        "bidQty": num(stats.bid_qty),
        "askPrice": num(stats.ask),
        "askQty": num(stats.ask_qty),
        "openPrice": num(stats.open),
        "highPrice": num(stats.high),
        "lowPrice": num(stats.low),
        "volume": num(stats.volume),
        "quoteVolume": num(stats.quote_volume),
        "openTime": stats.open_ms,
        "closeTime": stats.close_ms,
        "firstId": stats.first_id,
        "lastId": stats.last_id,
        "count": stats.count,
    }


def rest_book_ticker(stats: TickerStats) -> dict[str, Any]:
    """`/api/v3/ticker/bookTicker` entry."""
    return {
        "symbol": stats.symbol,
        "bidPrice": num(stats.bid),
        "bidQty": num(stats.bid_qty),
        "askPrice": num(stats.ask),
        "askQty": num(stats.ask_qty),
    }


def symbol_info(instrument: Instrument) -> dict[str, Any]:
    """One `exchangeInfo` symbol, in the 2021 recorded shape (legacy MIN_NOTIONAL filter)."""
    return {
        "symbol": instrument.symbol,
        "status": "TRADING",
        "baseAsset": instrument.base,
        "baseAssetPrecision": 8,
        "quoteAsset": instrument.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": list(ORDER_TYPES),
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": dec(instrument.min_price),
                "maxPrice": dec(instrument.max_price),
                "tickSize": dec(instrument.tick),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": dec(instrument.min_qty),
                "maxQty": dec(instrument.max_qty),
                "stepSize": dec(instrument.lot),
            },
            {
                "filterType": "MIN_NOTIONAL",
                "minNotional": dec(instrument.min_notional),
                "applyToMarket": True,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        "permissions": ["SPOT"],
    }


def exchange_info(instruments: list[Instrument], server_time_ms: int) -> dict[str, Any]:
    """`/api/v3/exchangeInfo` body for the given instruments."""
    return {
        "timezone": "UTC",
        "serverTime": server_time_ms,
        "rateLimits": RATE_LIMITS,
        "exchangeFilters": [],
        "symbols": [symbol_info(i) for i in instruments],
    }
