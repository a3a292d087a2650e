"""The forecast as the daemon runs it: bundle + live inputs + monitor, one call per step.

`ForecastService.step` is called by the engine at each decision step with the feature book
and its matrix; it returns the `ForecastBatch` ranking consumes (NaN for coins with less
than a day of history, the rule training used) and feeds the monitor. `load_service`
returns None — and says why in the log — when the bundle is missing or refused, so the
daemon runs on without a forecast rather than not at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from exchange.market import MINUTE_MS
from strategies.feature_columns import FEATURE_INDEX
from strategies.forecast.bundle import BundleError, load_bundle
from strategies.forecast.dataset import MIN_WARM_MINUTES
from strategies.forecast.monitor import ForecastMonitor, MonitorStatus
from strategies.forecast.serving import ForecastBatch, Forecaster, LiveInputs

log = logging.getLogger(__name__)
_WARM = FEATURE_INDEX["warm_minutes"]


class ForecastService:
    """Serves one horizon of a bundle to the engine and watches how it does."""

    def __init__(self, forecaster: Forecaster, n_symbols: int, monitor: ForecastMonitor,
                 on_degraded: Callable[[MonitorStatus], None] | None = None) -> None:
        """`on_degraded` is called once each time the monitor's flag turns on (the daemon
        publishes a notice with it)."""
        self.forecaster = forecaster
        self.on_degraded = on_degraded
        self.inputs = LiveInputs(n_symbols, forecaster.seq_len, forecaster.seq_stride)
        self.monitor = monitor
        self.latest: ForecastBatch | None = None
        self.latency_ms = 0.0
        self.steps = 0

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
        return {"enabled": True, "horizon_minutes": self.forecaster.horizon,
                "weights_mode": self.forecaster.weights_mode,
                "code_version": manifest.get("code_version"), "steps": self.steps,
                "last_latency_ms": round(self.latency_ms, 3),
                "monitor": self.monitor.status().as_dict(),
                "degraded": self.monitor.degraded}


def load_service(bundle_path: Path, n_symbols: int, *, horizon: int, weights_mode: str,
                 degrade_ratio: float, monitor_window: int) -> ForecastService | None:
    """The service for `bundle_path`, or None (logged with the fix) if it cannot serve."""
    try:
        bundle = load_bundle(bundle_path)
        forecaster = Forecaster(bundle, horizon, weights_mode)
    except (BundleError, ValueError) as exc:
        log.warning("forecast disabled: %s", exc)
        return None
    monitor = ForecastMonitor(horizon, window=monitor_window, degrade_ratio=degrade_ratio)
    log.info("forecast: serving h=%d min (%s weights) from %s", horizon, weights_mode,
             bundle_path)
    return ForecastService(forecaster, n_symbols, monitor)
