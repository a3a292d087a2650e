"""Forecast quality: the designed error metrics and the ones that matter for trading.

All take forecasts and realized returns on the same rows. Conventions, stated once:
- `mape` is over rows with |realized| >= 1 bp (`MAPE_FLOOR`): returns cross zero, so the
  designed MAPE is dominated by near-zero denominators; read it as a curiosity.
- `directional_accuracy` counts rows where the realized return moved (!= 0) and the
  forecast is not 0; a zero forecast has no direction and scores None.
- `information_coefficient`: Spearman rank correlation across symbols at each minute, then
  the mean over minutes; its t-statistic uses only every h-th minute, because forecasts h
  minutes apart share no target window (overlapping ones are not independent).
- `calibration`: confidence deciles vs the realized hit rate, and the expected calibration
  error (mean |confidence - hit rate| weighted by bin size).
"""

from __future__ import annotations

from typing import Any

import numpy as np

MAPE_FLOOR = 1e-4


def point_metrics(forecast: np.ndarray, realized: np.ndarray) -> dict[str, float | None]:
    """MSE, MAE, R^2 (against the realized mean), MAPE and directional accuracy."""
    error = forecast - realized
    mse = float(np.mean(error ** 2))
    variance = float(np.mean((realized - realized.mean()) ** 2))
    big = np.abs(realized) >= MAPE_FLOOR
    moved = (realized != 0) & (forecast != 0)
    return {
        "mse": mse,
        "mae": float(np.mean(np.abs(error))),
        "r2": 1.0 - mse / variance if variance > 0 else None,
        "mape_pct": float(np.mean(np.abs(error[big] / realized[big])) * 100) if big.any() else None,
        "directional_accuracy": (float(np.mean(np.sign(forecast[moved]) == np.sign(realized[moved])))
                                 if moved.any() else None),
        "directional_rows": int(moved.sum()),
        "rows": int(realized.size),
    }


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (NaN stays NaN; ties share their mean rank)."""
    from scipy.stats import rankdata

    return rankdata(values, axis=-1, nan_policy="omit")


def information_coefficient(forecast: np.ndarray, realized: np.ndarray, horizon: int
                            ) -> dict[str, float | None]:
    """Per-minute cross-sectional Spearman IC of [T, n] arrays (NaN = no row)."""
    ok = np.isfinite(forecast) & np.isfinite(realized)
    counts = ok.sum(axis=1)
    per_minute = np.full(forecast.shape[0], np.nan)
    use = counts >= 3
    if use.any():
        f = np.where(ok, forecast, np.nan)[use]
        r = np.where(ok, realized, np.nan)[use]
        rf, rr = _ranks(f), _ranks(r)
        rf = rf - np.nanmean(rf, axis=1, keepdims=True)
        rr = rr - np.nanmean(rr, axis=1, keepdims=True)
        denominator = np.sqrt(np.nansum(rf ** 2, axis=1) * np.nansum(rr ** 2, axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            per_minute[use] = np.where(denominator > 0,
                                       np.nansum(rf * rr, axis=1) / denominator, np.nan)
    finite = np.isfinite(per_minute)
    if not finite.any():
        return {"ic_mean": None, "ic_std": None, "ic_t": None, "ic_periods": 0,
                "ic_positive_share": None}
    spaced = per_minute[::max(horizon, 1)]
    spaced = spaced[np.isfinite(spaced)]
    t_stat = (float(spaced.mean() / spaced.std(ddof=1) * np.sqrt(spaced.size))
              if spaced.size > 2 and spaced.std(ddof=1) > 0 else None)
    values = per_minute[finite]
    return {"ic_mean": float(values.mean()), "ic_std": float(values.std()), "ic_t": t_stat,
            "ic_periods": int(spaced.size), "ic_positive_share": float(np.mean(values > 0))}


def calibration(confidence: np.ndarray, forecast: np.ndarray, realized: np.ndarray,
                bins: int = 10) -> dict[str, Any]:
    """Reliability of the confidence: per confidence-quantile bin, mean confidence vs the
    share of rows whose realized return had the forecast's sign."""
    moved = (realized != 0) & np.isfinite(confidence) & (forecast != 0)
    confidence, forecast, realized = confidence[moved], forecast[moved], realized[moved]
    if confidence.size == 0:
        return {"ece": None, "bins": []}
    hits = (np.sign(forecast) == np.sign(realized)).astype(np.float64)
    edges = np.unique(np.quantile(confidence, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, max(len(edges) - 2, 0))
    table, ece = [], 0.0
    for b in range(max(len(edges) - 1, 1)):
        members = which == b
        if not members.any():
            continue
        mean_conf, hit_rate = float(confidence[members].mean()), float(hits[members].mean())
        ece += members.mean() * abs(mean_conf - hit_rate)
        table.append({"confidence": round(mean_conf, 4), "hit_rate": round(hit_rate, 4),
                      "rows": int(members.sum())})
    return {"ece": float(ece), "bins": table}
