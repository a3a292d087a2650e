"""The feed edge's validator (exchange/feeds/sanity.py): what cannot be true is dropped and
counted per reason, everything else passes untouched."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from exchange.feeds.binance_parse import dispatch, parse_frame
from exchange.feeds.binance_rest import parse_exchange_info
from exchange.feeds.common import screen
from exchange.feeds.errors import MalformedFrame, TooManySymbols
from exchange.feeds.sanity import FrameValidator
from exchange.feeds.sanity_rules import (
    AMOUNT_RANGE,
    FUTURE,
    NOT_POSITIVE,
    OHLC,
    PRICE_RANGE,
    TOO_OLD,
    PriceBounds,
)
from model.market import MINUTE_MS, Bar, BarHistory, Tick, TickBatch
from tests.unit.test_feed_binance_parse import kline, ticker

NOW_MS = 1_700_000_100_000
OPEN_MS = 1_700_000_040_000


def bar(**fields: float) -> Bar:
    values = {"symbol": "BTCUSDT", "open_ms": OPEN_MS, "open": 100.0, "high": 102.0,
              "low": 99.0, "close": 101.0, "volume": 10.0, "quote_volume": 1010.0, **fields}
    return Bar(**values)  # type: ignore[arg-type]


def tick(**fields: float) -> Tick:
    values = {"symbol": "BTCUSDT", "ts_event": NOW_MS, "ts_recv": NOW_MS, "last": 100.5,
              "bid": 100.4, "ask": 100.6, "bid_qty": 1.0, "ask_qty": 1.0, "base_volume": 5.0,
              "quote_volume": 500.0, **fields}
    return Tick(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("fields, reason", [
    ({"high": 1e308, "close": 1e308}, PRICE_RANGE),  # the fill kernel's 0 x inf = NaN
    ({"low": 0.0, "open": 0.0}, NOT_POSITIVE),
    ({"low": 101.5}, OHLC),  # low above the close
    ({"volume": 1e300}, AMOUNT_RANGE),
    ({"open_ms": 4_070_908_800_000}, FUTURE),  # 2099-01-01: would freeze the sequencer
])
def test_an_impossible_bar_is_dropped_and_counted_by_reason(fields: dict, reason: str) -> None:
    validator = FrameValidator()
    assert validator.admit_bar(bar(**fields), NOW_MS) is False
    assert validator.invalid == {reason: 1}


def test_a_real_bar_passes_and_moves_the_exchange_clock() -> None:
    validator = FrameValidator()
    assert validator.admit_bar(bar(), NOW_MS)
    assert validator.invalid == {} and validator.newest_ms == bar().close_ms


def test_instrument_price_bounds_are_enforced() -> None:
    validator = FrameValidator({"BTCUSDT": PriceBounds(min_price=1.0, max_price=1000.0)})
    assert not validator.admit_bar(bar(high=5000.0), NOW_MS)
    assert not validator.admit_tick(tick(bid=0.5), NOW_MS)
    assert validator.admit_bar(bar(), NOW_MS) and validator.admit_tick(tick(), NOW_MS)
    assert validator.invalid == {PRICE_RANGE: 2}


def test_a_bar_older_than_the_backfill_window_is_dropped_once_the_exchange_said_its_time() -> None:
    validator = FrameValidator.for_backfill(60)
    old = bar(open_ms=OPEN_MS - 3 * 1440 * MINUTE_MS)
    assert validator.admit_bar(old, NOW_MS)  # no exchange time yet: nothing to count back from
    validator.observe_time(NOW_MS)
    assert not validator.admit_bar(old, NOW_MS)
    assert validator.invalid == {TOO_OLD: 1}


def test_a_fast_simulator_read_with_a_wall_clock_is_not_the_future() -> None:
    validator = FrameValidator()
    validator.observe_time(NOW_MS + 3_600_000)  # server time an hour ahead of our clock
    assert validator.admit_bar(bar(open_ms=OPEN_MS + 3_600_000), NOW_MS)


def test_a_tick_without_last_or_volumes_is_fine_but_a_missing_bid_is_not() -> None:
    validator = FrameValidator()
    assert validator.admit_tick(tick(last=float("nan"), base_volume=float("nan"),
                                     quote_volume=float("nan")), NOW_MS)
    assert not validator.admit_tick(tick(bid=0.0), NOW_MS)
    assert not validator.admit_tick(tick(ts_event=NOW_MS + 10 * MINUTE_MS), NOW_MS)
    assert validator.invalid == {NOT_POSITIVE: 1, FUTURE: 1}


def test_bad_rows_of_a_ticker_array_are_dropped_the_good_ones_kept() -> None:
    n = 4
    batch = TickBatch(("A", "B", "C", "D"), np.full(n, NOW_MS, dtype=np.int64), NOW_MS,
                      last=np.array([1.0, 1e300, 1.0, 1.0]), bid=np.array([0.9, 0.9, 0.0, 0.9]),
                      ask=np.full(n, 1.1), bid_qty=np.ones(n), ask_qty=np.ones(n),
                      base_volume=np.full(n, np.nan), quote_volume=np.full(n, np.nan))
    validator = FrameValidator()
    kept = validator.admit_batch(batch, NOW_MS)
    assert kept is not None and kept.symbols == ("A", "D")
    assert validator.invalid == {PRICE_RANGE: 1, NOT_POSITIVE: 1}
    assert validator.admit_batch(kept, NOW_MS) is kept  # all valid: the same object back


def test_bad_rows_of_a_rest_history_are_dropped() -> None:
    opens = OPEN_MS - MINUTE_MS * np.arange(3, 0, -1, dtype=np.int64)
    history = BarHistory("BTCUSDT", opens, np.full(3, 100.0), np.array([101.0, 1e200, 101.0]),
                         np.full(3, 99.0), np.full(3, 100.0), np.ones(3), np.full(3, np.nan))
    validator = FrameValidator()
    kept = validator.admit_history(history, NOW_MS)
    assert kept.open_ms.tolist() == [opens[0], opens[2]]
    assert validator.invalid == {PRICE_RANGE: 1}


def test_a_frame_of_only_invalid_data_is_not_market_data() -> None:
    raw = orjson.dumps({"stream": "btcusdt@kline_1m", "data": kline(t=4_070_908_800_000,
                                                                   T=4_070_908_859_999)})
    frame = dispatch(raw, NOW_MS, frozenset({"BTCUSDT"}), batch=False)
    batch, events, valid = screen(FrameValidator(), frame.batch, frame.events, NOW_MS)
    assert (batch, events, valid) == (None, [], False)


def test_a_forming_kline_with_an_impossible_price_is_malformed() -> None:
    """Forming klines keep a feed fresh between closes; mistyped ones must not."""
    with pytest.raises(MalformedFrame):
        parse_frame(orjson.dumps(kline(closed=False, h="1e308", c="1e308")), NOW_MS)
    with pytest.raises(MalformedFrame):
        parse_frame(orjson.dumps(kline(closed=False, l="0", o="0")), NOW_MS)
    assert parse_frame(orjson.dumps(kline(closed=False)), NOW_MS) == []


def test_exchange_info_beyond_max_symbols_is_refused_naming_the_setting() -> None:
    entry = {"symbol": "X", "status": "TRADING"}  # never parsed: refused before
    body = {"symbols": [entry] * 20_000}
    with pytest.raises(TooManySymbols) as refused:
        parse_exchange_info(body, trading_only=True, max_symbols=2_000)
    assert "[feed] max_symbols = 2000" in str(refused.value)
    assert "20000 symbols" in str(refused.value)


def test_non_trading_symbols_do_not_count_against_max_symbols() -> None:
    body = {"symbols": [{"symbol": "X", "status": "BREAK"}] * 5_000}
    assert parse_exchange_info(body, trading_only=True, max_symbols=10) == []


def test_ticks_keep_their_values_when_valid() -> None:
    parsed = parse_frame(orjson.dumps(ticker(E=NOW_MS)), NOW_MS)
    validator = FrameValidator()
    assert [validator.admit_tick(t, NOW_MS) for t in parsed] == [True]  # type: ignore[arg-type]


def test_a_ticker_array_of_only_mistyped_rows_is_not_market_data() -> None:
    raw = orjson.dumps({"stream": "!ticker@arr", "data": [ticker(c="1,0"), ticker(b="abc")]})
    frame = dispatch(raw, NOW_MS, frozenset({"BTCUSDT"}), batch=True)
    assert frame.dropped == 2
    batch, events, valid = screen(FrameValidator(), frame.batch, frame.events, NOW_MS,
                                  frame.dropped)
    assert (batch, events, valid) == (None, [], False)
