"""The compiled lane's account: `FastAccount`'s books in integers, for one compiled loop.

What trading/fast_account.py does in exact `Decimal`, done here in int64 on fixed grids, so
the same numbers come out without a Python call per order or fill:

- prices in ticks and amounts in lots of each column's instrument (both grids written
  `mantissa x 10^-exponent`), quote money in units U = 10^-K of the quote, with K chosen
  (trading/sma_lane.py) so that every notional (ticks x lots x `scale[c]`), every fee
  (rounded up to `FEE_QUANTUM`, `quantum` units) and every balance is a whole number of U;
- a fee rate of `rate_num / 10^rate_exp`; a buy's fee prepaid beyond the exact rate is kept
  in units of U / 10^rate_exp, so that it too is a whole number.

Whatever these integers cannot say exactly, or what the Python account handles through a
path this lane leaves out (a buy the free cash cannot pay in full, an order the exchange
filters refuse, a number past 2^53 that a float conversion would round twice), makes the
lane give up (`BAIL_*`): the caller then runs the Python loop, the reference, for the whole
run. At most one order per column is open at a time (what the SMA policy does).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from model.fill_kernel import BUY, SELL, TAKER
from trading.fast_match_kernel import (
    BOOK_TICK,
    BUDGET,
    COLUMN,
    LOT,
    ORDER_COLUMNS,
    PLACED_MS,
    PRICE,
    QUEUE,
    REMAINING,
    SIDE,
    TICK,
    match_row,
)

jit = njit(cache=True, error_model="numpy", nogil=True)

#: sha256 (first 16 hex) of the files `match` compiles in (model/fill_kernel.py,
#: trading/fast_match_kernel.py): numba's on-disk cache judges a function fresh by its own
#: file's stamp only, so this line changes with them and retires a stale cache
#: (tests/unit/test_numba_cache_stamp.py fails until it is updated).
INLINED_SOURCES_SHA256 = "b56ad81702b27f89"

#: Scalars of the account (int64 [ACCOUNT_FIELDS]).
CASH, CASH_RESERVED, FEES, NOTIONAL, OPEN_ORDERS, FILL_COUNT = range(6)
ACCOUNT_FIELDS = 6
#: Columns of the open order of each grid column (int64 [n, ORDER_FIELDS]); SIDE_OF is 0
#: where none is open, else BUY or SELL.
SIDE_OF, TICKS, LOTS_LEFT, RESERVED, PREPAID, PLACED = range(6)
ORDER_FIELDS = 6
#: Columns of a booked fill (int64 [capacity, FILL_FIELDS]).
F_STEP, F_TS, F_COLUMN, F_SIDE, F_TICKS, F_LOTS, F_FEE, F_LIQUIDITY = range(8)
FILL_FIELDS = 8
#: Why the lane gave up (0: it did not).
BAIL_NONE, BAIL_CAPACITY, BAIL_BIG, BAIL_SHORT_CASH, BAIL_FILTER, BAIL_REJECTED = range(6)
#: Integers past this may not convert to the nearest float in one rounding.
EXACT_FLOAT = 2 ** 53
#: 10^0 .. 10^22, each exact in float64.
POW10 = np.array([10.0 ** e for e in range(23)])


@jit
def exact_float(number: int, exponent: int) -> float:  # pragma: no cover - compiled
    """float(Decimal(number) x 10^-exponent), correctly rounded: one IEEE division of two
    exact floats; NaN where that does not hold (the caller gives up)."""
    if abs(number) >= EXACT_FLOAT or exponent < 0 or exponent > 22:
        return math.nan
    return float(number) / POW10[exponent]


@jit
def fee_units(notional: int, rate_num: int, rate_pow: int,
              quantum: int) -> int:  # pragma: no cover - compiled
    """The fee on `notional` U at rate_num / rate_pow, rounded up to `quantum` U."""
    per = rate_pow * quantum
    return -((-notional * rate_num) // per) * quantum


@jit
def submit(orders: np.ndarray, queue: np.ndarray, account: np.ndarray, position: np.ndarray,
           base_reserved: np.ndarray, c: int, side: int, ticks: int, lots: int, ts: int,
           scale: np.ndarray, limits_i: np.ndarray, worst_num: int, rate_pow: int,
           quantum: int) -> int:  # pragma: no cover - compiled
    """FastAccount.submit of a limit order at `ticks` for `lots`: the exchange filters and
    the reservation (a buy's limit cost plus the worst fee, rounded up to the quantum).
    `limits_i` [n, 6]: min and max price in ticks, min and max lots, min and max notional
    in U (max -1: none). A refusal is left to the Python account (BAIL_*)."""
    if ticks <= 0 or ticks < limits_i[c, 0] or (limits_i[c, 1] >= 0 and ticks > limits_i[c, 1]):
        return BAIL_FILTER
    if lots <= 0 or lots < limits_i[c, 2] or (limits_i[c, 3] >= 0 and lots > limits_i[c, 3]):
        return BAIL_FILTER
    if float(ticks) * float(lots) * float(scale[c]) * float(rate_pow + worst_num) > 2.0 ** 62:
        return BAIL_BIG
    notional = ticks * lots * scale[c]
    if notional < limits_i[c, 4] or (limits_i[c, 5] >= 0 and notional > limits_i[c, 5]):
        return BAIL_FILTER
    if side == BUY:
        need = -((-notional * (rate_pow + worst_num)) // (rate_pow * quantum)) * quantum
        if need > account[CASH] - account[CASH_RESERVED]:
            return BAIL_REJECTED
        account[CASH_RESERVED] += need
    else:
        need = lots
        if need > position[c] - base_reserved[c]:
            return BAIL_REJECTED
        base_reserved[c] += need
    orders[c, SIDE_OF] = side
    orders[c, TICKS] = ticks
    orders[c, LOTS_LEFT] = lots
    orders[c, RESERVED] = need
    orders[c, PREPAID] = 0
    orders[c, PLACED] = ts
    queue[c] = math.nan
    account[OPEN_ORDERS] += 1
    return BAIL_NONE


@jit
def close_order(orders: np.ndarray, account: np.ndarray, base_reserved: np.ndarray,
                c: int) -> None:  # pragma: no cover - compiled
    """FastAccount._close: the order's reservation left goes back, the order is gone (a
    cancel, a full fill, or the fill model's own cancel)."""
    if orders[c, SIDE_OF] == BUY:
        account[CASH_RESERVED] -= orders[c, RESERVED]
    else:
        base_reserved[c] -= orders[c, RESERVED]
    orders[c, SIDE_OF] = 0
    account[OPEN_ORDERS] -= 1


@jit
def match(orders: np.ndarray, queue: np.ndarray, account: np.ndarray, position: np.ndarray,
          base_reserved: np.ndarray, fills: np.ndarray, step: int, open_ms: int,
          close_ms: int, has_bar: np.ndarray, open_: np.ndarray, high: np.ndarray,
          low: np.ndarray, close: np.ndarray, volume: np.ndarray, spread: np.ndarray,
          has_spread: bool, fill_f: np.ndarray, fill_i: np.ndarray, powers: np.ndarray,
          no_cancel_ms: int, t_m: np.ndarray, t_e: np.ndarray, l_m: np.ndarray,
          l_e: np.ndarray, tick_f: np.ndarray, lot_f: np.ndarray, scale: np.ndarray, k_exp: int,
          maker_num: int, taker_num: int, rate_exp: int, quantum: int
          ) -> int:  # pragma: no cover - compiled
    """FastAccount.match_bars then _apply for the open orders of the columns with a bar:
    the same order table for `match_row`, each level of its answer put back on the grids
    (`float_to_grid`: round half to even of the float quotient) and booked. `fill_f`:
    the fill model's float settings (bar spread ticks, book share, max volume share,
    through volume share, maker and taker fee bps, book level growth); `fill_i`: levels
    and spacing. Returns BAIL_NONE or why it gave up."""
    n = orders.shape[0]
    count = 0
    for c in range(n):
        if orders[c, SIDE_OF] != 0 and has_bar[c]:
            count += 1
    if count == 0:
        return BAIL_NONE
    rate_pow = 10 ** rate_exp
    table = np.empty((count, ORDER_COLUMNS))
    owner = np.empty(count, np.int64)
    i = 0
    for c in range(n):
        if orders[c, SIDE_OF] == 0 or not has_bar[c]:
            continue
        side = orders[c, SIDE_OF]
        budget = math.inf
        if side == BUY:
            budget = exact_float(orders[c, RESERVED] * rate_pow + orders[c, PREPAID],
                                 k_exp + rate_exp)
        price = exact_float(orders[c, TICKS] * t_m[c], t_e[c])
        remaining = exact_float(orders[c, LOTS_LEFT] * l_m[c], l_e[c])
        if math.isnan(budget) or math.isnan(price) or math.isnan(remaining):
            return BAIL_BIG
        table[i, COLUMN] = c
        table[i, SIDE] = side
        table[i, PRICE] = price
        table[i, REMAINING] = remaining
        table[i, QUEUE] = queue[c]
        table[i, PLACED_MS] = orders[c, PLACED]
        table[i, BUDGET] = budget
        table[i, TICK] = tick_f[c]
        table[i, LOT] = lot_f[c]
        table[i, BOOK_TICK] = tick_f[c]
        owner[i] = c
        i += 1
    liquidity, level_price, level_amount, queue_after, canceled = match_row(
        table, open_ms, open_, high, low, close, volume, spread, has_spread, fill_f[0],
        fill_f[1], fill_f[2], fill_f[3], fill_f[4], fill_f[5], fill_i[0], fill_f[6], powers,
        fill_i[1], no_cancel_ms)
    for i in range(count):
        c = owner[i]
        side = orders[c, SIDE_OF]
        taker = liquidity[i] == TAKER
        rate_num = taker_num if taker else maker_num
        for level in range(level_price.shape[1]):
            price_f, amount_f = level_price[i, level], level_amount[i, level]
            if amount_f == 0:
                continue
            ticks_f, lots_f = price_f / tick_f[c], amount_f / lot_f[c]
            if not (math.isfinite(price_f) and math.isfinite(amount_f)
                    and math.isfinite(ticks_f) and math.isfinite(lots_f)):
                continue
            ticks, lots = np.rint(ticks_f), np.rint(lots_f)
            if not ticks > 0 or not lots >= 0:
                continue
            if ticks * lots * scale[c] * (rate_pow + rate_num) > 2.0 ** 62:
                return BAIL_BIG
            amount = min(int(lots), orders[c, LOTS_LEFT])
            if amount <= 0:
                continue
            notional = int(ticks) * amount * scale[c]
            fee = fee_units(notional, rate_num, rate_pow, quantum)
            if side == BUY:
                can_pay = orders[c, RESERVED] + account[CASH] - account[CASH_RESERVED]
                if notional + fee > can_pay:
                    return BAIL_SHORT_CASH  # payable_buy's cut: the Python account's
                orders[c, PREPAID] += fee * rate_pow - notional * rate_num
                cost = notional + fee
                used = min(cost, orders[c, RESERVED])
                account[CASH] -= cost
                position[c] += amount
                account[CASH_RESERVED] -= used
                orders[c, RESERVED] -= used
            else:
                position[c] -= amount
                base_reserved[c] -= amount
                account[CASH] += notional - fee
                orders[c, RESERVED] -= amount
            orders[c, LOTS_LEFT] -= amount
            at = account[FILL_COUNT]
            if at >= fills.shape[0]:
                return BAIL_CAPACITY
            fills[at, F_STEP] = step
            fills[at, F_TS] = close_ms
            fills[at, F_COLUMN] = c
            fills[at, F_SIDE] = side
            fills[at, F_TICKS] = int(ticks)
            fills[at, F_LOTS] = amount
            fills[at, F_FEE] = fee
            fills[at, F_LIQUIDITY] = liquidity[i]
            account[FILL_COUNT] = at + 1
            account[FEES] += fee
            account[NOTIONAL] += notional
        queue[c] = queue_after[i]
        if orders[c, LOTS_LEFT] == 0 or canceled[i]:
            close_order(orders, account, base_reserved, c)
    return BAIL_NONE


__all__ = ["ACCOUNT_FIELDS", "BUY", "FILL_FIELDS", "ORDER_FIELDS", "SELL", "close_order",
           "exact_float", "match", "submit"]
