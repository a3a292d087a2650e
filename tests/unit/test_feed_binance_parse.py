"""Binance frame parser: recorded real frames, documented examples, and the malformed ones."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from exchange.feeds.binance_event_parse import MAX_TS_MS
from exchange.feeds.binance_parse import (
    control_reply_error,
    parse_frame,
    parse_ticker_array,
    parse_ticker_rows,
    ticks_of,
)
from exchange.feeds.errors import MalformedFrame
from model.market import Bar, Tick

TS_RECV = 1_700_000_000_123
BINANCE = Path("protocol") / "binance"
RECORDED = BINANCE / "recorded_cryptofeed_2021-10-11"
NAUTILUS = BINANCE / "nautilus_fixtures"


def ticker(symbol: str = "BTCUSDT", **fields: Any) -> dict[str, Any]:
    """A valid 24hrTicker payload, as the exchange (and the simulator) send it."""
    payload = {
        "e": "24hrTicker", "E": 1_700_000_000_000, "s": symbol, "p": "1.0", "P": "0.1",
        "w": "100.0", "x": "99.0", "c": "100.50000000", "Q": "0.1", "b": "100.40000000",
        "B": "2.50000000", "a": "100.60000000", "A": "3.25000000", "o": "99.5", "h": "101",
        "l": "99", "v": "1234.50000000", "q": "123456.70000000", "O": 0, "C": 1, "F": 0,
        "L": 10, "n": 11,
    }
    payload.update(fields)
    return payload


def kline(closed: bool = True, **fields: Any) -> dict[str, Any]:
    k = {
        "t": 1_700_000_040_000, "T": 1_700_000_099_999, "s": "BTCUSDT", "i": "1m", "f": 1,
        "L": 9, "o": "100.0", "c": "101.0", "h": "102.0", "l": "99.0", "v": "10.5", "n": 9,
        "x": closed, "q": "1060.0", "V": "5", "Q": "530", "B": "0",
    }
    k.update(fields)
    return {"e": "kline", "E": 1_700_000_100_000, "s": "BTCUSDT", "k": k}


def frame(payload: Any, stream: str | None = None) -> bytes:
    return orjson.dumps(payload if stream is None else {"stream": stream, "data": payload})


# ---------------------------------------------------------------- recorded real frames


def recorded_frames(shared: Path) -> list[str]:
    """Every websocket frame in the recorded captures and fixtures, as raw text."""
    frames = []
    for line in (shared / RECORDED / "ws_combined_stream.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["t"] == "recv":  # the first line is the connect record
            frames.append(json.dumps(record["msg"]))
    # Raw capture log: a "<url> <-> <ts>" header, then "<ts>: <frame>" lines.
    for line in (shared / RECORDED / "raw_BINANCE.ws.1.0.txt").read_text().splitlines()[1:]:
        if line.strip():
            frames.append(line.split(": ", 1)[1])
    for sample in sorted((shared / RECORDED).glob("ws_sample_*.json")):
        frames.extend(json.dumps(message) for message in json.loads(sample.read_text()))
    for folder in ("integration_ws_messages", "spot_user_data"):
        frames.extend(p.read_text() for p in sorted((shared / NAUTILUS / folder).glob("*.json")))
    return frames


@pytest.mark.shared_data
def test_every_recorded_real_frame_parses_without_error(shared_data: Path) -> None:
    frames = recorded_frames(shared_data)
    events = [event for raw in frames for event in parse_frame(raw, TS_RECV)]
    assert len(frames) > 550
    assert all(isinstance(e, (Tick, Bar)) for e in events)
    # 85 bookTickers in the stream + 85 in the raw log + samples + the two fixtures; the two
    # recorded klines are still open (x=false) and depth/aggTrade/user events are ignored.
    assert not any(isinstance(e, Bar) for e in events)
    assert sum(isinstance(e, Tick) for e in events) > 170


@pytest.mark.shared_data
def test_recorded_book_ticker_keeps_the_files_values(shared_data: Path) -> None:
    first = json.loads((shared_data / RECORDED / "ws_sample_bookTicker.json").read_text())[0]
    (tick,) = parse_frame(json.dumps(first), TS_RECV)
    assert (tick.symbol, tick.bid, tick.ask, tick.bid_qty, tick.ask_qty) == (
        "NKNUSDT", 0.3521, 0.3526, 672.0, 3199.0
    )
    assert tick.ts_event == tick.ts_recv == TS_RECV  # spot bookTicker has no event time
    assert math.isnan(tick.last) and math.isnan(tick.base_volume) and math.isnan(tick.quote_volume)


@pytest.mark.shared_data
def test_documented_24hr_ticker_maps_every_field(shared_data: Path) -> None:
    path = shared_data / NAUTILUS / "integration_ws_messages" / "ws_spot_ticker_24hr.json"
    raw = path.read_text()
    (tick,) = parse_frame(raw, TS_RECV)
    assert tick == Tick("BNBBTC", 123456789, TS_RECV, 0.0025, 0.0024, 0.0026, 10.0, 100.0,
                        10000.0, 18.0)


@pytest.mark.shared_data
def test_recorded_open_kline_is_not_a_bar_but_the_same_kline_closed_is(shared_data: Path) -> None:
    message = json.loads((shared_data / RECORDED / "ws_sample_kline.json").read_text())[0]
    assert parse_frame(json.dumps(message), TS_RECV) == []
    message["data"]["k"]["x"] = True
    (bar,) = parse_frame(json.dumps(message), TS_RECV)
    assert bar == Bar("NKNUSDT", 1633998480000, 0.3527, 0.3528, 0.3522, 0.3528, 25877.0,
                      9116.046, 30)


@pytest.mark.shared_data
def test_futures_style_book_ticker_uses_its_event_time(shared_data: Path) -> None:
    path = shared_data / NAUTILUS / "integration_ws_messages" / "ws_spot_ticker_book.json"
    raw = path.read_text()
    (tick,) = parse_frame(raw, TS_RECV)
    assert (tick.symbol, tick.ts_event, tick.bid, tick.ask) == (
        "ETHUSDT", 1646199228123, 4507.24, 4507.25
    )


# ---------------------------------------------------------------- shapes


def test_single_and_combined_ticker_frames_give_the_same_tick() -> None:
    bare = parse_frame(frame(ticker()), TS_RECV)
    wrapped = parse_frame(frame(ticker(), "btcusdt@ticker"), TS_RECV)
    assert bare == wrapped == [Tick("BTCUSDT", 1_700_000_000_000, TS_RECV, 100.5, 100.4, 100.6,
                                    2.5, 3.25, 1234.5, 123456.7)]


def test_closed_kline_becomes_a_bar_and_open_kline_nothing() -> None:
    assert parse_frame(frame(kline(closed=False)), TS_RECV) == []
    assert parse_frame(frame(kline(), "btcusdt@kline_1m"), TS_RECV) == [
        Bar("BTCUSDT", 1_700_000_040_000, 100.0, 102.0, 99.0, 101.0, 10.5, 1060.0, 9)
    ]


def test_klines_of_other_intervals_are_ignored() -> None:
    assert parse_frame(frame(kline(i="5m")), TS_RECV) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"result": None, "id": 1},
        {"result": ["btcusdt@ticker"], "id": 3},
        {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": 1, "u": 2, "b": [], "a": []},
        {"e": "aggTrade", "E": 1, "s": "BTCUSDT"},
        {"e": "executionReport", "E": 1, "s": "BTCUSDT"},
        {"e": "24hrMiniTicker", "E": 1, "s": "BTCUSDT", "c": "1", "v": "2", "q": "3"},
        {"e": "serverShutdown", "E": 1770123456789},
        {"subscriptionId": 0, "event": {"e": "balanceUpdate", "E": 1, "a": "BTC", "d": "1"}},
        [],
    ],
)
def test_control_replies_and_other_event_types_give_no_events(payload: Any) -> None:
    assert parse_frame(frame(payload), TS_RECV) == []


def test_control_error_reply_is_reported() -> None:
    reply = {"error": {"code": 2, "msg": "Invalid request"}, "id": 4}
    assert parse_frame(frame(reply), TS_RECV) == []
    assert "Invalid request" in (control_reply_error(reply) or "")
    assert control_reply_error({"result": None, "id": 4}) is None


def test_array_frame_gives_one_tick_per_row() -> None:
    rows = [ticker("AUSDT"), ticker("BUSDT")]
    ticks = parse_frame(frame(rows, "!ticker@arr"), TS_RECV)
    assert [t.symbol for t in ticks] == ["AUSDT", "BUSDT"]


def test_timestamp_at_the_2100_bound_is_accepted_and_beyond_rejected() -> None:
    assert parse_frame(frame(ticker(E=MAX_TS_MS)), TS_RECV)[0].ts_event == MAX_TS_MS
    with pytest.raises(MalformedFrame):
        parse_frame(frame(ticker(E=MAX_TS_MS + 1)), TS_RECV)


# ---------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    "raw",
    [
        b"", b"not json", b"{", b"\xff\xfe", b"NaN", b"[1, 2]", b'"text"', b"42", b"null",
        frame({"hello": "world"}),
        frame({"stream": 5, "data": ticker()}),
        frame(ticker(b="nan")), frame(ticker(a="inf")), frame(ticker(c="-1")),
        frame(ticker(b="101", a="100")), frame(ticker(B="1e999")), frame(ticker(v=None)),
        frame(ticker(c=True)), frame(ticker(c=[1])), frame(ticker(c="")), frame(ticker(c="1,5")),
        frame(ticker(E=-1)), frame(ticker(E=1.7e12)), frame(ticker(E="1700000000000")),
        frame(ticker(E=1_700_000_000_000_000)), frame(ticker(s="")), frame(ticker(s=7)),
        frame({k: v for k, v in ticker().items() if k != "b"}),
        frame(kline(x="true")), frame(kline(t=1_700_000_040_001)), frame(kline(h="98")),
        frame(kline(l="101.5")), frame(kline(n=-1)), frame(kline(n=1.5)), frame(kline(s="ETHUSDT")),
        frame({"e": "kline", "E": 1, "s": "BTCUSDT", "k": []}),
        frame({"e": 5}), frame([ticker(), 3]), frame([ticker(), ticker(b="x")]),
        frame({"u": 1, "s": "BTCUSDT", "b": "2", "B": "1", "a": "1", "A": "1"}),
    ],
)
def test_malformed_frames_raise_malformed_frame(raw: bytes) -> None:
    with pytest.raises(MalformedFrame):
        parse_frame(raw, TS_RECV)


# ---------------------------------------------------------------- ticker array fast path


def test_ticker_array_fast_path_matches_the_strict_parser() -> None:
    rows = [ticker(f"S{i}USDT", E=1_700_000_000_000 + i, c=f"{1 + i / 7:.8f}") for i in range(50)]
    raw = frame(rows, "!ticker@arr")
    batch = parse_ticker_array(raw, TS_RECV)
    assert ticks_of(batch) == parse_frame(raw, TS_RECV)
    assert batch.ts_event.dtype == np.int64 and batch.last.dtype == np.float64


def test_ticker_array_drops_and_counts_bad_rows_keeping_the_good_ones() -> None:
    rows: list[Any] = [ticker("AUSDT"), ticker("BUSDT", b="200"), ticker("CUSDT", c=None), 7,
                       {"e": "24hrMiniTicker"}, ticker("DUSDT", c="nan"), ticker("EUSDT")]
    batch, dropped = parse_ticker_rows(rows, TS_RECV)
    assert batch.symbols == ("AUSDT", "EUSDT")
    assert dropped == 5


def test_ticker_array_with_only_numeric_bad_rows_stays_on_the_fast_path() -> None:
    rows = [ticker("AUSDT"), ticker("BUSDT", a="-1"), ticker("CUSDT", E=MAX_TS_MS + 5)]
    batch, dropped = parse_ticker_rows(rows, TS_RECV)
    assert (batch.symbols, dropped) == (("AUSDT",), 2)
    assert batch.last.tolist() == [100.5]


def test_ticker_array_rejects_frames_that_are_not_arrays() -> None:
    with pytest.raises(MalformedFrame):
        parse_ticker_array(frame(ticker()), TS_RECV)
    assert len(parse_ticker_array(b"[]", TS_RECV)) == 0
