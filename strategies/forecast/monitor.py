"""Live monitoring: is the served forecast still better than forecasting nothing?

Each decision step records the forecasts it served with the closes they started from;
once `horizon` minutes have passed, the realized log return is known and the pair joins a
rolling window of the last `window` resolved forecasts (all symbols). The health figure is
the ratio of the forecast's squared error to the squared error of the zero forecast on
the same rows: below 1 the model adds something, 1 means it is as good as saying "no
change", and above `degrade_ratio` it is doing harm — then the monitor flags itself
degraded (the daemon logs it and shows it in status; the notifier issue pushes it). The
rolling directional hit rate is reported beside it. Pure: the caller passes the minute.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from model import libm


@dataclass(frozen=True, slots=True)
class MonitorStatus:
    """The rolling figures shown in `entasis status`."""

    horizon: int
    resolved: int
    mse_ratio: float | None
    hit_rate: float | None
    degraded: bool

    def as_dict(self) -> dict[str, Any]:
        return {"horizon_minutes": self.horizon, "resolved": self.resolved,
                "mse_ratio": None if self.mse_ratio is None else round(self.mse_ratio, 4),
                "hit_rate": None if self.hit_rate is None else round(self.hit_rate, 4),
                "degraded": self.degraded}


class ForecastMonitor:
    """Rolling realized-vs-forecast error over the last `window` resolved forecasts."""

    def __init__(self, horizon: int, *, window: int = 5000, degrade_ratio: float = 1.1,
                 min_resolved: int = 500) -> None:
        self.horizon = horizon
        self.window = window
        self.degrade_ratio = degrade_ratio
        self.min_resolved = min_resolved
        self._pending: deque[tuple[int, np.ndarray, np.ndarray]] = deque()
        self._forecast: deque[float] = deque(maxlen=window)
        self._realized: deque[float] = deque(maxlen=window)
        self.degraded = False

    def renewed(self, horizon: int) -> ForecastMonitor:
        """An empty monitor with these settings, for a newly swapped-in model: the old
        model's errors say nothing about the new one's."""
        return ForecastMonitor(horizon, window=self.window, degrade_ratio=self.degrade_ratio,
                               min_resolved=self.min_resolved)

    def record(self, minute: int, forecast: np.ndarray, close: np.ndarray) -> bool:
        """Add this minute's forecasts [n] and closes [n]; resolve those `horizon` minutes
        old against `close`. Returns True when the degraded flag just turned on."""
        resolved = False
        while self._pending and self._pending[0][0] + self.horizon <= minute:
            then, old_forecast, old_close = self._pending.popleft()
            if then + self.horizon != minute:
                continue  # no decision exactly h minutes later: skip rather than misalign
            with np.errstate(invalid="ignore", divide="ignore"):
                realized = libm.log(close / old_close)
            ok = np.isfinite(realized) & np.isfinite(old_forecast)
            self._forecast.extend(old_forecast[ok].tolist())
            self._realized.extend(realized[ok].tolist())
            resolved = resolved or bool(ok.any())
        self._pending.append((minute, np.array(forecast, dtype=np.float64),
                              np.array(close, dtype=np.float64)))
        if not resolved:  # the rolling window did not change, so neither did the flag
            return False
        was = self.degraded
        status = self.status()
        self.degraded = status.mse_ratio is not None and status.mse_ratio > self.degrade_ratio
        return self.degraded and not was

    def status(self) -> MonitorStatus:
        """Current rolling figures (None until `min_resolved` forecasts resolved)."""
        n = len(self._realized)
        if n < self.min_resolved:
            return MonitorStatus(self.horizon, n, None, None, False)
        forecast = np.fromiter(self._forecast, float, n)
        realized = np.fromiter(self._realized, float, n)
        zero_mse = float(np.mean(realized ** 2))
        ratio = float(np.mean((forecast - realized) ** 2)) / zero_mse if zero_mse > 0 else 1.0
        moved = realized != 0
        hits = float(np.mean(np.sign(forecast[moved]) == np.sign(realized[moved]))) \
            if moved.any() else None
        return MonitorStatus(self.horizon, n, ratio, hits, self.degraded)
