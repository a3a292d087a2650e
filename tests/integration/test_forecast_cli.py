"""`entasis forecast train` and `entasis forecast evaluate` end to end, as an operator runs
them: CSV files in a folder, a bundle on disk, one JSON object on stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from strategies.forecast.synthetic import synthetic_grid, write_csv_dir
from tests.conftest import REPO_ROOT


def _entasis(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=240, check=False)


@pytest.fixture(scope="module")
def markets(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("markets")
    train = write_csv_dir(synthetic_grid(21, 3, 2300), root / "train")
    test = write_csv_dir(synthetic_grid(22, 3, 1600), root / "test")
    return train, test


@pytest.mark.slow
def test_train_saves_a_bundle_and_evaluate_reports_every_forecaster(markets, tmp_path: Path) -> None:
    train, test = markets
    config = tmp_path / "config.toml"
    config.write_text("[forecast]\nhorizons = [15]\nhorizon = 15\n")
    bundle = tmp_path / "bundle"
    done = _entasis("forecast", "train", "--data", str(train), "--out", str(bundle), "--folds",
                    "2", "--tiny", "--config", str(config), "--json", cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    trained = json.loads(done.stdout.strip().splitlines()[-1])
    assert trained["bundle"] == str(bundle) and list(trained["horizons"]) == ["15"]
    assert (bundle / "manifest.json").is_file() and (bundle / "h15" / "lightgbm.txt").is_file()

    done = _entasis("forecast", "evaluate", "--data", str(test), "--bundle", str(bundle),
                    "--backtest-only", "ensemble_designed",
                    "--config", str(config), "--json", cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    forecasters = report["horizons"]["15"]["forecasters"]
    assert set(forecasters) == {"lstm", "random_forest", "xgboost", "lightgbm",
                                "ensemble_designed", "ensemble_inverse_error",
                                "ensemble_stacking", "zero", "last_return", "ma_momentum"}
    for name, metrics in forecasters.items():
        assert metrics["rows"] == report["horizons"]["15"]["rows"] > 0
        for key in ("mse", "mae", "r2", "mape_pct", "directional_accuracy", "ic_mean"):
            assert key in metrics, (name, key)
    assert forecasters["ensemble_stacking"]["calibration"]["bins"]
    runs = report["backtest"]["runs"]
    assert set(runs) == {"ensemble_designed"}
    assert all("total_return" in run and run["minutes"] > 0 for run in runs.values())
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["test_metrics"]["data"] == str(test)

    # Scheduled retraining: a second train refuses to overwrite, unless told to replace.
    again = ("forecast", "train", "--data", str(train), "--out", str(bundle), "--folds", "2",
             "--tiny", "--config", str(config), "--json")
    refused = _entasis(*again, cwd=REPO_ROOT)
    assert refused.returncode == 2 and "already holds a bundle" in refused.stderr
    replaced = _entasis(*again, "--replace", cwd=REPO_ROOT)
    assert replaced.returncode == 0, replaced.stderr
    assert "test_metrics" not in json.loads((bundle / "manifest.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "config.toml"]


@pytest.mark.slow
def test_evaluate_without_a_bundle_says_how_to_make_one(markets, tmp_path: Path) -> None:
    _, test = markets
    done = _entasis("forecast", "evaluate", "--data", str(test), "--bundle",
                    str(tmp_path / "none"), cwd=REPO_ROOT)
    assert done.returncode == 2
    assert "entasis forecast train" in done.stderr
