"""Anomaly detection: train on history, then flag coins and the market the models cannot explain.

Training (`train_bundle`, run by `entasis anomalies train` in its own process): multi-window
features of every coin -> per-coin rolling z-scores (risk/anomaly_features.py) -> an
autoencoder and a VAE on each coin's row ("per coin") and on the cross-sectional summary
("market-wide"). Time is split, never shuffled: the networks fit on the first 75 % of the
training period after warm-up, and the last 25 % gives the validation scores that the alarm
thresholds come from (risk/anomaly_threshold.py). No test-period row is ever seen.

Serving (`AnomalyDetector`, in the daemon and in backtests, once per decision step): the
same standardizer, the chosen network, and two effects the caller applies:
- a coin whose score crossed its threshold within `cooldown_minutes` gets no new entries
  (the risk gate's ANOMALY denial);
- a market-wide alarm moves trading to REDUCING (risk/state.py).
Scores are reported as a multiple of the threshold (1.0 = at the alarm line), comparable
across models and scopes. Until a coin has `warmup_minutes` of rows its score is NaN and it
is never flagged: an unwarmed standardizer would flag everything. The daemon hands the
detector its REST backfill (`add_history`), which is folded in before the first scored
minute (risk/anomaly_warmup.py), so the warm-up is over by the first live decision. The
scores also shrink a coin's upward drift in the ranking (`ranking_scores`, ADR-035).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from risk.anomaly_bundle import AnomalyBundle, AnomalyModelError
from risk.anomaly_features import (
    INPUT_FEATURES,
    EwmStandardizer,
    bar_features,
    market_vectors,
    select_inputs,
    standardize_history,
    std_floor,
)
from risk.anomaly_models import DEFAULT_SETTINGS, NETWORKS, NetShape, TrainSettings
from risk.anomaly_threshold import Threshold, ThresholdMethod, find_threshold
from risk.anomaly_warmup import BackfillWarmup, fold_rows, warmed_standardizer
from strategies.feature_columns import FEATURE_NAMES

if TYPE_CHECKING:
    from model.market import BarHistory
    from strategies.features import FeatureBook

__all__ = ["AnomalyBundle", "AnomalyDetector", "AnomalyModelError", "AnomalyReading",
           "PreparedHistory", "prepare_history", "train_bundle"]

FIT_SHARE = 0.75


@dataclass(frozen=True)
class PreparedHistory:
    """Standardized inputs of a history: coin rows z [T, n, F], warm mask [T, n], market
    rows [T, 2F] (NaN where fewer than two coins are warm)."""

    z: np.ndarray
    warm: np.ndarray
    market: np.ndarray
    floor: np.ndarray


def prepare_history(features: np.ndarray, *, floor: np.ndarray | None = None,
                    floor_rows: slice | None = None, halflife_minutes: float = 1440.0,
                    warmup_minutes: int = 1440,
                    names: Sequence[str] = FEATURE_NAMES) -> PreparedHistory:
    """Rolling z-scores of a feature history [T, n, n_features], as the daemon computes them.

    `floor` comes from a trained bundle; without one it is estimated on `floor_rows` (the
    training rows: never pass test rows here)."""
    inputs = select_inputs(features, names)
    if floor is None:
        floor = std_floor(inputs[floor_rows if floor_rows is not None else slice(None)])
    z, counts = standardize_history(inputs, floor, halflife_minutes)
    warm = (counts > warmup_minutes) & np.isfinite(inputs).any(axis=-1)
    return PreparedHistory(z, warm, market_vectors(z, warm), floor)


def train_bundle(features: np.ndarray, *, open_ms: np.ndarray | None = None,
                 symbols: Sequence[str] = (), halflife_minutes: float = 1440.0,
                 warmup_minutes: int = 1440, shape: NetShape | None = None,
                 settings: TrainSettings = DEFAULT_SETTINGS,
                 progress: Callable[[str], None] | None = None) -> AnomalyBundle:
    """Fit per-coin and market-wide AE and VAE on a feature history [T, n, n_features].

    Rows after each coin's warm-up are split by time: the first 75 % fit the networks (and
    the standardizer's floor), the rest give validation scores."""
    length = features.shape[0]
    if length <= warmup_minutes + 200:
        raise ValueError(f"{length} minutes of history; need more than {warmup_minutes + 200} "
                         "(warm-up plus something to learn from)")
    split = warmup_minutes + int(FIT_SHARE * (length - warmup_minutes))
    prepared = prepare_history(features, floor_rows=slice(warmup_minutes, split),
                               halflife_minutes=halflife_minutes, warmup_minutes=warmup_minutes)
    coin_fit = prepared.z[:split][prepared.warm[:split]]
    coin_val = prepared.z[split:][prepared.warm[split:]]
    market_rows = prepared.market
    market_ok = np.isfinite(market_rows).all(axis=1)
    market_fit = market_rows[:split][market_ok[:split]]
    market_val = market_rows[split:][market_ok[split:]]
    shape = shape or NetShape(len(INPUT_FEATURES))
    networks: dict[str, dict[str, Any]] = {"coin": {}, "market": {}}
    validation: dict[str, dict[str, np.ndarray]] = {"coin": {}, "market": {}}
    losses: dict[str, list[float]] = {}
    for scope, fit_rows, val_rows, n_inputs in (
            ("coin", coin_fit, coin_val, shape.n_inputs),
            ("market", market_fit, market_val, 2 * shape.n_inputs)):
        for kind, network in NETWORKS.items():
            if progress:
                progress(f"{scope} {kind}: fitting on {len(fit_rows)} rows")
            net = network(NetShape(n_inputs, shape.hidden, shape.latent))
            losses[f"{scope}_{kind}"] = net.fit(fit_rows, settings)
            networks[scope][kind] = net
            validation[scope][kind] = net.score(val_rows)
    info = {
        "symbols": list(symbols),
        "train_start_ms": int(open_ms[0]) if open_ms is not None else None,
        "fit_end_ms": int(open_ms[split - 1]) if open_ms is not None else None,
        "train_end_ms": int(open_ms[-1]) if open_ms is not None else None,
        "rows": {"coin_fit": len(coin_fit), "coin_val": len(coin_val),
                 "market_fit": len(market_fit), "market_val": len(market_val)},
        "shape": shape.to_dict(), "epochs": settings.epochs, "seed": settings.seed,
        "losses": losses,
    }
    return AnomalyBundle(INPUT_FEATURES, halflife_minutes, warmup_minutes, prepared.floor,
                         networks, validation, info)


@dataclass(frozen=True, slots=True)
class AnomalyReading:
    """One decision step's anomaly verdict (scores are multiples of the threshold)."""

    ts_ms: int
    symbols: tuple[str, ...]
    scores: tuple[float, ...]  # NaN while a coin warms up
    blocked: frozenset[str]  # coins in alarm (or within the cool-down after one)
    market_score: float
    market_alarm: bool  # market-wide alarm now or within the cool-down

    def score_of(self, symbol: str) -> float | None:
        """This coin's score, or None if unknown or still warming up."""
        try:
            value = self.scores[self.symbols.index(symbol)]
        except ValueError:
            return None
        return None if math.isnan(value) else value

    def denials(self) -> dict[str, str]:
        """Blocked coin -> the words a risk denial gives."""
        return {s: _words(self.score_of(s)) for s in sorted(self.blocked)}

    def to_dict(self, top: int = 5) -> dict[str, Any]:
        """Plain data for status: market score, alarms, the highest coin scores."""
        ranked = sorted(((v, s) for s, v in zip(self.symbols, self.scores) if not math.isnan(v)),
                        reverse=True)[:top]
        return {"ts_ms": self.ts_ms,
                "market_score": None if math.isnan(self.market_score)
                else round(self.market_score, 3),
                "market_alarm": self.market_alarm, "blocked": sorted(self.blocked),
                "top": [{"symbol": s, "score": round(v, 3)} for v, s in ranked]}


def _words(score: float | None) -> str:
    shown = "n/a" if score is None else f"{score:.2f}"
    return f"anomaly score {shown}x threshold (or alarm within the cool-down)"


class AnomalyDetector:
    """Scores every coin and the market once per decision step; remembers alarms."""

    def __init__(self, bundle: AnomalyBundle, symbols: Sequence[str] = (), *, kind: str = "ae",
                 method: ThresholdMethod = "evt", rate: float = 0.001,
                 market_rate: float = 0.001, cooldown_minutes: float = 30.0,
                 in_ranking: bool = False) -> None:
        if kind not in bundle.networks["coin"]:
            raise AnomalyModelError(f"model kind {kind!r} not in the bundle; "
                                    f"choose one of {sorted(bundle.networks['coin'])}")
        self.bundle = bundle
        self.symbols = tuple(symbols)
        self.kind = kind
        self.coin_net = bundle.networks["coin"][kind]
        self.market_net = bundle.networks["market"][kind]
        self.coin_threshold: Threshold = find_threshold(bundle.validation["coin"][kind], method,
                                                        rate)
        self.market_threshold: Threshold = find_threshold(bundle.validation["market"][kind],
                                                          method, market_rate)
        self.cooldown_ms = int(cooldown_minutes * 60_000)
        self.in_ranking = in_ranking  # scores shrink ranked coins' upward drift (ADR-035)
        self.latest: AnomalyReading | None = None
        self.backfill = BackfillWarmup()
        self._prepared: tuple[tuple[str, ...], EwmStandardizer] | None = None
        self._reset(self.symbols)

    def add_history(self, history: BarHistory) -> None:
        """Keep a symbol's backfilled bars; they warm the rolling statistics just before the
        first minute is scored (bars that closed before it)."""
        self.backfill.add(history)

    def warmup_job(self, symbols: Sequence[str], ts_ms: int) -> Callable[[], None] | None:
        """The backfill fold for the minute closing at `ts_ms` as a callable that may run
        in a worker thread (it only builds new statistics; the next `observe` installs
        them), or None when no backfill waits. Without it, `observe` folds in line."""
        if not self.backfill.pending:
            return None
        histories, rows = self.backfill.take(), tuple(symbols)
        limit = fold_rows(self.bundle.warmup_minutes, self.bundle.halflife_minutes)

        def fold() -> None:
            standardizer, folded = warmed_standardizer(
                histories, rows, ts_ms, self.bundle.floor, self.bundle.halflife_minutes, limit)
            self.backfill.rows_folded = folded
            self._prepared = (rows, standardizer)

        return fold

    def _install_warmup(self, ts_ms: int) -> None:
        job = self.warmup_job(self.symbols, ts_ms)
        if job is not None:
            job()
        if self._prepared is not None:
            rows, standardizer = self._prepared
            self._prepared = None
            if rows == self.symbols:
                self.standardizer = standardizer

    def _reset(self, symbols: tuple[str, ...]) -> None:
        self.symbols = symbols
        self.standardizer = EwmStandardizer(len(symbols), self.bundle.floor,
                                            self.bundle.halflife_minutes)
        self._coin_alarm_ms = np.full(len(symbols), -(2 ** 62), dtype=np.int64)
        self._market_alarm_ms = -(2 ** 62)

    def observe(self, features: np.ndarray, ts_ms: int, symbols: Sequence[str] | None = None,
                names: Sequence[str] = FEATURE_NAMES) -> AnomalyReading:
        """Fold one minute's features [n_symbols, n_features] in and judge it.

        `symbols` names the rows; a different universe than before starts the rolling
        statistics (and the warm-up) afresh rather than mixing two coins' histories."""
        if symbols is not None and tuple(symbols) != self.symbols:
            self._reset(tuple(symbols))
        if self.latest is not None and self.latest.ts_ms == ts_ms \
                and self.latest.symbols == self.symbols:
            return self.latest  # ranking and the risk gate judge the same minute once
        if self._prepared is not None or self.backfill.pending:
            self._install_warmup(ts_ms)
        if features.shape[0] != len(self.symbols):
            raise ValueError(f"{features.shape[0]} feature rows for {len(self.symbols)} symbols")
        inputs = select_inputs(features, names)
        z = self.standardizer.update(inputs)
        warm = (self.standardizer.state.count > self.bundle.warmup_minutes) & \
            np.isfinite(inputs).any(axis=1)
        scores = np.full(len(self.symbols), np.nan)
        if warm.any():
            scores[warm] = self.coin_net.score(z[warm]) / self.coin_threshold.value
        self._coin_alarm_ms[np.nan_to_num(scores) > 1.0] = ts_ms
        market_row = market_vectors(z, warm)
        market_score = math.nan
        if np.isfinite(market_row).all():
            market_score = float(self.market_net.score(market_row[None])[0]
                                 / self.market_threshold.value)
            if market_score > 1.0:
                self._market_alarm_ms = ts_ms
        blocked = frozenset(s for s, at in zip(self.symbols, self._coin_alarm_ms)
                            if ts_ms - at <= self.cooldown_ms)
        self.latest = AnomalyReading(
            ts_ms, self.symbols, tuple(float(v) for v in scores), blocked, market_score,
            ts_ms - self._market_alarm_ms <= self.cooldown_ms)
        return self.latest

    def observe_book(self, book: FeatureBook, ts_ms: int) -> AnomalyReading:
        """`observe` on the book's bar features of the minute closing at `ts_ms` (the
        daemon's and the backtester's path; once per minute however often it is asked)."""
        return self.observe(bar_features(book.primitives()), ts_ms, book.symbols)

    def ranking_scores(self, book: FeatureBook, ts_ms: int) -> np.ndarray | None:
        """Each book symbol's score for the ranking (NaN = none), or None when the scores
        are kept out of the ranking (`[anomaly] in_ranking = false`)."""
        if not self.in_ranking:
            return None
        return np.asarray(self.observe_book(book, ts_ms).scores, dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        """Which model and thresholds are in force (for status and logs)."""
        return {"kind": self.kind, "in_ranking": self.in_ranking,
                "warmed_on_backfill_minutes": self.backfill.rows_folded,
                "coin_threshold": self.coin_threshold.detail,
                "market_threshold": self.market_threshold.detail,
                "trained": {k: self.bundle.info.get(k) for k in
                            ("train_start_ms", "train_end_ms", "symbols")}}


def scores_by_symbol(reading: AnomalyReading | None) -> Mapping[str, float]:
    """{symbol: score} of a reading (empty without one); NaN scores left out."""
    if reading is None:
        return {}
    return {s: v for s, v in zip(reading.symbols, reading.scores) if not math.isnan(v)}
