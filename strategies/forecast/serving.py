"""Serving: one batched forecast for every symbol at a decision step.

`Forecaster.predict(windows)` runs the four models once each over all symbols (one LSTM
batch, one call per booster) and returns the ensemble's expected log return over the
horizon and its calibrated confidence per symbol. `LiveInputs` builds those windows in the
daemon from the feature book: the book's features (the same formulas as the offline panel)
plus the indicators recomputed over the book's last `LIVE_WINDOW` minutes of closes, kept in
a ring of past rows for the LSTM's sequence. Until the ring holds a full sequence, the
oldest row it has stands in for older ones (the offline path clamps at the first minute
the same way).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from model import libm
from strategies.forecast.bundle import Bundle, bundle_version
from strategies.forecast.dataset import _BASE_INDEX
from strategies.forecast.ensemble import combine
from strategies.forecast.indicators import LIVE_WINDOW, live_indicators


@dataclass(frozen=True, slots=True)
class ForecastBatch:
    """Forecasts of all symbols at one decision step (arrays [n_symbols]; NaN = none)."""

    horizon: int
    expected_return: np.ndarray  # log return over `horizon` minutes
    confidence: np.ndarray  # calibrated P(direction right), in (0, 1]
    per_model: dict[str, np.ndarray]
    version: str = ""  # the bundle that made it (`bundle_version`): which model served


class Forecaster:
    """A loaded bundle serving one horizon with one weighting."""

    def __init__(self, bundle: Bundle, horizon: int | None = None,
                 weights_mode: str = "designed") -> None:
        horizon = bundle.config.horizons[0] if horizon is None else horizon
        if horizon not in bundle.horizons:
            raise ValueError(f"the bundle has horizons {sorted(bundle.horizons)}, not {horizon}; "
                             "set [forecast] horizon to one of them or retrain")
        self.bundle = bundle
        self.version = bundle_version(bundle.manifest)
        self.horizon = horizon
        self.model = bundle.horizons[horizon]
        if weights_mode not in self.model.weights:
            raise ValueError(f"unknown weights_mode {weights_mode!r}; "
                             f"the bundle has {sorted(self.model.weights)}")
        self.weights_mode = weights_mode
        self.weights = self.model.weights[weights_mode]
        self.calibration = self.model.calibration[weights_mode]

    @property
    def seq_len(self) -> int:
        return self.bundle.seq_len

    @property
    def seq_stride(self) -> int:
        return self.bundle.seq_stride

    def predict(self, windows: np.ndarray, valid: np.ndarray | None = None) -> ForecastBatch:
        """Forecast every row of raw (unscaled) windows [n, seq_len, F] in one batch; rows
        where `valid` is False get NaN."""
        per_model = self.model.predict_models(windows)
        expected = combine(per_model, self.weights)
        confidence = self.calibration.confidence(expected)
        if valid is not None:
            expected = np.where(valid, expected, np.nan)
            confidence = np.where(valid, confidence, np.nan)
        return ForecastBatch(self.horizon, expected, confidence, per_model, self.version)


def closes_from_returns(last_close: np.ndarray, simple_returns: np.ndarray) -> np.ndarray:
    """Closes [T, n] ending at `last_close`, from simple 1m returns [T, n] (oldest first,
    NaN before a symbol's data): close[t] = close[t + 1] / (1 + r[t + 1])."""
    log_growth = libm.log1p(simple_returns)
    later = np.vstack([np.cumsum(log_growth[::-1][:-1], axis=0)[::-1],
                       np.zeros((1, simple_returns.shape[1]))])
    return libm.exp(libm.log(last_close)[None, :] - later)


class LiveInputs:
    """Model input windows from the live feature book, one decision step at a time."""

    def __init__(self, n_symbols: int, seq_len: int, seq_stride: int) -> None:
        self.seq_len = seq_len
        self.seq_stride = seq_stride
        self._ring: deque[tuple[int, np.ndarray]] = deque(maxlen=(seq_len - 1) * seq_stride + 1)
        self.n_symbols = n_symbols

    def current_inputs(self, features: np.ndarray, last_close: np.ndarray,
                       recent_returns: np.ndarray) -> np.ndarray:
        """This minute's input rows [n, F]: book features + indicators over the closes."""
        closes = closes_from_returns(last_close, recent_returns[-LIVE_WINDOW:])
        return np.concatenate([features[:, _BASE_INDEX], live_indicators(closes)],
                              axis=-1).astype(np.float32)

    def step(self, minute: int, rows: np.ndarray) -> np.ndarray:
        """Record minute `minute`'s rows [n, F]; return windows [n, seq_len, F]."""
        if self._ring and minute == self._ring[-1][0]:
            self._ring[-1] = (minute, rows)  # the same minute decided again: newest wins
        elif not self._ring or minute > self._ring[-1][0]:
            self._ring.append((minute, rows))
        minutes = np.array([m for m, _ in self._ring])
        wanted = minute - np.arange(self.seq_len - 1, -1, -1) * self.seq_stride
        # The newest recorded row at or before each wanted minute (the oldest before that).
        at = np.clip(np.searchsorted(minutes, wanted, side="right") - 1, 0, None)
        return np.stack([self._ring[i][1] for i in at], axis=1)

    def from_book(self, book: object, features: np.ndarray, minute: int) -> np.ndarray:
        """Windows [n, seq_len, F] for the book's symbols at decision minute `minute`
        (minute index = open_ms // 60000)."""
        primitives = book.primitives()  # type: ignore[attr-defined]
        returns = book.recent_returns(LIVE_WINDOW)  # type: ignore[attr-defined]
        rows = self.current_inputs(features, np.asarray(primitives.close), returns)
        return self.step(minute, rows)

