"""The offline evaluation report: every model, every weighting and the naive baselines on a
test period the models never saw, with the same metrics for all.

Forecasters compared per horizon h:
- the four models and the three ensembles (designed, inverse_error, stacking);
- `zero` (no change), `last_return` (the last h minutes repeat: log(close_t / close_{t-h})),
  `ma_momentum` (log(close_t / SMA_h(close)_t): above the average means up).
Rows: every minute of every coin with a full day of history and a known target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from model import libm
from strategies.forecast.dataset import Panel, sequences
from strategies.forecast.ensemble import WEIGHT_MODES, combine
from strategies.forecast.indicators import _sma
from strategies.forecast.metrics import calibration, information_coefficient, point_metrics
from strategies.forecast.models import MODEL_NAMES
from strategies.forecast.training import HorizonModel

BASELINES: tuple[str, ...] = ("zero", "last_return", "ma_momentum")
CHUNK_ROWS = 20_000


def baseline_forecasts(panel: Panel, horizon: int) -> dict[str, np.ndarray]:
    """Naive forecasts [T, n] of the h-minute forward log return."""
    close = panel.close
    last = np.full(close.shape, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        last[horizon:] = libm.log(close[horizon:] / close[:-horizon])
        momentum = libm.log(close / _sma(close, horizon))
    return {"zero": np.zeros(close.shape), "last_return": last, "ma_momentum": momentum}


def model_forecasts(model: HorizonModel, panel: Panel, rows: np.ndarray, cols: np.ndarray,
                    seq_len: int, seq_stride: int,
                    progress: Callable[[int, int], None] | None = None
                    ) -> dict[str, np.ndarray]:
    """Each model's forecast at (rows, cols), computed in chunks to bound memory."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in MODEL_NAMES}
    for start in range(0, rows.size, CHUNK_ROWS):
        stop = start + CHUNK_ROWS
        windows = sequences(panel.inputs, rows[start:stop], cols[start:stop], seq_len,
                            seq_stride)
        for name, forecast in model.predict_models(windows).items():
            parts[name].append(forecast)
        if progress:
            progress(min(stop, rows.size), rows.size)
    return {name: np.concatenate(p) if p else np.zeros(0) for name, p in parts.items()}


def evaluate_horizon(model: HorizonModel, panel: Panel, seq_len: int, seq_stride: int,
                     progress: Callable[[int, int], None] | None = None
                     ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(report, forecasts [T, n] by forecaster name) for one horizon on `panel`."""
    horizon = model.horizon
    target = panel.forward_returns(horizon)
    ok = panel.usable() & np.isfinite(target)
    rows, cols = np.nonzero(ok)
    flat = model_forecasts(model, panel, rows, cols, seq_len, seq_stride, progress)
    for mode in WEIGHT_MODES:
        flat[f"ensemble_{mode}"] = combine(flat, model.weights[mode])
    grids = {name: _to_grid(values, rows, cols, target.shape) for name, values in flat.items()}
    for name, grid in baseline_forecasts(panel, horizon).items():
        grids[name] = np.where(ok, grid, np.nan)
    realized = np.where(ok, target, np.nan)
    report: dict[str, Any] = {"horizon_minutes": horizon, "rows": int(rows.size),
                              "minutes": int(np.unique(rows).size), "forecasters": {}}
    for name, grid in list(grids.items()):
        values = np.nan_to_num(grid[rows, cols], nan=0.0)
        entry: dict[str, Any] = {**point_metrics(values, realized[rows, cols]),
                                 **information_coefficient(grid, realized, horizon)}
        if name.startswith("ensemble_"):
            mode = name.removeprefix("ensemble_")
            confidence = model.calibration[mode].confidence(values)
            entry["calibration"] = calibration(confidence, values, realized[rows, cols])
            grids[f"{name}:confidence"] = _to_grid(confidence, rows, cols, target.shape)
        report["forecasters"][name] = entry
    return report, grids


def _to_grid(values: np.ndarray, rows: np.ndarray, cols: np.ndarray,
             shape: tuple[int, ...]) -> np.ndarray:
    grid = np.full(shape, np.nan)
    grid[rows, cols] = values
    return grid


def winner(report: dict[str, Any]) -> dict[str, str]:
    """Which weighting wins out of sample, by MSE and by IC (the report's headline)."""
    ensembles = {k: v for k, v in report["forecasters"].items() if k.startswith("ensemble_")}
    by_mse = min(ensembles, key=lambda k: ensembles[k]["mse"])
    by_ic = max(ensembles, key=lambda k: ensembles[k]["ic_mean"] or -1.0)
    return {"by_mse": by_mse, "by_ic": by_ic}
