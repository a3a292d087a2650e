"""Binance single-event parsers: one decoded event object -> one `Tick` or `Bar`, every
field checked. Pure: no I/O, no clock.

`tick_from_24hr` (a `24hrTicker`), `tick_from_book_ticker` (a `bookTicker`) and
`bar_from_kline` (a `kline`, a Bar only when it is a closed 1m candle) are what
`binance_parse.parse_event` calls for each event, and the ticker-array slow path calls
`tick_from_24hr` row by row. `kline_values_valid` is `bar_from_kline`'s number rules in
array form, for the replay feed's direct path.

Why apart from binance_parse.py: that module is about frames (decoding, wrappers, control
replies, dispatch, the columnar ticker-array fast path); this one is the field rules and the
per-event constructors every path shares, with the limits they read (`MAX_TS_MS`,
`MAX_SYMBOL_LEN`). What is refused, and with which `MalformedFrame` text, is described in
binance_parse.py's module docstring.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from exchange.feeds.errors import MalformedFrame
from exchange.feeds.parse_kernel import kline_rows_pass
from exchange.feeds.sanity_rules import MAX_PRICE
from model.market import MINUTE_MS, Bar, Tick

MAX_TS_MS = 4_102_444_800_000  # 2100-01-01: anything later is a unit error, not a time
MAX_SYMBOL_LEN = 64  # Binance symbols are short; newer ones may be non-ASCII, so no charset rule
NAN = math.nan


# ---------------------------------------------------------------- field validation


def _field(obj: dict[str, Any], key: str) -> Any:
    try:
        return obj[key]
    except KeyError:
        raise MalformedFrame(f"missing field {key!r}") from None


def _amount(obj: dict[str, Any], key: str) -> float:
    """A price or quantity: a decimal string (Binance) or a JSON number; finite, >= 0."""
    value = _field(obj, key)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise MalformedFrame(f"field {key!r} is not a number") from None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        raise MalformedFrame(f"field {key!r} has type {type(value).__name__}")
    if not (0.0 <= number < math.inf):  # also False for NaN
        raise MalformedFrame(f"field {key!r} is negative or not finite")
    return number


def _timestamp(obj: dict[str, Any], key: str) -> int:
    value = _field(obj, key)
    if type(value) is not int:
        raise MalformedFrame(f"timestamp {key!r} is not an integer")
    if not 0 <= value <= MAX_TS_MS:
        raise MalformedFrame(f"timestamp {key!r} out of range")
    return value


def _count(obj: dict[str, Any], key: str) -> int:
    value = _field(obj, key)
    if type(value) is not int or value < 0:
        raise MalformedFrame(f"field {key!r} is not a non-negative integer")
    return value


def _symbol(obj: dict[str, Any]) -> str:
    value = _field(obj, "s")
    if not isinstance(value, str) or not 0 < len(value) <= MAX_SYMBOL_LEN:
        raise MalformedFrame("symbol is not a short non-empty string")
    return value


def _check_quotes(bid: float, ask: float) -> None:
    if bid > ask:
        raise MalformedFrame("crossed quote: bid > ask")


# ---------------------------------------------------------------- events


def tick_from_24hr(payload: dict[str, Any], ts_recv: int) -> Tick:
    """A `24hrTicker` event: last `c`, bid `b`/`B`, ask `a`/`A`, 24h volumes `v`/`q`."""
    bid, ask = _amount(payload, "b"), _amount(payload, "a")
    _check_quotes(bid, ask)
    return Tick(
        symbol=_symbol(payload),
        ts_event=_timestamp(payload, "E"),
        ts_recv=ts_recv,
        last=_amount(payload, "c"),
        bid=bid,
        ask=ask,
        bid_qty=_amount(payload, "B"),
        ask_qty=_amount(payload, "A"),
        base_volume=_amount(payload, "v"),
        quote_volume=_amount(payload, "q"),
    )


def tick_from_book_ticker(payload: dict[str, Any], ts_recv: int) -> Tick:
    """A `bookTicker` event. Spot sends no event time: ts_event = ts_recv unless `E` is
    present (futures style). No trade or volume in it: last and volumes are NaN."""
    bid, ask = _amount(payload, "b"), _amount(payload, "a")
    _check_quotes(bid, ask)
    return Tick(
        symbol=_symbol(payload),
        ts_event=_timestamp(payload, "E") if "E" in payload else ts_recv,
        ts_recv=ts_recv,
        last=NAN,
        bid=bid,
        ask=ask,
        bid_qty=_amount(payload, "B"),
        ask_qty=_amount(payload, "A"),
        base_volume=NAN,
        quote_volume=NAN,
    )


def kline_values_valid(prices: np.ndarray, volumes: np.ndarray) -> np.ndarray:
    """Which klines `bar_from_kline` accepts, from their parsed numbers: `prices` rows
    open, high, low, close and `volumes` rows volume, quote volume (shape (4, n), (2, n)),
    each finite and >= 0, high/low bracketing open/close, low > 0, high <= MAX_PRICE.
    Symbol, open time and trade count are checked apart (the replay's direct path)."""
    return kline_rows_pass(prices, volumes, MAX_PRICE)  # compiled: parse_kernel.py


def bar_from_kline(payload: dict[str, Any]) -> Bar | None:
    """A `kline` event -> Bar when it is a closed 1m candle, None while it is still open
    (Binance pushes the forming candle every second) or for other intervals."""
    kline = _field(payload, "k")
    if not isinstance(kline, dict):
        raise MalformedFrame("kline payload 'k' is not an object")
    closed = _field(kline, "x")
    if not isinstance(closed, bool):
        raise MalformedFrame("kline 'x' is not a boolean")
    if kline.get("i", "1m") != "1m":
        return None
    # A forming candle is checked as well: it is what makes a feed fresh between closes,
    # so a stream of mistyped ones must read as malformed, not as a live market.
    o, h, low, c = (_amount(kline, key) for key in ("o", "h", "l", "c"))
    if not low <= min(o, c) <= max(o, c) <= h:
        raise MalformedFrame("kline high/low do not bracket open/close")
    if not (low > 0.0 and h <= MAX_PRICE):
        raise MalformedFrame("kline price is zero or impossibly large")
    if not closed:
        return None
    symbol = _symbol(payload)
    if "s" in kline and kline["s"] != symbol:
        raise MalformedFrame("kline symbol differs from event symbol")
    open_ms = _timestamp(kline, "t")
    if open_ms % MINUTE_MS:
        raise MalformedFrame("1m kline open time is not on a minute")
    return Bar(
        symbol=symbol,
        open_ms=open_ms,
        open=o,
        high=h,
        low=low,
        close=c,
        volume=_amount(kline, "v"),
        quote_volume=_amount(kline, "q"),
        trades=_count(kline, "n"),
    )
