"""Wiring the ensemble forecast into the daemon: build the service from `[forecast]`.

Kept out of bot/app/daemon.py so the daemon gains one line. Nothing heavy is imported unless
`[forecast] enabled = true`; with it on but no usable bundle the daemon logs why and runs
without a forecast (ranking falls back to its momentum drift). A retrained bundle is picked
up between decision steps (`[forecast] reload_every_s`, ADR-043): a swap is announced as
MODEL_PROMOTED, a refused bundle as FORECAST_DEGRADED (the old one keeps serving).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Config
from trading.notices import NoticeKind, Notifier

if TYPE_CHECKING:
    from strategies.forecast.service import ForecastService

log = logging.getLogger(__name__)


def bundle_path(config: Config) -> Path:
    """`[forecast] bundle`, relative paths resolved against the data directory."""
    path = config.forecast.bundle
    return path if path.is_absolute() else config.data_dir / path


def forecast_service(config: Config, n_symbols: int,
                     notifier: Notifier | None = None) -> ForecastService | None:
    """The forecast service `[forecast]` asks for, or None when it is off or cannot serve."""
    settings = config.forecast
    if not settings.enabled:
        return None
    from strategies.forecast.service import load_service

    service = load_service(bundle_path(config), n_symbols, horizon=settings.horizon,
                           weights_mode=settings.weights_mode,
                           degrade_ratio=settings.degrade_ratio,
                           monitor_window=settings.monitor_window,
                           reload_every_s=settings.reload_every_s)
    if service is not None and notifier is not None:
        service.on_degraded = lambda status: notifier.emit(
            NoticeKind.FORECAST_DEGRADED,
            f"forecast degraded: rolling MSE {status.mse_ratio:.2f}x the zero forecast's "
            f"over {status.resolved} resolved forecasts", **status.as_dict())
        service.on_swapped = lambda swap: notifier.emit(
            NoticeKind.MODEL_PROMOTED,
            f"forecast bundle {swap.version} now serving (was {swap.previous})",
            model="forecast", version=swap.version, previous=swap.previous, path=swap.path)
        # A refused retrain leaves an older model serving than the operator expects: the
        # forecast is degraded in that sense, and the fix (retrain) is the same.
        service.on_refused = lambda refused: notifier.emit(
            NoticeKind.FORECAST_DEGRADED,
            f"forecast: new bundle {refused.version or '(unreadable)'} refused, still serving "
            f"{refused.keeping}: {refused.reason}",
            model="forecast", version=refused.version, keeping=refused.keeping,
            reason=refused.reason, path=refused.path)
    return service
