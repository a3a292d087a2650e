"""The compiled lane's loop: the SMA cross policy traded over a whole run in one call.

The same steps as trading/fast_backtest.py's `_Loop` (itself the engine's trader), in the
same order at every decision step k:

1. the open orders of the columns with a bar meet it (trading/lane_book.py `match`);
2. the breakers are evaluated on the equity at the step's close (`_breakers`: daily loss
   and drawdown against their reduce and halt levels, a new UTC day's baseline, REDUCING
   lifted at a new day where no breaker fires, HALTED for good);
3. where the policy acts (a cross at k, or the step after it canceled an order), it decides
   as `SmaBatch.decide` does and each action passes the gate (trading/lane_gate.py) as
   `_Loop._act` passes it: cancels always, an exit unless HALTED, an entry only in ACTIVE.

The breaker figures are floats, compared with a margin; a figure within it of a level, or
anything the book or the gate cannot settle exactly, stops the lane with a code (`status`):
the caller then runs the Python loop for the whole run.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from trading.lane_book import (
    BAIL_BIG,
    BAIL_NONE,
    BUY,
    CASH,
    CASH_RESERVED,
    FILL_COUNT,
    LOTS_LEFT,
    OPEN_ORDERS,
    ORDER_FIELDS,
    SELL,
    SIDE_OF,
    TICKS,
    close_order,
    exact_float,
    match,
    submit,
)
from trading.lane_gate import (
    BAIL_UNSURE,
    DENY,
    MAX_LOTS,
    SCALE,
    entry_amount,
    grid_ticks,
    on_grid_ticks,
    too_small,
    var_es_verdict,
)

jit = njit(cache=True, error_model="numpy", nogil=True)

#: sha256 (first 16 hex) of the files compiled in here (the fill model, the match, the
#: loss tail, the lane's book and gate), for numba's on-disk cache (see lane_book.py).
INLINED_SOURCES_SHA256 = "1a1b8dd10d0eacb3"

DAY_MS = 86_400_000
ACTIVE, REDUCING, HALTED = 0, 1, 2
#: Why the lane stopped beyond the book's and the gate's codes.
BAIL_BREAKER, BAIL_HISTORY, BAIL_MARK = 8, 9, 10
#: `money` (int64): quote units, fees, the cap, the limits in integers, the history.
(K_EXP, QUANTUM, MAKER_NUM, TAKER_NUM, RATE_EXP, WORST_NUM, CASH0, CAP_NUM, CAP_DEN,
 MAX_OPEN, RESERVE_NUM, RESERVE_DEN, HISTORY_ROWS, ALL_STARTED, TAIL_K, BAR_MS, START_MS,
 MIN_OBSERVATIONS, NO_CANCEL) = range(19)
#: `figures` (float64): the risk per trade, the VaR and ES limits and their tail, the
#: breaker levels, the policy's price factors.
(RISK_FRAC, VAR_LIMIT, ES_LIMIT, BOUNDARY, DENOMINATOR, HORIZON_SCALE, DAILY_REDUCE,
 DAILY_HALT, DRAWDOWN_REDUCE, DRAWDOWN_HALT, BUY_FACTOR, STOP_FACTOR, SELL_FACTOR) = range(13)
#: Columns of `grids` (int64 [n, 4]): tick and lot as mantissa x 10^-exponent.
T_M, T_E, L_M, L_E = range(4)
#: The breaker margin, in percent points: floats this close to a level are not trusted.
_MARGIN = 1e-9
#: What numpy's nan_to_num makes of an infinite close.
_BIGGEST = np.finfo(np.float64).max


@jit
def _at_least(x: float, level: float) -> int:  # pragma: no cover - compiled
    """1 when x >= level surely, 0 when surely not, -1 when within the margin."""
    if x >= level + _MARGIN:
        return 1
    if x < level - _MARGIN:
        return 0
    return -1


@jit
def _target(daily: float, drawdown: float, levels: np.ndarray) -> int:  # pragma: no cover
    """`breaker_verdict`'s mode (-1: not sure), in its order: halt levels, then reduce."""
    for figure, level, mode in ((daily, levels[DAILY_HALT], HALTED),
                                (drawdown, levels[DRAWDOWN_HALT], HALTED),
                                (daily, levels[DAILY_REDUCE], REDUCING),
                                (drawdown, levels[DRAWDOWN_REDUCE], REDUCING)):
        fired = _at_least(figure, level)
        if fired < 0:
            return -1
        if fired == 1:
            return mode
    return ACTIVE


@jit
def run_sma_lane(rows: np.ndarray, times: np.ndarray, has_bar: np.ndarray, open_: np.ndarray,
                 high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
                 close_ff: np.ndarray, bid: np.ndarray, ask: np.ndarray, returns: np.ndarray,
                 cross_start: np.ndarray, cross_column: np.ndarray, cross_now: np.ndarray,
                 cross_before: np.ndarray, above: np.ndarray, tradable: np.ndarray,
                 grids: np.ndarray, tick_f: np.ndarray, lot_f: np.ndarray, rules: np.ndarray,
                 money: np.ndarray, figures: np.ndarray, spread: np.ndarray, has_spread: bool,
                 fill_f: np.ndarray, fill_i: np.ndarray, powers: np.ndarray,
                 account: np.ndarray, fills: np.ndarray, cash_out: np.ndarray,
                 equity_out: np.ndarray, status: np.ndarray) -> None:  # pragma: no cover
    """Trade the steps `rows`/`times`; on return `status` = (code, step, steps with a
    holding): BAIL_NONE or why and where the lane gave up. `fills` is filled from row 0
    (`account[FILL_COUNT]` of them); `cash_out` and `equity_out` [S] get the quote cash
    and the equity marked at each step's close (the Python loop's `marks`: cash plus each
    holding's float amount times its close, NaN as 0, in column order). `returns` [n, T]
    is filled here, the rows an entry's VaR reads, once (`_returns_to`)."""
    steps, n = rows.shape[0], tradable.shape[0]
    orders = np.zeros((n, ORDER_FIELDS), np.int64)
    queue = np.full(n, math.nan)
    position = np.zeros(n, np.int64)
    base_reserved = np.zeros(n, np.int64)
    amount_f = np.zeros(n)  # float(position) of each column, for the float equity
    override = np.full(n, -2, np.int64)  # the state a canceled cross remembers (-2: none)
    overrides = 0
    t_m, t_e, l_m, l_e = grids[:, T_M], grids[:, T_E], grids[:, L_M], grids[:, L_E]
    k_exp = money[K_EXP]
    rate_pow = 10 ** money[RATE_EXP]
    account[CASH] = money[CASH0]
    cash_f = exact_float(account[CASH], k_exp)
    if math.isnan(cash_f):
        status[0] = BAIL_BIG
        return
    mode, day_start = ACTIVE, -1
    day_equity = peak = cash_f
    returns_known = np.zeros(1, np.int64)  # rows of `returns` made so far
    exposed = 0
    moved_column = np.empty(n, np.int64)
    moved_now = np.empty(n, np.int64)
    moved_was = np.empty(n, np.int64)
    act_kind = np.empty(n, np.int64)  # per action: BUY, SELL or 0 (cancel)
    act_column = np.empty(n, np.int64)
    act_limit = np.empty(n)
    act_stop = np.empty(n)
    weights = np.zeros(n)
    step_equity = np.full(1, -1, np.int64)
    status[0], status[1], status[2] = BAIL_NONE, 0, 0
    for k in range(steps):
        row, ts = rows[k], times[k]
        status[1] = k
        # 1. the open orders meet the row's bars
        if account[OPEN_ORDERS] > 0:
            filled = account[FILL_COUNT]
            open_ms = money[START_MS] + row * money[BAR_MS]
            code = match(orders, queue, account, position, base_reserved, fills, k, open_ms,
                         open_ms + money[BAR_MS] - 1, has_bar[row], open_[row], high[row],
                         low[row], close[row], volume[row], spread, has_spread, fill_f, fill_i,
                         powers, money[NO_CANCEL], t_m, t_e, l_m, l_e, tick_f, lot_f,
                         rules[:, SCALE], k_exp, money[MAKER_NUM], money[TAKER_NUM],
                         money[RATE_EXP], money[QUANTUM])
            if code != BAIL_NONE:
                status[0] = code
                return
            if account[FILL_COUNT] != filled:  # float(Decimal) of the new cash and amounts
                cash_f = exact_float(account[CASH], k_exp)
                for c in range(n):
                    amount_f[c] = exact_float(position[c] * l_m[c], l_e[c])
                    if math.isnan(amount_f[c]) or math.isnan(cash_f):
                        status[0] = BAIL_BIG
                        return
        # 2. the equity mark, and the breakers on it
        equity_f = cash_f
        holding = False
        for c in range(n):
            if amount_f[c] != 0.0:
                holding = holding or amount_f[c] > 0.0
                mark = close_ff[row, c]
                if math.isnan(mark):
                    mark = 0.0
                elif math.isinf(mark):
                    mark = _BIGGEST if mark > 0 else -_BIGGEST
                equity_f += amount_f[c] * mark
        cash_out[k], equity_out[k] = cash_f, equity_f
        exposed += holding
        status[2] = exposed
        day = ts - ts % DAY_MS
        new_day = day > day_start
        if new_day:
            day_start, day_equity = day, equity_f
        peak = max(peak, equity_f)
        if mode != HALTED:
            if not (day_equity > 0 and peak > 0):
                status[0] = BAIL_BREAKER
                return
            target = _target((day_equity - equity_f) / day_equity * 100.0,
                             (peak - equity_f) / peak * 100.0, figures)
            if target < 0:
                status[0] = BAIL_BREAKER
                return
            if target > mode or (new_day and mode == REDUCING and target == ACTIVE):
                mode = target
        # 3. the policy's actions, each through the gate
        first, last = cross_start[k], cross_start[k + 1]
        if first == last and overrides == 0:
            continue
        moves = 0
        if overrides > 0:
            for c in range(n):
                flipped = override[c] != -2
                for j in range(first, last):
                    flipped = flipped or cross_column[j] == c
                if flipped:
                    moved_column[moves], moved_now[moves] = c, above[k, c]
                    moved_was[moves] = (override[c] if override[c] != -2
                                        else (above[k - 1, c] if k > 0 else -1))
                    moves += 1
                override[c] = -2
            overrides = 0
        else:
            for j in range(first, last):
                moved_column[moves], moved_now[moves] = cross_column[j], cross_now[j]
                moved_was[moves] = cross_before[j]
                moves += 1
        actions = 0
        for j in range(moves):
            c, now, was = moved_column[j], moved_now[j], moved_was[j]
            if now < 0 or was < 0 or now == was or not tradable[c]:
                continue
            if orders[c, SIDE_OF] != 0:  # a working order: cancel it, act at the next step
                act_kind[actions], act_column[actions] = 0, c
                actions += 1
                override[c] = was
                overrides += 1
            elif now == 1:
                price = ask[k, c]
                if position[c] == 0 and math.isfinite(price) and price > 0:
                    act_kind[actions], act_column[actions] = BUY, c
                    act_limit[actions] = price * figures[BUY_FACTOR]
                    act_stop[actions] = price * figures[STOP_FACTOR]
                    actions += 1
            elif position[c] > 0:
                price = bid[k, c]
                if math.isfinite(price) and price > 0:
                    act_kind[actions], act_column[actions] = SELL, c
                    act_limit[actions] = price * figures[SELL_FACTOR]
                    actions += 1
        step_equity[0] = -1  # the step's exact equity in U, once an entry needs it
        for j in range(actions):
            kind, c = act_kind[j], act_column[j]
            if kind == 0:
                close_order(orders, account, base_reserved, c)
                continue
            if mode == HALTED or (kind == BUY and mode == REDUCING):
                continue  # denied on the mode alone
            if kind == SELL:
                ticks = grid_ticks(act_limit[j], tick_f[c], t_m[c], t_e[c], True)
                if ticks <= 0:
                    status[0] = BAIL_UNSURE
                    return
                if too_small(c, position[c], ticks, rules):
                    continue  # MIN_NOTIONAL
                code = submit(orders, queue, account, position, base_reserved, c, SELL,
                              ticks, position[c], ts, rules[:, SCALE], rules,
                              money[WORST_NUM], rate_pow, money[QUANTUM])
                if code != BAIL_NONE:
                    status[0] = code
                    return
                continue
            lots = _entry(k, row, c, act_limit[j], act_stop[j], step_equity, orders, position,
                          account, close_ff, returns, returns_known, grids, tick_f, lot_f,
                          rules, money, figures, weights)
            if lots < 0:
                status[0] = -lots
                return
            if lots == 0:
                continue  # denied
            code = submit(orders, queue, account, position, base_reserved, c, BUY,
                          grid_ticks(act_limit[j], tick_f[c], t_m[c], t_e[c], False), lots,
                          ts, rules[:, SCALE], rules, money[WORST_NUM], rate_pow,
                          money[QUANTUM])
            if code != BAIL_NONE:
                status[0] = code
                return


@jit
def _entry(k: int, row: int, c: int, limit: float, stop: float, step_equity: np.ndarray,
           orders: np.ndarray, position: np.ndarray, account: np.ndarray,
           close_ff: np.ndarray, returns: np.ndarray, returns_known: np.ndarray,
           grids: np.ndarray, tick_f: np.ndarray,
           lot_f: np.ndarray, rules: np.ndarray, money: np.ndarray, figures: np.ndarray,
           weights: np.ndarray) -> int:  # pragma: no cover - compiled
    """`RiskGate.check` of a BUY in ACTIVE mode: the lots approved (0: denied) or -code to
    give up. `step_equity[0]`: the step's exact equity in U (Trader.equity: cash plus the
    holdings at their close), made on the step's first entry (-1 until then)."""
    n = position.shape[0]
    ticks = grid_ticks(limit, tick_f[c], grids[c, T_M], grids[c, T_E], False)
    if ticks <= 0:
        return -BAIL_UNSURE
    # the account as the gate sees it: holdings at their close, buys being made
    own = 0  # c's held value plus its pending buy (PortfolioView.value_of)
    in_open = False  # c is one of the open symbols: an entry in it takes no new slot
    opened = 0  # symbols held (not dust) or being bought
    equity = account[CASH]
    for j in range(n):
        value = 0
        dust = True
        if position[j] > 0:
            mark = on_grid_ticks(close_ff[row, j], tick_f[j], grids[j, T_M], grids[j, T_E])
            if mark < 0:
                return -BAIL_MARK
            if float(position[j]) * mark * rules[j, SCALE] > 2.0 ** 60:
                return -BAIL_BIG
            value = position[j] * mark * rules[j, SCALE]
            dust = too_small(j, position[j], mark, rules)
            equity += value
        pending = 0
        if orders[j, SIDE_OF] == BUY:
            pending = orders[j, LOTS_LEFT] * orders[j, TICKS] * rules[j, SCALE]
        if not dust or pending > 0:
            opened += 1
            in_open = in_open or j == c
        if j == c:
            own = value + pending
        weights[j] = exact_float(value + pending, money[K_EXP]) if value + pending else 0.0
        if math.isnan(weights[j]):
            return -BAIL_BIG  # a value past 2^53 units
    if step_equity[0] < 0:
        step_equity[0] = equity
    equity = step_equity[0]
    if equity <= 0:
        return -BAIL_UNSURE
    # every product below is at most equity times one of these factors
    if float(equity) * (money[RESERVE_DEN] + money[RESERVE_NUM] + money[CAP_DEN]
                        + money[CAP_NUM]) > 2.0 ** 62:
        return -BAIL_BIG
    if not in_open and opened >= money[MAX_OPEN]:
        return 0  # MAX_POSITIONS
    price = exact_float(ticks * grids[c, T_M], grids[c, T_E])
    lots = entry_amount(equity, own, ticks, stop, c, rules, lot_f[c], price,
                        figures[RISK_FRAC], money[CAP_NUM], money[CAP_DEN], money[K_EXP])
    if lots == -2:
        return 0  # POSITION_LIMIT
    if lots < 0:
        return -BAIL_UNSURE
    if rules[c, MAX_LOTS] >= 0:
        lots = min(lots, rules[c, MAX_LOTS])
    if too_small(c, lots, ticks, rules):
        return 0  # MIN_NOTIONAL
    notional = lots * ticks * rules[c, SCALE]
    free = account[CASH] - account[CASH_RESERVED]
    if notional * (money[RESERVE_DEN] + money[RESERVE_NUM]) > free * money[RESERVE_DEN]:
        return 0  # INSUFFICIENT_CASH
    rows = money[HISTORY_ROWS]
    first = row - rows + 1
    if first < 1 or first <= money[ALL_STARTED] or not _returns_to(returns, returns_known,
                                                                    close_ff, row + 1):
        return -BAIL_HISTORY
    if rows < money[MIN_OBSERVATIONS]:
        return 0  # NO_RISK_DATA
    weights[c] += exact_float(notional, money[K_EXP])
    verdict = var_es_verdict(returns, first, rows, weights, money[TAIL_K], figures[BOUNDARY],
                             figures[DENOMINATOR],
                             figures[HORIZON_SCALE] / exact_float(equity, money[K_EXP]),
                             figures[VAR_LIMIT], figures[ES_LIMIT])
    if verdict == BAIL_UNSURE:
        return -BAIL_UNSURE
    return 0 if verdict == DENY else lots


@jit
def _returns_to(returns: np.ndarray, known: np.ndarray, close_ff: np.ndarray,
                stop: int) -> bool:  # pragma: no cover - compiled
    """Fill returns[:, known[0]: stop] (transposed) with fast_history.simple_returns's
    values: the C library's expm1 of its log of each close over the one before, 0 where
    that log is not finite, 0 in row 0 (model.libm's functions, element for element).
    False when one is not finite (the loop's history would take another path)."""
    for r in range(known[0], stop):
        for c in range(returns.shape[0]):
            value = 0.0
            if r > 0:
                ratio = close_ff[r, c] / close_ff[r - 1, c]
                if ratio > 0 and math.isfinite(ratio):  # else the log is not finite
                    value = math.expm1(math.log(ratio))
            if not math.isfinite(value):
                return False
            returns[c, r] = value
    known[0] = max(known[0], stop)
    return True


__all__ = ["ACTIVE", "HALTED", "REDUCING", "run_sma_lane"]
