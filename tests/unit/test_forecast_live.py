"""Serving in the daemon: live inputs from the feature book equal the offline panel's, and
the monitor flags a forecast that does worse than forecasting nothing."""

from __future__ import annotations

import numpy as np

from model import libm
from model.market import MINUTE_MS, Bar
from strategies.features import FeatureBook
from strategies.forecast.dataset import build_panel, sequences
from strategies.forecast.monitor import ForecastMonitor
from strategies.forecast.serving import LiveInputs, closes_from_returns
from strategies.forecast.synthetic import synthetic_grid


def test_live_inputs_from_the_book_equal_the_offline_panel() -> None:
    """Given 1m bars played into a FeatureBook minute by minute (no ticks), when LiveInputs
    builds the LSTM windows at each step, then they equal the offline windows at that minute."""
    grid = synthetic_grid(seed=5, n_symbols=3, minutes=1000)
    panel = build_panel(grid)
    book = FeatureBook(grid.symbols)
    live = LiveInputs(len(grid.symbols), seq_len=12, seq_stride=5)
    checked = 0
    for t in range(grid.close.shape[0]):
        open_ms = grid.start_ms + t * MINUTE_MS
        bars = [Bar(s, open_ms, grid.open[t, i], grid.high[t, i], grid.low[t, i],
                    grid.close[t, i], grid.quote_volume[t, i] / grid.close[t, i],
                    grid.quote_volume[t, i])
                for i, s in enumerate(grid.symbols) if np.isfinite(grid.close[t, i])]
        book.on_bars(bars)
        book.advance_to(open_ms)
        if t < 900:
            continue
        windows = live.from_book(book, book.matrix(), open_ms // MINUTE_MS)
        if t >= 960:  # the ring holds a full hour of rows
            offline = sequences(panel.inputs, np.full(3, t), np.arange(3), 12, 5)
            np.testing.assert_allclose(windows, offline, rtol=2e-5, atol=1e-6)
            checked += 1
    assert checked == 40


def test_closes_are_rebuilt_exactly_from_returns() -> None:
    close = np.array([[np.nan, 2.0], [1.0, 2.2], [1.5, 2.2], [1.2, 2.0]])
    simple = np.vstack([[np.nan, np.nan], close[1:] / close[:-1] - 1])
    rebuilt = closes_from_returns(close[-1], simple)
    np.testing.assert_allclose(rebuilt[1:], close[1:], rtol=1e-12)
    assert np.isnan(rebuilt[0, 0])


def _play(monitor: ForecastMonitor, forecast_of, minutes: int, seed: int) -> list[bool]:
    rng = np.random.default_rng(seed)
    log_close = np.cumsum(rng.normal(0, 1e-3, (minutes + monitor.horizon, 8)), axis=0)
    flags = []
    for t in range(minutes):
        future = log_close[t + monitor.horizon] - log_close[t]
        flags.append(monitor.record(t, forecast_of(future, rng), libm.exp(log_close[t])))
    return flags


def test_monitor_stays_quiet_for_a_useful_forecast_and_flags_a_harmful_one() -> None:
    good = ForecastMonitor(10, window=2000, degrade_ratio=1.1, min_resolved=200)
    flags = _play(good, lambda future, rng: 0.5 * future + rng.normal(0, 1e-4, 8), 600, 1)
    status = good.status()
    assert not any(flags) and not status.degraded
    assert status.mse_ratio < 0.5 and status.hit_rate > 0.8
    assert status.resolved == 2000  # (600 - 10) * 8 resolved, the window keeps the last 2000

    bad = ForecastMonitor(10, window=2000, degrade_ratio=1.1, min_resolved=200)
    flags = _play(bad, lambda future, rng: -future, 600, 2)
    assert sum(flags) == 1, "the flag turns on once, not at every step"
    status = bad.status()
    assert status.degraded and status.mse_ratio > 3 and status.hit_rate < 0.05
    assert status.as_dict()["degraded"] is True


def test_monitor_says_nothing_before_enough_forecasts_resolved() -> None:
    monitor = ForecastMonitor(60, min_resolved=500)
    _play(monitor, lambda future, rng: -future, 100, 3)
    status = monitor.status()
    assert status.mse_ratio is None and not status.degraded and status.resolved == 40 * 8


def test_live_indicators_equal_the_full_computation_for_new_and_old_coins() -> None:
    from strategies.forecast.indicators import indicators, live_indicators

    rng = np.random.default_rng(8)
    close = libm.exp(np.cumsum(rng.normal(0, 2e-3, (300, 6)), axis=0))
    close[:100, 1] = np.nan  # listed 200 minutes ago
    close[:290, 2] = np.nan  # listed 10 minutes ago (SMA over what it has)
    close[:, 3] = np.nan  # never traded
    close[:299, 4] = np.nan  # one bar only
    np.testing.assert_allclose(live_indicators(close), indicators(close)[-1], rtol=1e-9,
                               atol=1e-12, equal_nan=True)
    assert np.isnan(live_indicators(close)[3]).all()
