"""The forecast as the daemon runs it: bundle + live inputs + monitor, one call per step.

`ForecastService.step` is called by the engine at each decision step with the feature book
and its matrix; it returns the `ForecastBatch` ranking consumes (NaN for coins with less
than a day of history, the rule training used) and feeds the monitor. `load_service`
returns None — and says why in the log — when the bundle is missing or refused, so the
daemon runs on without a forecast rather than not at all.

Hot reload (ADR-043): with a `BundleWatcher`, `reload_job` (cheap; before each step) hands
the engine a `ReloadJob` when the bundle folder holds a new version; the engine runs it in a
worker thread and calls `apply` before the next step, which swaps the forecaster, restarts
the monitor (the old model's errors say nothing about the new one) and keeps the live input
ring (raw inputs, not model-specific) unless the sequence shape changed. A refused bundle
leaves everything as it was. `maybe_reload` does both inline, for synchronous callers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from model.market import MINUTE_MS
from strategies.feature_columns import FEATURE_INDEX
from strategies.forecast.bundle import BundleError, load_bundle
from strategies.forecast.dataset import MIN_WARM_MINUTES
from strategies.forecast.monitor import ForecastMonitor, MonitorStatus
from strategies.forecast.reload import BundleRefused, BundleSwapped, BundleWatcher, ReloadJob
from strategies.forecast.serving import ForecastBatch, Forecaster, LiveInputs

log = logging.getLogger(__name__)
_WARM = FEATURE_INDEX["warm_minutes"]


class ForecastService:
    """Serves one horizon of a bundle to the engine and watches how it does."""

    def __init__(self, forecaster: Forecaster, n_symbols: int, monitor: ForecastMonitor,
                 on_degraded: Callable[[MonitorStatus], None] | None = None,
                 watcher: BundleWatcher | None = None) -> None:
        """`on_degraded` is called once each time the monitor's flag turns on (the daemon
        publishes a notice with it). `watcher` (None = never reload) looks for a new bundle;
        `on_swapped` / `on_refused` hear what became of one."""
        self.forecaster = forecaster
        self.on_degraded = on_degraded
        self.inputs = LiveInputs(n_symbols, forecaster.seq_len, forecaster.seq_stride)
        self.monitor = monitor
        self.latest: ForecastBatch | None = None
        self.latency_ms = 0.0
        self.steps = 0
        self.watcher = watcher
        self.on_swapped: Callable[[BundleSwapped], None] | None = None
        self.on_refused: Callable[[BundleRefused], None] | None = None
        self.reloads = 0
        self.last_refused: BundleRefused | None = None
        self.serving_since_step = 0

    # -- hot reload (between decision steps only) ---------------------------------------------
    def reload_job(self) -> ReloadJob | None:
        """A job loading the new bundle when the watcher found one (cheap when not)."""
        candidate = self.watcher.poll() if self.watcher is not None else None
        if candidate is None:
            return None
        assert self.watcher is not None
        horizon, mode = self.forecaster.horizon, self.forecaster.weights_mode
        return ReloadJob(self.watcher.path, candidate,
                         lambda bundle: Forecaster(bundle, horizon, mode))

    def apply(self, job: ReloadJob) -> bool:
        """Adopt a finished job's forecaster (True), or log and report its refusal."""
        assert self.watcher is not None
        path, previous = str(self.watcher.path), self.forecaster.version
        if job.forecaster is None:
            if not self.watcher.failed(job.candidate):
                log.info("forecast: bundle %s changed while loading; trying again later", path)
                return False
            refused = BundleRefused(path, job.candidate.version, previous, job.error or "")
            self.last_refused = refused
            log.error("forecast: keeping bundle %s, new bundle %s in %s refused: %s",
                      previous, refused.version or "(unreadable)", path, refused.reason)
            if self.on_refused is not None:
                self.on_refused(refused)
            return False
        forecaster = job.forecaster
        if (forecaster.seq_len, forecaster.seq_stride) != (self.forecaster.seq_len,
                                                           self.forecaster.seq_stride):
            self.inputs = LiveInputs(self.inputs.n_symbols, forecaster.seq_len,
                                     forecaster.seq_stride)
        self.forecaster = forecaster
        self.monitor = self.monitor.renewed(forecaster.horizon)
        self.watcher.accepted(forecaster.version)
        self.reloads += 1
        self.serving_since_step = self.steps
        swapped = BundleSwapped(path, forecaster.version, previous,
                                forecaster.bundle.manifest.get("code_version"))
        log.info("forecast: now serving bundle %s (was %s) from %s", forecaster.version,
                 previous, path)
        if self.on_swapped is not None:
            self.on_swapped(swapped)
        return True

    def maybe_reload(self) -> bool:
        """`reload_job` + run + `apply` inline (blocks while a new bundle loads)."""
        job = self.reload_job()
        if job is None:
            return False
        job.run()
        return self.apply(job)

    def step(self, book: Any, features: np.ndarray, minute_open_ms: int) -> ForecastBatch:
        """Forecast every symbol of `book` after minute `minute_open_ms` closed."""
        started = time.perf_counter()
        minute = minute_open_ms // MINUTE_MS
        windows = self.inputs.from_book(book, features, minute)
        valid = np.nan_to_num(features[:, _WARM], nan=0.0) >= MIN_WARM_MINUTES
        batch = self.forecaster.predict(windows, valid)
        if self.monitor.record(minute, batch.expected_return, np.asarray(book.primitives().close)):
            status = self.monitor.status()
            log.warning("forecast degraded: rolling MSE is %.2fx the zero forecast's over the "
                        "last %d resolved forecasts (hit rate %.1f%%); retrain with `entasis "
                        "forecast train` or set [forecast] enabled = false", status.mse_ratio,
                        status.resolved, (status.hit_rate or 0) * 100)
            if self.on_degraded is not None:
                self.on_degraded(status)
        self.latest = batch
        self.steps += 1
        self.latency_ms = (time.perf_counter() - started) * 1000
        return batch

    def status(self) -> dict[str, Any]:
        """Plain data for `entasis status`: what is served and how it is doing."""
        manifest = self.forecaster.bundle.manifest
        refused = self.last_refused
        return {"enabled": True, "horizon_minutes": self.forecaster.horizon,
                "weights_mode": self.forecaster.weights_mode,
                "bundle_version": self.forecaster.version,
                "bundle_created_ms": manifest.get("created_ms"),
                "serving_since_step": self.serving_since_step, "reloads": self.reloads,
                "reload_every_s": self.watcher.every_s if self.watcher is not None else 0.0,
                "last_refused": None if refused is None else {
                    "version": refused.version, "reason": refused.reason},
                "code_version": manifest.get("code_version"), "steps": self.steps,
                "last_latency_ms": round(self.latency_ms, 3),
                "monitor": self.monitor.status().as_dict(),
                "degraded": self.monitor.degraded}


def load_service(bundle_path: Path, n_symbols: int, *, horizon: int, weights_mode: str,
                 degrade_ratio: float, monitor_window: int,
                 reload_every_s: float = 0.0) -> ForecastService | None:
    """The service for `bundle_path`, or None (logged with the fix) if it cannot serve;
    with `reload_every_s` > 0 it picks up a replaced bundle (at most that often)."""
    try:
        bundle = load_bundle(bundle_path)
        forecaster = Forecaster(bundle, horizon, weights_mode)
    except (BundleError, ValueError) as exc:
        log.warning("forecast disabled: %s", exc)
        return None
    monitor = ForecastMonitor(horizon, window=monitor_window, degrade_ratio=degrade_ratio)
    log.info("forecast: serving bundle %s, h=%d min (%s weights) from %s%s", forecaster.version,
             horizon, weights_mode, bundle_path,
             f", checked for a new one every {reload_every_s:g} s" if reload_every_s > 0 else "")
    watcher = (BundleWatcher(bundle_path, forecaster.version, reload_every_s)
               if reload_every_s > 0 else None)
    return ForecastService(forecaster, n_symbols, monitor, watcher=watcher)
