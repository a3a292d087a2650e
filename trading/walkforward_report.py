"""Walk-forward figures: per fold and over all folds, with how far to trust them.

A task (one policy on one fold with one seed) comes back as a `FoldOutcome`: the equity of
its test window bar by bar and its fees, traded notional and exposure. From those:

- per fold: total return, Sharpe, Sortino, max drawdown, turnover (traded notional / mean
  equity), fees (quote), exposure (share of bars holding a position);
- per policy over all folds: the same figures on the folds' returns concatenated in time
  (each fold starts again from the starting balance, so the concatenation is what one
  account rebalanced to that balance at every fold would have earned), with stationary-
  bootstrap 95 % intervals (`trading.evaluation.series_bootstrap_ci`), and the deflated
  Sharpe ratio counting every configuration ever tried on the data (the caller's registry);
- across policies: the probability of backtest overfitting (CSCV) on the panel of their
  out-of-sample returns.

Returns are per bar: r_t = equity_t / equity_{t-1} − 1 with the starting balance before the
first bar, so the first bar's fees count. Sharpe and Sortino are annualized by √(bars per
365-day year); unlike `trading.performance` (hourly resampling, for the 1m engine) this is
right for bars of any length. Several seeds of one policy on one fold are averaged bar by bar
(one account split equally among them). Everything is a pure function of the outcomes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from model.timeframes import DAY_MS
from trading import evaluation
from trading.performance import max_drawdown

YEAR_MS = 365 * DAY_MS
CONFIDENCE = 0.95
CI_FIGURES = ("total_return", "sharpe", "sortino", "max_drawdown")


@dataclass(frozen=True, slots=True, eq=False)
class FoldOutcome:
    """What one walk-forward task returns: small (two arrays of the test window's length)."""

    policy: str
    fold: int
    seed: int
    balance: float  # the starting equity of the test window, quote
    equity_ms: np.ndarray  # [S] time of each equity sample
    equity: np.ndarray  # [S] quote
    fees: float  # quote
    traded_notional: float  # quote
    exposed_steps: int
    selection: Selection | None = None  # `auto`'s choice on this fold (walkforward_auto.py)

    @property
    def key(self) -> tuple[int, str, int]:
        """(fold, policy, seed): the order results are reported in, whatever finished first."""
        return self.fold, self.policy, self.seed

    def returns(self) -> np.ndarray:
        """Per-bar simple returns, the starting balance before the first sample."""
        previous = np.concatenate(([self.balance], self.equity[:-1]))
        return self.equity / previous - 1.0


@dataclass(frozen=True, slots=True, eq=False)
class Selection:
    """What `auto` chose on one fold from the candidates' runs on the fold's selection window
    (the end of its training window): the policy it traded on the test window, or "flat"."""

    picked: str
    candidates: tuple[FoldOutcome, ...]  # each candidate's run on the selection window
    unfit: tuple[tuple[str, str], ...] = ()  # (candidate, why it could not be fitted)


def equity_per_row(equity_ms: np.ndarray, equity: np.ndarray, first_close_ms: int, bar_ms: int,
                   rows: int, balance: float) -> np.ndarray:
    """Equity at the close of each of `rows` bars, the first closing at `first_close_ms`,
    from marks taken only at some closes (a backtester marks only rows where a symbol it
    trades has a bar): carried forward from the last mark, `balance` before the first.
    Every policy's returns then sit on the same bars, as the PBO panel needs."""
    at = (np.asarray(equity_ms, np.int64) - first_close_ms) // bar_ms
    if at.size and (at.min() < 0 or at.max() >= rows or np.any(np.diff(at) <= 0)):
        raise evaluation.EvaluationInputError(
            f"equity marks at rows {int(at.min())}..{int(at.max())} do not fit a window of "
            f"{rows} bars in rising order")
    marked = np.full(rows, -1, np.int64)
    marked[at] = np.arange(at.size)
    newest = np.maximum.accumulate(marked)
    values = np.asarray(equity, np.float64)
    return np.where(newest >= 0, values[np.maximum(newest, 0)] if values.size else balance,
                    balance)


@dataclass(frozen=True, slots=True)
class Figures:
    """One policy's figures on one fold, or over all folds."""

    total_return: float
    sharpe: float  # annualized
    sortino: float  # annualized
    max_drawdown: float  # positive fraction of the peak
    turnover: float  # traded notional / mean equity (sum over folds in the aggregate)
    fees: float  # quote (sum over folds in the aggregate)
    exposure: float  # share of bars with a position
    bars: int

    def as_dict(self) -> dict[str, float | int]:
        """The figures by name."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class PolicySummary:
    """A policy's walk-forward: per-fold figures, the aggregate with its intervals and the
    deflated Sharpe ratio."""

    policy: str
    folds: tuple[Figures, ...]
    overall: Figures
    intervals: Mapping[str, evaluation.BootstrapCI]
    sharpe_per_bar: float
    deflated_sharpe: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the aggregate figures at the top, `ci` as [low, high], per fold."""
        return _finite({**self.overall.as_dict(), "deflated_sharpe": self.deflated_sharpe,
                        "sharpe_per_bar": self.sharpe_per_bar,
                        "ci": {name: [ci.low, ci.high] for name, ci in self.intervals.items()},
                        "folds": [f.as_dict() for f in self.folds]})


@dataclass(frozen=True, slots=True)
class WalkForwardReport:
    """Every policy's summary (in the order asked), the PBO across them (None with the reason
    when it cannot be computed) and the trial count the deflated Sharpe used."""

    policies: Mapping[str, PolicySummary]
    pbo: evaluation.PboResult | None
    pbo_problem: str
    n_trials: int

    def pbo_dict(self) -> dict[str, Any]:
        """The PBO scalars, or `{"pbo": None, "problem": ...}`."""
        if self.pbo is None:
            return {"pbo": None, "problem": self.pbo_problem}
        return self.pbo.as_dict()


def annualization(bar_ms: int) -> float:
    """√(bars per 365-day year): per-bar Sharpe to annual."""
    return math.sqrt(YEAR_MS / bar_ms)


def fold_figures(outcome: FoldOutcome, bar_ms: int) -> Figures:
    """The figures of one outcome's test window."""
    returns = outcome.returns()
    curve = np.concatenate(([outcome.balance], outcome.equity))
    row = returns[np.newaxis]
    scale = annualization(bar_ms)
    return Figures(
        total_return=float(outcome.equity[-1] / outcome.balance - 1.0) if returns.size else 0.0,
        sharpe=float(evaluation.sharpe_of_rows(row)[0]) * scale if returns.size > 1 else 0.0,
        sortino=float(evaluation.sortino_of_rows(row)[0]) * scale if returns.size else 0.0,
        max_drawdown=max_drawdown(curve),
        turnover=outcome.traded_notional / float(np.mean(curve)),
        fees=outcome.fees, exposure=outcome.exposed_steps / max(1, returns.size),
        bars=int(returns.size))


def seed_average(outcomes: Sequence[FoldOutcome]) -> FoldOutcome:
    """The outcomes of one policy on one fold over several seeds as one account split equally
    among them: returns averaged bar by bar, fees, notional and exposure averaged."""
    first = outcomes[0]
    if len(outcomes) == 1:
        return first
    lengths = {o.equity.size for o in outcomes}
    if len(lengths) != 1:
        raise evaluation.EvaluationInputError(
            f"{first.policy} fold {first.fold}: seeds returned equity curves of different "
            f"lengths {sorted(lengths)}; every seed must cover the same test window")
    mean_returns = np.mean([o.returns() for o in outcomes], axis=0)
    return FoldOutcome(
        policy=first.policy, fold=first.fold, seed=-1, balance=first.balance,
        equity_ms=first.equity_ms, equity=first.balance * np.cumprod(1.0 + mean_returns),
        fees=float(np.mean([o.fees for o in outcomes])),
        traded_notional=float(np.mean([o.traded_notional for o in outcomes])),
        exposed_steps=round(float(np.mean([o.exposed_steps for o in outcomes]))))


def by_policy(outcomes: Iterable[FoldOutcome]) -> dict[str, list[FoldOutcome]]:
    """Each policy's seed-averaged outcomes, one per fold in fold order; policies in the
    order they first appear."""
    grouped: dict[str, dict[int, list[FoldOutcome]]] = defaultdict(lambda: defaultdict(list))
    for outcome in sorted(outcomes, key=lambda o: o.key):
        grouped[outcome.policy][outcome.fold].append(outcome)
    return {policy: [seed_average(runs) for _, runs in sorted(folds.items())]
            for policy, folds in grouped.items()}


def out_of_sample_returns(folds: Sequence[FoldOutcome]) -> np.ndarray:
    """One policy's per-bar returns of every fold's test window, in time order."""
    return np.concatenate([fold.returns() for fold in folds]) if folds else np.zeros(0)


def per_bar_sharpe(returns: np.ndarray) -> float:
    """Mean / sample std of per-bar returns (0 when undefined): what trials are compared by."""
    return float(evaluation.sharpe_of_rows(returns[np.newaxis])[0]) if returns.size > 1 else 0.0


def overall_figures(folds: Sequence[FoldOutcome], bar_ms: int) -> Figures:
    """The figures of the concatenated out-of-sample returns (see module doc)."""
    returns = out_of_sample_returns(folds)
    row = returns[np.newaxis]
    scale = annualization(bar_ms)
    per_fold = [fold_figures(fold, bar_ms) for fold in folds]
    bars = int(returns.size)
    return Figures(
        total_return=float(np.prod(1.0 + returns) - 1.0),
        sharpe=per_bar_sharpe(returns) * scale,
        sortino=float(evaluation.sortino_of_rows(row)[0]) * scale if bars else 0.0,
        max_drawdown=float(evaluation.max_drawdown_of_rows(row)[0]) if bars else 0.0,
        turnover=sum(f.turnover for f in per_fold), fees=sum(f.fees for f in per_fold),
        exposure=sum(f.exposure * f.bars for f in per_fold) / max(1, bars), bars=bars)


def bootstrap_intervals(returns: np.ndarray, bar_ms: int, n_boot: int,
                        seed: int) -> dict[str, evaluation.BootstrapCI]:
    """Stationary-bootstrap 95 % intervals of the aggregate figures of `returns`."""
    scale = annualization(bar_ms)
    statistics: dict[str, evaluation.RowStatistic] = {
        "total_return": lambda rows: np.prod(1.0 + rows, axis=1) - 1.0,
        "sharpe": lambda rows: evaluation.sharpe_of_rows(rows) * scale,
        "sortino": lambda rows: evaluation.sortino_of_rows(rows) * scale,
        "max_drawdown": evaluation.max_drawdown_of_rows,
    }
    if returns.size < 2:
        nan = evaluation.BootstrapCI(math.nan, math.nan, math.nan)
        return {name: nan for name in statistics}
    return {name: evaluation.series_bootstrap_ci(returns, statistic, CONFIDENCE, n_boot, seed)
            for name, statistic in statistics.items()}


def deflated_sharpe(returns: np.ndarray, n_trials: int, trial_sharpes: Sequence[float]) -> float:
    """The deflated Sharpe ratio of per-bar `returns` against `n_trials` configurations whose
    per-bar Sharpes were `trial_sharpes` (their variance sets the bar to beat)."""
    sharpe, skew, kurtosis, n_obs = evaluation.sharpe_moments(returns)
    variance = float(np.var(trial_sharpes, ddof=1)) if len(trial_sharpes) > 1 else 0.0
    return evaluation.deflated_sharpe_ratio(sharpe, max(1, n_trials), n_obs, skew, kurtosis,
                                            variance)


def overfitting(series: Mapping[str, np.ndarray], n_splits: int,
                seed: int) -> tuple[evaluation.PboResult | None, str]:
    """PBO by CSCV on the policies' out-of-sample returns (columns in `series` order), or None
    and why it cannot be computed (fewer than two policies, too few bars)."""
    lengths = {name: values.size for name, values in series.items()}
    if len(set(lengths.values())) > 1:
        return None, f"policies cover different numbers of bars {lengths}"
    try:
        panel = np.column_stack(list(series.values())) if series else np.zeros((0, 0))
        return evaluation.probability_of_backtest_overfitting(panel, n_splits, seed=seed), ""
    except evaluation.EvaluationInputError as exc:
        return None, str(exc)


def summarize(outcomes: Iterable[FoldOutcome], bar_ms: int, *, n_trials: int,
              trial_sharpes: Sequence[float], n_boot: int = 2_000, seed: int = 0,
              pbo_splits: int = evaluation.PBO_SPLITS) -> WalkForwardReport:
    """The walk-forward report of every outcome (see module doc). `n_trials` and
    `trial_sharpes` come from the registry of configurations tried, this run's included."""
    folds_by_policy = by_policy(outcomes)
    series = {name: out_of_sample_returns(folds) for name, folds in folds_by_policy.items()}
    summaries = {
        name: PolicySummary(
            policy=name, folds=tuple(fold_figures(f, bar_ms) for f in folds),
            overall=overall_figures(folds, bar_ms),
            intervals=bootstrap_intervals(series[name], bar_ms, n_boot, seed),
            sharpe_per_bar=per_bar_sharpe(series[name]),
            deflated_sharpe=deflated_sharpe(series[name], n_trials, trial_sharpes))
        for name, folds in folds_by_policy.items()}
    pbo, problem = overfitting(series, pbo_splits, seed)
    return WalkForwardReport(summaries, pbo, problem, n_trials)


def _finite(value: Any) -> Any:
    """NaN and inf to None, so the JSON is strict."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
