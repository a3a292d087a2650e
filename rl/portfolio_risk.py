"""The risk gate's portfolio rules in floats, compiled, for the portfolio environment.

The portfolio env (rl/portfolio_env.py) steps thousands of portfolios at once, so it cannot
call `risk.gate.RiskGate` (Decimal, one intent at a time). These are the same rules, one
function each, in the order the gate applies them, for the compiled step
(rl/portfolio_kernel.py):

- `breaker_step`: `risk.state.evaluate` without the operator and anomaly inputs (an env has
  neither): the day-start and peak baselines, ACTIVE -> REDUCING -> HALTED on the daily loss
  and the drawdown, HALTED sticky, REDUCING lifted only at a new UTC day with no breaker
  firing;
- `is_dust`: `risk.gate_views.is_dust` (a holding too small to sell does not hold a position slot);
- `held_pnl` + `candidate_var_es` (= `post_trade_var_es`): `risk.var.post_trade_risk`'s
  historical VaR and Acerbi-Tasche ES (and the normal VaR), as fractions of equity, over the
  complete rows of the return history for the symbols held or being bought plus the
  candidate; the holdings' P&L per row is computed once per step and each candidate adds
  its own column to it.

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
def held_pnl(values: np.ndarray, returns: np.ndarray, first: int, rows: int,
             pnl: np.ndarray, complete: np.ndarray) -> None:
    """Profit per history row of holding `values` [n] (quote; zero = not held) over
    `returns[first:first + rows]`, into `pnl[:rows]`, and whether the row is complete in
    every held coin (`ReturnHistory.pnl` leaves the others out) into `complete[:rows]`.
    Computed once per portfolio step and reused by each candidate (`candidate_var_es`)."""
    held = np.flatnonzero(values != 0.0)
    for i in range(rows):
        total = 0.0
        ok = True
        for j in held:
            x = returns[first + i, j]
            if not np.isfinite(x):
                ok = False
                break
            total += values[j] * x
        pnl[i], complete[i] = total, ok


@inline_jit
def add_holding(pnl: np.ndarray, complete: np.ndarray, returns: np.ndarray, first: int,
                rows: int, column: int, value: float) -> None:
    """`held_pnl` after `value` more of coin `column` joined the holdings, in place (a new
    pending buy), instead of recomputing every held coin."""
    for i in range(rows):
        x = returns[first + i, column]
        if np.isfinite(x):
            pnl[i] += value * x
        else:
            complete[i] = False


@inline_jit
def candidate_var_es(pnl: np.ndarray, complete: np.ndarray, returns: np.ndarray, first: int,
                     rows: int, column: int, notional: float, equity: float,
                     confidence: float, scale: float, normal_z: float, parametric: bool,
                     losses: np.ndarray) -> tuple[float, float, float, int]:
    """(historical VaR, historical ES, normal VaR) as fractions of `equity`, and the number
    of complete rows, after adding `notional` of coin `column` to the holdings whose
    `held_pnl` is given: `risk.var.post_trade_risk` over the same rows. VaR is the k-th
    smallest loss, k = ceil(n c) (a partition, as `risk.var` takes it); ES the
    Acerbi-Tasche mean of the worst 1 - c; the normal VaR (only when `parametric`) z_c x the
    P&L's sample std; all scaled by `scale` (the square-root-of-time factor) and divided by
    equity. `losses` is working space of at least `rows`."""
    n = 0
    for i in range(rows):
        x = returns[first + i, column]
        if complete[i] and np.isfinite(x):
            losses[n] = -(pnl[i] + notional * x)
            n += 1
    if n < 2:
        return np.nan, np.nan, np.nan, n
    normal_var = np.nan
    if parametric:
        mean = 0.0
        for m in range(n):
            mean += losses[m]
        mean /= n
        spread = 0.0
        for m in range(n):
            spread += (losses[m] - mean) ** 2
        normal_var = normal_z * np.sqrt(spread / (n - 1)) * scale / equity
    k = min(n, max(1, int(np.ceil(n * confidence - 1e-9))))
    part = np.partition(losses[:n], k - 1)
    boundary = max(0.0, k - n * confidence)
    if boundary < 1e-9:
        boundary = 0.0
    var = part[k - 1]
    tail = 0.0
    for m in range(k, n):
        tail += part[m]
    es = (tail + boundary * var) / (n * (1.0 - confidence))
    return var * scale / equity, es * scale / equity, normal_var, n


@inline_jit
def post_trade_var_es(values: np.ndarray, column: int, notional: float, returns: np.ndarray,
                      first: int, rows: int, equity: float, confidence: float, scale: float,
                      normal_z: float) -> tuple[float, float, float, int]:
    """`held_pnl` then `candidate_var_es` in one call (with the normal VaR): the post-trade
    figures of buying `notional` of `column` on top of `values`."""
    pnl, complete, losses = np.empty(rows), np.empty(rows, np.bool_), np.empty(rows)
    held_pnl(values, returns, first, rows, pnl, complete)
    return candidate_var_es(pnl, complete, returns, first, rows, column, notional, equity,
                            confidence, scale, normal_z, True, losses)


__all__ = ["ACTIVE", "DAY_MS", "HALTED", "LIMIT_TOLERANCE", "REDUCING", "add_holding",
           "breaker_step", "candidate_var_es", "held_pnl", "is_dust", "post_trade_var_es"]
