"""Property tests: whatever arrives, the parser returns valid events or MalformedFrame."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.feeds.binance_event_parse import MAX_TS_MS
from exchange.feeds.binance_parse import (
    parse_frame,
    parse_payload,
    parse_ticker_rows,
    ticks_of,
)
from exchange.feeds.errors import MalformedFrame
from model.market import Bar, Tick
from tests.unit.test_feed_binance_parse import kline, ticker

TS_RECV = 1_700_000_000_123
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)
hostile_values = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "-1", "1e999", "", " ", "0x10", "1_0", "١٢٣",
                     "1e-400", "9" * 400, "None", "true", "\u0000", "1.5.5"]),
    st.floats(), st.integers(min_value=-(2**70), max_value=2**70), st.booleans(), st.none(),
    st.lists(json_scalars, max_size=3),
    st.dictionaries(st.text(max_size=3), json_scalars, max_size=3),
    st.text(max_size=30),
)


def assert_valid(event: Tick | Bar) -> None:
    """What the parser promises about everything it returns."""
    assert isinstance(event, (Tick, Bar)) and isinstance(event.symbol, str) and event.symbol
    if isinstance(event, Tick):
        assert 0 <= event.ts_event <= MAX_TS_MS
        for value in (event.bid, event.ask, event.bid_qty, event.ask_qty):
            assert math.isfinite(value) and value >= 0
        assert event.bid <= event.ask
    else:
        assert event.open_ms % 60_000 == 0 and event.trades >= 0
        body_low, body_high = min(event.open, event.close), max(event.open, event.close)
        assert event.low <= body_low <= body_high <= event.high
        assert all(math.isfinite(v) and v >= 0 for v in (event.volume, event.quote_volume))


def parse_or_malformed(raw: str | bytes) -> list[Tick | Bar]:
    try:
        events = parse_frame(raw, TS_RECV)
    except MalformedFrame:
        return []
    for event in events:
        assert_valid(event)
    return events


@pytest.mark.slow
@FAST
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_malformed_frame(raw: bytes) -> None:
    parse_or_malformed(raw)


@FAST
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_but_malformed_frame(raw: str) -> None:
    parse_or_malformed(raw)


@FAST
@given(json_values)
def test_arbitrary_json_never_raises_anything_but_malformed_frame(value: Any) -> None:
    parse_or_malformed(json.dumps(value))


def mutate(payload: dict[str, Any], path: list[str], value: Any, drop: bool) -> dict[str, Any]:
    target = payload["k"] if path[0] == "k" else payload
    key = path[-1]
    if drop:
        target.pop(key, None)
    else:
        target[key] = value
    return payload


ticker_keys = st.sampled_from(["e", "E", "s", "c", "b", "B", "a", "A", "v", "q"])
kline_keys = st.sampled_from(["e", "s", "k"]).map(lambda k: [k]) | st.sampled_from(
    ["t", "s", "i", "o", "h", "l", "c", "v", "q", "n", "x"]
).map(lambda k: ["k", k])


@FAST
@given(ticker_keys, hostile_values, st.booleans(), st.booleans())
def test_ticker_with_a_hostile_field_is_valid_or_malformed(
    key: str, value: Any, drop: bool, wrapped: bool
) -> None:
    payload = mutate(ticker(), [key], value, drop)
    raw = json.dumps({"stream": "btcusdt@ticker", "data": payload} if wrapped else payload)
    parse_or_malformed(raw)


@FAST
@given(kline_keys, hostile_values, st.booleans())
def test_kline_with_a_hostile_field_is_valid_or_malformed(
    path: list[str], value: Any, drop: bool
) -> None:
    parse_or_malformed(json.dumps(mutate(kline(), path, value, drop)))


prices = st.decimals(min_value=0, max_value=10**9, places=8, allow_nan=False, allow_infinity=False)
quantities = st.decimals(
    min_value=0, max_value=10**12, places=8, allow_nan=False, allow_infinity=False
)


@FAST
@given(prices, prices, prices, quantities, quantities, quantities,
       st.integers(min_value=0, max_value=MAX_TS_MS))
def test_valid_ticker_round_trips_exact_values(
    last: Any, bid: Any, spread: Any, bid_qty: Any, ask_qty: Any, volume: Any, ts: int
) -> None:
    ask = bid + spread
    payload = ticker(c=f"{last:.8f}", b=f"{bid:.8f}", a=f"{ask:.8f}", B=f"{bid_qty:.8f}",
                     A=f"{ask_qty:.8f}", v=f"{volume:.8f}", E=ts)
    (tick,) = parse_frame(json.dumps(payload), TS_RECV)
    assert (tick.ts_event, tick.last, tick.bid, tick.ask) == (
        ts, float(last), float(bid), float(ask)
    )
    assert (tick.bid_qty, tick.ask_qty, tick.base_volume) == (
        float(bid_qty), float(ask_qty), float(volume)
    )


@FAST
@given(st.lists(st.tuples(ticker_keys, hostile_values, st.booleans()), max_size=6),
       st.integers(min_value=1, max_value=8))
def test_ticker_array_fast_path_keeps_exactly_the_rows_the_strict_parser_accepts(
    mutations: list[tuple[str, Any, bool]], size: int
) -> None:
    rows = [ticker(f"S{i}USDT", c=f"{i + 0.5:.8f}") for i in range(size)]
    for n, (key, value, drop) in enumerate(mutations):
        mutate(rows[n % size], [key], value, drop)
    strict = []
    for row in rows:
        try:
            events = parse_payload(row, TS_RECV)
        except MalformedFrame:
            continue
        strict.extend(e for e in events if isinstance(e, Tick))
    batch, dropped = parse_ticker_rows(rows, TS_RECV)
    fast = ticks_of(batch)
    assert fast == strict
    assert dropped == size - len(fast)
    for tick in fast:
        assert_valid(tick)
