"""Training: scalers are fit on training rows only; walk-forward folds are purged."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from strategies.forecast.dataset import build_panel
from strategies.forecast.models import MODEL_NAMES, ModelParams
from strategies.forecast.scaling import Scaler
from strategies.forecast.splits import assert_purged
from strategies.forecast.synthetic import synthetic_grid
from strategies.forecast.training import TrainConfig, train_horizon, training_rows

HORIZON = 15
CONFIG = TrainConfig(horizons=(HORIZON,), folds=2, embargo_minutes=30, row_stride=10,
                     params=ModelParams.tiny())


@pytest.fixture(scope="module")
def panel():
    return build_panel(synthetic_grid(seed=1, n_symbols=4, minutes=3200))


@pytest.fixture(scope="module")
def clean_run(panel):
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield train_horizon(panel, HORIZON, CONFIG)
    torch.set_num_threads(previous)


def test_scalers_never_see_validation_or_test_rows(panel, clean_run, one_torch_thread) -> None:
    """Given a run, when every input a fold may not train on is replaced by garbage, then
    every fold's scaler is unchanged, and each equals the statistics of its training rows."""
    _, clean = clean_run
    last_fold = clean[-1][0]
    poisoned = panel.inputs.copy()
    poisoned[last_fold.validation[0] - HORIZON - CONFIG.embargo_minutes:] = 1e6
    _, dirty = train_horizon(dataclasses.replace(panel, inputs=poisoned), HORIZON, CONFIG)
    rows, cols = training_rows(panel, panel.forward_returns(HORIZON), CONFIG.row_stride)
    for (fold, scaler), (_, scaler_dirty) in zip(clean, dirty):
        np.testing.assert_array_equal(scaler.centre, scaler_dirty.centre)
        np.testing.assert_array_equal(scaler.scale, scaler_dirty.scale)
        train = np.isin(rows, fold.train)
        expected = Scaler.fit(panel.inputs[rows[train], cols[train]].astype(np.float64))
        np.testing.assert_array_equal(scaler.centre, expected.centre)
        assert scaler.rows_seen == int(train.sum()) < rows.size
        assert_purged(fold, HORIZON, CONFIG.embargo_minutes)
    # and the poison does reach the validation blocks: the check above is not vacuous
    assert np.abs(poisoned[last_fold.validation]).max() == 1e6


def test_training_reports_weights_validation_and_timings(clean_run) -> None:
    model, folds = clean_run
    assert len(folds) == CONFIG.folds and len(model.fold_seconds) == CONFIG.folds
    assert set(model.weights) == {"designed", "inverse_error", "stacking"}
    assert model.weights["designed"] == {"lstm": 0.4, "random_forest": 0.2, "xgboost": 0.2,
                                         "lightgbm": 0.2}
    assert sum(model.weights["inverse_error"].values()) == pytest.approx(1.0)
    assert all(w >= 0 for w in model.weights["stacking"].values())
    for name in (*MODEL_NAMES, "ensemble_designed", "zero"):
        assert model.validation[name] > 0
    assert model.train_range_ms[0] < model.train_range_ms[1]
    # the final refit uses every training row, more than any fold
    assert model.scaler.rows_seen == model.train_rows > max(s.rows_seen for _, s in folds)


def test_robust_and_minmax_scalers_clip_and_fill_unknowns() -> None:
    rows = np.array([[1.0, np.nan], [2.0, 5.0], [3.0, 5.0], [1000.0, 5.0]])
    for kind in ("robust", "minmax"):
        scaler = Scaler.fit(rows, kind)  # type: ignore[arg-type]
        scaled = scaler.transform(np.array([[np.nan, 5.0], [1e9, -1e9]]))
        assert scaled[0, 0] == 0.0  # unknown -> the training centre
        assert scaled[1, 0] == scaler.clip and scaled[1, 1] == -scaler.clip
        again = Scaler.from_dict(scaler.to_dict())
        assert np.array_equal(again.centre, scaler.centre)
        assert np.array_equal(again.scale, scaler.scale) and again.kind == kind
    with pytest.raises(ValueError, match="training rows"):
        Scaler.fit(np.zeros((0, 3)))
