"""Rolling walk-forward folds (trading/folds.py): the arithmetic of train, embargo and test
windows, what a test may read, and the errors that say which option to change."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from model.errors import ConfigError, DataError
from model.timeframes import DAY_MS, HOUR_MS
from strategies.features_batch import BarGrid
from trading.folds import (
    FoldSettingsError,
    NoFoldFits,
    grid_folds,
    grid_rows,
    rolling_folds,
    time_rows,
)

START_MS = 1_514_764_800_000  # 2018-01-01 00:00 UTC


def _grid(rows: int, bar_ms: int = HOUR_MS) -> BarGrid:
    values = np.arange(rows * 2, dtype=np.float64).reshape(rows, 2) + 1.0
    return BarGrid(symbols=("BTCUSDT", "ETHUSDT"), start_ms=START_MS, open=values, high=values,
                   low=values, close=values, quote_volume=values, bar_ms=bar_ms)


def test_folds_train_then_embargo_then_test_and_roll_by_one_test_window() -> None:
    # given 30 days of hourly bars, 10 training days, 1 embargo day and 5 test days
    folds = rolling_folds(START_MS, START_MS + 30 * DAY_MS, HOUR_MS, 10, 5, 1)
    # then fold k trains on [120k, 120k + 240) and tests on [120k + 264, 120k + 384)
    assert [(f.train_start_row, f.train_stop_row, f.test_start_row, f.test_stop_row)
            for f in folds] == [(0, 240, 264, 384), (120, 360, 384, 504), (240, 480, 504, 624)]
    # and a fourth fold, whose test would end at row 744 > 720, is not made
    assert [f.index for f in folds] == [0, 1, 2]


def test_test_windows_sit_end_to_end_so_their_returns_concatenate() -> None:
    folds = rolling_folds(START_MS, START_MS + 100 * DAY_MS, HOUR_MS, 20, 7, 2)
    assert all(a.test_stop_row == b.test_start_row for a, b in itertools.pairwise(folds))
    assert all(f.train_stop_row <= f.test_start_row - 48 for f in folds)  # the 2-day embargo


def test_a_fold_that_fits_exactly_is_kept() -> None:
    folds = rolling_folds(START_MS, START_MS + 15 * DAY_MS, HOUR_MS, 10, 5)
    assert len(folds) == 1 and folds[0].test_stop_row == 15 * 24


def test_fold_times_are_the_open_times_of_their_rows_and_ends_are_exclusive() -> None:
    fold = rolling_folds(START_MS, START_MS + 15 * DAY_MS, HOUR_MS, 10, 5)[0]
    window = fold.as_dict()
    assert window["train_start"] == "2018-01-01T00:00Z"
    assert window["train_end"] == window["test_start"] == "2018-01-11T00:00Z"
    assert window["test_end"] == "2018-01-16T00:00Z"
    assert window["test_end_ms"] == START_MS + 15 * DAY_MS


def test_data_too_short_for_one_fold_says_how_long_one_needs_and_what_to_change() -> None:
    with pytest.raises(NoFoldFits) as caught:
        rolling_folds(START_MS, START_MS + 14 * DAY_MS, HOUR_MS, 10, 5, 1)
    message = str(caught.value)
    assert "16 days" in message and "14 days" in message
    assert "--train-days" in message and "--from" in message
    assert isinstance(caught.value, DataError)


@pytest.mark.parametrize(("train", "test", "embargo", "option"), [
    (0, 5, 0, "--train-days"), (-1, 5, 0, "--train-days"), (10, 0, 0, "--test-days"),
    (10, -2, 0, "--test-days"), (10, 5, -1, "--embargo-days"),
    (float("nan"), 5, 0, "--train-days")])
def test_non_positive_windows_and_a_negative_embargo_name_their_option(
        train: float, test: float, embargo: float, option: str) -> None:
    with pytest.raises(FoldSettingsError, match=option) as caught:
        rolling_folds(START_MS, START_MS + 100 * DAY_MS, HOUR_MS, train, test, embargo)
    assert isinstance(caught.value, ConfigError)


def test_days_that_are_not_whole_bars_are_refused() -> None:
    # a 1d grid cannot train on 1.5 days; a 1h grid can
    with pytest.raises(FoldSettingsError, match=r"--train-days 1\.5 is not a whole number of 1d"):
        rolling_folds(START_MS, START_MS + 100 * DAY_MS, DAY_MS, 1.5, 5)
    assert rolling_folds(START_MS, START_MS + 100 * DAY_MS, HOUR_MS, 1.5, 5)[0].train_stop_row == 36


def test_a_test_window_reads_rows_before_its_end_and_none_after() -> None:
    grid = _grid(30 * 24)
    fold = grid_folds(grid, 10, 5, 1)[1]
    visible = grid_rows(grid, fold.train_start_row, fold.test_stop_row)
    assert visible.close.shape[0] == fold.test_stop_row - fold.train_start_row
    np.testing.assert_array_equal(visible.close[-1], grid.close[fold.test_stop_row - 1])
    assert visible.start_ms == fold.open_ms(fold.train_start_row)
    assert visible.bar_ms == grid.bar_ms


def test_a_window_of_rows_opens_at_its_first_row_without_copying() -> None:
    grid = _grid(100)
    window = grid_rows(grid, 10, 20)
    assert window.start_ms == START_MS + 10 * HOUR_MS and window.close.shape == (10, 2)
    assert np.shares_memory(window.close, grid.close)
    with pytest.raises(ValueError, match="outside the grid"):
        grid_rows(grid, 90, 101)


def test_from_and_to_keep_the_bars_opening_in_between() -> None:
    grid = _grid(100)
    window = time_rows(grid, START_MS + 10 * HOUR_MS, START_MS + 20 * HOUR_MS)
    assert window.start_ms == START_MS + 10 * HOUR_MS and window.close.shape[0] == 10
    # a bound inside a bar starts at the next bar open; open bounds keep everything
    assert time_rows(grid, START_MS + 1, None).start_ms == START_MS + HOUR_MS
    assert time_rows(grid, None, None).close.shape[0] == 100
