"""Hot reload of the forecast bundle (ADR-043): a replaced bundle serves from the next step,
a bad one is refused once while the old one keeps serving, and writers are atomic."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from model.market import MINUTE_MS, Bar
from strategies.features import FeatureBook
from strategies.forecast.bundle import (
    MANIFEST,
    BundleError,
    load_bundle,
    save_bundle,
    update_manifest,
)
from strategies.forecast.reload import BundleRefused, BundleSwapped, BundleWatcher
from strategies.forecast.service import ForecastService, load_service
from tests.forecast_bundles import CONFIG, save_new, swap_in, train_tiny

SYMBOLS = ["AAAUSDT", "BBBUSDT", "CCCUSDT"]


class Clock:
    """A monotonic clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def trained() -> dict[int, Any]:
    return train_tiny()


@pytest.fixture
def served(trained, tmp_path: Path, one_torch_thread):
    """A service on bundle v1 at tmp/forecast, with a hand clock and recorded callbacks."""
    target = tmp_path / "forecast"
    v1 = save_new(target, trained)
    service = load_service(target, len(SYMBOLS), horizon=15, weights_mode="stacking",
                           degrade_ratio=1.1, monitor_window=100, reload_every_s=30)
    assert service is not None and service.watcher is not None
    clock = Clock()
    service.watcher = BundleWatcher(target, v1, 30, clock)
    heard: list[object] = []
    service.on_swapped = heard.append
    service.on_refused = heard.append
    return service, target, v1, clock, heard


def _book() -> FeatureBook:
    book = FeatureBook(SYMBOLS)
    for t in range(5):
        open_ms = 1_700_000_000_000 - 1_700_000_000_000 % MINUTE_MS + t * MINUTE_MS
        book.on_bars([Bar(s, open_ms, 10.0 + i, 10.5 + i, 9.5 + i, 10.0 + i + 0.01 * t, 5.0,
                          50.0) for i, s in enumerate(SYMBOLS)])
        book.advance_to(open_ms)
    return book


def _step(service: ForecastService, book: FeatureBook) -> str:
    minute = service.steps + 28_333_333
    return service.step(book, book.matrix(), minute * MINUTE_MS).version


@pytest.mark.slow
def test_a_replaced_bundle_serves_from_the_next_step_with_a_fresh_monitor(
        served, trained, tmp_path: Path) -> None:
    service, target, v1, clock, heard = served
    book = _book()
    assert _step(service, book) == v1
    # given a retrained bundle swapped in by renames
    v2 = save_new(tmp_path / "fresh", trained)
    swap_in(tmp_path / "fresh", target)
    # when the check is not due yet, nothing changes (no stat, no load)
    clock.now += 10
    assert not service.maybe_reload() and _step(service, book) == v1
    # when it is due, the new bundle is loaded and swapped in before the next step
    clock.now += 30
    old_monitor, old_inputs = service.monitor, service.inputs
    assert service.maybe_reload()
    assert _step(service, book) == v2 and service.forecaster.version == v2
    assert service.monitor is not old_monitor and service.monitor.status().resolved == 0
    assert service.inputs is old_inputs, "same sequence shape: the live input ring is kept"
    assert heard == [BundleSwapped(str(target), v2, v1, service.forecaster.bundle.manifest[
        "code_version"])]
    status = service.status()
    assert status["bundle_version"] == v2 and status["reloads"] == 1
    assert status["serving_since_step"] == 2 and status["last_refused"] is None
    # and the next due check finds nothing new
    clock.now += 30
    assert not service.maybe_reload() and len(heard) == 1


def test_a_corrupt_bundle_is_refused_once_and_the_old_keeps_serving(
        served, trained, tmp_path: Path) -> None:
    service, target, v1, clock, heard = served
    book = _book()
    # given a new bundle whose weight file was altered after the manifest was written
    bad = tmp_path / "bad"
    v_bad = save_new(bad, trained)
    with open(bad / "h15" / "xgboost.json", "a") as handle:
        handle.write(" ")
    swap_in(bad, target)
    clock.now += 30
    assert not service.maybe_reload()
    assert _step(service, book) == v1
    [refused] = heard
    assert isinstance(refused, BundleRefused) and refused.version == v_bad
    assert refused.keeping == v1 and "altered" in refused.reason
    assert service.status()["last_refused"]["version"] == v_bad
    # then it is not loaded, logged or notified again at every check
    for _ in range(3):
        clock.now += 30
        assert not service.maybe_reload()
    assert len(heard) == 1
    # and a good bundle after it still gets in
    v3 = save_new(tmp_path / "good", trained)
    swap_in(tmp_path / "good", target)
    clock.now += 30
    assert service.maybe_reload() and _step(service, book) == v3


@pytest.mark.parametrize("damage, reason", [
    ("half_manifest", "unreadable"),
    ("feature_list", "feature list differs"),
    ("horizon", "not 15"),
])
def test_a_bundle_that_cannot_serve_is_refused_with_the_reason(
        served, trained, tmp_path: Path, damage: str, reason: str) -> None:
    service, target, v1, clock, heard = served
    fresh = tmp_path / "fresh"
    save_new(fresh, trained)
    text = (fresh / MANIFEST).read_text()
    manifest = json.loads(text)
    if damage == "half_manifest":  # what a non-atomic writer would leave behind
        (fresh / MANIFEST).write_text(text[: len(text) // 2])
    elif damage == "feature_list":
        manifest["input_names"] = manifest["input_names"][::-1]
        (fresh / MANIFEST).write_text(json.dumps(manifest))
    else:  # a consistent bundle, but retrained for h=30 only: the served h=15 is gone
        (fresh / "h15").rename(fresh / "h30")
        manifest["horizons"] = [30]
        manifest["per_horizon"] = {"30": manifest["per_horizon"]["15"]}
        manifest["files"] = {k.replace("h15/", "h30/"): v for k, v in manifest["files"].items()}
        (fresh / MANIFEST).write_text(json.dumps(manifest))
    swap_in(fresh, target)
    clock.now += 30
    assert not service.maybe_reload()
    assert service.forecaster.version == v1
    [refused] = heard
    assert isinstance(refused, BundleRefused) and reason in refused.reason


def test_a_bundle_folder_missing_mid_swap_is_not_a_refusal(served, trained,
                                                           tmp_path: Path) -> None:
    service, target, v1, clock, heard = served
    # given the instant between the two renames of a swap: no bundle folder at all
    target.rename(tmp_path / "aside")
    clock.now += 30
    assert not service.maybe_reload() and heard == [] and service.forecaster.version == v1
    # when the new bundle lands, it is picked up
    v2 = save_new(target, trained)
    clock.now += 30
    assert service.maybe_reload() and service.forecaster.version == v2


def test_new_test_metrics_in_the_manifest_are_not_a_new_model(served) -> None:
    service, target, v1, clock, heard = served
    update_manifest(target, test_metrics={"mse": 1.0})
    clock.now += 30
    assert service.reload_job() is None and heard == [] and service.forecaster.version == v1
    assert json.loads((target / MANIFEST).read_text())["test_metrics"] == {"mse": 1.0}


def test_reload_every_zero_never_looks(trained, tmp_path: Path) -> None:
    target = tmp_path / "forecast"
    save_new(target, trained)
    service = load_service(target, 3, horizon=15, weights_mode="designed",
                           degrade_ratio=1.1, monitor_window=100, reload_every_s=0)
    assert service is not None and service.watcher is None and service.reload_job() is None
    assert service.status()["reload_every_s"] == 0.0


def test_save_bundle_writes_through_a_hidden_folder_and_a_rename(trained,
                                                                 tmp_path: Path) -> None:
    folder = save_bundle(tmp_path / "b", trained, CONFIG)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"], "no staging folder left"
    assert load_bundle(folder).manifest["version"]
    # an empty folder may be the target; one with other files is refused before any work
    (tmp_path / "empty").mkdir()
    assert (save_bundle(tmp_path / "empty", trained, CONFIG) / MANIFEST).is_file()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(BundleError, match="not empty"):
        save_bundle(tmp_path / "busy", trained, CONFIG)
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["notes.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    shutil.rmtree(tmp_path / "busy")


def test_forecasts_carry_the_version_that_made_them(served) -> None:
    service, _target, v1, _clock, _heard = served
    batch = service.step(_book(), _book().matrix(), 28_333_333 * MINUTE_MS)
    assert batch.version == v1 and batch.expected_return.shape == (len(SYMBOLS),)
    assert np.all(np.isnan(batch.expected_return)), "no coin has a day of history yet"
