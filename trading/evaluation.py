"""Statistics that judge a backtest result against chance and against the search behind it.

`trading.performance` measures one equity curve; this module asks how far to trust the
measurement: a bootstrap confidence interval of any statistic of a return series, the
deflated Sharpe ratio (Bailey & López de Prado 2014), which discounts the best Sharpe by
how many configurations were tried, and the probability of backtest overfitting by
combinatorially symmetric cross-validation (CSCV; Bailey, Borwein, López de Prado & Zhu
2015), which asks how often the in-sample winner of a set of configurations is below the
out-of-sample median. All are pure functions of plain arrays, deterministic for a seed.

It sits in `trading` (beside `performance`) so that both `rl` (the arena's gate) and
`bot.research` (the walk-forward runner) can import it. No scipy: the normal CDF and its
inverse are the standard library's `statistics.NormalDist`; array logarithms go through
`model.libm` so a result has the same bits on every CPU.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from model import errors, libm

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()

RowStatistic = Callable[[np.ndarray], np.ndarray]
"""Maps a 2-D array (one resampled series per row) to one value per row."""


class EvaluationInputError(errors.DataError, ValueError):
    """A return panel or split count the statistic cannot be computed on (NaNs, too few
    rows or configurations, an odd split count). The same input fails the same way, so it
    is refused, not retried; the message says what to change."""


# -- bootstrap -----------------------------------------------------------------------------


class BootstrapCI(NamedTuple):
    """Percentile bootstrap interval of a statistic, with the statistic of the sample itself."""

    low: float
    high: float
    estimate: float


def mean_of_rows(resamples: np.ndarray) -> np.ndarray:
    """Mean of each row."""
    return resamples.mean(axis=1)


def sharpe_of_rows(resamples: np.ndarray) -> np.ndarray:
    """Per-observation Sharpe (mean / sample std, risk-free 0) of each row; 0 when undefined,
    as in `trading.performance.sharpe_sortino`."""
    mean, std = resamples.mean(axis=1), resamples.std(axis=1, ddof=1)
    defined = (std > 0) & (std > 1e-9 * np.abs(mean))  # a constant row's std is rounding
    return np.divide(mean, std, out=np.zeros(len(resamples)), where=defined)


def sortino_of_rows(resamples: np.ndarray) -> np.ndarray:
    """Per-observation Sortino (mean / root mean squared loss) of each row; 0 when undefined."""
    downside = np.sqrt(np.mean(np.minimum(resamples, 0.0) ** 2, axis=1))
    return np.divide(resamples.mean(axis=1), downside, out=np.zeros(len(resamples)),
                     where=downside > 0)


def max_drawdown_of_rows(resamples: np.ndarray) -> np.ndarray:
    """Max drawdown (positive fraction of the running peak, starting from 1) of each row of
    simple returns compounded into an equity curve."""
    equity = np.cumprod(1.0 + resamples, axis=1)
    peaks = np.maximum(np.maximum.accumulate(equity, axis=1), 1.0)
    return np.max(1.0 - equity / peaks, axis=1, initial=0.0)


def stationary_indices(rng: np.random.Generator, n: int, rows: int,
                       mean_block_length: float) -> np.ndarray:
    """`rows` × `n` resampling indices of the stationary bootstrap (Politis & Romano 1994).

    Each resample is a chain of blocks of the sample, read circularly: a block starts at a
    uniform index and each next element starts a new block with probability
    1 / `mean_block_length` (so block lengths are geometric). A mean block length of 1 is
    the ordinary i.i.d. bootstrap and draws exactly `rng.integers(0, n, (rows, n))`.
    """
    starts = rng.integers(0, n, size=(rows, n))
    if mean_block_length <= 1:
        return starts
    new_block = rng.random((rows, n)) < 1.0 / mean_block_length
    new_block[:, 0] = True
    position = np.arange(n)
    block_start = np.maximum.accumulate(np.where(new_block, position, 0), axis=1)
    first = np.take_along_axis(starts, block_start, axis=1)
    return (first + position - block_start) % n


def bootstrap_ci(sample: ArrayLike, confidence: float = 0.95, n_boot: int = 10_000,
                 seed: int = 0, *, statistic: RowStatistic = mean_of_rows,
                 mean_block_length: float = 1.0) -> BootstrapCI:
    """Percentile bootstrap CI of `statistic` of `sample` (the mean by default).

    With the default mean block length of 1 this resamples single observations, right for
    independent ones (the arena's paired episodes, whose pairing must stay intact). For a
    return series use `series_bootstrap_ci`. Percentile rather than BCa keeps it simple; at
    n ≥ 200 its coverage is within a point of nominal (tested). Deterministic for a seed;
    computed in chunks so `n_boot` × n indices never sit in memory at once.
    """
    values = np.asarray(sample, dtype=np.float64).ravel()
    if values.size == 0:
        return BootstrapCI(math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    n = values.size
    chunk = max(1, 2_000_000 // n)
    stats = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        indices = stationary_indices(rng, n, stop - start, mean_block_length)
        stats[start:stop] = statistic(values[indices])
    tail = (1 - confidence) / 2
    low, high = np.quantile(stats, [tail, 1 - tail])
    return BootstrapCI(float(low), float(high), float(statistic(values[np.newaxis])[0]))


def series_block_length(n_obs: int) -> float:
    """Default mean block length for a series of `n_obs` returns: n^(1/3), the rate at which
    the optimal block length grows (Politis & White 2004), at least 1."""
    return max(1.0, n_obs ** (1 / 3))


def series_bootstrap_ci(returns: ArrayLike, statistic: RowStatistic = mean_of_rows,
                        confidence: float = 0.95, n_boot: int = 2_000, seed: int = 0,
                        mean_block_length: float | None = None) -> BootstrapCI:
    """Stationary-bootstrap CI of `statistic` of a return series, in time order.

    Why blocks: bar returns are autocorrelated, weakly in sign and strongly in size
    (volatility clusters), so resampling single bars treats a calm week and a crash as
    exchangeable and makes intervals too narrow. Resampling blocks keeps the dependence
    within each block. Stationary (random geometric lengths, Politis & Romano 1994) rather
    than moving-block with a fixed length: its resamples are themselves stationary and its
    result depends smoothly on the block length instead of jumping with it, so the
    n^(1/3) default (`series_block_length`) is a safe choice without tuning. Order-dependent
    statistics (max drawdown) see the order within blocks only: a rough interval.
    """
    values = np.asarray(returns, dtype=np.float64).ravel()
    length = series_block_length(values.size) if mean_block_length is None else mean_block_length
    return bootstrap_ci(values, confidence, n_boot, seed, statistic=statistic,
                        mean_block_length=length)


# -- deflated Sharpe ratio -----------------------------------------------------------------


def expected_max_sharpe(n_trials: int, sharpe_variance_across_trials: float) -> float:
    """E[max Sharpe] of `n_trials` skill-less strategies (Bailey & López de Prado 2014, eq. 7).

    This is the Sharpe a candidate must beat merely to be better than the luckiest of all
    the configurations tried; one trial means no selection, hence 0.
    """
    if n_trials <= 1 or sharpe_variance_across_trials <= 0:
        return 0.0
    quantile = _NORMAL.inv_cdf
    return math.sqrt(sharpe_variance_across_trials) * (
        (1 - EULER_GAMMA) * quantile(1 - 1 / n_trials)
        + EULER_GAMMA * quantile(1 - 1 / (n_trials * math.e)))


def probabilistic_sharpe_ratio(sharpe: float, benchmark: float, n_obs: int, skew: float,
                               kurtosis: float) -> float:
    """PSR(SR*) = Φ((SR − SR*)·√(T − 1) / √(1 − γ3·SR + (γ4 − 1)/4·SR²)) (Bailey & López de
    Prado 2012): the probability that the true Sharpe exceeds `benchmark`, given `n_obs`
    returns with that skew and plain (non-excess) kurtosis. NaN when undefined."""
    if n_obs < 2:
        return math.nan
    denominator = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if denominator <= 0:  # moments so extreme the normal approximation breaks down
        return math.nan
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(denominator))


def deflated_sharpe_ratio(sharpe: float, n_trials: int, n_obs: int, skew: float,
                          kurtosis: float, sharpe_variance_across_trials: float) -> float:
    """Probability that the true Sharpe exceeds the best a skill-less search would find.

    `sharpe` is per observation (not annualized), `kurtosis` is the plain (non-excess)
    fourth standardized moment (3 for normal returns), `n_trials` counts every candidate ever
    tried, rejected ones included: leaving them out is exactly the selection bias DSR exists
    to remove. Returns PSR(SR*) with SR* = `expected_max_sharpe` of the trials.
    """
    if n_obs < 2:
        return math.nan
    benchmark = expected_max_sharpe(n_trials, sharpe_variance_across_trials)
    return probabilistic_sharpe_ratio(sharpe, benchmark, n_obs, skew, kurtosis)


def sharpe_moments(returns: ArrayLike) -> tuple[float, float, float, int]:
    """(Sharpe, skew, plain kurtosis, n) of per-observation returns, for the DSR."""
    sample = np.asarray(returns, dtype=np.float64).ravel()
    n = sample.size
    std = float(sample.std(ddof=1)) if n > 1 else 0.0
    if std == 0:
        return 0.0, 0.0, 3.0, n
    z = (sample - sample.mean()) / sample.std()
    skew = float(np.mean(libm.power(z, 3.0)))
    kurtosis = float(np.mean(libm.power(z, 4.0)))
    return float(sample.mean() / std), skew, kurtosis, n


# -- probability of backtest overfitting (CSCV) ----------------------------------------------

PBO_SPLITS = 16
"""Default S: C(16, 8) = 12,870 combinations, all enumerated, and each block keeps 1/16 of
the rows (a year of hourly bars: 23 days per block). The paper uses S = 16; fewer blocks
give too few combinations for a smooth λ distribution (S = 8: 70), more make blocks so short
that a block's Sharpe is noise and enumerating C(S, S/2) explodes (S = 24: 2.7 million)."""

PBO_MAX_COMBINATIONS = 20_000
"""Above this many combinations a seeded random subset of this size is used (stated in the
result), so S up to 16 is always exact."""


@dataclass(frozen=True, slots=True, eq=False)
class PboResult:
    """Outcome of CSCV over one panel of configurations.

    Per combination c (row of `in_sample_blocks`, the blocks used in sample): `lambdas[c]`
    is the logit of the out-of-sample relative rank of the in-sample best configuration,
    `best_in_sample_sharpe[c]` / `best_out_of_sample_sharpe[c]` are its Sharpes (per row).
    `pbo` is the share of λ ≤ 0 (the in-sample winner at or below the out-of-sample median),
    `degradation_slope` the OLS slope of out-of-sample on in-sample Sharpe of the winner
    (negative: the better it looked, the worse it did), `probability_of_loss` the share of
    combinations whose winner has a negative out-of-sample Sharpe.
    """

    pbo: float
    lambdas: np.ndarray
    in_sample_blocks: np.ndarray
    best_in_sample_sharpe: np.ndarray
    best_out_of_sample_sharpe: np.ndarray
    degradation_slope: float
    degradation_intercept: float
    probability_of_loss: float
    n_splits: int
    n_configurations: int
    rows_used: int
    n_combinations: int
    n_combinations_total: int
    seed: int

    def as_dict(self) -> dict[str, float | int | bool | None]:
        """The scalars, JSON-ready (NaN becomes None); the per-combination arrays stay out."""
        scalars = {"pbo": self.pbo, "degradation_slope": self.degradation_slope,
                   "degradation_intercept": self.degradation_intercept,
                   "probability_of_loss": self.probability_of_loss,
                   "n_splits": self.n_splits, "n_configurations": self.n_configurations,
                   "rows_used": self.rows_used, "n_combinations": self.n_combinations,
                   "n_combinations_total": self.n_combinations_total,
                   "sampled": self.n_combinations < self.n_combinations_total,
                   "seed": self.seed}
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v
                for k, v in scalars.items()}


def probability_of_backtest_overfitting(
        returns: ArrayLike, n_splits: int = PBO_SPLITS, *,
        max_combinations: int = PBO_MAX_COMBINATIONS, seed: int = 0) -> PboResult:
    """CSCV (Bailey, Borwein, López de Prado & Zhu 2015) on `returns[T, N]`: T bars in time
    order, one column per configuration tried (every one, losers included).

    The rows are cut into `n_splits` = S equal blocks (the oldest T mod S rows are dropped so
    the blocks are equal). For every choice of S/2 blocks as in-sample (the rest, its mirror,
    out-of-sample): pick the configuration with the best in-sample Sharpe (the first on a
    tie), rank its out-of-sample Sharpe among all N (ties share the average rank), ω = rank /
    (N + 1), λ = log(ω / (1 − ω)). Sharpe is per row, 0 when a half has no variance.
    """
    panel = _checked_panel(returns, n_splits)
    if max_combinations < 1:
        raise EvaluationInputError(f"max_combinations must be ≥ 1, got {max_combinations}")
    rows_per_block = panel.shape[0] // n_splits
    blocks_used = panel[panel.shape[0] - rows_per_block * n_splits:]
    shift = blocks_used.mean(axis=0)  # centred sums of squares do not cancel catastrophically
    by_block = (blocks_used - shift).reshape(n_splits, rows_per_block, -1)
    block_sum, block_squares = by_block.sum(axis=1), (by_block**2).sum(axis=1)
    in_sample, total = _cscv_combinations(n_splits, max_combinations, seed)
    mask = np.zeros((len(in_sample), n_splits), dtype=bool)
    np.put_along_axis(mask, in_sample, True, axis=1)
    out_of_sample = np.argsort(mask, axis=1, kind="stable")[:, : n_splits // 2]

    half_rows = rows_per_block * n_splits // 2
    is_sharpe = _half_sharpe(in_sample, block_sum, block_squares, half_rows, shift)
    oos_sharpe = _half_sharpe(out_of_sample, block_sum, block_squares, half_rows, shift)
    best = np.argmax(is_sharpe, axis=1)
    pick = np.arange(len(best))
    best_is, best_oos = is_sharpe[pick, best], oos_sharpe[pick, best]
    below = (oos_sharpe < best_oos[:, None]).sum(axis=1)
    equal = (oos_sharpe == best_oos[:, None]).sum(axis=1)
    omega = (below + (equal + 1) / 2) / (panel.shape[1] + 1)
    lambdas = libm.log(omega / (1 - omega))
    slope, intercept = _ols(best_is, best_oos)
    return PboResult(
        pbo=float(np.mean(lambdas <= 0)), lambdas=lambdas, in_sample_blocks=in_sample,
        best_in_sample_sharpe=best_is, best_out_of_sample_sharpe=best_oos,
        degradation_slope=slope, degradation_intercept=intercept,
        probability_of_loss=float(np.mean(best_oos < 0)), n_splits=n_splits,
        n_configurations=panel.shape[1], rows_used=len(blocks_used),
        n_combinations=len(in_sample), n_combinations_total=total, seed=seed)


def _checked_panel(returns: ArrayLike, n_splits: int) -> np.ndarray:
    panel = np.asarray(returns, dtype=np.float64)
    if panel.ndim != 2:
        raise EvaluationInputError(
            f"PBO needs a 2-D panel (bars × configurations), got {panel.ndim} dimension(s)")
    rows, configurations = panel.shape
    if configurations < 2:
        raise EvaluationInputError(
            f"PBO needs at least 2 configurations (columns) to rank, got {configurations}")
    if n_splits < 2 or n_splits % 2:
        raise EvaluationInputError(
            f"n_splits must be an even number ≥ 2 (half the blocks in sample), got {n_splits}")
    if rows < n_splits or rows // n_splits * n_splits // 2 < 2:
        raise EvaluationInputError(
            f"{rows} rows cannot be cut into {n_splits} blocks with ≥ 2 rows per half: "
            "use fewer splits or more bars")
    if not np.isfinite(panel).all():
        bad = sorted({int(c) for c in np.argwhere(~np.isfinite(panel))[:, 1]})
        raise EvaluationInputError(
            f"returns contain NaN or inf in configuration column(s) {bad[:10]}: "
            "fill or drop them before computing PBO")
    return panel


def _cscv_combinations(n_splits: int, cap: int, seed: int) -> tuple[np.ndarray, int]:
    """(in-sample block indices per combination, sorted rows; C(S, S/2)): all of them, or
    `cap` distinct ones drawn with a seeded generator when there are more."""
    half = n_splits // 2
    total = math.comb(n_splits, half)
    if total <= cap:
        return np.array(list(itertools.combinations(range(n_splits), half))), total
    rng = np.random.default_rng(seed)
    chosen: set[tuple[int, ...]] = set()
    while len(chosen) < cap:
        draws = np.sort(np.argsort(rng.random((cap, n_splits)), axis=1)[:, :half], axis=1)
        for row in draws:
            chosen.add(tuple(int(b) for b in row))
            if len(chosen) == cap:
                break
    return np.array(sorted(chosen)), total


def _half_sharpe(blocks: np.ndarray, block_sum: np.ndarray, block_squares: np.ndarray,
                 n_rows: int, shift: np.ndarray) -> np.ndarray:
    """Sharpe[combination, configuration] of the rows in each combination's `blocks`, from
    per-block sums of centred returns, added in block order (no matrix product: BLAS
    results vary by machine)."""
    total = block_sum[blocks].sum(axis=1)
    squares = block_squares[blocks].sum(axis=1)
    centred_mean = total / n_rows
    variance = (squares - total * centred_mean) / (n_rows - 1)
    # A half with no variance (a flat configuration) has Sharpe 0. Rounding leaves such a
    # half a variance of ~1e-16 of its mean square, a real one has far more than 1e-10 of it.
    defined = variance > 1e-10 * squares / (n_rows - 1)
    std = np.sqrt(np.where(defined, variance, 1.0))
    return np.where(defined, (centred_mean + shift) / std, 0.0)


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of y on x over finite pairs; NaN when x does not vary."""
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if x.size < 2:
        return math.nan, math.nan
    dx = x - x.mean()
    spread = float(np.sum(dx * dx))
    if spread == 0:
        return math.nan, math.nan
    slope = float(np.sum(dx * (y - y.mean()))) / spread
    return slope, float(y.mean()) - slope * float(x.mean())
