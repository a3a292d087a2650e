"""Each feature on hand-made bars and ticks, and the FeatureBook's contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.market import MINUTE_MS, Bar, Tick, TickBatch
from strategies.features import FEATURE_INDEX, FEATURE_NAMES, FeatureBook, features_from_history
from tests.unit.test_features_support import START_MS, history


def book_with(closes: list[float], volumes: list[float] | None = None,
              highs: list[float] | None = None, lows: list[float] | None = None,
              symbol: str = "X") -> FeatureBook:
    book = FeatureBook([symbol, "EMPTY"])
    h = history(symbol, [START_MS + i * MINUTE_MS for i in range(len(closes))], closes,
                volumes, highs, lows)
    for i in range(len(h)):
        book.on_bar(Bar(symbol, int(h.open_ms[i]), h.open[i], h.high[i], h.low[i], h.close[i],
                        h.volume[i], h.quote_volume[i]))
    return book


def feature(book: FeatureBook, name: str, symbol: str = "X") -> float:
    return float(book.matrix()[book.row(symbol), FEATURE_INDEX[name]])


def tick(symbol: str = "X", ts: int = START_MS + 10 * MINUTE_MS, last: float = math.nan,
         bid: float = math.nan, ask: float = math.nan, bid_qty: float = math.nan,
         ask_qty: float = math.nan, quote_volume: float = math.nan) -> Tick:
    return Tick(symbol, ts, ts, last, bid, ask, bid_qty, ask_qty, math.nan, quote_volume)


def test_3m_average_of_closes_1_2_3_is_2() -> None:
    book = book_with([1.0, 2.0, 3.0])
    # px_ma = log(last / MA): last close 3, MA 2.
    assert feature(book, "px_ma_3m") == pytest.approx(math.log(3 / 2))
    assert feature(book, "px_ma_1m") == 0.0


def test_windows_longer_than_the_history_average_what_there_is() -> None:
    book = book_with([1.0, 2.0, 3.0])
    assert feature(book, "px_ma_1h") == pytest.approx(math.log(3 / 2))
    assert feature(book, "warm_minutes") == 3


def test_volume_average_is_relative_to_the_monthly_rate() -> None:
    book = book_with([1.0] * 4, volumes=[0.0, 0.0, 0.0, 8.0])
    # 1m rate 8, month rate 2 -> log1p(4); 3m rate 8/3 -> log1p(4/3).
    assert feature(book, "qv_ma_1m") == pytest.approx(math.log1p(4.0))
    assert feature(book, "qv_ma_3m") == pytest.approx(math.log1p(4 / 3))
    assert feature(book, "turnover_1h") == pytest.approx(math.log1p(8.0))


def test_volume_features_are_zero_when_nothing_traded() -> None:
    book = book_with([1.0] * 5, volumes=[0.0] * 5)
    assert feature(book, "qv_ma_1h") == 0.0
    assert feature(book, "turnover_1d") == 0.0


def test_range_position_is_where_last_sits_between_high_and_low_lines() -> None:
    book = book_with([2.0, 2.0, 2.0], highs=[4.0, 2.0, 2.0], lows=[1.0, 2.0, 2.0])
    assert feature(book, "range_pos_1h") == pytest.approx((2 - 1) / (4 - 1))
    flat = book_with([2.0, 2.0])
    assert feature(flat, "range_pos_1d") == 0.5


def test_range_lines_forget_extremes_older_than_the_window() -> None:
    closes = [1.0] * 70
    highs = [5.0] + [1.0] * 69
    book = book_with(closes, highs=highs, lows=[1.0] * 70)
    assert feature(book, "range_pos_1h") == 0.5  # the 5.0 spike left the last hour
    assert feature(book, "range_pos_1d") == 0.0  # ... but not the last day


def test_volatility_is_the_std_of_one_minute_log_returns() -> None:
    closes = [1.0, math.e**0.01, 1.0, math.e**0.01, 1.0]  # returns +-0.01
    book = book_with(closes)
    assert feature(book, "sigma_1h") == pytest.approx(0.01)
    assert feature(book, "vol_level") == pytest.approx(1.0)


def test_a_coin_that_never_moved_has_zero_volatility_and_neutral_level() -> None:
    book = book_with([3.0] * 10)
    assert feature(book, "sigma_1d") == 0.0
    assert feature(book, "vol_level") == 1.0
    assert feature(book, "regime_1h") == 0.0


def test_window_return_sums_the_log_returns_up_to_last() -> None:
    book = book_with([1.0, 1.1, 1.2, 1.5])
    assert feature(book, "ret_1h") == pytest.approx(math.log(1.5))


def test_rows_without_any_data_are_nan() -> None:
    book = book_with([1.0, 2.0])
    assert np.isnan(book.matrix()[book.row("EMPTY")]).all()
    assert book.warm_minutes("EMPTY") == 0


def test_tick_features_come_from_the_last_tick() -> None:
    book = book_with([100.0, 100.0])
    assert np.isnan(feature(book, "spread_bps"))
    book.on_tick(tick(bid=99.0, ask=101.0, bid_qty=3.0, ask_qty=1.0, quote_volume=1e6))
    assert feature(book, "spread_bps") == pytest.approx(200.0)
    assert feature(book, "imbalance") == pytest.approx(0.5)
    assert feature(book, "tick_turnover_24h") == pytest.approx(math.log1p(1e6))


def test_ticks_with_non_finite_quotes_leave_them_unchanged() -> None:
    book = book_with([100.0])
    book.on_tick(tick(bid=99.0, ask=101.0, bid_qty=1.0, ask_qty=1.0))
    book.on_tick(tick(last=100.5, bid=math.nan, ask=math.inf))
    assert feature(book, "spread_bps") == pytest.approx(200.0)


def test_last_comes_from_a_tick_newer_than_the_last_bar_only() -> None:
    book = book_with([1.0, 2.0])  # last bar closes at START_MS + 2 min - 1
    book.on_tick(tick(ts=START_MS + MINUTE_MS, last=4.0))  # older than that close
    assert feature(book, "px_ma_1m") == 0.0
    book.on_tick(tick(ts=START_MS + 2 * MINUTE_MS, last=4.0))
    assert feature(book, "px_ma_1m") == pytest.approx(math.log(4 / 2))


def test_tick_batch_equals_the_same_ticks_one_by_one() -> None:
    ticks = [tick("X", last=2.0, bid=1.9, ask=2.1, bid_qty=1, ask_qty=2, quote_volume=10),
             tick("EMPTY", last=5.0, bid=math.nan, ask=5.1, bid_qty=4, ask_qty=4),
             tick("UNKNOWN", last=1.0, bid=1.0, ask=1.0)]
    one = book_with([1.0, 1.5])
    for t in ticks:
        one.on_tick(t)
    many = book_with([1.0, 1.5])
    column = lambda name: np.array([getattr(t, name) for t in ticks])  # noqa: E731
    many.on_tick_batch(TickBatch(tuple(t.symbol for t in ticks), column("ts_event"),
                                 0, column("last"), column("bid"), column("ask"),
                                 column("bid_qty"), column("ask_qty"),
                                 column("base_volume"), column("quote_volume")))
    np.testing.assert_array_equal(one.matrix(), many.matrix())


def test_late_and_duplicate_bars_are_ignored() -> None:
    book = book_with([1.0, 2.0, 3.0])
    before = book.matrix()
    assert not book.on_bar(Bar("X", START_MS + MINUTE_MS, 9, 9, 9, 9, 1, 9))
    assert not book.on_bar(Bar("X", START_MS + 5 * MINUTE_MS, 1, 1, 1, math.nan, 1, 1))
    assert not book.on_bar(Bar("NOPE", START_MS, 1, 1, 1, 1, 1, 1))
    np.testing.assert_array_equal(before, book.matrix())


def test_advance_to_flat_fills_and_then_ignores_the_late_bar() -> None:
    book = book_with([1.0, 2.0])
    book.advance_to(START_MS + 4 * MINUTE_MS)
    assert book.warm_minutes("X") == 5
    assert feature(book, "px_ma_3m") == 0.0  # 2, 2, 2
    assert not book.on_bar(Bar("X", START_MS + 3 * MINUTE_MS, 5, 5, 5, 5, 1, 5))


def test_book_and_history_name_the_same_features() -> None:
    book = FeatureBook(["A"])
    assert book.feature_names == FEATURE_NAMES
    batch = features_from_history({"A": history("A", [START_MS], [1.0])})
    assert batch.shape == (1, 1, len(FEATURE_NAMES))
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
