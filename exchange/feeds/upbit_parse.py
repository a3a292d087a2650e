"""Upbit websocket frames -> Upbit events -> `Tick` and trade-built `Bar`. Pure: no I/O.

Upbit sends every message as a **binary** websocket frame holding UTF-8 JSON, in one of two
formats chosen at subscription: DEFAULT (`{"type": "trade", "code": "KRW-BTC", ...}`) or
SIMPLE (the same fields abbreviated: `{"ty": "trade", "cd": "KRW-BTC", ...}`).
`parse_message` accepts both (text frames too) and returns one frozen event:

- `ticker`    -> `UpbitTicker`: last price and the rolling 24h volumes (no bid/ask);
- `trade`     -> `UpbitTrade`: one execution (price, volume, side, sequential id);
- `orderbook` -> `UpbitBook`: best bid/ask and their sizes (first `orderbook_units` row);
- `{"status": "UP"}` (the answer to a text "PING") -> `UpbitStatus`;
- `{"error": {"name", "message"}}` -> `UpbitRefused` (the server refused our request).

No single Upbit message carries a whole `Tick` (tickers have no book, books have no last
price), so `TickAssembler` keeps each market's latest of both and emits a Tick once it knows
a last price and a book. Upbit has no closed-candle stream among these types, so
`TradeBarBuilder` aggregates trades into 1m bars the way Upbit's candles are made (open =
first trade, close = last, volume = sum, quote volume = sum of price x volume; a minute with
no trade has no bar).

Everything malformed raises `MalformedFrame`: not JSON, unknown type, missing or mistyped
fields (booleans are not numbers), prices not finite and positive, sizes negative, a crossed
book, timestamps outside 1970..2100 (a unit error). Nothing half-valid is returned.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from exchange.feeds.errors import MalformedFrame
from model.market import MINUTE_MS, Bar, Tick, minute_floor

MAX_TS_MS = 4_102_444_800_000  # 2100-01-01: anything later is a unit error, not a time
MAX_CODE_LEN = 32  # "KRW-BTC"; generous for longer listings
NAN = math.nan

# DEFAULT field name -> SIMPLE abbreviation (docs.upbit.com, websocket ticker/trade/orderbook).
DEFAULT_TO_SIMPLE: dict[str, str] = {
    "type": "ty", "code": "cd", "timestamp": "tms", "stream_type": "st",
    "opening_price": "op", "high_price": "hp", "low_price": "lp", "trade_price": "tp",
    "prev_closing_price": "pcp", "change": "c", "change_price": "cp",
    "signed_change_price": "scp", "change_rate": "cr", "signed_change_rate": "scr",
    "trade_volume": "tv", "acc_trade_volume": "atv", "acc_trade_volume_24h": "atv24h",
    "acc_trade_price": "atp", "acc_trade_price_24h": "atp24h", "trade_date": "tdt",
    "trade_time": "ttm", "trade_timestamp": "ttms", "ask_bid": "ab",
    "acc_ask_volume": "aav", "acc_bid_volume": "abv", "sequential_id": "sid",
    "total_ask_size": "tas", "total_bid_size": "tbs", "orderbook_units": "obu",
    "ask_price": "ap", "bid_price": "bp", "ask_size": "as", "bid_size": "bs", "level": "lv",
    "market_state": "ms", "best_ask_price": "bap", "best_ask_size": "bas",
    "best_bid_price": "bbp", "best_bid_size": "bbs",
}  # fmt: skip
SIMPLE_TO_DEFAULT = {short: long for long, short in DEFAULT_TO_SIMPLE.items()}
_UNIT_DEFAULT_TO_SIMPLE = {
    k: DEFAULT_TO_SIMPLE[k] for k in ("ask_price", "bid_price", "ask_size", "bid_size")
}


# ---------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class UpbitTicker:
    """A `ticker` message: last trade price and rolling 24h volumes of one market."""

    code: str
    ts_event: int
    last: float
    base_volume_24h: float
    quote_volume_24h: float


@dataclass(frozen=True, slots=True)
class UpbitTrade:
    """A `trade` message: one execution. `side` is the taker's: "BID" buys, "ASK" sells."""

    code: str
    ts_event: int
    price: float
    volume: float
    side: str
    sequential_id: int


@dataclass(frozen=True, slots=True)
class UpbitBook:
    """An `orderbook` message reduced to the top of the book."""

    code: str
    ts_event: int
    bid: float
    ask: float
    bid_qty: float
    ask_qty: float


@dataclass(frozen=True, slots=True)
class UpbitStatus:
    """`{"status": "UP"}`: the server's answer to a text "PING"."""

    status: str


@dataclass(frozen=True, slots=True)
class UpbitRefused:
    """`{"error": {...}}`: the server refused a request (bad subscription, say)."""

    name: str
    message: str


UpbitEvent = UpbitTicker | UpbitTrade | UpbitBook | UpbitStatus | UpbitRefused


# ---------------------------------------------------------------- decoding


def decode_message(raw: str | bytes) -> Any:
    """Decode one websocket message (binary or text) as JSON, or raise MalformedFrame."""
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise MalformedFrame(f"not JSON: {str(exc)[:80]}") from None


def to_simple(message: dict[str, Any]) -> dict[str, Any]:
    """A DEFAULT-format message with SIMPLE keys (SIMPLE messages pass through)."""
    if "ty" in message:
        return message
    simple = {DEFAULT_TO_SIMPLE.get(k, k): v for k, v in message.items()}
    units = simple.get("obu")
    if isinstance(units, list):
        simple["obu"] = [
            {_UNIT_DEFAULT_TO_SIMPLE.get(k, k): v for k, v in unit.items()}
            if isinstance(unit, dict) else unit
            for unit in units
        ]
    return simple


def to_default(message: dict[str, Any]) -> dict[str, Any]:
    """A SIMPLE-format message with DEFAULT keys (the simulator serves both formats)."""
    full = {SIMPLE_TO_DEFAULT.get(k, k): v for k, v in message.items()}
    units = full.get("orderbook_units")
    if isinstance(units, list):
        full["orderbook_units"] = [
            {SIMPLE_TO_DEFAULT.get(k, k): v for k, v in unit.items()} for unit in units
        ]
    return full


def parse_message(raw: str | bytes) -> UpbitEvent:
    """Parse one raw Upbit websocket message (see the module docstring)."""
    return parse_object(decode_message(raw))


def parse_object(obj: Any) -> UpbitEvent:
    """Parse an already decoded message."""
    if not isinstance(obj, dict):
        raise MalformedFrame(f"message is a {type(obj).__name__}, not an object")
    if "error" in obj:
        error = obj["error"]
        if not isinstance(error, dict):
            raise MalformedFrame("error message without an error object")
        return UpbitRefused(str(error.get("name", ""))[:80], str(error.get("message", ""))[:200])
    if "status" in obj and "ty" not in obj and "type" not in obj:
        return UpbitStatus(str(obj["status"])[:20])
    message = to_simple(obj)
    kind = message.get("ty")
    if kind == "trade":
        return _trade(message)
    if kind == "orderbook":
        return _book(message)
    if kind == "ticker":
        return _ticker(message)
    raise MalformedFrame(f"unknown message type {str(kind)[:20]!r}")


def _code(message: dict[str, Any]) -> str:
    code = message.get("cd")
    if not isinstance(code, str) or not 0 < len(code) <= MAX_CODE_LEN or "-" not in code:
        raise MalformedFrame("missing or bad market code")
    return code


def _ts(message: dict[str, Any], key: str = "tms") -> int:
    value = message.get(key)
    if type(value) is not int or not 0 <= value <= MAX_TS_MS:
        raise MalformedFrame(f"{key} is not epoch milliseconds")
    return value


def _number(container: dict[str, Any], key: str, *, positive: bool) -> float:
    value = container.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise MalformedFrame(f"{key} is not a number")
    try:
        number = float(value)
    except ValueError:
        raise MalformedFrame(f"{key} is not a number") from None
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise MalformedFrame(f"{key} = {number!r} out of range")
    return number


def _optional_volume(message: dict[str, Any], key: str) -> float:
    return _number(message, key, positive=False) if key in message else NAN


def _ticker(message: dict[str, Any]) -> UpbitTicker:
    return UpbitTicker(
        code=_code(message),
        ts_event=_ts(message),
        last=_number(message, "tp", positive=True),
        base_volume_24h=_optional_volume(message, "atv24h"),
        quote_volume_24h=_optional_volume(message, "atp24h"),
    )


def _trade(message: dict[str, Any]) -> UpbitTrade:
    side = message.get("ab")
    if side not in ("BID", "ASK"):
        raise MalformedFrame("trade ask_bid is neither BID nor ASK")
    sequential_id = message.get("sid")
    if type(sequential_id) is not int or sequential_id < 0:
        raise MalformedFrame("trade sequential_id is not a non-negative integer")
    return UpbitTrade(
        code=_code(message),
        ts_event=_ts(message),
        price=_number(message, "tp", positive=True),
        volume=_number(message, "tv", positive=False),
        side=side,
        sequential_id=sequential_id,
    )


def _book(message: dict[str, Any]) -> UpbitBook:
    units = message.get("obu")
    if not isinstance(units, list) or not units or not isinstance(units[0], dict):
        raise MalformedFrame("orderbook without orderbook_units")
    top = units[0]
    bid, ask = _number(top, "bp", positive=True), _number(top, "ap", positive=True)
    if bid >= ask:
        raise MalformedFrame(f"crossed or locked book: bid {bid} >= ask {ask}")
    return UpbitBook(
        code=_code(message),
        ts_event=_ts(message),
        bid=bid,
        ask=ask,
        bid_qty=_number(top, "bs", positive=False),
        ask_qty=_number(top, "as", positive=False),
    )


# ---------------------------------------------------------------- subscription


def subscription_request(
    ticket: str, codes: Iterable[str], *, fmt: str = "SIMPLE",
    types: tuple[str, ...] = ("ticker", "trade", "orderbook"), realtime_only: bool = True,
) -> list[dict[str, Any]]:
    """The one message that subscribes a connection: ticket, one object per type, format.

    `realtime_only` skips the snapshot Upbit otherwise sends first: a snapshot ticker's
    24h volumes are fine, but a snapshot trade is an old trade that would land in the wrong
    minute of a trade-built bar."""
    if fmt not in ("SIMPLE", "DEFAULT"):
        raise ValueError(f"Upbit format must be SIMPLE or DEFAULT, not {fmt!r}")
    code_list = list(dict.fromkeys(c.upper() for c in codes))
    return [
        {"ticket": ticket},
        *({"type": kind, "codes": code_list, "isOnlyRealtime": realtime_only} for kind in types),
        {"format": fmt},
    ]


# ---------------------------------------------------------------- ticks and bars


class TickAssembler:
    """Merges each market's latest last price, book and 24h volumes into `Tick`s.

    A Tick is emitted for every ticker, trade or book message once the market has both a
    last price and a book; its `ts_event` is the message's. Volumes stay NaN until the first
    ticker message (trades and books do not carry the 24h totals)."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._book: dict[str, UpbitBook] = {}
        self._volumes: dict[str, tuple[float, float]] = {}

    def apply(self, event: UpbitTicker | UpbitTrade | UpbitBook, ts_recv: int) -> Tick | None:
        """Fold one event in; the market's Tick after it, or None while one is not known."""
        code = event.code
        if isinstance(event, UpbitBook):
            self._book[code] = event
        elif isinstance(event, UpbitTrade):
            self._last[code] = event.price
        else:
            self._last[code] = event.last
            self._volumes[code] = (event.base_volume_24h, event.quote_volume_24h)
        last, book = self._last.get(code), self._book.get(code)
        if last is None or book is None:
            return None
        base_volume, quote_volume = self._volumes.get(code, (NAN, NAN))
        return Tick(
            symbol=code, ts_event=event.ts_event, ts_recv=ts_recv, last=last, bid=book.bid,
            ask=book.ask, bid_qty=book.bid_qty, ask_qty=book.ask_qty,
            base_volume=base_volume, quote_volume=quote_volume,
        )


@dataclass(slots=True)
class _Building:
    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float
    trades: int

    def bar(self, code: str) -> Bar:
        return Bar(code, self.open_ms, self.open, self.high, self.low, self.close,
                   self.volume, self.quote_volume, self.trades)


class TradeBarBuilder:
    """1m bars from trades. A market's bar for minute m is complete when a message of that
    market from a later minute arrives (`add`/`close_before`), or when the exchange clock
    has passed the minute (`close_before`, called by the feed's clock). Trades of a minute
    already closed are dropped and counted in `late_trades`, never reopen a bar."""

    def __init__(self) -> None:
        self._open: dict[str, _Building] = {}
        self._closed_until: dict[str, int] = {}  # per market: minutes before this are done
        self.late_trades = 0

    def add(self, trade: UpbitTrade) -> list[Bar]:
        """Fold a trade in; the bars it completes (at most one: the market's previous)."""
        minute = minute_floor(trade.ts_event)
        if minute < self._closed_until.get(trade.code, -1):
            self.late_trades += 1
            return []
        done = self.close_market_before(trade.code, minute)
        building = self._open.get(trade.code)
        price, volume = trade.price, trade.volume
        if building is None:
            self._open[trade.code] = _Building(minute, price, price, price, price, volume,
                                               price * volume, 1)
        else:
            building.high = max(building.high, price)
            building.low = min(building.low, price)
            building.close = price
            building.volume += volume
            building.quote_volume += price * volume
            building.trades += 1
        return done

    def close_market_before(self, code: str, ts_ms: int) -> list[Bar]:
        """Complete `code`'s bar if it opened in a minute before the one holding `ts_ms`."""
        minute = minute_floor(ts_ms)
        if minute > self._closed_until.get(code, -1):
            self._closed_until[code] = minute
        building = self._open.get(code)
        if building is None or building.open_ms >= minute:
            return []
        del self._open[code]
        return [building.bar(code)]

    def close_before(self, ts_ms: int) -> list[Bar]:
        """Complete every market's bar that opened before the minute holding `ts_ms`."""
        done: list[Bar] = []
        for code in list(self._open):
            done.extend(self.close_market_before(code, ts_ms))
        return sorted(done, key=lambda bar: (bar.open_ms, bar.symbol))

    def discard_open(self) -> None:
        """Forget bars in progress (after a disconnect they miss trades; REST has them)."""
        self._open.clear()


def minute_after(ts_ms: int) -> int:
    """The open time of the first minute that starts after `ts_ms` (a fully seen minute)."""
    return minute_floor(ts_ms) + MINUTE_MS
