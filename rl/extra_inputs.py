"""The forecast and anomaly columns of the RL observation: one recipe for training and live.

Why one module: a policy that learned to read "forecast return 1.3" must read the very same
number live, or its learned edge is noise. So the names, their order and the arithmetic live
here and both paths call `extra_columns`:

* forecast_return   expected log return over the served horizon / the bundle's target scale
                    (`HorizonModel.target.scale`, the std of the winsorized training target),
                    clipped to +-FORECAST_CLIP; 0 where there is no forecast
* forecast_confidence  (confidence - 0.5) x 2, i.e. 0 = a coin flip, 1 = certain; 0 when none
* has_forecast      1 where a forecast exists (a day of history, a bundle served), else 0
* anomaly_score     the detector's score / its alarm threshold (1 = at the alarm line),
                    clipped to [0, ANOMALY_CLIP]; 0 when none
* has_anomaly       1 where the detector scored the coin (warm), else 0

The observation is (feature columns, these 5, account columns), `OBSERVATION_NAMES`; the
env names extra columns generically, so `make_extra_env` names them here, and a network
created for this layout carries `feature_names_hash(OBSERVATION_NAMES)`: a model trained on
other extra columns is refused live (`rl/live_policy.py`).

Offline, `ExtraSources.grid` fills [T, n, 5] for a whole history from one forecaster and one
detector (the path for a test period the models never saw); out-of-fold grids for the
training period are built in `rl/extra_folds.py`. Live, `LiveExtras` computes the same
columns from the engine's latest `ForecastBatch` and the trader's latest `AnomalyReading`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from rl.spaces import OBS_FEATURES, STATE_FEATURES

EXTRA_NAMES: tuple[str, ...] = ("forecast_return", "forecast_confidence", "has_forecast",
                                "anomaly_score", "has_anomaly")
OBSERVATION_NAMES: tuple[str, ...] = (*OBS_FEATURES, *EXTRA_NAMES, *STATE_FEATURES)
FORECAST_CLIP = 5.0  # target-scale units: a forecast 5 std out is as loud as it gets
ANOMALY_CLIP = 5.0  # multiples of the alarm threshold
#: Rows per forecasting call offline (bounds the memory of the LSTM windows).
CHUNK_ROWS = 20_000


def extra_columns(expected_return: np.ndarray, confidence: np.ndarray, target_scale: float,
                  anomaly_score: np.ndarray) -> np.ndarray:
    """The EXTRA_NAMES columns [..., 5] (float64) from arrays of one shape [...]; NaN in an
    input means "none" (a missing forecast or an unwarmed coin)."""
    if not (np.isfinite(target_scale) and target_scale > 0):
        raise ValueError(f"target scale must be a positive number, got {target_scale}")
    expected = np.asarray(expected_return, np.float64)
    conf = np.asarray(confidence, np.float64)
    score = np.asarray(anomaly_score, np.float64)
    has_forecast = np.isfinite(expected) & np.isfinite(conf)
    has_anomaly = np.isfinite(score)
    with np.errstate(invalid="ignore"):
        forecast = np.where(has_forecast,
                            np.clip(expected / target_scale, -FORECAST_CLIP, FORECAST_CLIP), 0.0)
        centered = np.where(has_forecast, (conf - 0.5) * 2.0, 0.0)
        anomaly = np.where(has_anomaly, np.clip(score, 0.0, ANOMALY_CLIP), 0.0)
    return np.stack([forecast, centered, has_forecast.astype(np.float64), anomaly,
                     has_anomaly.astype(np.float64)], axis=-1)


# -- offline: a whole history from one forecaster and one detector ----------------------------
@dataclass(frozen=True)
class ExtraSources:
    """A forecaster (`strategies.forecast.serving.Forecaster`) and an anomaly detector
    (`risk.anomaly.AnomalyDetector`), as the daemon would serve them."""

    forecaster: Any
    detector: Any

    @property
    def target_scale(self) -> float:
        """The served horizon's target scale (what forecast_return is divided by)."""
        return float(self.forecaster.model.target.scale)

    def forecasts(self, panel: Any, rows: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """(expected return, confidence) grids [T, n]: NaN where a coin has less than a day
        of history (the daemon's rule) or outside `rows` (bool [T], default every row).
        Row t's windows read inputs at minutes <= t only."""
        from strategies.forecast.dataset import MIN_WARM_MINUTES, sequences

        valid = panel.warm >= MIN_WARM_MINUTES
        if rows is not None:
            valid &= np.asarray(rows, bool)[:, None]
        expected = np.full(valid.shape, np.nan)
        confidence = np.full(valid.shape, np.nan)
        at, cols = np.nonzero(valid)
        model = self.forecaster
        for start in range(0, at.size, CHUNK_ROWS):
            part = slice(start, start + CHUNK_ROWS)
            windows = sequences(panel.inputs, at[part], cols[part], model.seq_len,
                                model.seq_stride)
            batch = model.predict(windows)
            expected[at[part], cols[part]] = batch.expected_return
            confidence[at[part], cols[part]] = batch.confidence
        return expected, confidence

    def anomaly_scores(self, features: np.ndarray, rows: np.ndarray | None = None
                       ) -> np.ndarray:
        """Coin scores / threshold [T, n] of a feature history [T, n, F] (FEATURE_NAMES),
        the rolling standardization run row by row as `AnomalyDetector.observe` runs it;
        NaN while a coin warms up or outside `rows`."""
        from risk.anomaly import prepare_history

        detector = self.detector
        bundle = detector.bundle
        prepared = prepare_history(features, floor=bundle.floor,
                                   halflife_minutes=bundle.halflife_minutes,
                                   warmup_minutes=bundle.warmup_minutes)
        warm = prepared.warm.copy()
        if rows is not None:
            warm &= np.asarray(rows, bool)[:, None]
        scores = np.full(warm.shape, np.nan)
        if warm.any():
            scores[warm] = detector.coin_net.score(prepared.z[warm]) / \
                detector.coin_threshold.value
        return scores

    def grid(self, panel: Any, features: np.ndarray, rows: np.ndarray | None = None
             ) -> np.ndarray:
        """The extra columns [T, n, 5] of every row of a history (NaN-free; rows outside
        `rows` say "no forecast, no anomaly score")."""
        expected, confidence = self.forecasts(panel, rows)
        return extra_columns(expected, confidence, self.target_scale,
                             self.anomaly_scores(features, rows))


def check_aligned(data: Any, panel: Any) -> None:
    """Refuse a forecast panel that is not on the MarketData's grid (same symbols, same
    minutes): the columns would belong to other coins or other minutes."""
    if tuple(data.symbols) != tuple(panel.symbols) or len(data) != len(panel.open_ms) \
            or not np.array_equal(np.asarray(data.open_ms), np.asarray(panel.open_ms)):
        raise ValueError("the forecast panel and the market data are on different grids "
                         f"({len(panel.symbols)} symbols x {len(panel.open_ms)} minutes vs "
                         f"{len(data.symbols)} x {len(data)}); build both from the same folder")


# -- the env with named extra columns ---------------------------------------------------------
def make_extra_env(data: Any, n_envs: int, env_config: Any, seed: int) -> Any:
    """`SelfPlayConfig.env_factory` for data carrying these extra columns: the usual
    `BatchedEnv`, with its generic `extra_i` names replaced by EXTRA_NAMES, so networks
    trained in it carry this layout's hash (module-level, so it pickles to workers)."""
    from rl.selfplay import make_batched_env

    width = 0 if data.extra is None else int(data.extra.shape[2])
    if width != len(EXTRA_NAMES):
        raise ValueError(f"the data carries {width} extra columns, this layout has "
                         f"{len(EXTRA_NAMES)} ({', '.join(EXTRA_NAMES)}); build them with "
                         "rl.extra_folds")
    env: Any = make_batched_env(data, n_envs, env_config, seed)
    if tuple(env.observation_names) != (*OBS_FEATURES, *(f"extra_{i}" for i in range(width)),
                                        *STATE_FEATURES):
        raise ValueError("BatchedEnv's observation layout changed; update rl/extra_inputs.py")
    env.observation_names = OBSERVATION_NAMES
    return env


# -- live -------------------------------------------------------------------------------------
class _ForecastSource(Protocol):
    latest: Any
    forecaster: Any


class _AnomalySource(Protocol):
    latest: Any


@dataclass
class LiveExtras:
    """The extra columns at a live decision step, from the engine's forecast service
    (`ForecastService.latest`, rows in the engine's symbol order) and the trader's anomaly
    detector (`AnomalyDetector.latest`, rows named by its symbols). Both must be served:
    a model trained with these columns is refused otherwise (`rl.live_policy`)."""

    forecast: _ForecastSource | None
    anomaly: _AnomalySource | None

    @property
    def missing(self) -> list[str]:
        """What is not served, in words for the operator ([] = all served)."""
        out = []
        if self.forecast is None:
            out.append("the forecast ([forecast] enabled = true and a bundle that loads)")
        if self.anomaly is None:
            out.append("the anomaly detector ([anomaly] enabled = true and a model that loads)")
        return out

    def columns(self, symbols: Sequence[str], rows: Mapping[str, int]) -> np.ndarray:
        """[len(symbols), 5] for `symbols`; `rows` maps a symbol to its row of the engine's
        feature matrix (= the forecast batch's row). Nothing computed yet = "none"."""
        n = len(symbols)
        expected = np.full(n, np.nan)
        confidence = np.full(n, np.nan)
        scale = 1.0
        if self.forecast is not None:
            scale = float(self.forecast.forecaster.model.target.scale)
            batch = self.forecast.latest
            if batch is not None:
                index = np.array([rows[s] for s in symbols], np.int64)
                expected = np.asarray(batch.expected_return, np.float64)[index]
                confidence = np.asarray(batch.confidence, np.float64)[index]
        scores = np.full(n, np.nan)
        reading = self.anomaly.latest if self.anomaly is not None else None
        if reading is not None:
            where = {s: i for i, s in enumerate(reading.symbols)}
            scores = np.array([reading.scores[where[s]] if s in where else np.nan
                               for s in symbols], np.float64)
        return extra_columns(expected, confidence, scale, scores)


__all__ = ["ANOMALY_CLIP", "EXTRA_NAMES", "FORECAST_CLIP", "OBSERVATION_NAMES", "ExtraSources",
           "LiveExtras", "check_aligned", "extra_columns", "make_extra_env"]
