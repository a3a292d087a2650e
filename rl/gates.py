"""Statistics of the arena's promotion gate: pure functions on per-episode results.

Why a gate at all: on replayed prices the two players never interact, so "better" is a
question about the distribution of paired episode outcomes, and a handful of games answers it
badly (a 20-game "win more than 55%" gate passes a no-better net ~25% of the time). Every
function here takes plain arrays (one entry per episode, both players on the *same* episode
at the same index) so the gate can be tested on known distributions without an environment.

The bootstrap and the deflated Sharpe ratio live in `trading.evaluation` (the walk-forward
runner uses them too) and are imported from there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from trading.evaluation import bootstrap_ci as bootstrap_ci
from trading.evaluation import deflated_sharpe_ratio as deflated_sharpe_ratio
from trading.evaluation import expected_max_sharpe as expected_max_sharpe
from trading.evaluation import sharpe_moments as sharpe_moments

SprtDecision = Literal["accept_h1", "accept_h0", "continue"]

DRAWDOWN_PENALTY = 0.5
"""λ in score = log growth − λ·max drawdown: a drawdown costs half its size in log growth,
enough to prefer the smoother of two equally growing players without letting a single dip
outweigh real growth. Configurable everywhere it is used."""

TIE_TOLERANCE = 1e-9
"""Paired score differences within this are ties (both flat all episode, say) and carry no
evidence either way, so SPRT skips them."""


# -- sequential probability ratio test --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SprtResult:
    """Outcome of Wald's SPRT on a sequence of paired wins.

    `n` is the number of decisive games consumed (the test stops at the first boundary
    crossing, so later games are not looked at); `bounds` = (lower, upper) on the
    log-likelihood ratio.
    """

    decision: SprtDecision
    llr: float
    bounds: tuple[float, float]
    n: int
    wins: int
    losses: int


def sprt_bounds(alpha: float = 0.05, beta: float = 0.2) -> tuple[float, float]:
    """Wald's boundaries (log B, log A) = (log β/(1−α), log (1−β)/α)."""
    return math.log(beta / (1 - alpha)), math.log((1 - beta) / alpha)


def sprt(wins: Sequence[bool] | ArrayLike, p0: float = 0.5, p1: float = 0.55,
         alpha: float = 0.05, beta: float = 0.2) -> SprtResult:
    """Wald's SPRT of H0: P(candidate wins) = p0 against H1: = p1, on games in order.

    `wins` holds only decisive games: ties must be removed beforehand (see `paired_wins`),
    because a tie is evidence for neither hypothesis and counting it as a loss would bias the
    test against a candidate that often does exactly what the best player does. The test
    stops at the first crossing; a sequence that ends between the bounds is "continue",
    which the gate treats as "not proven better". Truncating a sequence only lowers the
    chance of accepting H1 under H0, so the false-promotion rate stays at most ~α.
    """
    outcomes = np.asarray(wins, dtype=bool).ravel()
    lower, upper = sprt_bounds(alpha, beta)
    step_win, step_loss = math.log(p1 / p0), math.log((1 - p1) / (1 - p0))
    path = np.cumsum(np.where(outcomes, step_win, step_loss))
    crossed = np.flatnonzero((path >= upper) | (path <= lower))
    if crossed.size:
        stop = int(crossed[0])
        llr = float(path[stop])
        decision: SprtDecision = "accept_h1" if llr >= upper else "accept_h0"
        used = outcomes[: stop + 1]
    else:
        llr = float(path[-1]) if path.size else 0.0
        decision = "continue"
        used = outcomes
    won = int(used.sum())
    return SprtResult(decision, llr, (lower, upper), int(used.size), won, int(used.size) - won)


def paired_wins(candidate_scores: ArrayLike, best_scores: ArrayLike,
                tie_tolerance: float = TIE_TOLERANCE) -> np.ndarray:
    """Candidate-won flags for the decisive episodes, in episode order (ties dropped)."""
    diff = _paired_diff(candidate_scores, best_scores)
    decisive = np.abs(diff) > tie_tolerance
    return diff[decisive] > 0


def naive_majority_gate(wins: Sequence[bool] | ArrayLike, threshold: float = 0.55) -> bool:
    """The gate we replace: promote when the win rate exceeds `threshold` (AlphaZero's 55%).

    Kept only so tests can show its false-promotion rate beside SPRT's.
    """
    outcomes = np.asarray(wins, dtype=bool)
    return bool(outcomes.size and outcomes.mean() > threshold)


# -- per-episode risk and score ---------------------------------------------------------------


def episode_score(log_growth: ArrayLike, max_drawdown: ArrayLike,
                  drawdown_penalty: float = DRAWDOWN_PENALTY) -> np.ndarray:
    """Score per episode = log(final / initial equity) − λ·max drawdown (a fraction)."""
    return (np.asarray(log_growth, dtype=np.float64)
            - drawdown_penalty * np.asarray(max_drawdown, dtype=np.float64))


def max_drawdown_paths(equity: ArrayLike) -> np.ndarray:
    """Max drawdown (positive fraction of the running peak) of each row of `equity`.

    Same definition as `trading.performance.max_drawdown`, vectorized over episodes.
    """
    curves = np.atleast_2d(np.asarray(equity, dtype=np.float64))
    peaks = np.maximum.accumulate(curves, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(peaks > 0, 1 - curves / peaks, 0.0)
    return drawdown.max(axis=1) if curves.shape[1] else np.zeros(curves.shape[0])


def cvar(returns: ArrayLike, level: float = 0.95) -> float:
    """Conditional value at risk: the mean loss of the worst (1 − level) share of returns.

    Reported as a positive loss (0.08 = on average −8% in the worst 5% of episodes), so
    "no worse" means "not larger". Uses the ⌈(1 − level)·n⌉ worst observations, which keeps
    at least one and never interpolates between episodes.
    """
    sample = np.sort(np.asarray(returns, dtype=np.float64).ravel())
    if sample.size == 0:
        return math.nan
    k = max(1, math.ceil((1 - level) * sample.size - 1e-9))
    return float(-sample[:k].mean())


# -- the promotion decision ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """One criterion of the gate: whether it passed, why, and every number behind it."""

    passed: bool
    reason: str
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GateReport:
    """Every statistic of one arena, pass or fail; `promote` only if every check passed.

    `info` holds recorded-but-not-gating numbers (the deflated Sharpe ratio). `as_dict()` is
    plain JSON for the model registry.
    """

    promote: bool
    checks: dict[str, Check]
    info: dict[str, Any]

    @property
    def failed(self) -> list[str]:
        """Names of the checks that did not pass (empty when promoted)."""
        return [name for name, check in self.checks.items() if not check.passed]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (NaN becomes None so strict JSON parsers accept it)."""
        return _json_ready({"promote": self.promote, "failed": self.failed,
                            "checks": {k: asdict(v) for k, v in self.checks.items()},
                            "info": self.info})


def promotion_decision(
    candidate_scores: ArrayLike, best_scores: ArrayLike,
    candidate_dd: ArrayLike, best_dd: ArrayLike,
    candidate_cvar: float, best_cvar: float,
    baseline_scores: Mapping[str, ArrayLike], *,
    candidate_returns: ArrayLike | None = None,
    n_trials: int = 1, trial_sharpes: Sequence[float] = (),
    p0: float = 0.5, p1: float = 0.55, alpha: float = 0.05, beta: float = 0.2,
    confidence: float = 0.95, n_boot: int = 10_000, seed: int = 0,
    drawdown_ratio: float = 1.1, tie_tolerance: float = TIE_TOLERANCE,
) -> GateReport:
    """Decide promotion from paired per-episode results; record everything either way.

    Index i of every array is the same episode (same start, symbols, capital, seed, fill
    model). Checks, all required:
      sprt       Wald SPRT on decisive paired wins (ties dropped) accepts H1 (p1 over p0).
      bootstrap  the `confidence` bootstrap CI of mean(candidate − best score) lies above 0.
      drawdown   mean per-episode max drawdown ≤ `drawdown_ratio` × best's. The mean, not
                 the single worst episode, because the worst of 200 is one noisy draw.
      cvar       candidate's CVaR95 of episode returns (a positive loss) ≤ best's.
      baseline:<name>  for each baseline, mean over the same episodes of (candidate score −
                 baseline score) is strictly > 0. Its bootstrap CI is recorded, not required:
                 the baselines are yardsticks, the best player is the bar.
    Recorded only: the deflated Sharpe ratio of `candidate_returns` (per-episode log growth)
    against `n_trials` (every candidate ever tried, this one included), with the variance of
    `trial_sharpes` (earlier candidates' episode Sharpes), or 1/(T−1), the variance of a
    Sharpe estimate under no skill, when fewer than two are known.
    """
    diff = _paired_diff(candidate_scores, best_scores)
    checks: dict[str, Check] = {}

    test = sprt(paired_wins(candidate_scores, best_scores, tie_tolerance), p0, p1, alpha, beta)
    ties = int(diff.size - np.count_nonzero(np.abs(diff) > tie_tolerance))
    checks["sprt"] = Check(test.decision == "accept_h1",
                           f"SPRT {test.decision} after {test.n} decisive games "
                           f"({test.wins} won, {ties} ties dropped)",
                           {**asdict(test), "ties": ties, "episodes": int(diff.size),
                            "p0": p0, "p1": p1, "alpha": alpha, "beta": beta})

    ci = bootstrap_ci(diff, confidence, n_boot, seed)
    checks["bootstrap"] = Check(ci.low > 0,
                                f"{confidence:.0%} CI of mean score difference "
                                f"[{ci.low:.5f}, {ci.high:.5f}]",
                                {"low": ci.low, "high": ci.high, "mean": ci.estimate,
                                 "confidence": confidence, "n_boot": n_boot})

    cand_dd, best_dd_arr = _as_array(candidate_dd), _as_array(best_dd)
    mean_dd, mean_best_dd = float(cand_dd.mean()), float(best_dd_arr.mean())
    checks["drawdown"] = Check(mean_dd <= drawdown_ratio * mean_best_dd + 1e-12,
                               f"mean max drawdown {mean_dd:.4f} vs limit "
                               f"{drawdown_ratio:g} × {mean_best_dd:.4f}",
                               {"candidate_mean": mean_dd, "best_mean": mean_best_dd,
                                "candidate_worst": float(cand_dd.max()),
                                "best_worst": float(best_dd_arr.max()),
                                "ratio_limit": drawdown_ratio})

    checks["cvar"] = Check(candidate_cvar <= best_cvar + 1e-12,
                           f"CVaR95 {candidate_cvar:.4f} vs best's {best_cvar:.4f}",
                           {"candidate": float(candidate_cvar), "best": float(best_cvar)})

    for name, scores in baseline_scores.items():
        versus = _paired_diff(candidate_scores, scores)
        versus_ci = bootstrap_ci(versus, confidence, n_boot, seed)
        checks[f"baseline:{name}"] = Check(
            versus_ci.estimate > 0, f"mean score difference vs {name} {versus_ci.estimate:.5f}",
            {"low": versus_ci.low, "high": versus_ci.high, "mean": versus_ci.estimate,
             "win_rate": float(np.mean(versus > tie_tolerance))})

    info: dict[str, Any] = {"n_trials": n_trials}
    if candidate_returns is not None:
        sharpe, skew, kurt, n = sharpe_moments(candidate_returns)
        known = np.asarray(trial_sharpes, dtype=np.float64)
        variance = float(known.var(ddof=1)) if known.size >= 2 else 1 / max(n - 1, 1)
        info.update(sharpe=sharpe, skew=skew, kurtosis=kurt, n_obs=n,
                    sharpe_variance_across_trials=variance,
                    expected_max_sharpe=expected_max_sharpe(n_trials, variance),
                    deflated_sharpe_ratio=deflated_sharpe_ratio(
                        sharpe, n_trials, n, skew, kurt, variance))
    return GateReport(all(c.passed for c in checks.values()), checks, info)


def _as_array(values: ArrayLike) -> np.ndarray:
    return np.atleast_1d(np.asarray(values, dtype=np.float64)).ravel()


def _paired_diff(first: ArrayLike, second: ArrayLike) -> np.ndarray:
    a, b = _as_array(first), _as_array(second)
    if a.shape != b.shape:
        raise ValueError(f"paired arrays differ in length: {a.size} vs {b.size}")
    return a - b


def _json_ready(value: Any) -> Any:
    """Recursively turn numpy scalars, tuples and NaN into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
