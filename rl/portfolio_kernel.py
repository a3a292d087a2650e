"""One step of every portfolio env, compiled: decisions through the gate's rules, fills, marks.

`rl.portfolio_env.PortfolioEnv` owns the state (arrays [B] per portfolio, [B, N] per coin);
this is the arithmetic of one step of portfolio b, in the fast backtester's order
(trading/fast_backtest.py), which the parity test holds it to:

1. at the close of row t, each coin's action in coin order: a cancel or a new order's
   replacement of the resting one is final at once (its reservation freed); a BUY passes
   the trading mode (ACTIVE only), the position count (`max_open_positions`, dust not
   counted), the 2 % / 5 % sizing on the portfolio's equity with the coin's held value and
   pending buys, the exchange's minimums, the cash check with the fee reserve, and the
   post-trade VaR/ES over the return history; the broker then reserves its cost and the
   worse fee. A SELL (not HALTED) offers the whole position if it is not dust.
2. every resting order meets bar t + 1 of its coin (no bar: no event) through the fill
   model's own per-order function, `model.fill_kernel.match_order`, and is booked by
   `rl.account.book_fill` against the cash the other orders' reservations leave;
3. equity is marked at the closes of row t + 1, the breakers evaluate it, and the reward
   is the log growth of equity (after every cost) less `drawdown_penalty` x the rise in
   drawdown from the episode's peak, times `reward_scale`.

Compiled with numba like the single-coin env's step (ADR-039): the rules run one portfolio at
a time, and portfolios run on numba's threads (`chunks`); results do not depend on it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from model.fill_kernel import (
    BAR_LAST_MS,
    BUY,
    EPS,
    SELL,
    TAKER,
    bar_book,
    floor_to_lot,
    fmax,
    match_order,
    spread_width,
)
from model.fills import NO_CANCEL_MS
from rl.account import book_fill, ceil_quantum, size_entry
from rl.env_kernel import (
    CLOSE,
    HIGH,
    LOW,
    OPEN,
    START_MS,
    VOLUME,
    decode_action,
    parallel_jit,
)
from rl.portfolio_risk import (
    ACTIVE,
    HALTED,
    LIMIT_TOLERANCE,
    add_holding,
    breaker_step,
    candidate_var_es,
    held_pnl,
    is_dust,
)

#: sha256 (first 16 hex) of model/fill_kernel.py, rl/account.py, rl/env_kernel.py and
#: rl/portfolio_risk.py, whose compiled code this module inlines (see rl/env_kernel.py's
#: INLINED_SOURCES_SHA256: changing this line retires numba's stale on-disk cache of this
#: module; tests/unit/test_numba_cache_stamp.py says the value).
INLINED_SOURCES_SHA256 = "e8d53ef3e31dc4e4"

# Indices of the float knobs in `knobs` (one array instead of twenty arguments).
(K_MAX_VOLUME_SHARE, K_THROUGH_VOLUME_SHARE, K_MAKER_BPS, K_TAKER_BPS, K_GROWTH, K_SPREAD_TICKS,
 K_BOOK_SHARE, K_RISK_PCT, K_MAX_POSITION_PCT, K_STOP_PCT, K_FEE_RESERVE_PCT, K_VAR_LIMIT,
 K_ES_LIMIT, K_CONFIDENCE, K_VAR_SCALE, K_NORMAL_Z, K_PARAMETRIC, K_DAILY_REDUCE, K_DAILY_HALT,
 K_DRAWDOWN_REDUCE, K_DRAWDOWN_HALT, K_DRAWDOWN_PENALTY, K_REWARD_SCALE, K_RUIN) = range(24)
N_KNOBS = 24
# Indices of the integer knobs in `counts`.
C_LEVELS, C_SPACING, C_MAX_POSITIONS, C_HISTORY_ROWS, C_MIN_OBSERVATIONS, C_BAR_MS = range(6)
N_COUNTS = 6


@parallel_jit
def step_portfolios(chunks: int, actions: np.ndarray, offsets: np.ndarray, bars: np.ndarray,
                    close_ff: np.ndarray, returns: np.ndarray, grid_start_ms: int,
                    knobs: np.ndarray, counts: np.ndarray, powers: np.ndarray,
                    # per coin [N]
                    tick: np.ndarray, lot: np.ndarray, min_qty: np.ndarray,
                    min_notional: np.ndarray, spread: np.ndarray,
                    # per portfolio [B], updated in place
                    t: np.ndarray, t_end: np.ndarray, cash: np.ndarray, equity: np.ndarray,
                    capital: np.ndarray, peak: np.ndarray, mode: np.ndarray,
                    day_start_ms: np.ndarray, day_start_equity: np.ndarray,
                    episode_peak: np.ndarray, finished: np.ndarray,
                    # per portfolio and coin [B, N], updated in place
                    pos: np.ndarray, has_order: np.ndarray, side: np.ndarray,
                    price: np.ndarray, amount: np.ndarray, remaining: np.ndarray,
                    queue: np.ndarray, reserved: np.ndarray, fee_prepaid: np.ndarray,
                    # outputs: [B] and [B, N]
                    reward: np.ndarray, done: np.ndarray, out_fees: np.ndarray,
                    out_turnover: np.ndarray, out_fill: np.ndarray,
                    out_notional: np.ndarray, out_fee: np.ndarray) -> None:
    """Step every portfolio once (see the module docstring); done ones are not reset here.
    `bars` is `rl.env_kernel.bar_table`'s symbol-major [N * T, 6] table (NaN close: no
    bar), `close_ff` the forward-filled closes [T, N], `returns` the simple returns the
    gate's history reads, [history rows + T, N]: as many unknown (NaN) rows first as the
    history holds, then one per grid row (NaN before a coin's history starts)."""
    n_envs, n_coins = actions.shape
    length = close_ff.shape[0]
    levels, spacing = counts[C_LEVELS], counts[C_SPACING]
    history_rows, bar_ms = counts[C_HISTORY_ROWS], counts[C_BAR_MS]
    worst_fee = max(knobs[K_MAKER_BPS], knobs[K_TAKER_BPS]) * 1e-4
    reserve = 1.0 + knobs[K_FEE_RESERVE_PCT] / 100.0
    for chunk in prange(chunks):
        level_price = np.zeros(levels)
        level_amount = np.zeros(levels)
        scratch = np.empty((3, levels))
        values = np.zeros(n_coins)
        # The holdings' P&L per history row, once per step (`fresh[0]`: still valid).
        pnl, complete = np.empty(history_rows), np.empty(history_rows, np.bool_)
        fresh = np.zeros(1, np.bool_)
        losses = np.empty(history_rows)
        for b in range(chunk * n_envs // chunks, (chunk + 1) * n_envs // chunks):
            active = not finished[b]
            row = t[b]
            out_fees[b] = out_turnover[b] = 0.0
            for j in range(n_coins):
                out_fill[b, j] = out_notional[b, j] = out_fee[b, j] = 0.0
            if active:
                decide(b, row, actions, offsets, close_ff, returns, knobs, counts, tick, lot,
                       min_qty, min_notional, spread, cash, equity, mode, pos, has_order,
                       side, price, amount, remaining, queue, reserved, fee_prepaid,
                       worst_fee, reserve, values, pnl, complete, fresh, losses)
                # -- every resting order meets its coin's next bar ---------------------------
                for j in range(n_coins):
                    event = j * length + row + 1
                    if not (has_order[b, j] and np.isfinite(bars[event, CLOSE])):
                        continue
                    start = np.int64(bars[event, START_MS])
                    open_, volume = bars[event, OPEN], bars[event, VOLUME]
                    width = spread_width(spread[j], open_, tick[j], knobs[K_SPREAD_TICKS])
                    bid, ask, bid_qty, ask_qty = bar_book(open_, volume, tick[j], width,
                                                          knobs[K_BOOK_SHARE])
                    level_price[:] = 0.0
                    level_amount[:] = 0.0
                    buy = side[b, j] == BUY
                    (filled, _, _, liquidity, left, queue_after, canceled, _) = match_order(
                        side[b, j], False, price[b, j], remaining[b, j], queue[b, j],
                        start, NO_CANCEL_MS,  # type: ignore[arg-type]
                        reserved[b, j] + fee_prepaid[b, j], tick[j], lot[j], True,
                        start,  # type: ignore[arg-type]
                        start + BAR_LAST_MS,  # type: ignore[arg-type]
                        open_, bars[event, HIGH], bars[event, LOW], bars[event, CLOSE], volume,
                        bid, ask, bid_qty, ask_qty, knobs[K_MAX_VOLUME_SHARE],
                        knobs[K_THROUGH_VOLUME_SHARE], knobs[K_MAKER_BPS], knobs[K_TAKER_BPS],
                        levels, knobs[K_GROWTH], powers, spacing, level_price, level_amount,
                        scratch[0])
                    booked = notional = fee = 0.0
                    if filled > 0:
                        rate = (knobs[K_TAKER_BPS] if liquidity == TAKER
                                else knobs[K_MAKER_BPS]) * 1e-4
                        # The account pays from this order's reservation and the free cash.
                        others = 0.0
                        for m in range(n_coins):
                            if m != j and has_order[b, m] and side[b, m] == BUY:
                                others += reserved[b, m]
                        booked, notional, fee, reserve_left, prepaid = book_fill(
                            level_price, level_amount, levels, buy, rate, lot[j],
                            reserved[b, j] if buy else np.inf, fee_prepaid[b, j],
                            cash[b] - others, scratch[1], scratch[2])
                        if buy:
                            reserved[b, j] = reserve_left
                        fee_prepaid[b, j] = prepaid
                    sign = 1.0 if buy else -1.0
                    out_fill[b, j] = sign * booked
                    out_notional[b, j] = notional
                    out_fee[b, j] = fee
                    out_fees[b] += fee
                    out_turnover[b] += notional
                    cash[b] -= sign * notional + fee
                    held = pos[b, j] + sign * booked
                    pos[b, j] = 0.0 if held < lot[j] * 0.5 else held
                    remaining[b, j] = left + (filled - booked)
                    queue[b, j] = queue_after
                    if remaining[b, j] < lot[j] * 0.5 or canceled:
                        has_order[b, j] = False
                        reserved[b, j] = 0.0
                t[b] = row + 1
            # -- mark, breakers, reward ---------------------------------------------------------
            before = equity[b]
            mark = cash[b]
            for j in range(n_coins):
                if pos[b, j] > 0:
                    mark += pos[b, j] * close_ff[t[b], j]
            if active:
                equity[b] = mark
                now = grid_start_ms + (t[b] + 1) * bar_ms
                mode[b], day_start_ms[b], day_start_equity[b], peak[b] = breaker_step(
                    mode[b], day_start_ms[b], day_start_equity[b], peak[b], mark, now,
                    knobs[K_DAILY_REDUCE], knobs[K_DAILY_HALT], knobs[K_DRAWDOWN_REDUCE],
                    knobs[K_DRAWDOWN_HALT])
            drawdown_before = 1.0 - before / episode_peak[b]
            episode_peak[b] = fmax(episode_peak[b], equity[b])
            drawdown_after = 1.0 - equity[b] / episode_peak[b]
            growth = np.log(equity[b] / before) if active else 0.0
            penalty = knobs[K_DRAWDOWN_PENALTY] * fmax(drawdown_after - drawdown_before, 0.0)
            reward[b] = (growth - penalty) * knobs[K_REWARD_SCALE]
            ruined = active and equity[b] <= knobs[K_RUIN] * capital[b]
            done[b] = (active and (t[b] >= t_end[b] or ruined)) or finished[b]
            if done[b]:
                finished[b] = True


@njit(cache=True, error_model="numpy", nogil=True)
def decide(b: int, row: int, actions: np.ndarray, offsets: np.ndarray, close_ff: np.ndarray,
           returns: np.ndarray, knobs: np.ndarray, counts: np.ndarray, tick: np.ndarray,
           lot: np.ndarray, min_qty: np.ndarray, min_notional: np.ndarray, spread: np.ndarray,
           cash: np.ndarray, equity: np.ndarray, mode: np.ndarray, pos: np.ndarray,
           has_order: np.ndarray, side: np.ndarray, price: np.ndarray, amount: np.ndarray,
           remaining: np.ndarray, queue: np.ndarray, reserved: np.ndarray,
           fee_prepaid: np.ndarray, worst_fee: float, reserve: float, values: np.ndarray,
           pnl: np.ndarray, complete: np.ndarray, fresh: np.ndarray,
           losses: np.ndarray) -> None:
    """Portfolio b's actions at the close of `row`, coin by coin (step 1 of the module
    docstring). Every check reads the account as the previous coin's action left it."""
    n_coins = actions.shape[1]
    fresh[0] = False  # a new portfolio and row: the holdings' P&L is computed when needed
    for j in range(n_coins):
        is_buy, is_sell, offset_index, cancel_side = decode_action(actions[b, j],
                                                                   offsets.shape[0])
        sells = is_sell and pos[b, j] > 0
        replaced = (cancel_side != 0 and cancel_side == side[b, j]) or is_buy or sells
        if replaced and has_order[b, j]:
            if side[b, j] == BUY:
                fresh[0] = False  # a pending buy left the holdings
            has_order[b, j] = False
            reserved[b, j] = 0.0
        close = close_ff[row, j]
        if is_buy and mode[b] == ACTIVE and np.isfinite(close):
            limit = (np.rint(close / tick[j]) + offsets[offset_index]) * tick[j]
            size = entry_size(b, j, row, limit, close_ff, returns, knobs, counts, tick, lot,
                              min_qty, min_notional, cash, equity, pos, has_order, side, price,
                              remaining, reserved, reserve, values, pnl, complete, fresh,
                              losses)
            need = ceil_quantum(size * limit * (1 + worst_fee))
            if size > 0 and not need > free_cash(b, cash, has_order, side, reserved):
                has_order[b, j], side[b, j], price[b, j] = True, BUY, limit
                amount[b, j] = remaining[b, j] = size
                queue[b, j], fee_prepaid[b, j], reserved[b, j] = np.nan, 0.0, need
                if fresh[0]:  # a new pending buy joined the holdings
                    add_holding(pnl, complete, returns, row + 1, counts[C_HISTORY_ROWS], j,
                                size * limit)
        elif sells and mode[b] != HALTED and np.isfinite(close):
            width = spread_width(spread[j], close, tick[j], knobs[K_SPREAD_TICKS])
            limit = (np.rint(close / tick[j]) + width - offsets[offset_index]) * tick[j]
            size = floor_to_lot(pos[b, j], lot[j])
            if (size >= lot[j] * (1 - EPS) and size >= min_qty[j] * (1 - EPS) and limit > 0
                    and size * limit >= min_notional[j] * (1 - EPS)):
                has_order[b, j], side[b, j], price[b, j] = True, SELL, limit
                amount[b, j] = remaining[b, j] = size
                queue[b, j], fee_prepaid[b, j], reserved[b, j] = np.nan, 0.0, 0.0


@njit(cache=True, error_model="numpy", nogil=True, inline="always")
def free_cash(b: int, cash: np.ndarray, has_order: np.ndarray, side: np.ndarray,
              reserved: np.ndarray) -> float:
    """Cash not reserved by a resting buy (the gate's `PortfolioView.cash`)."""
    locked = 0.0
    for m in range(has_order.shape[1]):
        if has_order[b, m] and side[b, m] == BUY:
            locked += reserved[b, m]
    return cash[b] - locked


@njit(cache=True, error_model="numpy", nogil=True, inline="always")
def entry_size(b: int, j: int, row: int, limit: float, close_ff: np.ndarray,
               returns: np.ndarray, knobs: np.ndarray, counts: np.ndarray, tick: np.ndarray,
               lot: np.ndarray, min_qty: np.ndarray, min_notional: np.ndarray,
               cash: np.ndarray, equity: np.ndarray, pos: np.ndarray, has_order: np.ndarray,
               side: np.ndarray, price: np.ndarray, remaining: np.ndarray,
               reserved: np.ndarray, reserve: float, values: np.ndarray, pnl: np.ndarray,
               complete: np.ndarray, fresh: np.ndarray, losses: np.ndarray) -> float:
    """The amount `risk.gate._check_entry` approves for a buy of coin j at `limit`, or 0
    when it denies: position count, sizing, minimums, cash, post-trade VaR and ES."""
    n_coins = pos.shape[1]
    open_positions = 0
    j_open = False
    for m in range(n_coins):
        pending = has_order[b, m] and side[b, m] == BUY and remaining[b, m] * price[b, m] > 0
        held = pos[b, m] > 0 and not is_dust(pos[b, m], close_ff[row, m], lot[m], min_qty[m],
                                             min_notional[m])
        if pending or held:
            open_positions += 1
            if m == j:
                j_open = True
    if not j_open and open_positions >= counts[C_MAX_POSITIONS]:
        return 0.0
    for m in range(n_coins):  # value_of: held at the mark plus pending buys
        values[m] = pos[b, m] * close_ff[row, m] if pos[b, m] > 0 else 0.0
        if has_order[b, m] and side[b, m] == BUY:
            values[m] += remaining[b, m] * price[b, m]
    size = size_entry(equity[b], limit, values[j], tick[j], lot[j], knobs[K_RISK_PCT],
                      knobs[K_MAX_POSITION_PCT], knobs[K_STOP_PCT], 1.0)
    room = fmax(equity[b] * knobs[K_MAX_POSITION_PCT] / 100.0 - values[j], 0.0)
    notional = size * limit
    if (not room > 0 or not limit > 0 or size < lot[j] * (1 - EPS)
            or size < min_qty[j] * (1 - EPS) or notional < min_notional[j] * (1 - EPS)):
        return 0.0
    if notional * reserve > free_cash(b, cash, has_order, side, reserved):
        return 0.0
    # The holdings are open_symbols() without dust rules (values != 0). `returns` starts
    # with `rows` unknown rows: grid row r is its row r + rows, so the window of rows
    # (row - rows, row] starts at row + 1.
    rows = counts[C_HISTORY_ROWS]
    if not fresh[0]:
        held_pnl(values, returns, row + 1, rows, pnl, complete)
        fresh[0] = True
    var, es, normal_var, observations = candidate_var_es(
        pnl, complete, returns, row + 1, rows, j, notional, equity[b], knobs[K_CONFIDENCE],
        knobs[K_VAR_SCALE], knobs[K_NORMAL_Z], knobs[K_PARAMETRIC] > 0, losses)
    if observations < counts[C_MIN_OBSERVATIONS]:
        return 0.0
    var_frac = normal_var if knobs[K_PARAMETRIC] > 0 else var
    if var_frac > knobs[K_VAR_LIMIT] + LIMIT_TOLERANCE or es > knobs[K_ES_LIMIT] + LIMIT_TOLERANCE:
        return 0.0
    return size


__all__ = ["INLINED_SOURCES_SHA256", "N_COUNTS", "N_KNOBS", "step_portfolios"]
