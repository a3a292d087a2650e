"""Features computed a block of symbols at a time (strategies/feature_blocks.py) are the
whole-grid features bit for bit, on 1h and 1m grids, for any row range and block size; the
ranking scores computed from only the columns they read equal `score_features` of the
whole feature tensor."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from model.timeframes import HOUR_MS
from strategies import barrier
from strategies.barrier import probability_up_first, probability_up_first_by_row
from strategies.feature_blocks import (
    feature_columns_from_history,
    ranking_scores_from_history,
    symbol_blocks,
)
from strategies.feature_columns import FEATURE_NAMES
from strategies.features_batch import BarGrid, MinuteGrid, features_from_history
from strategies.forecast.synthetic import synthetic_grid
from strategies.ranking import score_features

CONFIG = SimpleNamespace(top_k=3, target_return_pct=1.0, stop_return_pct=1.0,
                         horizon_minutes=60, min_quote_volume_24h=0.0, max_spread_bps=50.0)


def with_late_starts_and_long_gaps(grid: MinuteGrid) -> MinuteGrid:
    """The grid with coin 1 listed a third of the way in, coin 2 silent for a long middle
    stretch (the forward-fill and warm-up reach far back) and coin 3 never trading."""
    length = grid.close.shape[0]
    columns = {}
    for name in ("open", "high", "low", "close", "quote_volume"):
        values = getattr(grid, name).copy()
        values[: length // 3, 1] = np.nan
        values[length // 4: length // 2, 2] = np.nan
        values[:, 3] = np.nan
        columns[name] = values
    return dataclasses.replace(grid, **columns)


@pytest.fixture(scope="module")
def hourly() -> BarGrid:
    """About 3 months of 1h bars of 7 coins: several chunks of the month-long windows."""
    base = with_late_starts_and_long_gaps(synthetic_grid(seed=11, n_symbols=7, minutes=2_300))
    return BarGrid(symbols=base.symbols, start_ms=base.start_ms // HOUR_MS * HOUR_MS,
                   open=base.open, high=base.high, low=base.low, close=base.close,
                   quote_volume=base.quote_volume, bar_ms=HOUR_MS)


@pytest.fixture(scope="module")
def minutely() -> MinuteGrid:
    """A little over a month of 1m bars of 4 coins: the 1M window spans two chunks."""
    return with_late_starts_and_long_gaps(synthetic_grid(seed=12, n_symbols=4, minutes=45_000))


def test_blocks_cover_every_symbol_once_within_the_cell_budget() -> None:
    blocks = list(symbol_blocks(n_rows=1_000, n_symbols=7, block_cells=3_000))
    assert [(b.start, b.stop) for b in blocks] == [(0, 3), (3, 6), (6, 7)]
    # a budget below one symbol's rows still makes progress, one symbol at a time
    assert len(list(symbol_blocks(n_rows=1_000, n_symbols=4, block_cells=10))) == 4


@pytest.mark.parametrize("block_cells", [1, 3 * 2_300])
def test_hourly_blocks_equal_the_whole_grid_bit_for_bit(hourly, block_cells) -> None:
    whole = features_from_history(hourly)
    blocked = feature_columns_from_history(hourly, block_cells=block_cells)
    np.testing.assert_array_equal(blocked, whole)
    assert blocked.tobytes() == whole.tobytes()  # NaNs in the same places, same bits


def test_hourly_row_range_equals_those_rows_of_the_whole_grid(hourly) -> None:
    whole = features_from_history(hourly)
    part = feature_columns_from_history(hourly, start_row=1_000, stop_row=1_900,
                                        block_cells=2 * 1_900)
    assert part.tobytes() == whole[1_000:1_900].tobytes()


def test_minutely_blocks_and_rows_equal_the_whole_grid_bit_for_bit(minutely) -> None:
    whole = features_from_history(minutely)
    blocked = feature_columns_from_history(minutely, start_row=20_000, block_cells=45_000)
    assert blocked.tobytes() == whole[20_000:].tobytes()


def test_named_columns_in_float32_are_the_cast_of_those_columns(hourly) -> None:
    names = ("warm_minutes", "ret_1d", "px_ma_1w")
    whole = features_from_history(hourly)[..., [FEATURE_NAMES.index(n) for n in names]]
    columns = feature_columns_from_history(hourly, names, dtype=np.float32, block_cells=4_000)
    assert columns.dtype == np.float32
    assert columns.tobytes() == whole.astype(np.float32).tobytes()


def test_unknown_names_and_rows_outside_the_grid_are_refused(hourly) -> None:
    with pytest.raises(KeyError, match="FEATURE_NAMES"):
        feature_columns_from_history(hourly, ("ret_2d",))
    with pytest.raises(ValueError, match="start_row <= stop_row"):
        feature_columns_from_history(hourly, start_row=10, stop_row=5)


@pytest.mark.parametrize("grid_name", ["hourly", "minutely"])
def test_ranking_scores_equal_score_features_of_the_whole_tensor(grid_name, request) -> None:
    grid = request.getfixturevalue(grid_name)
    start = grid.close.shape[0] * 8 // 9  # the last rows: past a month on the 1m grid
    features = features_from_history(grid)[start:]
    reference = score_features(features, FEATURE_NAMES, CONFIG, require_quotes=False,
                               bar_ms=grid.bar_ms)
    scores = ranking_scores_from_history(grid, CONFIG, start_row=start,
                                         block_cells=2 * grid.close.shape[0])
    for name in ("drift", "sigma", "eligible"):
        assert getattr(scores, name).tobytes() == getattr(reference, name).tobytes(), name
    assert scores.eligible.any()  # the comparison covers real scores, not only NaNs
    # the probability of each row is what ranking computes at that step from its features
    for row in range(0, len(features), 7):
        alone = score_features(features[row], FEATURE_NAMES, CONFIG, require_quotes=False,
                               bar_ms=grid.bar_ms)
        assert scores.probability[row].tobytes() == alone.probability.tobytes(), row
    np.testing.assert_allclose(scores.probability, reference.probability, rtol=1e-12)


@pytest.mark.parametrize("batch_cells", [12, 32_768])
def test_probabilities_by_row_are_the_rows_computed_alone(batch_cells, monkeypatch) -> None:
    monkeypatch.setattr(barrier, "SERIES_BATCH_CELLS", batch_cells)
    rng = np.random.default_rng(5)
    drift = rng.normal(0, 1e-4, (50, 6))
    sigma = rng.uniform(1e-4, 5e-3, (50, 6))
    sigma[3, 2] = np.nan  # no probability there, and a row of another series length
    drift[7] *= 300  # strong drifts need more images than the other rows
    by_row = probability_up_first_by_row(0.01, 0.01, drift, sigma, 60)
    for row in range(50):
        alone = probability_up_first(0.01, 0.01, drift[row], sigma[row], 60)
        assert by_row[row].tobytes() == alone.tobytes(), row
    assert np.isnan(by_row[3, 2]) and np.isfinite(by_row).sum() == 299


def test_ranking_scores_of_a_row_range_are_those_rows(hourly) -> None:
    whole = ranking_scores_from_history(hourly, CONFIG)
    part = ranking_scores_from_history(hourly, CONFIG, start_row=1_500, stop_row=2_000,
                                       block_cells=1)
    assert part.probability.tobytes() == whole.probability[1_500:2_000].tobytes()

