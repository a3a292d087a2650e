"""Features on bars longer than a minute: windows are durations, so a window shorter than a
bar or not a whole number of bars is NaN (not faked, not rounded), the rest are computed on
the bars, and every feature keeps the units it has on 1m bars."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.market import MINUTE_MS, BarHistory
from model.timeframes import HOUR_MS
from strategies.feature_columns import FEATURE_INDEX, FEATURE_NAMES
from strategies.features_batch import (
    BarGrid,
    MinuteGrid,
    UnusableBarLength,
    features_from_history,
)
from strategies.windows import window_rows

START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC: on every grid up to a day
FIVE_MINUTES_MS = 5 * MINUTE_MS


def grid_of(close: np.ndarray, bar_ms: int, high: np.ndarray | None = None,
            low: np.ndarray | None = None, quote_volume: np.ndarray | None = None) -> BarGrid:
    """A one-symbol grid of `bar_ms` bars (open = close unless given)."""
    column = np.asarray(close, dtype=np.float64)[:, None]

    def given(values: np.ndarray | None, default: np.ndarray) -> np.ndarray:
        return default.copy() if values is None else np.asarray(values, np.float64)[:, None]

    return BarGrid(symbols=("BTCUSDT",), start_ms=START_MS, open=column.copy(),
                   high=given(high, column), low=given(low, column), close=column,
                   quote_volume=given(quote_volume, np.ones_like(column)), bar_ms=bar_ms)


def feature(features: np.ndarray, name: str, row: int = -1) -> float:
    return float(features[row, 0, FEATURE_INDEX[name]])


def test_a_window_is_present_when_it_is_a_whole_number_of_bars() -> None:
    assert window_rows(60, FIVE_MINUTES_MS) == 12
    assert window_rows(5, FIVE_MINUTES_MS) == 1
    assert window_rows(3, FIVE_MINUTES_MS) is None  # shorter than a bar
    assert window_rows(360, 4 * HOUR_MS) is None  # 6h is 1.5 bars of 4h
    assert window_rows(720, 4 * HOUR_MS) == 3
    assert window_rows(1440, MINUTE_MS) == 1440  # the 1m grid: rows are minutes


def test_on_5m_bars_windows_under_5m_are_nan_and_the_rest_average_their_bars() -> None:
    close = 100.0 + np.arange(30.0)  # 30 bars of 5m, rising by 1 each
    features = features_from_history(grid_of(close, FIVE_MINUTES_MS))
    assert features.shape == (30, 1, len(FEATURE_NAMES))  # same layout as on 1m
    for label in ("1m", "3m"):
        assert math.isnan(feature(features, f"px_ma_{label}"))
        assert math.isnan(feature(features, f"qv_ma_{label}"))
    last = close[-1]
    assert feature(features, "px_ma_5m") == 0.0  # one bar: its own close
    assert feature(features, "px_ma_10m") == pytest.approx(math.log(last / close[-2:].mean()))
    assert feature(features, "px_ma_30m") == pytest.approx(math.log(last / close[-6:].mean()))
    assert feature(features, "px_ma_1h") == pytest.approx(math.log(last / close[-12:].mean()))
    # windows longer than the history average what there is, as on 1m
    assert feature(features, "px_ma_1d") == pytest.approx(math.log(last / close.mean()))


def test_on_5m_bars_return_sums_and_range_lines_cover_the_windows_duration() -> None:
    close = 100.0 * np.exp(0.001 * np.arange(40.0))
    high, low = close * 1.01, close * 0.98
    high[25] = close[25] * 1.2  # older than the last hour (rows 28..39), inside the day
    high[35] = close[35] * 1.05  # inside the last hour
    features = features_from_history(grid_of(close, FIVE_MINUTES_MS, high, low))
    assert feature(features, "ret_1h") == pytest.approx(math.log(close[-1] / close[-13]))
    assert feature(features, "ret_6h") == pytest.approx(math.log(close[-1] / close[0]))
    hour_high, hour_low = high[-12:].max(), low[-12:].min()
    assert hour_high == high[35]
    assert feature(features, "range_pos_1h") == pytest.approx(
        (close[-1] - hour_low) / (hour_high - hour_low))
    day_high, day_low = high.max(), low.min()
    assert feature(features, "range_pos_1d") == pytest.approx(
        (close[-1] - day_low) / (day_high - day_low))
    assert feature(features, "turnover_1h") == pytest.approx(math.log1p(12.0))
    assert feature(features, "warm_minutes") == 40 * 5


def test_on_1h_bars_only_windows_of_whole_hours_remain() -> None:
    close = 50.0 + np.arange(48.0) % 7  # two days of hourly bars
    high, low = close + 1.0, close - 2.0
    features = features_from_history(grid_of(close, HOUR_MS, high, low))
    absent = [f"{kind}_{label}" for kind in ("px_ma", "qv_ma")
              for label in ("1m", "3m", "5m", "10m", "30m")]
    assert all(math.isnan(feature(features, name)) for name in absent)
    last = close[-1]
    assert feature(features, "px_ma_1h") == 0.0
    assert feature(features, "px_ma_6h") == pytest.approx(math.log(last / close[-6:].mean()))
    assert feature(features, "px_ma_1d") == pytest.approx(math.log(last / close[-24:].mean()))
    assert feature(features, "ret_6h") == pytest.approx(math.log(last / close[-7]))
    assert feature(features, "ret_1d") == pytest.approx(math.log(last / close[-25]))
    assert feature(features, "range_pos_1h") == pytest.approx(2 / 3)  # one bar: low 2 below
    assert feature(features, "range_pos_1d") == pytest.approx(
        (last - low[-24:].min()) / (high[-24:].max() - low[-24:].min()))
    # One hourly return cannot give an hour's volatility; the day's 23 returns can.
    assert math.isnan(feature(features, "sigma_1h"))
    assert math.isnan(feature(features, "vol_level"))
    assert feature(features, "sigma_1d") > 0
    assert feature(features, "warm_minutes") == 48 * 60


def test_on_4h_bars_a_window_that_is_not_a_whole_number_of_bars_is_nan() -> None:
    close = 10.0 + np.arange(20.0)
    features = features_from_history(grid_of(close, 4 * HOUR_MS))
    assert math.isnan(feature(features, "ret_1h")) and math.isnan(feature(features, "ret_6h"))
    assert math.isnan(feature(features, "px_ma_6h"))
    assert math.isnan(feature(features, "turnover_1h"))
    assert feature(features, "ret_12h") == pytest.approx(math.log(close[-1] / close[-4]))
    assert feature(features, "px_ma_12h") == pytest.approx(math.log(close[-1] / close[-3:].mean()))


def test_volatility_stays_per_sqrt_minute_on_hourly_bars() -> None:
    # Hourly log returns alternate +a, -a: their population std is a per hour, so
    # a / sqrt(60) per sqrt(minute), what 1m bars of the same random walk would show.
    a = 0.006
    steps = np.where(np.arange(30) % 2 == 0, a, -a)
    close = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(steps)]))
    features = features_from_history(grid_of(close, HOUR_MS))
    ret_sum = steps[-24:].sum()  # 0: the mean of the day's returns is 0
    assert ret_sum == pytest.approx(0.0)
    assert feature(features, "sigma_1d") == pytest.approx(a / math.sqrt(60), rel=1e-9)
    # trend z: a 6h return in random-walk standard deviations over 360 minutes
    ret_6h = feature(features, "ret_6h")
    assert feature(features, "trend_z_6h") == pytest.approx(
        ret_6h / (a / math.sqrt(60) * math.sqrt(360)), abs=1e-12)


def hourly_from_minutes(grid: MinuteGrid) -> BarGrid:
    """The 1m grid as 1h bars (the grid starts on an hour and holds whole hours)."""
    hours = grid.close.shape[0] // 60
    shape = (hours, 60, grid.close.shape[1])
    return BarGrid(symbols=grid.symbols, start_ms=grid.start_ms,
                   open=grid.open.reshape(shape)[:, 0], high=grid.high.reshape(shape).max(1),
                   low=grid.low.reshape(shape).min(1), close=grid.close.reshape(shape)[:, -1],
                   quote_volume=grid.quote_volume.reshape(shape).sum(1), bar_ms=HOUR_MS)


def test_log_returns_over_hours_are_the_same_on_1m_and_on_1h_bars() -> None:
    rng = np.random.default_rng(7)
    minutes = 3 * 1440
    close = 20.0 * np.exp(np.cumsum(rng.standard_normal((minutes, 2)) * 1e-3, axis=0))
    volume = rng.lognormal(0, 1, (minutes, 2))
    minute_grid = MinuteGrid(("A", "B"), START_MS, close.copy(), close * 1.001, close * 0.999,
                             close, volume)
    hourly = features_from_history(hourly_from_minutes(minute_grid))
    hour_ends = np.arange(59, minutes, 60)
    by_minute = features_from_history(minute_grid, at=hour_ends)
    same = [FEATURE_INDEX[name] for name in
            ("ret_1h", "ret_6h", "ret_12h", "ret_1d", "warm_minutes")]
    turnover = [FEATURE_INDEX[name] for name in ("turnover_1h", "turnover_1d")]
    # From the second day on every window lies inside both histories (the 1m one counts
    # returns from its first minute, the 1h one from its first hour).
    full = slice(24, None)
    assert np.isfinite(hourly[full][..., same + turnover]).all()
    np.testing.assert_allclose(hourly[full][..., same], by_minute[full][..., same],
                               rtol=1e-9, atol=1e-12)
    # Volumes are held at float32 precision per bar (feature_volume, ADR-104): an hour's
    # bar is rounded once, its 60 minutes each, so turnover agrees to float32's 6e-8.
    np.testing.assert_allclose(hourly[full][..., turnover], by_minute[full][..., turnover],
                               rtol=1e-7, atol=1e-12)


def test_changing_hourly_bars_after_t_changes_no_feature_up_to_t() -> None:
    rng = np.random.default_rng(11)
    close = 30.0 * np.exp(np.cumsum(rng.standard_normal(24 * 40) * 0.01))
    before = features_from_history(grid_of(close, HOUR_MS, close * 1.01, close * 0.99))
    t = 24 * 33
    changed = close.copy()
    changed[t + 1:] *= np.exp(rng.standard_normal(changed.size - t - 1) * 0.1)
    high, low, volume = close * 1.01, close * 0.99, np.ones(close.size)
    high[t + 1:], low[t + 1:], volume[t + 1:] = changed[t + 1:] * 1.2, changed[t + 1:] * 0.9, 9.0
    after = features_from_history(grid_of(changed, HOUR_MS, high, low, volume))
    np.testing.assert_array_equal(before[:t + 1], after[:t + 1])
    assert not np.allclose(before[t + 1:], after[t + 1:], equal_nan=True)


def test_bars_that_are_not_whole_minutes_are_refused_with_what_to_load() -> None:
    with pytest.raises(UnusableBarLength, match="whole number of minutes, got 30000 ms"):
        features_from_history(grid_of(np.ones(4), 30_000))


def test_bar_grid_from_histories_puts_bars_of_its_length_on_one_grid() -> None:
    def history(symbol: str, first_bar: int, closes: list[float]) -> BarHistory:
        open_ms = START_MS + (first_bar + np.arange(len(closes))) * FIVE_MINUTES_MS
        values = np.asarray(closes, dtype=np.float64)
        return BarHistory(symbol, open_ms.astype(np.int64), values, values, values, values,
                          np.ones_like(values), np.full_like(values, np.nan))

    grid = BarGrid.from_histories([history("A", 0, [1.0, 2.0, 3.0]), history("B", 2, [5.0])],
                                  bar_ms=FIVE_MINUTES_MS)
    assert isinstance(grid, BarGrid) and grid.bar_ms == FIVE_MINUTES_MS
    assert grid.start_ms == START_MS and grid.symbols == ("A", "B")
    np.testing.assert_array_equal(grid.close, [[1.0, np.nan], [2.0, np.nan], [3.0, 5.0]])
    np.testing.assert_array_equal(grid.quote_volume[2], [3.0, 5.0])  # volume x close
    with pytest.raises(ValueError, match="bar_ms"):
        BarGrid.from_histories([history("A", 0, [1.0])])
    shifted = history("C", 0, [1.0])
    shifted.open_ms[0] += MINUTE_MS  # opens between two 5m bars of A
    with pytest.raises(ValueError, match=r"C: a bar opens .* off the grid"):
        BarGrid.from_histories([history("A", 0, [1.0]), shifted], bar_ms=FIVE_MINUTES_MS)
