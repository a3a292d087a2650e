"""Ensemble weights and the confidence of a forecast.

Three ways to weigh the four models, all computed at training time from the same
walk-forward out-of-fold (OOF) predictions and stored in the bundle; `[forecast]
weights_mode` picks the one served:
- `designed`: LSTM 0.4, RandomForest / XGBoost / LightGBM 0.2 each (the original design);
- `inverse_error`: weights proportional to 1 / OOF MSE, shrunk halfway toward equal
  weights (MSEs of weak forecasters differ by noise; unshrunk weights chase it);
- `stacking`: non-negative least squares of the target on the OOF predictions, no
  intercept. The weights need not sum to 1: when every model over-predicts, stacking also
  shrinks the forecast toward zero, which is what minimizes squared error at R^2 ~ 0.

Confidence = calibrated P(the realized return has the forecast's sign), from an isotonic
(monotone) fit of OOF hits on the forecast's strength |forecast| / spread of OOF forecasts.
It is what risk sizing multiplies the 2% rule by: a forecast right half the time sizes
half as large as a sure thing. The calibration is checked on the test period by
`metrics.calibration`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from strategies.forecast.models import MODEL_NAMES

WeightsMode = Literal["designed", "inverse_error", "stacking"]
WEIGHT_MODES: tuple[str, ...] = ("designed", "inverse_error", "stacking")
DESIGNED_WEIGHTS: dict[str, float] = {"lstm": 0.4, "random_forest": 0.2, "xgboost": 0.2,
                                      "lightgbm": 0.2}
MIN_CONFIDENCE = 0.01  # the sizing rule needs a confidence in (0, 1]


def inverse_error_weights(mse: Mapping[str, float], shrink: float = 0.5) -> dict[str, float]:
    """w_i = shrink * (1/mse_i) / sum(1/mse) + (1 - shrink) / n_models."""
    inverse = {name: 1.0 / max(mse[name], 1e-18) for name in MODEL_NAMES}
    total = sum(inverse.values())
    equal = 1.0 / len(MODEL_NAMES)
    return {name: shrink * inverse[name] / total + (1 - shrink) * equal for name in MODEL_NAMES}


def stacking_weights(oof: Mapping[str, np.ndarray], target: np.ndarray) -> dict[str, float]:
    """Non-negative least squares of `target` on the OOF predictions (no intercept)."""
    from scipy.optimize import nnls

    design = np.column_stack([oof[name] for name in MODEL_NAMES])
    coefficients, _ = nnls(design, target)
    return {name: float(c) for name, c in zip(MODEL_NAMES, coefficients)}


def combine(predictions: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Weighted sum of the models' forecasts (same shape as each), over the models present
    in `predictions` (all four in a bundle; a subset in a tree-only forecast signal), added
    in `MODEL_NAMES` order so the sum is the same to the bit whichever dict order came in."""
    names = [name for name in MODEL_NAMES if name in predictions]
    total = np.zeros(np.shape(predictions[names[0]]))
    for name in names:
        total = total + weights[name] * np.asarray(predictions[name])
    return total


def all_weights(oof: Mapping[str, np.ndarray], target: np.ndarray,
                shrink: float = 0.5) -> dict[str, dict[str, float]]:
    """The three weightings from OOF predictions and their targets."""
    mse = {name: float(np.mean((oof[name] - target) ** 2)) for name in MODEL_NAMES}
    return {"designed": dict(DESIGNED_WEIGHTS),
            "inverse_error": inverse_error_weights(mse, shrink),
            "stacking": stacking_weights(oof, target)}


@dataclass(frozen=True, slots=True)
class Calibration:
    """Monotone map from forecast strength to P(direction right), as interpolation knots."""

    spread: float  # std of OOF forecasts: strength = |forecast| / spread
    knots_x: np.ndarray
    knots_y: np.ndarray

    @classmethod
    def fit(cls, forecast: np.ndarray, target: np.ndarray) -> Calibration:
        """Isotonic fit of hit (sign agrees) on strength, over rows where target != 0."""
        from sklearn.isotonic import IsotonicRegression

        moved = (target != 0) & np.isfinite(target) & np.isfinite(forecast)
        forecast, target = forecast[moved], target[moved]
        spread = float(np.std(forecast)) or 1.0
        strength = np.abs(forecast) / spread
        hits = (np.sign(forecast) == np.sign(target)).astype(np.float64)
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
        iso.fit(strength, hits)
        return cls(spread, np.asarray(iso.X_thresholds_, dtype=np.float64),
                   np.asarray(iso.y_thresholds_, dtype=np.float64))

    def confidence(self, forecast: np.ndarray) -> np.ndarray:
        """Calibrated P(direction right) of each forecast, in [MIN_CONFIDENCE, 1]."""
        strength = np.abs(np.asarray(forecast, dtype=np.float64)) / self.spread
        if self.knots_x.size == 0:
            return np.full(strength.shape, 0.5)
        return np.clip(np.interp(strength, self.knots_x, self.knots_y), MIN_CONFIDENCE, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {"spread": self.spread, "knots_x": self.knots_x.tolist(),
                "knots_y": self.knots_y.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(float(data["spread"]), np.asarray(data["knots_x"], dtype=np.float64),
                   np.asarray(data["knots_y"], dtype=np.float64))
