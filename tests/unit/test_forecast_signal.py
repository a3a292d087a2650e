"""The forecast signal of one walk-forward fold: fit on the bars before the fold's test rows,
purged, free of lookahead, deterministic by seed, on any bar length, and able to find a
planted edge (and nothing where there is none)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from model.market import MINUTE_MS
from strategies.features_batch import BarGrid, MinuteGrid
from strategies.forecast.dataset import build_panel
from strategies.forecast.metrics import information_coefficient
from strategies.forecast.models import ModelParams
from strategies.forecast.signal import (
    SignalDataError,
    SignalSettings,
    SignalSettingsError,
    fit_forecast_signal,
)
from strategies.forecast.synthetic import synthetic_grid

HOUR_MS = 60 * MINUTE_MS
#: A short warm-up keeps the grids small; the rule itself is the same as the default day.
SETTINGS = SignalSettings(params=ModelParams.tiny(), min_history_minutes=120)
ROWS, COINS, STOP, HORIZON = 900, 8, 600, 5


@pytest.fixture(scope="module")
def grid() -> MinuteGrid:
    return synthetic_grid(seed=4, n_symbols=COINS, minutes=ROWS, reversion=0.2)


@pytest.fixture(scope="module")
def signal(grid):
    return fit_forecast_signal(grid, train_stop_row=STOP, horizon_bars=HORIZON,
                               settings=SETTINGS, seed=3)


def with_bars_changed_from(grid: MinuteGrid, row: int) -> MinuteGrid:
    """The same grid with every bar from `row` on replaced by a different, valid market."""
    other = synthetic_grid(seed=99, n_symbols=COINS, minutes=grid.close.shape[0] - row)
    scale = grid.close[row - 1] / other.close[0]  # keep prices in the same range
    replaced = {}
    for name in ("open", "high", "low", "close", "quote_volume"):
        values = getattr(grid, name).copy()
        values[row:] = getattr(other, name) * scale
        replaced[name] = values
    return dataclasses.replace(grid, **replaced)


def test_signal_is_nan_before_the_training_stop_and_a_forecast_after_it(grid, signal) -> None:
    expected = signal.expected_return
    assert expected.shape == grid.close.shape and expected.dtype == np.float64
    assert np.isnan(expected[:STOP]).all()
    has_price = np.isfinite(grid.close[STOP:])  # flat-fill covers the synthetic gaps anyway
    assert np.isfinite(expected[STOP:][has_price]).all()
    assert np.std(expected[STOP:]) > 0


def test_a_score_held_for_the_horizon_changes_only_once_per_horizon(signal) -> None:
    held = signal.held_for(HORIZON)
    assert np.isnan(held[:STOP]).all()
    for start in range(STOP, held.shape[0], HORIZON):
        block = held[start:start + HORIZON]
        np.testing.assert_array_equal(block, np.broadcast_to(signal.expected_return[start],
                                                             block.shape))


def test_no_training_target_reaches_the_training_stop(signal) -> None:
    """Purged: every training row's target window ends before the first test row, and the
    purge is no wider than it must be (the last allowed row is used)."""
    latest_target_row = signal.train_rows + HORIZON
    assert latest_target_row.max() == STOP - 1
    assert signal.model.train_rows == signal.train_rows.size


def test_a_rolling_fold_trains_from_its_start_with_earlier_bars_as_history(grid) -> None:
    """Rows before `train_start_row` are not trained on, but their bars still feed the
    inputs of the rows after them (the long windows need them)."""
    signal = fit_forecast_signal(grid, train_start_row=400, train_stop_row=STOP,
                                 horizon_bars=HORIZON, settings=SETTINGS, seed=3)
    assert signal.train_rows.min() == 400 and signal.train_rows.max() == STOP - HORIZON - 1
    assert np.isnan(signal.expected_return[:STOP]).all()


def test_only_the_rows_asked_for_are_predicted(grid, signal) -> None:
    """A fold predicts its test rows only; those equal the full run's."""
    short = fit_forecast_signal(grid, train_stop_row=STOP, predict_stop_row=STOP + 50,
                                horizon_bars=HORIZON, settings=SETTINGS, seed=3)
    np.testing.assert_array_equal(short.expected_return[:STOP + 50],
                                  signal.expected_return[:STOP + 50])
    assert np.isnan(short.expected_return[STOP + 50:]).all()


def test_bars_from_the_training_stop_on_never_reach_the_fit(grid, signal) -> None:
    """Given the same fold, when every bar at or after the training stop is replaced, then
    the model trains on the same cells with the same scaling and predicts the same numbers
    for the same inputs: nothing of the test period reached the fit."""
    changed = fit_forecast_signal(with_bars_changed_from(grid, STOP), train_stop_row=STOP,
                                  horizon_bars=HORIZON, settings=SETTINGS, seed=3)
    np.testing.assert_array_equal(changed.train_rows, signal.train_rows)
    np.testing.assert_array_equal(changed.train_cols, signal.train_cols)
    np.testing.assert_array_equal(changed.model.scaler.centre, signal.model.scaler.centre)
    probe = np.random.default_rng(0).normal(size=(500, 1, build_panel(grid).inputs.shape[-1]))
    for name, forecast in signal.model.predict_models(probe).items():
        np.testing.assert_array_equal(changed.model.predict_models(probe)[name], forecast)
    # and the test rows did change: the comparison above is not vacuous
    assert not np.array_equal(changed.expected_return[STOP:], signal.expected_return[STOP:],
                              equal_nan=True)


def test_the_forecast_at_a_row_reads_no_later_bar(grid, signal) -> None:
    """Changing the bars from row t on leaves every forecast before t unchanged, bit for bit."""
    later = STOP + 120
    changed = fit_forecast_signal(with_bars_changed_from(grid, later), train_stop_row=STOP,
                                  horizon_bars=HORIZON, settings=SETTINGS, seed=3)
    np.testing.assert_array_equal(changed.expected_return[:later],
                                  signal.expected_return[:later])
    assert not np.array_equal(changed.expected_return[later:], signal.expected_return[later:])


def test_the_same_seed_gives_the_same_signal_bit_for_bit(grid) -> None:
    """Subsampled (fewer rows allowed than the fold has), so the seed decides the rows."""
    settings = dataclasses.replace(SETTINGS, max_train_rows=1500)
    first, again, other = (
        fit_forecast_signal(grid, train_stop_row=STOP, horizon_bars=HORIZON,
                            settings=settings, seed=seed) for seed in (7, 7, 8))
    np.testing.assert_array_equal(first.expected_return, again.expected_return)
    assert first.train_rows.size == 1500
    assert not np.array_equal(first.expected_return, other.expected_return, equal_nan=True)


@pytest.mark.parametrize(("reversion", "edge"), [(0.3, True), (0.0, False)])
def test_a_planted_edge_is_found_and_no_edge_is_not(reversion: float, edge: bool) -> None:
    """Given bars whose next return is -reversion x the last one plus noise, the forecast of
    the next bar ranks coins like their realized next returns (Spearman across coins per
    row, mean over the test rows); given independent returns, it ranks them at random."""
    grid = synthetic_grid(seed=11, n_symbols=16, minutes=2400, reversion=reversion,
                          gap_share=0.0)
    signal = fit_forecast_signal(grid, train_stop_row=1600, horizon_bars=1,
                                 settings=SETTINGS, seed=0)
    realized = build_panel(grid).forward_returns(1)
    ic = information_coefficient(signal.expected_return, realized, 1)["ic_mean"]
    assert ic is not None
    if edge:
        assert ic > 0.1
    else:
        assert abs(ic) < 0.05


def test_works_on_hourly_bars() -> None:
    """On a 1h grid the horizon counts hours and the warm-up rule still reads minutes: a
    day of history is 24 bars."""
    minutes = synthetic_grid(seed=5, n_symbols=6, minutes=24 * 40, reversion=0.2)
    hourly = BarGrid(symbols=minutes.symbols, start_ms=minutes.start_ms - minutes.start_ms
                     % HOUR_MS, open=minutes.open, high=minutes.high, low=minutes.low,
                     close=minutes.close, quote_volume=minutes.quote_volume, bar_ms=HOUR_MS)
    settings = dataclasses.replace(SETTINGS, min_history_minutes=1440)
    signal = fit_forecast_signal(hourly, train_stop_row=24 * 30, horizon_bars=24,
                                 settings=settings, seed=1)
    assert np.isnan(signal.expected_return[:24 * 30]).all()
    assert np.isfinite(signal.expected_return[24 * 30:]).all()
    assert signal.train_rows.min() >= 23  # a day of hourly bars behind the first row
    assert signal.train_rows.max() + 24 < 24 * 30


@pytest.mark.slow
def test_the_lstm_is_opt_in_and_weighted_as_designed(grid, one_torch_thread) -> None:
    settings = dataclasses.replace(SETTINGS, models=("lstm", "lightgbm"), window_length=4)
    signal = fit_forecast_signal(grid, train_stop_row=STOP, horizon_bars=HORIZON,
                                 settings=settings, seed=3)
    assert set(signal.model.models) == {"lstm", "lightgbm"}
    assert signal.weights == pytest.approx({"lstm": 2 / 3, "lightgbm": 1 / 3})
    assert np.isfinite(signal.expected_return[STOP:]).all()


def test_bad_folds_and_settings_say_what_to_change(grid) -> None:
    def fit(**overrides):
        arguments = {"train_stop_row": STOP, "horizon_bars": HORIZON, "settings": SETTINGS,
                     "seed": 0} | overrides
        return fit_forecast_signal(grid, **arguments)

    with pytest.raises(SignalDataError, match=r"train_stop_row must be in 1\.\.900"):
        fit(train_stop_row=901)
    with pytest.raises(SignalDataError, match=r"train_start_row must be in 0\.\.599"):
        fit(train_start_row=STOP)
    with pytest.raises(SignalDataError, match=r"predict_stop_row must be in 600\.\.900"):
        fit(predict_stop_row=STOP - 1)
    with pytest.raises(SignalDataError, match="horizon_bars must be >= 1"):
        fit(horizon_bars=0)
    with pytest.raises(SignalDataError, match=r"no training rows in 0\.\.99 .* move the fold"):
        fit(train_stop_row=100)  # the warm-up alone is 120 rows
    with pytest.raises(SignalDataError, match="not this grid's"):
        fit(panel=build_panel(synthetic_grid(seed=1, n_symbols=2, minutes=ROWS)))
    with pytest.raises(SignalSettingsError, match="subset of lstm, random_forest"):
        SignalSettings(models=("catboost",))
    with pytest.raises(SignalSettingsError, match="max_train_rows must be >= 1"):
        SignalSettings(max_train_rows=0)
