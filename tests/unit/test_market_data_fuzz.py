"""Fuzz: random, malformed and extreme frames and bars through the parsers, the feed edge's
validator, the bad-print filter and the engine. Whatever comes in, nothing raises (but
`MalformedFrame`, which the feed counts) and nothing non-finite or impossible reaches the
engine."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import StrategyConfig
from exchange.feeds.binance_parse import dispatch
from exchange.feeds.common import screen
from exchange.feeds.errors import MalformedFrame
from exchange.feeds.sanity import MAX_FUTURE_MS, FrameValidator
from exchange.feeds.sanity_rules import MAX_PRICE
from exchange.feeds.upbit_parse import UpbitBook, UpbitTicker, UpbitTrade, parse_message
from model.market import MINUTE_MS, Bar, BarHistory, Tick, TickBatch
from trading.engine import Engine

NOW_MS = 1_700_000_100_000
SYMBOLS = frozenset({"BTCUSDT", "ETHUSDT"})
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

EXTREME_NUMBERS = ["0", "-0", "1e308", "1e-308", "-1", "nan", "inf", "-inf", "1e12", "1e13",
                   "99999999999999999999999", "0.00000001", "100.5", "abc", "", " 1", "0x10"]
numbers = st.one_of(
    st.sampled_from(EXTREME_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=1e-8, max_value=1e7).map(lambda x: f"{x:.8f}"),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.none(), st.booleans(),
)
timestamps = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=NOW_MS - 10**10, max_value=NOW_MS + 10**12),
    st.sampled_from([NOW_MS, 4_070_908_800_000, 0, -1]),
    st.floats(), st.text(max_size=5),
)
symbols = st.one_of(st.sampled_from(sorted(SYMBOLS)), st.text(max_size=8), st.integers())


@st.composite
def kline_frames(draw: st.DrawFn) -> bytes:
    open_ms = draw(st.one_of(timestamps, st.integers(0, 10).map(
        lambda m: NOW_MS - NOW_MS % MINUTE_MS - m * MINUTE_MS)))
    k = {"t": open_ms, "s": draw(symbols), "i": draw(st.sampled_from(["1m", "1m", "5m", 1])),
         "x": draw(st.one_of(st.booleans(), st.just("true"))), "n": draw(st.one_of(
             st.integers(-5, 10**6), st.just("9")))}
    for key in ("o", "h", "l", "c", "v", "q"):
        k[key] = draw(numbers)
    payload = {"e": "kline", "E": draw(timestamps), "s": k["s"], "k": k}
    return encode({"stream": "btcusdt@kline_1m", "data": payload})


@st.composite
def ticker_frames(draw: st.DrawFn) -> bytes:
    def row() -> dict:
        payload = {"e": "24hrTicker", "E": draw(timestamps), "s": draw(symbols)}
        for key in ("c", "b", "a", "B", "A", "v", "q"):
            payload[key] = draw(numbers)
        return payload

    rows = [row() for _ in range(draw(st.integers(1, 4)))]
    data = rows if draw(st.booleans()) else rows[0]
    return encode({"stream": "!ticker@arr", "data": data})


def encode(obj: object) -> bytes:
    """JSON as a hostile server might send it: 100-bit integers, NaN and Infinity included."""
    return json.dumps(obj, default=str).encode()


def assert_possible_price(price: float) -> None:
    assert math.isfinite(price) and 0 < price <= MAX_PRICE


def assert_fit_for_the_engine(batch: TickBatch | None, events: list) -> None:
    """What the feed hands the engine: prices finite, positive and bounded; sizes finite or
    absent (NaN); bars consistent; nothing from the future."""
    ticks = [] if batch is None else [
        Tick(batch.symbols[i], int(batch.ts_event[i]), batch.ts_recv, float(batch.last[i]),
             float(batch.bid[i]), float(batch.ask[i]), float(batch.bid_qty[i]),
             float(batch.ask_qty[i]), float(batch.base_volume[i]), float(batch.quote_volume[i]))
        for i in range(len(batch))]
    for event in [*ticks, *events]:
        if isinstance(event, Bar):
            for price in (event.open, event.high, event.low, event.close):
                assert_possible_price(price)
            assert event.low <= min(event.open, event.close) <= max(event.open, event.close)
            assert max(event.open, event.close) <= event.high
            assert math.isfinite(event.volume) and event.volume >= 0
            assert event.close_ms <= NOW_MS + MAX_FUTURE_MS
        else:
            assert_possible_price(event.bid)
            assert_possible_price(event.ask)
            assert math.isnan(event.last) or 0 < event.last <= MAX_PRICE
            assert event.bid <= event.ask
            assert event.ts_event <= NOW_MS + MAX_FUTURE_MS
            for amount in (event.bid_qty, event.ask_qty, event.base_volume, event.quote_volume):
                assert math.isnan(amount) or 0 <= amount < math.inf


def through_the_edge(raw: bytes, batch: bool) -> tuple[TickBatch | None, list, bool]:
    frame = dispatch(raw, NOW_MS, SYMBOLS, batch=batch)
    return screen(FrameValidator(), frame.batch, frame.events, NOW_MS)


@FUZZ
@given(raw=kline_frames())
def test_any_kline_frame_is_either_malformed_or_fit_for_the_engine(raw: bytes) -> None:
    try:
        batch, events, _ = through_the_edge(raw, batch=False)
    except MalformedFrame:
        return
    assert_fit_for_the_engine(batch, events)


@FUZZ
@given(raw=ticker_frames(), columnar=st.booleans())
def test_any_ticker_frame_is_either_malformed_or_fit_for_the_engine(raw: bytes,
                                                                   columnar: bool) -> None:
    try:
        batch, events, _ = through_the_edge(raw, batch=columnar)
    except MalformedFrame:
        return
    assert_fit_for_the_engine(batch, events)


@FUZZ
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_random_bytes_never_raise_anything_but_malformed(raw: bytes) -> None:
    try:
        batch, events, _ = through_the_edge(raw, batch=True)
    except MalformedFrame:
        return
    assert_fit_for_the_engine(batch, events)


@FUZZ
@given(payload=st.dictionaries(
    st.sampled_from(["ty", "type", "cd", "code", "tms", "timestamp", "tp", "trade_price",
                     "tv", "trade_volume", "ab", "sid", "obu", "orderbook_units", "acc_trade_volume_24h",
                     "atv24h", "atp24h", "status", "error"]),
    st.one_of(numbers, st.sampled_from(["ticker", "trade", "orderbook", "KRW-BTC"]),
              timestamps, st.lists(st.dictionaries(
                  st.sampled_from(["ap", "bp", "as", "bs", "ask_price", "bid_price",
                                   "ask_size", "bid_size"]), numbers), max_size=2)),
    max_size=10))
def test_any_upbit_message_is_either_malformed_or_judged(payload: dict) -> None:
    try:
        event = parse_message(encode(payload))
    except MalformedFrame:
        return
    validator = FrameValidator()
    if isinstance(event, UpbitTrade):
        ok = validator.admit_values(event.code, event.ts_event, NOW_MS,
                                    prices=(event.price,), amounts=(event.volume,))
        assert not ok or (math.isfinite(event.price) and 0 < event.price <= MAX_PRICE)
    elif isinstance(event, UpbitBook):
        ok = validator.admit_values(event.code, event.ts_event, NOW_MS,
                                    prices=(event.bid, event.ask))
        assert not ok or 0 < event.bid <= event.ask <= MAX_PRICE
    elif isinstance(event, UpbitTicker):
        ok = validator.admit_values(event.code, event.ts_event, NOW_MS, prices=(event.last,))
        assert not ok or 0 < event.last <= MAX_PRICE


prices = st.one_of(
    st.floats(min_value=50.0, max_value=150.0),
    st.sampled_from([1e-8, 0.1, 1e3, 1e5, 1e11, MAX_PRICE]),
    st.floats(min_value=1e-8, max_value=MAX_PRICE),
)


@st.composite
def bar_streams(draw: st.DrawFn) -> list[Bar | Tick]:
    """Two symbols' minutes: mostly a quiet market, with bogus prints and level shifts."""
    events: list[Bar | Tick] = []
    for minute in range(draw(st.integers(1, 15))):
        for symbol in ("BTCUSDT", "ETHUSDT"):
            close = draw(prices)
            high = close * draw(st.sampled_from([1.0, 1.001, 1.5, 1e6]))
            low = close / draw(st.sampled_from([1.0, 1.001, 1.5, 1e6]))
            events.append(Bar(symbol, NOW_MS - 60 * MINUTE_MS + minute * MINUTE_MS, close,
                              min(high, MAX_PRICE), low, close, draw(st.floats(0, 1e9)),
                              float("nan")))
            if draw(st.booleans()):
                mid = draw(prices)
                events.append(Tick(symbol, NOW_MS, NOW_MS, draw(st.one_of(prices, st.just(
                    math.nan))), mid * 0.999, mid, 1.0, 1.0, math.nan, math.nan))
    return events


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=bar_streams())
def test_the_engine_decides_through_any_stream_of_possible_prints(stream: list) -> None:
    engine = Engine(["BTCUSDT", "ETHUSDT"], StrategyConfig())
    validator = FrameValidator()
    quiet = np.linspace(99.0, 101.0, 40)
    opens = NOW_MS - 100 * MINUTE_MS + MINUTE_MS * np.arange(40, dtype=np.int64)
    for symbol in ("BTCUSDT", "ETHUSDT"):  # warm: a quiet market at 100
        engine.on_history(BarHistory(symbol, opens, quiet, quiet * 1.001, quiet * 0.999,
                                     quiet, np.ones(40), quiet))
    for event in stream:
        if isinstance(event, Bar):
            if validator.admit_bar(event, NOW_MS):
                engine.on_bar(event)
            if event.symbol == "ETHUSDT":
                engine.decide()
        elif validator.admit_tick(event, NOW_MS):
            engine.on_tick(event)
    engine.decide()
    assert engine.isolated == {} and engine.decision_errors == 0
    features = engine.book.matrix()
    assert not np.isinf(features).any()
