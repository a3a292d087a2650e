"""Portfolio Value-at-Risk and Expected Shortfall, as a fraction of equity.

Inputs are position values (quote currency, signed: a long is positive) and a return history
`returns[T, n_symbols]` of simple returns per period. A scenario's profit is
`returns[t] @ values`; its loss is the negative of that. Three measures:

- **historical VaR**: the empirical `confidence` quantile of the loss (no distribution
  assumed; fat tails and co-crashes in the history are kept);
- **historical ES**: the mean loss in the worst `1 - confidence` share of scenarios
  (Acerbi-Tasche estimator, so it is coherent and >= VaR);
- **parametric VaR/ES**: normal with the sample covariance (ddof=1) and zero mean; the mean
  is left out on purpose, since a one-day drift estimate is mostly noise and including it
  would let a lucky history shrink the limit.

**Horizon scaling.** A history of `period_days`-long returns (1 for daily, 1/1440 for 1m
bars, 1/24 for 1h bars: `ReturnHistory.of_bars` takes it from the bar length) is scaled to
`horizon_days` by the square-root-of-time rule, i.e. every scenario's
loss is multiplied by sqrt(horizon_days / period_days). That is exact for iid zero-mean
normal returns and an approximation otherwise: it *understates* risk when returns are
autocorrelated (trending) or when tails thicken over longer horizons. With daily returns
(`period_days=1`, `horizon_days=1`) there is no scaling at all; prefer that when enough
daily history exists.

The array functions take `values` of shape (n,) or (k, n) (k candidate portfolios at once, e.g.
"current positions + each candidate order") and returns a float or a (k,) array. Pure numpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

from model.timeframes import DAY_MS
from risk.var_kernel import zero_gaps

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ReturnHistory:
    """Aligned simple returns of several symbols: `returns[t, j]` is symbol j's return in
    period t, each period `period_days` long (1.0 daily, 1/1440 for 1m bars). NaN marks a
    missing observation (so does ±inf); rows with one in any *selected* column are dropped.

    Build one per decision step and reuse it for every candidate: the gap scan is done once
    here, so each portfolio check is a single matrix-vector product.
    """

    symbols: tuple[str, ...]
    returns: FloatArray
    period_days: float = 1.0
    _column: dict[str, int] = field(init=False, repr=False, compare=False)
    _has_gap: NDArray[np.bool_] = field(init=False, repr=False, compare=False)
    _filled: FloatArray = field(init=False, repr=False, compare=False)
    _finite: NDArray[np.bool_] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.returns.ndim != 2 or self.returns.shape[1] != len(self.symbols):
            raise ValueError(
                f"returns must be [T, {len(self.symbols)}], got shape {self.returns.shape}"
            )
        if self.period_days <= 0:
            raise ValueError(f"period_days must be > 0, got {self.period_days}")
        finite = np.isfinite(self.returns)
        # Gaps read as 0 so a zero weight on a gappy column cannot turn the P&L into NaN;
        # rows with a gap in a *selected* column are dropped in `pnl`.
        if finite.all():
            has_gap, filled = np.zeros(finite.shape[1], bool), self.returns
        elif self.returns.dtype == np.float64 and self.returns.flags.c_contiguous:
            has_gap, filled = np.empty(finite.shape[1], bool), np.empty_like(self.returns)
            zero_gaps(self.returns, finite, has_gap, filled)  # the two lines below, compiled
        else:
            has_gap, filled = ~finite.all(axis=0), np.where(finite, self.returns, 0.0)
        object.__setattr__(self, "_column", {s: j for j, s in enumerate(self.symbols)})
        object.__setattr__(self, "_has_gap", has_gap)
        object.__setattr__(self, "_filled", filled)
        object.__setattr__(self, "_finite", finite)

    @classmethod
    def complete(cls, symbols: tuple[str, ...], returns: FloatArray,
                 period_days: float = 1.0) -> ReturnHistory:
        """The history the constructor would build from `returns` that the caller knows to be
        finite everywhere (no gap), without the constructor's gap scan: an isfinite and a
        column reduction over [T, n] that cost more than the VaR itself at 1440 x 20 (the
        fast backtester vouches once per run and builds one history per acting step)."""
        if returns.ndim != 2 or returns.shape[1] != len(symbols):
            raise ValueError(f"returns must be [T, {len(symbols)}], got shape {returns.shape}")
        if period_days <= 0:
            raise ValueError(f"period_days must be > 0, got {period_days}")
        history = object.__new__(cls)
        for name, value in (("symbols", symbols), ("returns", returns),
                            ("period_days", period_days),
                            ("_column", {s: j for j, s in enumerate(symbols)}),
                            ("_has_gap", np.zeros(len(symbols), bool)), ("_filled", returns),
                            ("_finite", None)):
            object.__setattr__(history, name, value)
        return history

    def over(self, returns: FloatArray) -> ReturnHistory:
        """`complete(self.symbols, returns, self.period_days)` for a history that is itself
        vouched complete, sharing its column map and gap flags instead of building them
        again (the fast backtester makes one history per acting step, each over the same
        columns)."""
        if self._finite is not None or returns.shape != self.returns.shape:
            return ReturnHistory.complete(self.symbols, returns, self.period_days)
        history = object.__new__(ReturnHistory)
        for name, value in (("symbols", self.symbols), ("returns", returns),
                            ("period_days", self.period_days), ("_column", self._column),
                            ("_has_gap", self._has_gap), ("_filled", returns),
                            ("_finite", None)):
            object.__setattr__(history, name, value)
        return history

    @classmethod
    def of_bars(cls, symbols: Sequence[str], returns: FloatArray, bar_ms: int) -> ReturnHistory:
        """A history of one return per bar of `bar_ms` (1m, 5m, 1h...): its period is the
        bar length, so the horizon scaling follows the bars instead of assuming minutes."""
        return cls(tuple(symbols), returns, period_days_of(bar_ms))

    def _indices(self, symbols: Sequence[str]) -> list[int]:
        missing = [s for s in symbols if s not in self._column]
        if missing:
            raise KeyError(f"no return history for {', '.join(missing)}")
        return [self._column[s] for s in symbols]

    def select(self, symbols: Sequence[str]) -> FloatArray:
        """Columns for `symbols`, in that order, complete rows only. KeyError names the gaps."""
        block = self.returns[:, self._indices(symbols)]
        return block[np.isfinite(block).all(axis=1)]

    def pnl(self, values: Mapping[str, float]) -> FloatArray:
        """Profit per scenario of holding `values` (quote), complete rows only, shape [T'].

        One matrix-vector product over all columns (zero weight elsewhere): cheaper than
        copying the selected columns out of a [T, n] C-ordered array.
        """
        weights, idx = self.weights(values)
        return self.pnl_of(weights, self.complete_rows(idx))

    def weights(self, values: Mapping[str, float]) -> tuple[FloatArray, list[int]]:
        """`values` as a weight per column (zero elsewhere), and their columns, in order.
        KeyError names the symbols without history."""
        idx = self._indices(list(values))
        weights = np.zeros(len(self.symbols))
        weights[idx] = list(values.values())
        return weights, idx

    def column_of(self, symbol: str) -> int | None:
        """The column of `symbol`, None when the history has none."""
        return self._column.get(symbol)

    def complete_rows(self, columns: Sequence[int]) -> NDArray[np.bool_] | None:
        """Which rows are complete in every one of `columns`; None when none of them has a
        gap (every row is)."""
        gappy = [j for j in columns if self._has_gap[j]]
        if not gappy or self._finite is None:  # None: vouched complete, no gap anywhere
            return None
        return np.asarray(self._finite[:, gappy].all(axis=1))

    def complete_in(self, column: int) -> NDArray[np.bool_] | None:
        """`complete_rows([column])`, as a view of the constructor's scan."""
        if not self._has_gap[column] or self._finite is None:
            return None
        return self._finite[:, column]

    def pnl_of(self, weights: FloatArray, complete: NDArray[np.bool_] | None) -> FloatArray:
        """Profit per scenario of the weight vector `weights`, the `complete` rows only
        (all of them for None)."""
        pnl = self._filled @ weights
        return pnl if complete is None else pnl[complete]


@dataclass(frozen=True, slots=True)
class PortfolioRisk:
    """Risk of one portfolio over `horizon_days` at `confidence`, as fractions of equity."""

    var_hist_frac: float
    es_hist_frac: float
    var_param_frac: float
    es_param_frac: float
    confidence: float
    horizon_days: float
    observations: int  # complete history rows used


def period_days_of(bar_ms: int) -> float:
    """One bar's length in days, the `period_days` of its returns (1m -> 1/1440)."""
    if bar_ms <= 0:
        raise ValueError(f"a bar length must be > 0 ms, got {bar_ms}")
    return bar_ms / DAY_MS


def horizon_scale(period_days: float, horizon_days: float) -> float:
    """Square-root-of-time factor from the history's period to the VaR horizon."""
    return math.sqrt(horizon_days / period_days)


def scenario_losses(values: ArrayLike, returns: ArrayLike) -> FloatArray:
    """Loss per scenario and portfolio, shape [T, k]: minus (returns @ values.T)."""
    v = np.atleast_2d(np.asarray(values, dtype=np.float64))
    r = np.asarray(returns, dtype=np.float64)
    return -(r @ v.T)


def _tail_index(n_obs: int, confidence: float) -> int:
    """k = ceil(n * confidence): VaR is the k-th smallest loss (1-based).

    The 1e-9 guard stops binary noise (20 * 0.95 = 18.999...) from moving k by one.
    """
    if n_obs < 1:
        raise ValueError("need at least one return observation")
    return min(n_obs, max(1, math.ceil(n_obs * confidence - 1e-9)))


def _var_es(losses: FloatArray, confidence: float) -> tuple[FloatArray, FloatArray]:
    """Historical VaR and ES of each column of `losses` [T, k], from one partition.

    VaR is the k-th smallest loss, k = ceil(T*c). ES is Acerbi-Tasche:
    [sum of losses above the k-th + (k - T*c) * k-th] / (T * (1 - c)), which weighs the
    boundary scenario fractionally when T*(1-c) is not whole.
    """
    n_obs = losses.shape[0]
    k = _tail_index(n_obs, confidence)
    part = np.partition(losses, k - 1, axis=0)
    boundary = max(0.0, k - n_obs * confidence)
    if boundary < 1e-9:
        boundary = 0.0
    es = (part[k:].sum(axis=0) + boundary * part[k - 1]) / (n_obs * (1.0 - confidence))
    return part[k - 1], es


def _squeeze(result: FloatArray, values: ArrayLike) -> float | FloatArray:
    return float(result[0]) if np.ndim(values) == 1 else result


def historical_var(
    values: ArrayLike, returns: ArrayLike, confidence: float = 0.95, scale: float = 1.0
) -> float | FloatArray:
    """Empirical VaR in quote currency: the k-th smallest of T scenario losses, k = ceil(T*c).

    With 20 scenarios at 95 % that is the 19th smallest, i.e. the second-worst loss: one
    scenario in twenty (5 %) is worse. Negative means even the bad case is a gain.
    """
    var, _ = _var_es(scenario_losses(values, returns), confidence)
    return _squeeze(var * scale, values)


def historical_es(
    values: ArrayLike, returns: ArrayLike, confidence: float = 0.95, scale: float = 1.0
) -> float | FloatArray:
    """Expected shortfall in quote currency: mean loss over the worst (1 - c) of scenarios.

    With 20 scenarios at 95 % it is exactly the worst loss; with 100, the mean of the worst
    five; with 30, (worst + half the second-worst) / 1.5.
    """
    _, es = _var_es(scenario_losses(values, returns), confidence)
    return _squeeze(es * scale, values)


def _sigmas(losses: FloatArray) -> FloatArray:
    """Sample std (ddof=1) of each P&L column: equal to sqrt(v' S v) with S = np.cov(returns),
    but O(T) from the P&L already computed instead of O(T n^2) for the covariance."""
    if losses.shape[0] < 2:
        raise ValueError("need at least two return observations for a covariance")
    return np.asarray(losses.std(axis=0, ddof=1), dtype=np.float64)


def portfolio_sigma(values: ArrayLike, returns: ArrayLike) -> float | FloatArray:
    """Standard deviation of portfolio P&L per period: sqrt(v' S v), S the sample covariance."""
    return _squeeze(_sigmas(scenario_losses(values, returns)), values)


def _normal_factors(confidence: float) -> tuple[float, float]:
    """(z_c, phi(z_c) / (1 - c)): sigma multipliers for normal VaR and ES."""
    normal = NormalDist()
    z = normal.inv_cdf(confidence)
    return z, normal.pdf(z) / (1.0 - confidence)


def parametric_var(
    values: ArrayLike, returns: ArrayLike, confidence: float = 0.95, scale: float = 1.0
) -> float | FloatArray:
    """Normal VaR in quote currency: z_c x sigma_portfolio x scale (zero mean)."""
    z, _ = _normal_factors(confidence)
    return _squeeze(_sigmas(scenario_losses(values, returns)) * (z * scale), values)


def parametric_es(
    values: ArrayLike, returns: ArrayLike, confidence: float = 0.95, scale: float = 1.0
) -> float | FloatArray:
    """Normal ES in quote currency: sigma x phi(z_c) / (1 - c) x scale (zero mean)."""
    _, factor = _normal_factors(confidence)
    return _squeeze(_sigmas(scenario_losses(values, returns)) * (factor * scale), values)


def portfolio_risk(
    position_values: Mapping[str, float],
    equity: float,
    history: ReturnHistory,
    confidence: float = 0.95,
    horizon_days: float = 1.0,
) -> PortfolioRisk:
    """All four measures for one portfolio, divided by equity, from one P&L pass.

    KeyError if a held symbol has no history; ValueError if fewer than two complete rows.
    An empty portfolio has zero risk.
    """
    if equity <= 0:
        raise ValueError(f"equity must be positive, got {equity}")
    values = {s: v for s, v in position_values.items() if v != 0}
    if not values:
        return PortfolioRisk(0.0, 0.0, 0.0, 0.0, confidence, horizon_days, 0)
    losses = -history.pnl(values)[:, None]
    if losses.shape[0] < 2:
        raise ValueError(f"only {losses.shape[0]} complete return rows for {sorted(values)}")
    var, es = _var_es(losses, confidence)
    sigma = float(_sigmas(losses)[0])
    z, es_factor = _normal_factors(confidence)
    per_equity = horizon_scale(history.period_days, horizon_days) / equity
    return PortfolioRisk(
        var_hist_frac=float(var[0]) * per_equity,
        es_hist_frac=float(es[0]) * per_equity,
        var_param_frac=z * sigma * per_equity,
        es_param_frac=es_factor * sigma * per_equity,
        confidence=confidence,
        horizon_days=horizon_days,
        observations=int(losses.shape[0]),
    )


def post_trade_risk(
    position_values: Mapping[str, float],
    equity: float,
    history: ReturnHistory,
    symbol: str,
    order_value: float,
    confidence: float = 0.95,
    horizon_days: float = 1.0,
) -> PortfolioRisk:
    """Risk of the portfolio as if the candidate order had filled.

    `order_value` is signed (a buy adds, a sell subtracts) and is added to the symbol's
    current value. A buy only moves cash into the coin, so equity stays what it was.
    """
    after = dict(position_values)
    after[symbol] = after.get(symbol, 0.0) + order_value
    return portfolio_risk(after, equity, history, confidence, horizon_days)
