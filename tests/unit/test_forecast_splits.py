"""Walk-forward splits: only the past trains, purged by the horizon, embargoed beyond it."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.forecast.splits import Fold, assert_purged, walk_forward


@pytest.mark.parametrize(("horizon", "embargo", "anchored"),
                         [(15, 0, True), (60, 60, True), (60, 30, False), (1, 500, True)])
def test_every_fold_trains_on_the_past_only_with_purge_and_embargo(
        horizon: int, embargo: int, anchored: bool) -> None:
    minutes = np.arange(1440, 14_400, 5)  # every 5th minute, as training subsamples
    folds = walk_forward(minutes, 4, horizon, embargo, anchored=anchored)
    assert len(folds) == 4
    blocks = np.concatenate([f.validation for f in folds])
    assert np.array_equal(blocks, np.unique(blocks)), "validation blocks overlap"
    for fold in folds:
        assert fold.train.max() < fold.validation.min()
        # no training target (close at t + h) reaches the block or the embargo before it
        assert fold.train.max() + horizon < fold.validation.min() - embargo
        assert fold.gap >= horizon + embargo - 5
        assert not np.isin(fold.train, fold.validation).any()
        assert_purged(fold, horizon, embargo)


def test_expanding_window_keeps_all_earlier_minutes_sliding_window_drops_old_ones() -> None:
    minutes = np.arange(10_000)
    anchored = walk_forward(minutes, 3, 60, 60)
    sliding = walk_forward(minutes, 3, 60, 60, anchored=False)
    assert all(f.train[0] == 0 for f in anchored)
    assert sliding[-1].train[0] > 0
    assert [len(f.train) for f in anchored] == sorted(len(f.train) for f in anchored)


def test_a_fold_whose_training_label_touches_the_block_fails_the_purge_check() -> None:
    leaky = Fold(0, np.arange(0, 100), np.arange(120, 200))
    with pytest.raises(AssertionError, match="within 0 minutes"):
        assert_purged(leaky, horizon=30, embargo=0)
    assert_purged(leaky, horizon=19, embargo=0)  # label of minute 99 is minute 118: fine


def test_too_long_an_embargo_says_what_to_change() -> None:
    with pytest.raises(ValueError, match="shorten the embargo or add data"):
        walk_forward(np.arange(100), 2, horizon=10, embargo=200)
    with pytest.raises(ValueError, match="strictly ascending"):
        walk_forward(np.array([3, 2, 1]), 1, 1, 0)
