"""The compiled lane's risk gate: `RiskGate.check`'s verdict on an entry or an exit, in
integers where the gate is exact and in floats with a proven margin where it is not.

The lane needs the verdict only (approve with an amount, or deny), never its words: the
ledger's decision rows come from the Python loop (trading/sma_lane.py). So:

- the entry's price on the tick grid (`Instrument.price` of the float's shortest decimal)
  and the marks of the holdings are integers in ticks, found from the float with a margin
  (`grid_ticks`, `on_grid_ticks`), or the lane gives up;
- the open slots, the dust rule, the 5 % cap (`size_entry`'s capped branch: a floor of
  exact integers, which is what Decimal's division then ROUND_FLOOR gives on the lot grid),
  the minimum notional and the cash with its fee reserve are exact integer comparisons;
- the uncapped branch (2 % risk over the stop distance) and whether the cap binds are float
  comparisons, taken only where the float is farther from the boundary than its error;
- the post-trade historical VaR and ES are computed over the same returns and weights as
  `risk.post_trade.CandidateRisk` with a summation order of their own, so each scenario's
  P&L is within a bound of numpy's (BLAS's) and the verdict is taken only where the figure
  is farther from its limit than that bound.

Anything else (a case the Python gate words as INVALID_INTENT, a figure inside its margin)
is BAIL_UNSURE: the caller runs the Python loop instead.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from risk.var_tail_kernel import loss_tail
from trading.lane_book import exact_float

jit = njit(cache=True, error_model="numpy", nogil=True)

#: sha256 (first 16 hex) of the files compiled in here (risk/var_tail_kernel.py,
#: trading/lane_book.py), for numba's on-disk cache (see trading/lane_book.py).
INLINED_SOURCES_SHA256 = "7a2dedce6b16f778"

#: Verdicts (and the lane's give-up code for the gate).
APPROVE, DENY, BAIL_UNSURE = 0, 1, 7
#: The unit roundoff of float64.
UNIT = 2.0 ** -53
#: Columns of `rules` [n, 7] (int64): min and max price in ticks, min and max lots, min and
#: max notional in U (max -1: none), and the scale of a notional (U per tick x lot).
MIN_TICKS, MAX_TICKS, MIN_LOTS, MAX_LOTS, MIN_NOTIONAL, MAX_NOTIONAL, SCALE = range(7)


@jit
def grid_ticks(x: float, tick: float, t_m: int, t_e: int, up: bool) -> int:  # pragma: no cover
    """`Instrument.price(x, side)` in ticks (down for a buy, up for a sell) of the float x's
    shortest decimal (what `Decimal(str(x))` reads); -1 when not sure. Away from a grid
    point the float quotient's floor (ceiling) is the decimal's (its error is a few ulps);
    at one, the decimal is on the grid exactly when the grid point's float is x (fewer than
    16 digits: the shortest decimal of its float), else on the side x is of it."""
    q = x / tick
    if not (math.isfinite(q) and q > 0):
        return -1
    t = np.rint(q)
    if abs(q - t) > 1e-9 * max(1.0, q):
        return math.ceil(q) if up else math.floor(q)
    if t * t_m >= 1e15:
        return -1
    on = exact_float(int(t) * t_m, t_e)
    if x == on:
        return int(t)
    if x > on:
        return int(t) + 1 if up else int(t)
    return int(t) if up else int(t) - 1


@jit
def on_grid_ticks(x: float, tick: float, t_m: int, t_e: int) -> int:  # pragma: no cover
    """Ticks of the price `Decimal(repr(x))` when it lies on the tick grid, else -1."""
    if not (math.isfinite(x) and x > 0):
        return -1
    t = np.rint(x / tick)
    if t * t_m >= 1e15 or exact_float(int(t) * t_m, t_e) != x:
        return -1
    return int(t)


@jit
def too_small(c: int, lots: int, ticks: int, rules: np.ndarray) -> bool:  # pragma: no cover
    """`risk.sizing.too_small` (lots below one, below the minimum quantity, or a notional
    below the minimum) of `lots` at `ticks`."""
    return (lots <= 0 or lots < rules[c, MIN_LOTS]
            or lots * ticks * rules[c, SCALE] < rules[c, MIN_NOTIONAL])


@jit
def entry_amount(equity: int, held: int, ticks: int, stop: float, c: int, rules: np.ndarray,
                 lot: float, price: float, risk_frac: float, cap_num: int, cap_den: int,
                 k_exp: int) -> int:  # pragma: no cover - compiled
    """`size_entry`'s amount in lots for equity and held value in U (confidence 1):
    -2 when the room under the cap is none (POSITION_LIMIT), -1 when not sure.
    Capped: floor((equity x cap - held) / (price x lot)) in integers; uncapped: the float
    floor of risk / price / lot, far enough from a whole lot."""
    room = equity * cap_num - held * cap_den  # in U / cap_den
    if room <= 0:
        return -2
    if not (stop > 0 and stop < price * (1.0 - 1e-12)):
        return -1  # the gate's INVALID_INTENT (stop at or past the entry): its words
    equity_f = exact_float(equity, k_exp)
    room_f = room / cap_den / 10.0 ** k_exp
    risk_f = equity_f * risk_frac * price / (price - stop)
    if risk_f > room_f * (1.0 + 1e-9):
        return room // (cap_den * ticks * rules[c, SCALE])
    if risk_f < room_f * (1.0 - 1e-9):
        q = risk_f / price / lot
        if not math.isfinite(q):
            return -1
        whole = math.floor(q)
        margin = 1e-7 + 1e-12 * q  # far above the float's few ulps of error
        if q - whole < margin or whole + 1.0 - q < margin:
            return -1
        return int(whole)
    return -1


@jit
def var_es_verdict(returns: np.ndarray, first: int, rows: int, weights: np.ndarray,
                   k: int, boundary: float, denominator: float, per_equity: float,
                   var_limit: float, es_limit: float) -> int:  # pragma: no cover
    """The post-trade historical VaR and ES limits on `weights` (quote per column) over
    the scenarios returns[:, first: first + rows] (returns transposed: [n, T]): APPROVE,
    DENY, or BAIL_UNSURE where the figure is within its error of the limit. Each
    scenario's P&L is summed here in column order; numpy's product sums the same terms in
    another order (with or without FMA), each within gamma x sum|r w| of the exact sum, so
    the two are within twice that (`spread`); the k-th smallest loss then moves by at most
    the largest such spread, the tail's sum by that for each of its terms plus both
    orders' rounding of the sum."""
    n = weights.shape[0]
    gamma = (n + 2) * UNIT / (1.0 - (n + 2) * UNIT)
    pnl = np.zeros(rows)
    size = np.zeros(rows)
    for j in range(n):  # a column at a time: each scenario's terms in column order
        weight = weights[j]
        if weight == 0.0:
            continue
        scenarios = returns[j, first: first + rows]
        for r in range(rows):
            term = scenarios[r] * weight
            pnl[r] += term
            size[r] += abs(term)
    spread = 2.0 * gamma * size.max() * 1.01
    var, tail, magnitude = loss_tail(pnl, k)
    if not (math.isfinite(var) and math.isfinite(tail)):
        return BAIL_UNSURE
    var_frac = var * per_equity
    var_error = spread * per_equity + 4.0 * UNIT * abs(var_frac)
    if var_frac - var_error > var_limit:
        return DENY
    if not var_frac + var_error <= var_limit:
        return BAIL_UNSURE
    above = rows - k
    es = (tail + boundary * var) / denominator * per_equity
    es_error = ((above + boundary) * spread + 2.02 * above * UNIT * magnitude) \
        / denominator * per_equity + 8.0 * UNIT * abs(es)
    if es - es_error > es_limit:
        return DENY
    if es + es_error <= es_limit:
        return APPROVE
    return BAIL_UNSURE


__all__ = ["APPROVE", "BAIL_UNSURE", "DENY", "entry_amount", "grid_ticks", "on_grid_ticks",
           "too_small", "var_es_verdict"]
