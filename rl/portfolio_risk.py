"""The risk gate's portfolio rules in floats, compiled, for the portfolio environment.

The portfolio env (rl/portfolio_env.py) steps thousands of portfolios at once, so it cannot
call `risk.gate.RiskGate` (Decimal, one intent at a time). These are the same rules, one
function each, in the order the gate applies them, for the compiled step
(rl/portfolio_kernel.py):

- `breaker_step`: `risk.state.evaluate` without the operator and anomaly inputs (an env has
  neither): the day-start and peak baselines, ACTIVE -> REDUCING -> HALTED on the daily loss
  and the drawdown, HALTED sticky, REDUCING lifted only at a new UTC day with no breaker
  firing;
- `is_dust`: `risk.gate.is_dust` (a holding too small to sell does not hold a position slot);
- `post_trade_var_es`: `risk.var.post_trade_risk`'s historical VaR and Acerbi-Tasche ES (and
  the normal VaR), as fractions of equity, over the complete rows of the return history for
  the symbols held or being bought plus the candidate.

The parity test (tests/integration/test_portfolio_parity.py) holds the env, and so these
rules, to the fast backtester, which runs the gate itself. Floats where the gate has
`Decimal`: a verdict can differ only for a figure within float noise of its threshold.
"""

from __future__ import annotations

import numpy as np

from model.fill_kernel import EPS, floor_to_lot, inline_jit

DAY_MS = 86_400_000
ACTIVE, REDUCING, HALTED = 0, 1, 2  # risk.state.TradingMode, in order of severity
#: Post-trade risk within this of its limit passes (risk.gate's _LIMIT_TOLERANCE).
LIMIT_TOLERANCE = 1e-12


@inline_jit
def breaker_step(mode: int, day_start_ms: int, day_start_equity: float, peak: float,
                 equity: float, now_ms: int, daily_reduce_pct: float, daily_halt_pct: float,
                 drawdown_reduce_pct: float, drawdown_halt_pct: float
                 ) -> tuple[int, int, float, float]:
    """(mode, day_start_ms, day_start_equity, peak) after `risk.state.evaluate` at `now_ms`
    with `equity`: baselines first (a new UTC day re-bases the day start; the peak only
    rises), then the mode the breakers call for; reaching a threshold trips it."""
    day = now_ms - now_ms % DAY_MS
    new_day = day > day_start_ms
    if new_day:
        day_start_ms, day_start_equity = day, equity
    peak = max(peak, equity)
    daily = (day_start_equity - equity) / day_start_equity * 100.0
    drawdown = (peak - equity) / peak * 100.0
    target = ACTIVE
    if daily >= daily_halt_pct or drawdown >= drawdown_halt_pct:
        target = HALTED
    elif daily >= daily_reduce_pct or drawdown >= drawdown_reduce_pct:
        target = REDUCING
    if mode == HALTED:
        return mode, day_start_ms, day_start_equity, peak
    if target > mode:
        return target, day_start_ms, day_start_equity, peak
    if new_day and mode == REDUCING and target == ACTIVE:
        return ACTIVE, day_start_ms, day_start_equity, peak
    return mode, day_start_ms, day_start_equity, peak


@inline_jit
def is_dust(amount: float, mark: float, lot: float, min_qty: float, min_notional: float) -> bool:
    """A holding too small to sell in one order at `mark`: under one lot or the minimum
    quantity once floored to the lot, or under the minimum notional."""
    sellable = floor_to_lot(amount, lot)
    return (sellable < lot * (1 - EPS) or sellable < min_qty * (1 - EPS)
            or sellable * mark < min_notional * (1 - EPS))


@inline_jit
def post_trade_var_es(values: np.ndarray, selected: np.ndarray, returns: np.ndarray,
                      first: int, rows: int, equity: float, confidence: float, scale: float,
                      normal_z: float, losses: np.ndarray) -> tuple[float, float, float, int]:
    """(historical VaR, historical ES, normal VaR) as fractions of `equity`, and the number
    of complete rows, of holding `values` [n] (quote; the candidate's notional already
    added) in the columns where `selected`, over `returns[first:first + rows]` (simple
    returns per bar, NaN = unknown). A row with an unknown return in a selected column is
    left out, as `ReturnHistory.pnl` does. VaR is the k-th smallest loss, k = ceil(n c);
    ES the Acerbi-Tasche mean of the worst 1 - c; the normal VaR z_c x the P&L's sample
    std; all scaled by `scale` (the square-root-of-time factor) and divided by equity.
    `losses` is working space of at least `rows`."""
    n = 0
    for r in range(first, first + rows):
        pnl = 0.0
        complete = True
        for j in range(values.shape[0]):
            if selected[j]:
                x = returns[r, j]
                if not np.isfinite(x):
                    complete = False
                    break
                pnl += values[j] * x
        if complete:
            losses[n] = -pnl
            n += 1
    if n < 2:
        return np.nan, np.nan, np.nan, n
    ordered = np.sort(losses[:n])
    k = min(n, max(1, int(np.ceil(n * confidence - 1e-9))))
    boundary = max(0.0, k - n * confidence)
    if boundary < 1e-9:
        boundary = 0.0
    tail = 0.0
    for m in range(k, n):
        tail += ordered[m]
    var = ordered[k - 1]
    es = (tail + boundary * var) / (n * (1.0 - confidence))
    mean = 0.0
    for m in range(n):
        mean += ordered[m]
    mean /= n
    spread = 0.0
    for m in range(n):
        spread += (ordered[m] - mean) ** 2
    sigma = np.sqrt(spread / (n - 1))
    per_equity = scale / equity
    return var * per_equity, es * per_equity, normal_z * sigma * per_equity, n


__all__ = ["ACTIVE", "DAY_MS", "HALTED", "LIMIT_TOLERANCE", "REDUCING", "breaker_step",
           "is_dust", "post_trade_var_es"]
