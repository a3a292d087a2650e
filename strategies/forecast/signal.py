"""A forecast fit on one walk-forward fold's training bars: the score of "forecast top-k".

`fit_forecast_signal(grid, train_stop_row=s, horizon_bars=h, ...)` trains the ensemble on
the bars before row s (from `train_start_row`, default 0) and returns its expected log
return over the next h bars at every row from s on, on a grid of any bar length (1m, 5m,
1h ...). It reuses the bundle's pieces as they are: inputs and targets from `dataset`
(rows are bars, horizons count bars), the scaler and target scale fit on the training rows
only, the models of `models`, and the designed ensemble weights of `ensemble` (renormalized
over the models chosen). It keeps no out-of-fold weighting or confidence: a top-k policy
ranks coins, and a ranking does not change when every forecast is scaled by the same
positive weight.

What it promises (and tests/unit/test_forecast_signal.py checks):
- **purged**: a training row t has t + h < s, so no training target reads a close at or
  after row s; its inputs read bars <= t only;
- **no lookahead**: the fit reads only bars before s, and the forecast at row r >= s reads
  only bars <= r, so changing bars from any row on changes no value before that row;
- **deterministic**: the same seed gives the same array, bit for bit, on one machine. The
  tree models run on one thread (`nthread` / `num_threads` / `n_jobs` = 1, LightGBM's
  `deterministic`); the opt-in LSTM runs on torch's threads: pin `torch.set_num_threads`
  for bit-identical LSTM output across thread counts.

Defaults are sized for the walk-forward (8 folds, whole run in minutes): XGBoost and
LightGBM only, 100 rounds each, at most 100,000 training rows drawn by the seed (adjacent
rows of a multi-bar target overlap almost entirely, so more rows add time, not much
information).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from model.errors import ConfigError, DataError
from strategies.features_batch import MinuteGrid
from strategies.forecast.dataset import MIN_WARM_MINUTES, Panel, build_panel, sequences
from strategies.forecast.ensemble import DESIGNED_WEIGHTS, combine
from strategies.forecast.models import MODEL_NAMES, LgbmParams, ModelParams, XgbParams
from strategies.forecast.scaling import ScalerKind
from strategies.forecast.splits import Fold, assert_purged
from strategies.forecast.training import HorizonModel, TrainConfig, fit_on_rows

#: Cells predicted per batch: bounds the scaled windows' memory on years of bars.
PREDICT_BATCH_CELLS = 200_000


class SignalSettingsError(ConfigError, ValueError):
    """Forecast signal settings that cannot work; the message names the setting."""


class SignalDataError(DataError, ValueError):
    """A fold the forecast signal cannot be fit on (no training rows, rows outside the
    grid); the message says what to change."""


def walk_forward_params() -> ModelParams:
    """The default hyperparameters: the bundle's, with fewer boosting rounds."""
    return ModelParams(xgboost=XgbParams(rounds=100), lightgbm=LgbmParams(rounds=100))


@dataclass(frozen=True, slots=True)
class SignalSettings:
    """What decides a forecast signal besides the fold, horizon and seed."""

    models: tuple[str, ...] = ("xgboost", "lightgbm")
    params: ModelParams = field(default_factory=walk_forward_params)
    max_train_rows: int = 100_000  # (bar, coin) rows; more are subsampled by the seed
    window_length: int = 1  # steps per input window (the LSTM reads them; trees the last)
    window_stride: int = 1  # bars between the window's steps
    min_history_minutes: int = MIN_WARM_MINUTES  # a coin's history before its rows count
    scaler: ScalerKind = "robust"
    clip_quantile: float = 0.005

    def __post_init__(self) -> None:
        unknown = [name for name in self.models if name not in MODEL_NAMES]
        if unknown or not self.models:
            raise SignalSettingsError(
                f"models must be a non-empty subset of {', '.join(MODEL_NAMES)}; got "
                f"{', '.join(self.models) or 'none'}")
        for name in ("max_train_rows", "window_length", "window_stride"):
            if getattr(self, name) < 1:
                raise SignalSettingsError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_history_minutes < 0:
            raise SignalSettingsError(
                f"min_history_minutes must be >= 0, got {self.min_history_minutes}")


@dataclass(frozen=True, slots=True)
class ForecastSignal:
    """The fitted forecast of one fold and its expected returns.

    `expected_return` [T, n] float64: NaN on rows < `train_stop_row`, on rows from the
    predict stop on, and where a coin has no price or too little history; else the
    ensemble's expected log return over `horizon_bars` bars. `train_rows`/`train_cols` are
    the (bar, coin) cells it trained on."""

    expected_return: np.ndarray
    train_stop_row: int
    horizon_bars: int
    model: HorizonModel
    weights: dict[str, float]
    train_rows: np.ndarray
    train_cols: np.ndarray
    fit_seconds: float

    def held_for(self, bars: int) -> np.ndarray:
        """The expected returns sampled every `bars` rows from `train_stop_row` and carried
        over the rows between (NaN before the stop).

        A top-k policy on this score changes members only at the sampled rows: once per
        horizon with `bars = horizon_bars`, instead of whenever two adjacent hourly
        forecasts swap ranks (which pays fees for noise). Carries only past values forward."""
        if bars < 1:
            raise SignalSettingsError(f"bars must be >= 1, got {bars}")
        rows = np.arange(self.expected_return.shape[0])
        sampled = self.train_stop_row + (rows - self.train_stop_row) // bars * bars
        held = self.expected_return[np.maximum(sampled, 0)]
        held[:self.train_stop_row] = np.nan
        return held


def fit_forecast_signal(grid: MinuteGrid, *, train_stop_row: int, horizon_bars: int,
                        settings: SignalSettings, seed: int, train_start_row: int = 0,
                        predict_stop_row: int | None = None, panel: Panel | None = None
                        ) -> ForecastSignal:
    """Fit on the rows [`train_start_row`, `train_stop_row`), forecast the rows
    [`train_stop_row`, `predict_stop_row`) (default: to the end of the grid; NaN after).

    Rows before `train_start_row` are history only: a training row's inputs may read them
    (the month-long windows need a month), as a rolling walk-forward fold allows. Pass
    `panel` (`build_panel(grid)`) when fitting several folds of one grid: the inputs are the
    slow part and do not depend on the fold; a panel of a row range (`build_panel(grid,
    start_row=..., stop_row=...)`) works if it covers the fold's rows, and without a panel
    only those are built (the fold's memory, not the whole grid's: a panel of the 5m set,
    121 coins x 9 months, would be ~2 GB). A fold's test rows are enough to predict:
    predicting years of later rows costs more than the fit."""
    length = grid.close.shape[0]
    if not 0 < train_stop_row <= length:
        raise SignalDataError(f"train_stop_row must be in 1..{length} (the grid's rows), "
                              f"got {train_stop_row}")
    if not 0 <= train_start_row < train_stop_row:
        raise SignalDataError(f"train_start_row must be in 0..{train_stop_row - 1} (before "
                              f"train_stop_row), got {train_start_row}")
    predict_stop_row = length if predict_stop_row is None else predict_stop_row
    if not train_stop_row <= predict_stop_row <= length:
        raise SignalDataError(f"predict_stop_row must be in {train_stop_row}..{length}, "
                              f"got {predict_stop_row}")
    if horizon_bars < 1:
        raise SignalDataError(f"horizon_bars must be >= 1, got {horizon_bars}")
    # The rows a fold reads: its windows' look-back before the training start, to the
    # predict stop; a panel of these rows alone gives the fit and forecast bit for bit.
    first_row = max(train_start_row - (settings.window_length - 1) * settings.window_stride, 0)
    if panel is None:
        panel = build_panel(grid, start_row=first_row, stop_row=predict_stop_row)
    elif (panel.symbols != grid.symbols or panel.first_row > first_row
          or panel.first_row + panel.close.shape[0] < predict_stop_row
          or panel.first_row + panel.close.shape[0] > length):
        raise SignalDataError(
            "the panel is not this grid's or does not cover this fold's rows "
            f"{first_row}..{predict_stop_row - 1}: pass build_panel(grid), "
            f"build_panel(grid, start_row={first_row}, stop_row={predict_stop_row}) or none")
    offset = panel.first_row  # grid row = panel row + offset
    started = time.perf_counter()
    usable = panel.usable(settings.min_history_minutes)
    target = panel.forward_returns(horizon_bars)
    rows, cols = purged_training_rows(usable, target, train_stop_row - offset, horizon_bars)
    keep = rows >= train_start_row - offset
    rows, cols = rows[keep], cols[keep]
    if rows.size == 0:
        raise SignalDataError(
            f"no training rows in {train_start_row}..{train_stop_row - 1} for a "
            f"{horizon_bars}-bar horizon with {settings.min_history_minutes} minutes of "
            "history per coin: move the fold later, train on more rows or shorten the horizon")
    rows, cols = subsample(rows, cols, settings.max_train_rows, seed)
    if train_stop_row < length:
        assert_purged(Fold(0, np.unique(rows + offset), np.arange(train_stop_row, length)),
                      horizon_bars, 0)
    config = TrainConfig(horizons=(horizon_bars,), seq_len=settings.window_length,
                         seq_stride=settings.window_stride, scaler=settings.scaler,
                         clip_quantile=settings.clip_quantile, seed=seed,
                         params=settings.params)
    scaler, target_scale, models, seconds = fit_on_rows(panel, rows, cols, target, config,
                                                        settings.models)
    weights = designed_weights(settings.models)
    model = HorizonModel(horizon_bars, scaler, target_scale, models, {"designed": weights}, {},
                         {}, [], seconds, int(rows.size),
                         (int(panel.open_ms[rows.min()]), int(panel.open_ms[rows.max()])))
    expected = np.full(grid.close.shape, np.nan)
    test = usable.copy()
    test[:train_stop_row - offset] = False
    test[predict_stop_row - offset:] = False
    test_rows, test_cols = np.nonzero(test)
    for start in range(0, test_rows.size, PREDICT_BATCH_CELLS):
        at_rows = test_rows[start:start + PREDICT_BATCH_CELLS]
        at_cols = test_cols[start:start + PREDICT_BATCH_CELLS]
        windows = sequences(panel.inputs, at_rows, at_cols, settings.window_length,
                            settings.window_stride)
        expected[at_rows + offset, at_cols] = combine(model.predict_models(windows), weights)
    rows = rows + offset
    return ForecastSignal(expected, train_stop_row, horizon_bars, model, weights, rows, cols,
                          round(time.perf_counter() - started, 3))


def purged_training_rows(usable: np.ndarray, target: np.ndarray, train_stop_row: int,
                         horizon_bars: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of usable cells with a known target that ends before `train_stop_row`:
    t + horizon_bars < train_stop_row, so no target reads the close of a test bar."""
    ok = usable & np.isfinite(target)
    ok[max(train_stop_row - horizon_bars, 0):] = False
    rows, cols = np.nonzero(ok)
    return rows, cols


def subsample(rows: np.ndarray, cols: np.ndarray, limit: int, seed: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """At most `limit` of the cells, drawn without replacement by `seed`, in their order."""
    if rows.size <= limit:
        return rows, cols
    keep = np.sort(np.random.default_rng(seed).choice(rows.size, size=limit, replace=False))
    return rows[keep], cols[keep]


def designed_weights(names: tuple[str, ...]) -> dict[str, float]:
    """The designed ensemble weights of `names`, rescaled to sum to 1."""
    total = sum(DESIGNED_WEIGHTS[name] for name in names)
    return {name: DESIGNED_WEIGHTS[name] / total for name in names}

