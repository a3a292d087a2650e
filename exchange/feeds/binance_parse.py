"""Binance spot websocket frames -> `Tick` / `Bar` / `TickBatch`. Pure: no I/O, no clock.

Accepted: single-stream payloads and combined-stream wrappers `{"stream": s, "data": d}`;
`24hrTicker` (-> Tick), `bookTicker` (-> Tick: spot sends no event time, so ts_event =
ts_recv; it carries no trade or volume, so last, base_volume and quote_volume are NaN),
`kline` (-> Bar, only when closed, only the 1m interval), `!ticker@arr` arrays, and control
replies such as `{"result": null, "id": 1}` (-> []). WebSocket-API user-data wrappers
`{"subscriptionId": n, "event": e}` are unwrapped like combined streams.

Ignored (-> []): every other well-formed event type (depthUpdate, aggTrade, trade,
executionReport, ...) and `24hrMiniTicker`. Mini tickers carry no bid/ask; emitting ticks with
NaN quotes would poison spread and imbalance features downstream, so we skip them.

Anything malformed raises `MalformedFrame`: bad JSON, wrong types, missing fields, prices or
quantities that are negative or not finite, bid > ask, timestamps outside 1970..2100 (which
also catches microsecond or nanosecond units), a kline whose high/low do not bracket its
open/close or whose prices are zero or above `sanity_rules.MAX_PRICE` (forming klines too: they keep
a feed fresh). Nothing half-valid is ever returned; values that parse but cannot be true for
this exchange (times ahead of its clock, instrument price bounds) are the feed edge's
validator's job (exchange/feeds/sanity.py).

Two paths for ticker arrays: `parse_frame` is strict (any bad row rejects the whole frame);
`parse_ticker_rows` / `parse_ticker_array` are the columnar fast path used by the feed, and
drop bad rows and count them instead, so one odd symbol cannot blank 500 others for a second.

`dispatch` is what a feed does with one incoming frame (the live websocket feed and the
socket-less replay feed share it, so both turn the same bytes into the same events).

This module handles frames (decoding, wrappers, control replies, dispatch, ticker arrays);
the per-event parsers and their field rules (`tick_from_24hr`, `tick_from_book_ticker`,
`bar_from_kline`, `kline_values_valid`, `MAX_TS_MS`) are in binance_event_parse.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import orjson

# kline_values_valid is re-exported: tests/unit/test_parse_kernel.py imports it from here
# (files named *_kernel.py are left byte for byte as they are).
from exchange.feeds.binance_event_parse import (
    MAX_SYMBOL_LEN,
    MAX_TS_MS,
    bar_from_kline,
    tick_from_24hr,
    tick_from_book_ticker,
)
from exchange.feeds.binance_event_parse import kline_values_valid as kline_values_valid
from exchange.feeds.common import select_rows
from exchange.feeds.errors import MalformedFrame
from exchange.feeds.parse_kernel import ticker_rows_pass
from model.market import Bar, Tick, TickBatch

# 24hrTicker fields, in TickBatch column order: last, bid, ask, bid_qty, ask_qty, volumes.
_TICKER_FLOAT_KEYS = ("c", "b", "a", "B", "A", "v", "q")
_TICKER_HEAD = itemgetter("e", "s", "E")
_TICKER_FLOATS = itemgetter(*_TICKER_FLOAT_KEYS)

Event = Tick | Bar


class _SlowPath(Exception):
    """The columnar fast path met something it does not check; redo the frame row by row."""


# ---------------------------------------------------------------- decoding and dispatch


def decode_frame(raw: str | bytes) -> Any:
    """Decode one websocket message as JSON, or raise MalformedFrame."""
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise MalformedFrame(f"not JSON: {str(exc)[:80]}") from None


def unwrap(obj: Any) -> tuple[str | None, Any]:
    """Split a combined-stream wrapper into (stream name, payload); pass others through."""
    if isinstance(obj, dict) and "stream" in obj and "data" in obj:
        stream = obj["stream"]
        if not isinstance(stream, str):
            raise MalformedFrame("combined-stream wrapper with a non-string stream name")
        return stream, obj["data"]
    if isinstance(obj, dict) and "subscriptionId" in obj and "event" in obj:
        return None, obj["event"]  # WebSocket API user-data wrapper: same events inside
    return None, obj


def is_control_reply(obj: Any) -> bool:
    """True for replies to SUBSCRIBE/UNSUBSCRIBE/LIST requests: `{"result": ..., "id": ...}`
    or `{"error": {...}, "id": ...}`, which are not market data."""
    return isinstance(obj, dict) and "id" in obj and ("result" in obj or "error" in obj)


def control_reply_error(obj: Any) -> str | None:
    """The error text of a failed control request, None when it succeeded."""
    if not is_control_reply(obj) or "error" not in obj:
        return None
    return str(obj["error"])[:200]


def parse_frame(raw: str | bytes, ts_recv: int) -> list[Event]:
    """Parse one raw websocket frame into market events (maybe none). Raises MalformedFrame."""
    return parse_payload(decode_frame(raw), ts_recv)


def parse_payload(obj: Any, ts_recv: int) -> list[Event]:
    """Parse an already decoded frame (see `parse_frame`)."""
    if is_control_reply(obj):
        return []
    _, data = unwrap(obj)
    if isinstance(data, list):
        events: list[Event] = []
        for row in data:
            events.extend(parse_event(row, ts_recv))
        return events
    return parse_event(data, ts_recv)


def parse_event(payload: Any, ts_recv: int) -> list[Event]:
    """Parse one event object (a dict) into zero or one market event."""
    if not isinstance(payload, dict):
        raise MalformedFrame(f"event is a {type(payload).__name__}, not an object")
    event_type = payload.get("e")
    if event_type is None:
        if "u" in payload and "b" in payload and "a" in payload:
            return [tick_from_book_ticker(payload, ts_recv)]
        raise MalformedFrame("object without an event type and not a bookTicker")
    if not isinstance(event_type, str):
        raise MalformedFrame("event type is not a string")
    if event_type == "24hrTicker":
        return [tick_from_24hr(payload, ts_recv)]
    if event_type == "kline":
        bar = bar_from_kline(payload)
        return [] if bar is None else [bar]
    if event_type == "bookTicker":  # futures-style bookTicker carries "e"; same fields
        return [tick_from_book_ticker(payload, ts_recv)]
    return []  # depthUpdate, aggTrade, trade, executionReport, 24hrMiniTicker, ...


@dataclass(frozen=True, slots=True)
class Dispatched:
    """What one incoming frame means for a feed's consumer."""

    control: bool = False  # a reply to our request, not market data (it never makes a feed fresh)
    refused: str | None = None  # error text of a control reply that refused a request
    batch: TickBatch | None = None  # a ticker array (batch path), wanted symbols only, non-empty
    events: tuple[Event, ...] = ()  # ticks and closed bars of wanted symbols, in frame order
    dropped: int = 0  # bad rows dropped from a ticker array


NOTHING = Dispatched()
CONTROL_OK = Dispatched(control=True)


def dispatch(
    raw: str | bytes, ts_recv: int, symbols: frozenset[str], *, batch: bool
) -> Dispatched:
    """Decode and parse one websocket message for a feed following `symbols`. With `batch`,
    ticker arrays come back as one TickBatch (columnar, bad rows dropped); without, as Ticks
    (strict). A reply to a control request comes back with `control` set; everything else
    well-formed is market data. Raises MalformedFrame for a frame that cannot be used at all."""
    decoded = decode_frame(raw)
    if is_control_reply(decoded):
        error = control_reply_error(decoded)
        return CONTROL_OK if error is None else Dispatched(control=True, refused=error)
    _, data = unwrap(decoded)
    if isinstance(data, list) and batch:
        rows, dropped = parse_ticker_rows(data, ts_recv)
        if not symbols.issuperset(rows.symbols):
            rows = select_rows(rows, np.array([s in symbols for s in rows.symbols], dtype=bool))
        return Dispatched(batch=rows if len(rows) else None, dropped=dropped)
    events = parse_payload(decoded, ts_recv)
    return Dispatched(events=tuple(e for e in events if e.symbol in symbols))


# ---------------------------------------------------------------- ticker arrays (fast path)


def parse_ticker_array(raw: str | bytes, ts_recv: int) -> TickBatch:
    """Parse a `!ticker@arr` frame (bare array or combined wrapper) into columns; bad rows
    are dropped (see `parse_ticker_rows` to also learn how many)."""
    return parse_ticker_rows(ticker_rows(decode_frame(raw)), ts_recv)[0]


def ticker_rows(obj: Any) -> list[Any]:
    """The rows of a decoded ticker-array frame, or MalformedFrame if it is not one."""
    _, data = unwrap(obj)
    if not isinstance(data, list):
        raise MalformedFrame("not a ticker array")
    return data


def parse_ticker_rows(rows: list[Any], ts_recv: int) -> tuple[TickBatch, int]:
    """24hrTicker rows -> (TickBatch of the valid rows in order, number of rows dropped).

    Optimistic columnar parse first (one list and one numpy conversion per field, checks
    vectorized); if a row has a missing key or a wrong type it redoes the frame row by row
    with the strict single-event parser, so both paths accept exactly the same rows.
    """
    if not rows:
        return _batch_from_ticks([], ts_recv), 0
    try:
        return _ticker_rows_columnar(rows, ts_recv)
    except (_SlowPath, KeyError, TypeError, ValueError, OverflowError):
        return _ticker_rows_by_row(rows, ts_recv)


def _ticker_rows_columnar(rows: list[Any], ts_recv: int) -> tuple[TickBatch, int]:
    # itemgetter + zip transpose in C: one Python-level pass instead of one per field.
    event_types, symbols, event_ms = zip(*map(_TICKER_HEAD, rows))
    if set(event_types) != {"24hrTicker"}:
        raise _SlowPath
    "".join(symbols)  # raises TypeError unless every symbol is a str: a C-speed type check
    if min(map(len, symbols)) == 0 or max(map(len, symbols)) > MAX_SYMBOL_LEN:
        raise _SlowPath
    if set(map(type, event_ms)) != {int}:
        raise _SlowPath
    ts_event = np.array(event_ms, dtype=np.int64)
    values = list(chain.from_iterable(map(_TICKER_FLOATS, rows)))
    "".join(values)  # strings only: numbers, bools and None take the strict slow path
    table = np.array(values, dtype=np.float64).reshape(len(rows), len(_TICKER_FLOAT_KEYS)).T
    return ticker_batch(symbols, ts_event, ts_recv, table, ticker_rows_valid(ts_event, table))


def ticker_rows_valid(ts_event: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Which ticker rows the parser accepts, from their parsed numbers: `table` holds the
    `_TICKER_FLOAT_KEYS` fields as rows (shape (7, n), or (..., 7, n) for many frames),
    each finite and >= 0, bid <= ask, event time within 1970..2100. Symbols are checked
    apart (`symbol_valid`). `ts_event` broadcasts against the rows (one time per row, or
    per frame as shape (..., 1)); compiled: exchange/feeds/parse_kernel.py."""
    table = np.asarray(table)
    lead, rows = table.shape[:-2], table.shape[-1]
    frames = math.prod(lead)
    ts = np.asarray(ts_event)
    if ts.shape not in ((*lead, rows), (*lead, 1)):  # any other broadcast: spell it out
        ts = np.broadcast_to(ts, (*lead, rows))
    good = ticker_rows_pass(ts.reshape(frames, ts.shape[-1]),
                            table.reshape((frames, *table.shape[-2:])), MAX_TS_MS)
    return good.reshape((*lead, rows))


def symbol_valid(symbol: Any) -> bool:
    """The parser's symbol rule: a short non-empty string."""
    return isinstance(symbol, str) and 0 < len(symbol) <= MAX_SYMBOL_LEN


def ticker_batch(symbols: tuple[str, ...], ts_event: np.ndarray, ts_recv: int,
                 table: np.ndarray, good: np.ndarray | None) -> tuple[TickBatch, int]:
    """(TickBatch of the `good` rows of a parsed ticker table, rows dropped): the fast
    path's result, shared with the replay feed's direct path (which skips the strings and
    passes None for `good` when it already knows every row is)."""
    if good is None or good.all():
        return _batch(symbols, ts_event, ts_recv, np.ascontiguousarray(table)), 0
    keep = np.flatnonzero(good)
    kept_symbols = tuple(symbols[i] for i in keep)
    kept = np.ascontiguousarray(table[:, keep])
    return _batch(kept_symbols, ts_event[keep], ts_recv, kept), len(symbols) - len(keep)


def _ticker_rows_by_row(rows: list[Any], ts_recv: int) -> tuple[TickBatch, int]:
    ticks: list[Tick] = []
    for row in rows:
        try:
            if not isinstance(row, dict) or row.get("e") != "24hrTicker":
                raise MalformedFrame("row is not a 24hrTicker")
            ticks.append(tick_from_24hr(row, ts_recv))
        except MalformedFrame:
            continue
    return _batch_from_ticks(ticks, ts_recv), len(rows) - len(ticks)


def _batch(
    symbols: tuple[str, ...], ts_event: np.ndarray, ts_recv: int, table: np.ndarray
) -> TickBatch:
    last, bid, ask, bid_qty, ask_qty, base_volume, quote_volume = table
    return TickBatch(
        symbols=symbols,
        ts_event=ts_event,
        ts_recv=ts_recv,
        last=last,
        bid=bid,
        ask=ask,
        bid_qty=bid_qty,
        ask_qty=ask_qty,
        base_volume=base_volume,
        quote_volume=quote_volume,
    )


def _batch_from_ticks(ticks: list[Tick], ts_recv: int) -> TickBatch:
    table = np.array(
        [
            [t.last, t.bid, t.ask, t.bid_qty, t.ask_qty, t.base_volume, t.quote_volume]
            for t in ticks
        ],
        dtype=np.float64,
    ).reshape(len(ticks), 7)
    ts_event = np.array([t.ts_event for t in ticks], dtype=np.int64)
    return _batch(tuple(t.symbol for t in ticks), ts_event, ts_recv, np.ascontiguousarray(table.T))


def ticks_of(batch: TickBatch) -> list[Tick]:
    """The rows of a TickBatch as Tick objects (for consumers without a batch path)."""
    return [
        Tick(
            symbol=batch.symbols[i],
            ts_event=int(batch.ts_event[i]),
            ts_recv=batch.ts_recv,
            last=float(batch.last[i]),
            bid=float(batch.bid[i]),
            ask=float(batch.ask[i]),
            bid_qty=float(batch.bid_qty[i]),
            ask_qty=float(batch.ask_qty[i]),
            base_volume=float(batch.base_volume[i]),
            quote_volume=float(batch.quote_volume[i]),
        )
        for i in range(len(batch))
    ]
