"""Train on one period, test on a later one: the AE and VAE beside the cheap baselines.

Every scorer sees the same standardized rows, is fit on the training period's first 75 %
(after warm-up), gets its threshold from its own scores on the remaining 25 % (validation),
and is judged on the test period's events (risk/anomaly_eval.py) at the same rule. The test
period is touched only to score it and to define its events; nothing is tuned on it.
`entasis anomalies evaluate` runs this and prints the table that docs/results.md quotes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from model import libm
from risk.anomaly import FIT_SHARE, PreparedHistory, prepare_history, train_bundle
from risk.anomaly_bundle import AnomalyBundle
from risk.anomaly_eval import find_events, random_alarms, score_alarms
from risk.anomaly_features import INPUT_FEATURES
from risk.anomaly_models import (
    DEFAULT_SETTINGS,
    IsolationForestScorer,
    MahalanobisScorer,
    Scorer,
    TrainSettings,
    VolatilityZScore,
)
from risk.anomaly_threshold import ThresholdMethod, find_threshold

#: (method, rate) pairs judged. "matched" is a diagnostic, not a deployable rule: its
#: threshold is the test period's own (1 - rate) quantile, so every scorer raises exactly the
#: same number of alarms and only the *ranking* of minutes is compared, apart from calibration.
RULES: tuple[tuple[str, float], ...] = (("evt", 0.001), ("percentile", 0.001), ("evt", 0.01),
                                        ("matched", 0.001), ("matched", 0.01))
RANDOM_SEEDS = 10


@dataclass(frozen=True)
class Period:
    """A feature history and the bars its events come from (close carried forward)."""

    features: np.ndarray  # [T, n, n_features]
    close: np.ndarray  # [T, n]
    quote_volume: np.ndarray  # [T, n], NaN or 0 = no trade


def compare(train: Period, test: Period, *, rules: Sequence[tuple[str, float]] = RULES,
            warmup_minutes: int = 1440, halflife_minutes: float = 1440.0,
            settings: TrainSettings = DEFAULT_SETTINGS,
            progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Event-level scores of every scorer, per scope and threshold rule (plain data)."""
    say = progress or (lambda _: None)
    bundle = train_bundle(train.features, halflife_minutes=halflife_minutes,
                          warmup_minutes=warmup_minutes, settings=settings, progress=say)
    say("standardizing both periods")
    fit = prepare_history(train.features, floor=bundle.floor,
                          halflife_minutes=halflife_minutes, warmup_minutes=warmup_minutes)
    tested = prepare_history(test.features, floor=bundle.floor,
                             halflife_minutes=halflife_minutes, warmup_minutes=warmup_minutes)
    split = warmup_minutes + int(FIT_SHARE * (train.features.shape[0] - warmup_minutes))
    result: dict[str, Any] = {"rules": [f"{m}@{r:g}" for m, r in rules], "scopes": {}}
    for scope in ("coin", "market"):
        say(f"{scope}: fitting baselines and scoring")
        rows = _scope_rows(scope, fit, tested, split)
        scorers = _scorers(scope, bundle, rows["fit"])
        events, evaluated = _scope_events(scope, test, tested, warmup_minutes)
        table: dict[str, Any] = {}
        for name, scorer in scorers.items():
            validation = scorer.score(rows["val"])
            test_scores = np.full(evaluated.shape, -np.inf)
            test_scores[evaluated] = scorer.score(rows["test"][evaluated])
            table[name] = {}
            for method, rate in rules:
                if method == "matched":
                    level = float(np.quantile(test_scores[evaluated], 1 - rate))
                    detail = f"test-period {1 - rate:.2%} quantile (diagnostic)"
                else:
                    threshold = find_threshold(validation, _method(method), rate)
                    level, detail = threshold.value, threshold.detail
                table[name][f"{method}@{rate:g}"] = {
                    "threshold": detail, **_by_kind(test_scores > level, events, evaluated)}
        for method, rate in rules:
            draws = [_by_kind(random_alarms(evaluated.shape, rate, evaluated, seed), events,
                              evaluated) for seed in range(RANDOM_SEEDS)]
            table.setdefault("random", {})[f"{method}@{rate:g}"] = _mean_draws(draws)
        result["scopes"][scope] = {
            "events": {"move": sum(e.kind == "move" for e in events),
                       "volume": sum(e.kind == "volume" for e in events)},
            "evaluated_rows": int(evaluated.sum()), "scorers": table}
    result["train_rows"] = bundle.info["rows"]
    return result


def _method(name: str) -> ThresholdMethod:
    if name not in ("evt", "percentile"):
        raise ValueError(f"unknown threshold rule {name!r}; use evt, percentile or matched")
    return "evt" if name == "evt" else "percentile"


def _scope_rows(scope: str, fit: PreparedHistory, tested: PreparedHistory, split: int
                ) -> dict[str, np.ndarray]:
    if scope == "coin":
        return {"fit": fit.z[:split][fit.warm[:split]], "val": fit.z[split:][fit.warm[split:]],
                "test": tested.z}
    ok = np.isfinite(fit.market).all(axis=1)
    return {"fit": fit.market[:split][ok[:split]], "val": fit.market[split:][ok[split:]],
            "test": tested.market[:, None, :]}


def _scorers(scope: str, bundle: AnomalyBundle, fit_rows: np.ndarray) -> dict[str, Scorer]:
    sigma_column = INPUT_FEATURES.index("sigma_1h")  # market rows: the cross-section mean
    nets = bundle.networks[scope]
    return {"ae": nets["ae"], "vae": nets["vae"],
            "vol_z": VolatilityZScore(sigma_column).fit(fit_rows),
            "mahalanobis": MahalanobisScorer().fit(fit_rows),
            "isolation_forest": IsolationForestScorer().fit(fit_rows)}


def _scope_events(scope: str, test: Period, tested: PreparedHistory, warmup: int
                  ) -> tuple[list[Any], np.ndarray]:
    rows = np.arange(test.close.shape[0])
    if scope == "coin":
        evaluated = tested.warm & (rows >= warmup)[:, None]
        return find_events(test.close, test.quote_volume, warmup), evaluated
    with np.errstate(divide="ignore", invalid="ignore"):
        log_returns = np.diff(libm.log(test.close), axis=0, prepend=np.nan)
    counted = np.isfinite(log_returns)
    mean_return = np.where(counted.any(axis=1), np.nansum(np.where(counted, log_returns, 0.0),
                                                          axis=1) / np.maximum(counted.sum(1), 1),
                           0.0)
    index = libm.exp(np.cumsum(mean_return))[:, None]  # equal-weight index of log returns
    volume = np.nansum(test.quote_volume, axis=1)[:, None]
    evaluated = (np.isfinite(tested.market).all(axis=1) & (rows >= warmup))[:, None]
    return find_events(index, volume, warmup), evaluated


def _by_kind(flags: np.ndarray, events: list[Any], evaluated: np.ndarray) -> dict[str, Any]:
    """Recall per event kind; precision, alarm rate and lead over all events."""
    overall = score_alarms(flags, events, evaluated)
    out = overall.to_dict()
    for kind in ("move", "volume"):
        part = score_alarms(flags, [e for e in events if e.kind == kind], evaluated)
        out[f"recall_{kind}"] = part.to_dict()["recall"]
        out[f"lead_{kind}"] = part.to_dict()["median_lead_min"]
    return out


def _mean_draws(draws: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"threshold": f"random, mean of {len(draws)} seeded draws"}
    for key in draws[0]:
        values = [d[key] for d in draws if d[key] is not None]
        out[key] = round(float(np.mean(values)), 4) if values else None
    return out


__all__ = ["RULES", "Period", "compare"]
