"""Post-trade VaR/ES of many candidate orders on one account: `post_trade_risk`, bit for bit.

Why: a policy the risk gate keeps refusing (buy-and-hold over its ES limit) asks for a dozen
coins every step, and `risk.var.post_trade_risk` redid for each candidate what they all
share: the held values as floats, their weight vector and the rows complete in every held
coin (a scan of [T, k] returns for gaps), about half of each check.

`CandidateRisk` does the shared part once per account view and return history. Each
candidate keeps the steps that make its figures, on the same numbers in the same order, so
the figures are `post_trade_risk`'s to the last bit:

- one matrix-vector product over the whole weight vector with the candidate in it: BLAS sums
  each row in an order of its own, so "the holdings' P&L plus the candidate's column times
  its value" would round differently;
- numpy's partition and tail sum (`_var_es`): the sum of the tail depends on the order the
  partition leaves it in.

What it may leave out: the normal (parametric) figures when the caller says it reads only
the historical ones, for a refusal on them (the gate, whose VaR method is historical, then
asks again with them for an approval). Whatever is not the common case (a symbol without
history, equity not positive, a candidate that empties a holding, fewer than two complete
rows) is handed to `post_trade_risk` itself, which raises or answers as it always has.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from risk.var import (
    FloatArray,
    PortfolioRisk,
    ReturnHistory,
    _normal_factors,
    _sigmas,
    _tail_index,
    _var_es,
    horizon_scale,
    post_trade_risk,
)
from risk.var_tail_kernel import loss_tail

#: The unit roundoff of float64 (half an ulp of 1.0).
_UNIT = 2.0 ** -53
#: `CandidateRisk.sure_verdict`'s answers
SURE_PASS, VAR_OVER, NOT_SURE = "SURE_PASS", "VAR_OVER", "NOT_SURE"


class CandidateRisk:
    """Post-trade risk of candidate orders on one account view and one return history.

    `position_values` are the account's (quote, signed), as `post_trade_risk` takes them; the
    object keeps its own copy and builds the shared part on the first candidate."""

    def __init__(self, position_values: Mapping[str, float], equity: float,
                 history: ReturnHistory, confidence: float, horizon_days: float) -> None:
        """Nothing is computed yet: most account views are never asked about a candidate."""
        self.history = history
        self.confidence = confidence
        self.horizon_days = horizon_days
        self._values = dict(position_values)
        self._equity = equity
        self._shared: tuple[FloatArray, NDArray[np.bool_] | None, float] | None = None
        self._exact: bool | None = None  # None until the first candidate
        # (symbol, order value, P&L) of the last `surely_within`: a candidate it is not
        # sure of is asked of `risk` next, whose P&L on the same weights is the same
        self._pnl: tuple[str, float, FloatArray] | None = None

    def _prepare(self) -> bool:
        """Build the held weights, their complete rows and the per-equity factor; False
        when a held symbol has no history or equity is not positive (the slow path)."""
        held = {s: v for s, v in self._values.items() if v != 0}
        if self._equity <= 0 or any(self.history.column_of(s) is None for s in held):
            return False
        weights, idx = self.history.weights(held)
        per_equity = horizon_scale(self.history.period_days, self.horizon_days) / self._equity
        self._shared = (weights, self.history.complete_rows(idx), per_equity)
        return True

    def risk(self, symbol: str, order_value: float, *, normal: bool = True) -> PortfolioRisk:
        """`post_trade_risk(values, equity, history, symbol, order_value, ...)`, the same
        figures; with `normal=False` the parametric VaR and ES are left NaN (not computed).

        KeyError / ValueError as `post_trade_risk` raises them."""
        if self._exact is None:
            self._exact = self._prepare()
        column = self.history.column_of(symbol)
        before = self._values.get(symbol, 0.0)
        after = before + order_value
        if not self._exact or column is None or after == 0 or self._shared is None:
            return self._slow(symbol, order_value)
        weights, complete, per_equity = self._shared
        weights = weights.copy()
        weights[column] = after
        if before == 0:  # a new column: its gaps drop rows too
            own = self.history.complete_in(column)
            if own is not None:
                complete = own if complete is None else complete & own
        known = self._pnl
        pnl = (known[2] if known is not None and known[0] == symbol and known[1] == order_value
               and complete is None else self.history.pnl_of(weights, complete))
        losses = -pnl[:, None]
        if losses.shape[0] < 2:
            return self._slow(symbol, order_value)
        var, es = _var_es(losses, self.confidence)
        var_param = es_param = math.nan
        if normal:
            sigma = float(_sigmas(losses)[0])
            z, es_factor = _normal_factors(self.confidence)
            var_param, es_param = z * sigma * per_equity, es_factor * sigma * per_equity
        return PortfolioRisk(
            var_hist_frac=float(var[0]) * per_equity,
            es_hist_frac=float(es[0]) * per_equity,
            var_param_frac=var_param,
            es_param_frac=es_param,
            confidence=self.confidence,
            horizon_days=self.horizon_days,
            observations=int(losses.shape[0]),
        )

    def surely_within(self, symbol: str, order_value: float, var_limit: float, es_limit: float,
                      min_observations: int) -> bool:
        """True when `risk(symbol, order_value)` is sure to have at least `min_observations`
        rows, `var_hist_frac <= var_limit` and `es_hist_frac <= es_limit` (the gate's
        thresholds, tolerance included); False when not sure: ask `risk`."""
        return self.sure_verdict(symbol, order_value, var_limit, es_limit,
                                 min_observations)[0] == SURE_PASS

    def sure_verdict(self, symbol: str, order_value: float, var_limit: float, es_limit: float,
                     min_observations: int) -> tuple[str, float, int]:
        """(SURE_PASS, NaN, rows) where `surely_within`; (VAR_OVER, risk's `var_hist_frac`,
        rows) where that VaR is surely over `var_limit` with the rows enough; else
        (NOT_SURE, NaN, 0): ask `risk`.

        The same weights and P&L (one BLAS product) as `risk`, so the same losses; the k-th
        smallest of them is the same float whichever selection finds it (`loss_tail`), so the
        VaR and its test are `risk`'s own. The ES sums the same losses above it in another
        order: any order of summing m values is within (m - 1) u sum|x| of the exact sum, so
        the two sums are within twice that (taken as 4 m u sum|x|), and the division and the
        scaling add a few ulps (8 u |es| covers them); only an ES farther than that below
        its limit is sure. Histories with gaps (whose rows differ by candidate) are not
        handled here."""
        unsure = (NOT_SURE, math.nan, 0)
        if self._exact is None:
            self._exact = self._prepare()
        column = self.history.column_of(symbol)
        after = self._values.get(symbol, 0.0) + order_value
        if not self._exact or column is None or after == 0 or self._shared is None:
            return unsure
        weights, complete, per_equity = self._shared
        if complete is not None or self.history.complete_in(column) is not None:
            return unsure
        weights = weights.copy()
        weights[column] = after
        pnl = self.history.pnl_of(weights, None)
        self._pnl = (symbol, order_value, pnl)
        observations = pnl.shape[0]
        if observations < 2 or observations < min_observations:
            return unsure
        k = _tail_index(observations, self.confidence)
        var, tail, magnitude = loss_tail(pnl, k)
        var_frac = var * per_equity
        if var_frac > var_limit:
            return VAR_OVER, var_frac, observations
        if not var_frac <= var_limit:  # NaN
            return unsure
        boundary = max(0.0, k - observations * self.confidence)
        if boundary < 1e-9:
            boundary = 0.0
        denominator = observations * (1.0 - self.confidence)
        es = (tail + boundary * var) / denominator * per_equity
        slack = 4.0 * (observations - k) * _UNIT * magnitude / denominator * per_equity
        if es + slack + 8.0 * _UNIT * abs(es) <= es_limit:
            return SURE_PASS, math.nan, observations
        return unsure

    def _slow(self, symbol: str, order_value: float) -> PortfolioRisk:
        """The reference computation, for every case the shared part does not cover."""
        return post_trade_risk(self._values, self._equity, self.history, symbol, order_value,
                               self.confidence, self.horizon_days)
