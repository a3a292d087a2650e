"""Bundles: a saved bundle reloads to identical predictions, refuses a foreign feature list
or an altered file, and batched inference equals one-by-one inference."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from strategies.forecast.bundle import BundleError, load_bundle, save_bundle
from strategies.forecast.dataset import INPUT_NAMES, build_panel, sequences
from strategies.forecast.ensemble import WEIGHT_MODES
from strategies.forecast.models import MODEL_NAMES, ModelParams
from strategies.forecast.serving import Forecaster
from strategies.forecast.synthetic import synthetic_grid
from strategies.forecast.training import TrainConfig, train

CONFIG = TrainConfig(horizons=(15, 30), folds=2, embargo_minutes=30, row_stride=15,
                     params=ModelParams.tiny())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    panel = build_panel(synthetic_grid(seed=3, n_symbols=6, minutes=2600))
    horizons = train(panel, CONFIG)
    folder = save_bundle(tmp_path_factory.mktemp("bundle") / "b", horizons, CONFIG,
                         data_source="synthetic seed 3")
    rows = np.full(len(panel.symbols), panel.inputs.shape[0] - 1)
    windows = sequences(panel.inputs, rows, np.arange(len(panel.symbols)), CONFIG.seq_len,
                        CONFIG.seq_stride)
    yield horizons, folder, windows
    torch.set_num_threads(previous)


@pytest.mark.slow
def test_saved_bundle_reloads_to_identical_predictions(trained) -> None:
    horizons, folder, windows = trained
    bundle = load_bundle(folder)
    assert sorted(bundle.horizons) == [15, 30]
    for horizon, model in horizons.items():
        before = model.predict_models(windows)
        after = bundle.horizons[horizon].predict_models(windows)
        for name in MODEL_NAMES:
            np.testing.assert_array_equal(before[name], after[name], err_msg=name)
        # the forest's fast path is sklearn's own predict, to the last bit
        forest = bundle.horizons[horizon].models["random_forest"]
        np.testing.assert_array_equal(
            forest.predict(model.scaler.transform(windows)),
            forest.estimator.predict(model.scaler.transform(windows)[:, -1, :]))
        assert bundle.horizons[horizon].weights == model.weights
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["input_names"] == list(INPUT_NAMES)
    assert manifest["config"]["params"]["lstm"]["layers"] == 2
    assert {"h15/lstm.pt", "h15/xgboost.json", "h15/lightgbm.txt", "h15/random_forest.joblib",
            "h15/preprocessing.json"} <= set(manifest["files"])
    assert manifest["per_horizon"]["15"]["train_range_ms"][0] > 0
    assert manifest["code_version"] and manifest["data_source"] == "synthetic seed 3"


@pytest.mark.parametrize("mode", WEIGHT_MODES)
def test_batched_inference_equals_one_by_one(trained, mode: str, one_torch_thread) -> None:
    _, folder, windows = trained
    forecaster = Forecaster(load_bundle(folder), 15, mode)
    batch = forecaster.predict(windows)
    for i in range(windows.shape[0]):
        single = forecaster.predict(windows[i:i + 1])
        for name in ("random_forest", "xgboost", "lightgbm"):
            assert single.per_model[name][0] == batch.per_model[name][i]
        # LSTM: float32 matmuls block differently per batch size; equal to float32 precision
        assert single.per_model["lstm"][0] == pytest.approx(batch.per_model["lstm"][i],
                                                            rel=1e-5, abs=1e-9)
        assert single.expected_return[0] == pytest.approx(batch.expected_return[i],
                                                          rel=1e-5, abs=1e-9)
        assert 0 < batch.confidence[i] <= 1


def test_bundle_with_another_feature_list_is_refused(trained, tmp_path: Path) -> None:
    _, folder, _ = trained
    copy = Path(shutil.copytree(folder, tmp_path / "copy"))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["input_names"] = manifest["input_names"][1:] + manifest["input_names"][:1]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"feature list differs.*retrain"):
        load_bundle(copy)


def test_altered_or_missing_weight_file_is_refused(trained, tmp_path: Path) -> None:
    _, folder, _ = trained
    copy = Path(shutil.copytree(folder, tmp_path / "copy"))
    with open(copy / "h15" / "xgboost.json", "a") as file:
        file.write(" ")
    with pytest.raises(BundleError, match="altered"):
        load_bundle(copy)
    with pytest.raises(BundleError, match="forecast train"):
        load_bundle(tmp_path / "nothing-here")
    with pytest.raises(BundleError, match="already holds a bundle"):
        save_bundle(folder, trained[0], CONFIG)


def test_serving_rejects_a_horizon_the_bundle_lacks(trained) -> None:
    _, folder, _ = trained
    with pytest.raises(ValueError, match="horizons \\[15, 30\\], not 60"):
        Forecaster(load_bundle(folder), 60)
