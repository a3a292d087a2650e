"""The configured anomaly detector for the daemon: the `[anomaly]` config in, a detector or None.

`make_detector` gives None, with a warning, when detection is off or the model is missing or
unusable: the daemon must trade unchanged without a trained model. Apart from
bot/research/anomaly_io.py (the CSV side, which reads with pandas) so that starting the
daemon imports neither pandas nor the replay reader (~30 MB of a 500-coin daemon's RSS).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Config
    from risk.anomaly import AnomalyDetector

log = logging.getLogger(__name__)


def model_path(config: Config) -> Path:
    """`[anomaly] model_path`, relative paths resolved against the data directory."""
    path = config.anomaly.model_path
    return path if path.is_absolute() else config.data_dir / path


def make_detector(config: Config) -> AnomalyDetector | None:
    """The configured detector, or None (logged) when off, missing or unusable."""
    settings = config.anomaly
    if not settings.enabled:
        return None
    from risk.anomaly import AnomalyBundle, AnomalyDetector, AnomalyModelError  # torch

    path = model_path(config)
    try:
        detector = AnomalyDetector(
            AnomalyBundle.load(path), kind=settings.kind, method=settings.threshold_method,
            rate=settings.rate, market_rate=settings.market_rate,
            cooldown_minutes=settings.cooldown_minutes, in_ranking=settings.in_ranking)
    except (AnomalyModelError, ValueError) as exc:
        log.warning("anomaly detection is enabled but off for this run: %s", exc)
        return None
    log.info("anomaly detection on: %s", detector.describe())
    return detector
