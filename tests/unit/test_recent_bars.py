"""Longer bars from the live 1m rings (strategies/recent_bars.py): the engine's book, fed 1m
bars, gives the hourly bars an exchange's 1h klines of the same trades would, and the
portfolio adapter's features on them equal the features on those hourly bars."""

from __future__ import annotations

import numpy as np
import pytest

from model.market import MINUTE_MS, BarHistory
from rl.portfolio_live_obs import bars_needed, coin_table
from strategies.features import FeatureBook
from strategies.features_batch import BarGrid
from strategies.recent_bars import GridBars, grid_recent_bars

HOUR_MS = 60 * MINUTE_MS
START_MS = 1_600_000_000_000 - 1_600_000_000_000 % 86_400_000
SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT")
MINUTES = 3 * 1440
QUIET_HOUR = 34


def minute_bars(seed: int = 0, minutes: int = MINUTES) -> dict[str, np.ndarray]:
    """[MINUTES, 3] 1m bars; a tenth of the minutes without a trade (NaN), one coin listing
    in the middle of an hour, one quiet for a whole hour."""
    rng = np.random.default_rng(seed)
    shape = (minutes, len(SYMBOLS))
    close = 10.0 * np.exp(np.cumsum(rng.normal(0, 0.001, shape), axis=0))
    high = close * (1 + np.abs(rng.normal(0, 0.0005, shape)))
    low = close * (1 - np.abs(rng.normal(0, 0.0005, shape)))
    volume = rng.lognormal(2.0, 0.5, shape)
    gone = rng.random(shape) < 0.1
    gone[:1000 + 17, 2] = True  # lists at minute 17 of an hour
    gone[QUIET_HOUR * 60:(QUIET_HOUR + 1) * 60, 1] = True  # a whole hour without a trade
    gone[0, :2] = False
    for column in (close, high, low, volume):
        column[gone] = np.nan
    return {"close": close, "high": high, "low": low, "quote_volume": volume * close}


def book_of(bars: dict[str, np.ndarray]) -> FeatureBook:
    minutes_total = bars["close"].shape[0]
    book = FeatureBook(SYMBOLS)
    for j, symbol in enumerate(SYMBOLS):
        traded = np.isfinite(bars["close"][:, j])
        minutes = np.flatnonzero(traded)
        columns = {k: v[traded, j] for k, v in bars.items()}
        book.load_history(BarHistory(symbol, START_MS + minutes * MINUTE_MS, columns["close"],
                                     columns["high"], columns["low"], columns["close"],
                                     columns["quote_volume"] / columns["close"],
                                     columns["quote_volume"]))
    book.advance_to(START_MS + (minutes_total - 1) * MINUTE_MS)
    return book


def hourly(bars: dict[str, np.ndarray]) -> BarGrid:
    """The exchange's 1h klines of the same trades: NaN where an hour had none."""
    shape = (bars["close"].shape[0] // 60, 60, len(SYMBOLS))
    close = bars["close"].reshape(shape)
    traded = np.isfinite(close)
    last = np.where(traded, np.arange(60)[None, :, None], -1).max(axis=1)
    hour_close = np.take_along_axis(close, np.maximum(last, 0)[:, None, :], axis=1)[:, 0]
    hour_close = np.where(last >= 0, hour_close, np.nan)
    high = np.fmax.reduce(bars["high"].reshape(shape), axis=1)  # NaN-skipping
    low = np.fmin.reduce(bars["low"].reshape(shape), axis=1)
    volume = np.nansum(bars["quote_volume"].reshape(shape), axis=1)
    return BarGrid(SYMBOLS, START_MS, hour_close, high, low, hour_close, volume, bar_ms=HOUR_MS)


def test_the_book_aggregates_its_minutes_into_the_hourly_klines() -> None:
    bars = minute_bars()
    book, grid = book_of(bars), hourly(bars)
    end_ms = START_MS + MINUTES * MINUTE_MS
    live = book.recent_bars(HOUR_MS, 48, end_ms)
    expected = GridBars(grid).recent_bars(HOUR_MS, 48, end_ms)
    assert live.start_ms == expected.start_ms == end_ms - 48 * HOUR_MS
    assert (live.traded == expected.traded).all()
    np.testing.assert_array_equal(live.close, expected.close)
    for name in ("high", "low"):
        np.testing.assert_allclose(getattr(live, name), getattr(expected, name), rtol=1e-12)
    # The book holds each minute's volume at float32 precision (feature_volume, ADR-104),
    # the hourly grid sums the raw minutes: an hour's volume agrees to float32's 6e-8.
    np.testing.assert_allclose(live.quote_volume, expected.quote_volume, rtol=1e-7)


def test_an_hour_without_a_trade_is_no_bar_and_keeps_the_previous_close() -> None:
    bars = minute_bars()
    end_ms = START_MS + MINUTES * MINUTE_MS
    live = book_of(bars).recent_bars(HOUR_MS, MINUTES // 60, end_ms)
    assert live.traded[QUIET_HOUR - 1, 1] and not live.traded[QUIET_HOUR, 1]
    assert live.close[QUIET_HOUR, 1] == live.close[QUIET_HOUR - 1, 1]
    assert live.quote_volume[QUIET_HOUR, 1] == 0.0


def test_the_adapter_features_from_minutes_equal_those_from_hourly_bars() -> None:
    bars = minute_bars()
    book, grid = book_of(bars), hourly(bars)
    end_ms = START_MS + MINUTES * MINUTE_MS
    count = bars_needed(HOUR_MS)
    live = coin_table(book.recent_bars(HOUR_MS, count, end_ms), SYMBOLS)
    expected = coin_table(GridBars(grid).recent_bars(HOUR_MS, count, end_ms), SYMBOLS)
    np.testing.assert_allclose(live.columns, expected.columns, rtol=0, atol=1e-6)
    assert (live.mask == expected.mask).all()
    assert live.regime == pytest.approx(expected.regime, abs=1e-6)


def test_the_grid_source_refuses_a_time_that_is_no_bar_close() -> None:
    grid = hourly(minute_bars())
    with pytest.raises(ValueError, match="not a bar close"):
        grid_recent_bars(grid.symbols, grid.start_ms, HOUR_MS, grid.close, grid.high,
                         grid.low, grid.quote_volume, 4, START_MS + HOUR_MS + MINUTE_MS)


def test_the_book_needs_whole_minute_bars() -> None:
    with pytest.raises(ValueError, match="whole number of minutes"):
        book_of(minute_bars()).recent_bars(90_000, 4, START_MS + MINUTES * MINUTE_MS)


def test_past_the_week_of_extremes_the_rings_keep_a_bar_reads_its_close() -> None:
    minutes = 9 * 1440
    bars = minute_bars(minutes=minutes)
    book, grid = book_of(bars), hourly(bars)
    end_ms = START_MS + minutes * MINUTE_MS
    live = book.recent_bars(HOUR_MS, minutes // 60, end_ms)
    expected = GridBars(grid).recent_bars(HOUR_MS, minutes // 60, end_ms)
    week = 7 * 24
    np.testing.assert_array_equal(live.close, expected.close)
    np.testing.assert_allclose(live.high[-week:], expected.high[-week:], rtol=1e-12)
    old = live.traded[:-week]
    assert (live.high[:-week][old] == live.close[:-week][old]).all()
    assert (live.low[:-week][old] == live.close[:-week][old]).all()
    count = bars_needed(HOUR_MS)
    live_columns = coin_table(book.recent_bars(HOUR_MS, count, end_ms), SYMBOLS).columns
    grid_columns = coin_table(GridBars(grid).recent_bars(HOUR_MS, count, end_ms),
                              SYMBOLS).columns
    features = live_columns.shape[1] // 2  # then their cross-sectional z-scores
    np.testing.assert_allclose(live_columns[:, :features], grid_columns[:, :features],
                               rtol=0, atol=1e-6)
    # With two coins the z-score of two close volume averages amplifies the float32
    # rounding of the book's minute volumes (ADR-104) ~100x: 3e-6 on qv_ma_1h's z here.
    np.testing.assert_allclose(live_columns[:, features:], grid_columns[:, features:],
                               rtol=0, atol=1e-5)
