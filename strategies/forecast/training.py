"""Walk-forward training of the four models per horizon, and the final refit.

For each horizon h: pick training minutes (every `row_stride`-th usable minute: adjacent
minutes' targets overlap almost entirely, so using all of them adds cost, not information),
cut them into purged, embargoed walk-forward folds (splits.py), and in every fold fit the
scaler and the target scale on that fold's training rows only, train the four models,
and predict the validation block. The out-of-fold predictions choose the ensemble weights
and calibrate the confidence (ensemble.py). Finally the scaler and the models are refit on
all training minutes; those are what a bundle saves.

Targets are winsorized at the training rows' `clip_quantile` tails and divided by their
standard deviation, so a handful of 2017 pump minutes cannot dominate a squared loss.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from strategies.forecast.dataset import Panel, sequences
from strategies.forecast.ensemble import WEIGHT_MODES, Calibration, all_weights, combine
from strategies.forecast.models import MODEL_NAMES, Model, ModelParams, new_models
from strategies.forecast.scaling import Scaler, ScalerKind
from strategies.forecast.splits import Fold, assert_purged, walk_forward

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything that decides a training run (recorded in the bundle's manifest)."""

    horizons: tuple[int, ...] = (15, 60)
    folds: int = 3
    embargo_minutes: int = 60
    seq_len: int = 8
    seq_stride: int = 8
    row_stride: int = 5
    scaler: ScalerKind = "robust"
    clip_quantile: float = 0.005
    shrink: float = 0.5
    seed: int = 0
    params: ModelParams = field(default_factory=ModelParams)


@dataclass(frozen=True, slots=True)
class TargetScale:
    """Winsorizing bounds and divisor of the target, from training rows only."""

    low: float
    high: float
    scale: float

    @classmethod
    def fit(cls, target: np.ndarray, clip_quantile: float) -> TargetScale:
        low, high = np.quantile(target, [clip_quantile, 1 - clip_quantile])
        scale = float(np.std(np.clip(target, low, high))) or 1.0
        return cls(float(low), float(high), scale)

    def apply(self, target: np.ndarray) -> np.ndarray:
        return (np.clip(target, self.low, self.high) / self.scale).astype(np.float32)


@dataclass
class HorizonModel:
    """The trained forecaster for one horizon: what a bundle stores and serving runs."""

    horizon: int
    scaler: Scaler
    target: TargetScale
    models: dict[str, Model]
    weights: dict[str, dict[str, float]]
    calibration: dict[str, Calibration]
    validation: dict[str, float]  # OOF MSE per model and per weighting (in return units^2)
    fold_seconds: list[dict[str, float]]  # per walk-forward fold: seconds per model
    final_seconds: dict[str, float]  # the final refit on all training minutes
    train_rows: int
    train_range_ms: tuple[int, int]

    def predict_models(self, windows: np.ndarray) -> dict[str, np.ndarray]:
        """Each model's forecast (log return over the horizon) for raw windows [N, L, F]."""
        scaled = self.scaler.transform(windows)
        return {name: self.models[name].predict(scaled) * self.target.scale
                for name in MODEL_NAMES if name in self.models}


def training_rows(panel: Panel, target: np.ndarray, row_stride: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(minute rows, coin columns) of usable rows with a known target, every
    `row_stride`-th minute."""
    ok = panel.usable() & np.isfinite(target)
    ok[np.arange(ok.shape[0]) % row_stride != 0] = False
    rows, cols = np.nonzero(ok)
    return rows, cols


def fit_on_rows(panel: Panel, rows: np.ndarray, cols: np.ndarray, target: np.ndarray,
                config: TrainConfig, names: Sequence[str] = MODEL_NAMES
                ) -> tuple[Scaler, TargetScale, dict[str, Model], dict[str, float]]:
    """Fit scaler, target scale and the models `names` (default all four) on exactly these
    training rows (the walk-forward folds here, one fold of a forecast signal in signal.py)."""
    scaler = Scaler.fit(panel.inputs[rows, cols].astype(np.float64), config.scaler)
    target_scale = TargetScale.fit(target[rows, cols], config.clip_quantile)
    windows = scaler.transform(sequences(panel.inputs, rows, cols, config.seq_len,
                                         config.seq_stride))
    y = target_scale.apply(target[rows, cols])
    models = new_models(config.params, panel.inputs.shape[-1], names)
    seconds = {}
    for name in models:
        started = time.perf_counter()
        models[name].fit(windows, y, config.seed)
        seconds[name] = round(time.perf_counter() - started, 3)
    return scaler, target_scale, models, seconds


def train_horizon(panel: Panel, horizon: int, config: TrainConfig,
                  progress: Progress | None = None
                  ) -> tuple[HorizonModel, list[tuple[Fold, Scaler]]]:
    """Walk-forward OOF predictions, ensemble weights, calibration, then the final refit.
    Also returns each fold with the scaler fit for it (the audit the tests read)."""
    target = panel.forward_returns(horizon)
    rows, cols = training_rows(panel, target, config.row_stride)
    if rows.size == 0:
        raise ValueError(f"no usable training rows for horizon {horizon} min: the data needs "
                         "more than a day of history plus the horizon")
    minutes = np.unique(rows)
    folds = walk_forward(minutes, config.folds, horizon, config.embargo_minutes)
    oof: dict[str, list[np.ndarray]] = {name: [] for name in MODEL_NAMES}
    oof_target: list[np.ndarray] = []
    fold_seconds = []
    fold_scalers: list[tuple[Fold, Scaler]] = []
    steps = config.folds + 1
    for fold in folds:
        assert_purged(fold, horizon, config.embargo_minutes)
        if progress:
            progress(f"h={horizon}m fold {fold.index + 1}/{config.folds}", fold.index, steps)
        train = np.isin(rows, fold.train)
        valid = np.isin(rows, fold.validation)
        scaler, target_scale, models, seconds = fit_on_rows(panel, rows[train], cols[train],
                                                            target, config)
        fold_seconds.append(seconds)
        fold_scalers.append((fold, scaler))
        fold_model = HorizonModel(horizon, scaler, target_scale, models, {}, {}, {}, [], {},
                                  0, (0, 0))
        windows = sequences(panel.inputs, rows[valid], cols[valid], config.seq_len,
                            config.seq_stride)
        for name, forecast in fold_model.predict_models(windows).items():
            oof[name].append(forecast)
        oof_target.append(target[rows[valid], cols[valid]])
    oof_all = {name: np.concatenate(parts) for name, parts in oof.items()}
    y_oof = np.concatenate(oof_target)
    weights = all_weights(oof_all, y_oof, config.shrink)
    validation = {name: float(np.mean((oof_all[name] - y_oof) ** 2)) for name in MODEL_NAMES}
    calibration = {}
    for mode in WEIGHT_MODES:
        ensemble = combine(oof_all, weights[mode])
        validation[f"ensemble_{mode}"] = float(np.mean((ensemble - y_oof) ** 2))
        calibration[mode] = Calibration.fit(ensemble, y_oof)
    validation["zero"] = float(np.mean(y_oof ** 2))
    if progress:
        progress(f"h={horizon}m final fit", config.folds, steps)
    scaler, target_scale, models, seconds = fit_on_rows(panel, rows, cols, target, config)
    if progress:
        progress(f"h={horizon}m done", steps, steps)
    span = (int(panel.open_ms[rows.min()]), int(panel.open_ms[rows.max()]))
    return HorizonModel(horizon, scaler, target_scale, models, weights, calibration, validation,
                        fold_seconds, seconds, int(rows.size), span), fold_scalers


def train(panel: Panel, config: TrainConfig, progress: Progress | None = None
          ) -> dict[int, HorizonModel]:
    """One `HorizonModel` per configured horizon."""
    return {h: train_horizon(panel, h, config, progress)[0] for h in config.horizons}
