"""Out-of-fold forecast and anomaly columns for RL training: no row sees a model of its future.

Why: a policy trained on in-sample forecasts learns to trust them (they are far better on
the rows the models were fit on than they will ever be live), and then trades noise. So
over the training history the extra columns (`rl/extra_inputs.py`) come from models that
never saw the row's minute or anything after it:

* The history is cut at fixed row indices into blocks of `refit_minutes`, the first one
  starting at row `min_train_minutes` (indices only, never the data: the cut cannot depend
  on what comes later). Block [start, stop) is served by models fit on rows
  [0, start - embargo_minutes): the forecast by `strategies.forecast.training.train_horizon`
  on that truncated panel (its own purged, embargoed walk-forward picks the ensemble weights
  and calibration inside it; targets that reach past the cut are NaN there, so they are
  purged by construction), the anomaly detector by `risk.anomaly.train_bundle` on the same
  rows. It is the daemon's schedule: retrain on everything so far, serve the next block.
* Rows before the first block have neither (has_forecast = has_anomaly = 0).

For a later period (the walk-forward test), `fit_sources` on the whole training history
gives the models a daemon would serve after it, and `ExtraSources.grid` applies them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rl.extra_inputs import EXTRA_NAMES, ExtraSources, check_aligned, extra_columns
from rl.fold_plan import FoldPlan
from strategies.forecast.training import TrainConfig

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ExtraSettings:
    """How the forecast and the detector are trained and served (the daemon's defaults:
    `[forecast] horizon = 60, weights_mode = "stacking"`, `[anomaly] kind = "ae"`, EVT at
    0.1 %)."""

    horizon: int = 60
    weights_mode: str = "stacking"
    train: TrainConfig = field(default_factory=lambda: TrainConfig(horizons=(60,)))
    anomaly_kind: str = "ae"
    anomaly_method: str = "evt"
    anomaly_rate: float = 0.001
    anomaly_halflife_minutes: float = 1440.0
    anomaly_warmup_minutes: int = 1440
    anomaly_shape: Any = None  # risk.anomaly_models.NetShape; None = the module default
    anomaly_settings: Any = None  # risk.anomaly_models.TrainSettings; None = the default

    def __post_init__(self) -> None:
        if self.horizon not in self.train.horizons:
            object.__setattr__(self, "train", replace(self.train, horizons=(self.horizon,)))


def describe(settings: ExtraSettings, plan: FoldPlan) -> dict[str, Any]:
    """The JSON-ready head of an extra-columns report: names, fold plan, sources."""
    return {"names": list(EXTRA_NAMES), "plan": asdict(plan),
            "horizon": settings.horizon, "weights_mode": settings.weights_mode,
            "anomaly": [settings.anomaly_kind, settings.anomaly_method, settings.anomaly_rate]}


def head(panel: Any, stop: int) -> Any:
    """The panel's first `stop` minutes, as if the data ended there (forward returns that
    need a later close become NaN, so no training target reaches past `stop`)."""
    from strategies.forecast.dataset import Panel

    return Panel(symbols=panel.symbols, open_ms=panel.open_ms[:stop], inputs=panel.inputs[:stop],
                 close=panel.close[:stop], warm=panel.warm[:stop])


def fit_sources(panel: Any, features: np.ndarray, settings: ExtraSettings,
                progress: Callable[[str], None] | None = None) -> ExtraSources:
    """Train the forecast (one horizon) and the anomaly detector on this whole history."""
    from risk.anomaly import AnomalyDetector, train_bundle
    from risk.anomaly_models import DEFAULT_SETTINGS
    from strategies.forecast.bundle import Bundle
    from strategies.forecast.serving import Forecaster
    from strategies.forecast.training import train_horizon

    if progress:
        progress(f"forecast h={settings.horizon}m on {len(panel.open_ms)} minutes")
    model, _ = train_horizon(panel, settings.horizon, settings.train)
    bundle = Bundle({settings.horizon: model}, settings.train, {"note": "in-memory, rl extras"})
    forecaster = Forecaster(bundle, settings.horizon, settings.weights_mode)
    if progress:
        progress(f"anomaly detector on {features.shape[0]} minutes")
    anomaly = train_bundle(features, open_ms=np.asarray(panel.open_ms),
                           symbols=panel.symbols,
                           halflife_minutes=settings.anomaly_halflife_minutes,
                           warmup_minutes=settings.anomaly_warmup_minutes,
                           shape=settings.anomaly_shape,
                           settings=settings.anomaly_settings or DEFAULT_SETTINGS)
    detector = AnomalyDetector(anomaly, panel.symbols, kind=settings.anomaly_kind,
                               method=settings.anomaly_method,  # type: ignore[arg-type]
                               rate=settings.anomaly_rate)
    return ExtraSources(forecaster, detector)


def out_of_fold_grid(panel: Any, features: np.ndarray, settings: ExtraSettings, plan: FoldPlan,
                     progress: Progress | None = None
                     ) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Extra columns [T, n, 5] of a training history, every served row out of fold (see
    the module docstring), and one record per block (rows, training span, seconds)."""
    length = len(panel.open_ms)
    if features.shape[:2] != panel.close.shape:
        raise ValueError(f"features {features.shape[:2]} and panel {panel.close.shape} differ")
    nothing = np.full(panel.close.shape, np.nan)
    grid = extra_columns(nothing, nothing, 1.0, nothing)
    blocks = plan.blocks(length)
    records = []
    for k, (train_stop, start, stop) in enumerate(blocks):
        if progress:
            progress("extra columns (out of fold)", k, len(blocks))
        began = time.perf_counter()
        sources = fit_sources(head(panel, train_stop), features[:train_stop], settings)
        rows = np.zeros(length, bool)
        rows[start:stop] = True
        # Only rows <= stop - 1 are read: the windows and the standardizer look back only.
        block = sources.grid(head(panel, stop), features[:stop], rows[:stop])
        grid[start:stop] = block[start:stop]
        records.append({"block": k, "train_rows": [0, train_stop], "serves": [start, stop],
                        "forecast_share": float(block[start:stop, :, 2].mean()),
                        "anomaly_share": float(block[start:stop, :, 4].mean()),
                        "seconds": round(time.perf_counter() - began, 1)})
    if progress:
        progress("extra columns (out of fold)", len(blocks), len(blocks))
    return grid, records


def walkforward_extras(train_dir: str | Path, test_dir: str | Path, *, settings: ExtraSettings,
                       plan: FoldPlan, progress: Progress | None = None
                       ) -> tuple[Any, Any, dict[str, Any]]:
    """(train MarketData, test MarketData, report), both carrying the extra columns: the
    training folder's out of fold, the test folder's from models fit on the whole training
    folder (what a daemon would serve after it; no test row is read before that)."""
    from exchange.sim.replay import load_grid
    from rl.episodes import MarketData
    from strategies.forecast.dataset import build_panel

    report = describe(settings, plan)
    train = MarketData.from_csv_dir(train_dir)
    panel = build_panel(load_grid(train_dir))
    check_aligned(train, panel)
    began = time.perf_counter()
    grid, report["blocks"] = out_of_fold_grid(panel, train.features, settings, plan, progress)
    if progress:
        progress("extra columns (test period)", 0, 1)
    final = fit_sources(panel, train.features, settings)
    test = MarketData.from_csv_dir(test_dir)
    test_panel = build_panel(load_grid(test_dir))
    check_aligned(test, test_panel)
    test_grid = final.grid(test_panel, test.features)
    if progress:
        progress("extra columns (test period)", 1, 1)
    report["seconds"] = round(time.perf_counter() - began, 1)
    report["test_forecast_share"] = float(test_grid[..., 2].mean())
    report["test_anomaly_share"] = float(test_grid[..., 4].mean())
    return train.with_extra(grid), test.with_extra(test_grid), report


__all__ = ["ExtraSettings", "FoldPlan", "describe", "fit_sources", "head", "out_of_fold_grid",
           "walkforward_extras"]
