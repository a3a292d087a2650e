"""The forecast panel built a block of symbols at a time, and for a row range only: the same
inputs, bit for bit, as the whole-grid formulas; a fold fit on the panel of its own rows
gives the forecast of a fold fit on the whole grid's panel."""

from __future__ import annotations

import numpy as np
import pytest

from model.timeframes import HOUR_MS
from strategies.feature_columns import FEATURE_INDEX
from strategies.features_batch import BarGrid, MinuteGrid, features_from_history
from strategies.forecast.dataset import BASE_FEATURES, build_panel
from strategies.forecast.indicators import flat_fill, indicators
from strategies.forecast.models import ModelParams
from strategies.forecast.signal import SignalDataError, SignalSettings, fit_forecast_signal
from strategies.forecast.synthetic import synthetic_grid


def hourly_grid() -> BarGrid:
    """Two months of 1h bars of 5 coins, one listed late."""
    base = synthetic_grid(seed=21, n_symbols=5, minutes=1_500)
    close = base.close.copy()
    close[:600, 1] = np.nan
    return BarGrid(symbols=base.symbols, start_ms=base.start_ms // HOUR_MS * HOUR_MS,
                   open=base.open, high=base.high, low=base.low, close=close,
                   quote_volume=base.quote_volume, bar_ms=HOUR_MS)


@pytest.mark.parametrize("grid", [hourly_grid(), synthetic_grid(seed=22, n_symbols=3,
                                                                 minutes=3_000)],
                         ids=["1h", "1m"])
def test_panel_in_blocks_is_the_whole_grid_formula_bit_for_bit(grid: MinuteGrid) -> None:
    features = features_from_history(grid)
    close = flat_fill(grid.close)
    base = [FEATURE_INDEX[name] for name in BASE_FEATURES]
    inputs = np.concatenate([features[..., base], indicators(close)], axis=-1)
    panel = build_panel(grid, block_cells=grid.close.shape[0])  # one symbol per block
    assert panel.inputs.tobytes() == inputs.astype(np.float32).tobytes()
    assert panel.warm.tobytes() == np.nan_to_num(features[..., FEATURE_INDEX["warm_minutes"]],
                                                      nan=0.0).tobytes()
    assert panel.close.tobytes() == close.tobytes() and panel.first_row == 0


def test_panel_of_a_row_range_is_those_rows_of_the_whole_panel() -> None:
    grid = hourly_grid()
    whole = build_panel(grid)
    part = build_panel(grid, start_row=700, stop_row=1_200, block_cells=2_000)
    assert part.first_row == 700 and part.inputs.shape[0] == 500
    for name in ("inputs", "close", "warm", "open_ms"):
        assert getattr(part, name).tobytes() == getattr(whole, name)[700:1_200].tobytes(), name


SETTINGS = SignalSettings(params=ModelParams.tiny(), min_history_minutes=24 * 60,
                          window_length=3, window_stride=2, max_train_rows=1_000)


def test_a_fold_fit_on_its_own_rows_equals_the_fit_on_the_whole_panel() -> None:
    grid = hourly_grid()
    fold = dict(train_start_row=400, train_stop_row=1_000, predict_stop_row=1_300,
                horizon_bars=4, settings=SETTINGS, seed=5)
    on_whole = fit_forecast_signal(grid, panel=build_panel(grid), **fold)
    on_fold_rows = fit_forecast_signal(grid, **fold)  # builds rows 396..1299 only
    assert on_fold_rows.expected_return.tobytes() == on_whole.expected_return.tobytes()
    assert np.isfinite(on_whole.expected_return[1_000:1_300]).any()
    np.testing.assert_array_equal(on_fold_rows.train_rows, on_whole.train_rows)
    np.testing.assert_array_equal(on_fold_rows.train_cols, on_whole.train_cols)
    assert on_whole.train_rows.min() >= 400 and on_whole.train_rows.max() + 4 < 1_000


def test_a_panel_that_misses_the_folds_rows_is_refused_naming_them() -> None:
    grid = hourly_grid()
    late = build_panel(grid, start_row=500, stop_row=1_300)
    with pytest.raises(SignalDataError, match=r"rows 396\.\.1299"):
        fit_forecast_signal(grid, panel=late, train_start_row=400, train_stop_row=1_000,
                            predict_stop_row=1_300, horizon_bars=4, settings=SETTINGS, seed=5)
