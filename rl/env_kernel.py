"""The RL env's step, one env at a time, compiled: orders, fills, booking, equity, reward.

`rl.env.BatchedEnv` owns the state (one numpy array per account column) and episode
starts; this module is the arithmetic of one step for env i, in the order the module
docstring of rl/env.py states it. Compiled by numba (ADR-039) because the array-at-a-time
form spent its time dispatching ~150 small numpy operations per step (1.5M steps/s at 4,096
envs against a 5M target); the per-env form does the same arithmetic in the same
order (held bit-identical to it when it replaced it) and calls the fill model's own
per-order function, `model.fill_kernel.match_order`, and the account rules of
`rl/account.py`.
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
    fmin,
    jit,
    match_order,
    spread_width,
)
from model.fills import NO_CANCEL_MS
from rl.account import book_fill, ceil_quantum, size_entry
from rl.spaces import CANCEL_BUY, CANCEL_SELL, N_FIXED_ACTIONS

parallel_jit = njit(cache=True, error_model="numpy", nogil=True, parallel=True)
#: sha256 (first 16 hex) of the compiled code this module inlines from other files:
#: model/fill_kernel.py, then rl/account.py. numba's on-disk cache judges a function fresh by
#: its own file's stamp only, so after a change there an installed env (NUMBA_CACHE_DIR
#: persists across upgrades) would keep stepping with the old fill rules while the backtester
#: has the new ones. Updating this line changes this file, which retires the stale cache;
#: tests/unit/test_numba_cache_stamp.py fails until it is updated.
INLINED_SOURCES_SHA256 = "208a6076e155d15e"
#: Columns of the env's bar table (`bar_table`); the bar's book comes from `bar_book`.
OPEN, HIGH, LOW, CLOSE, VOLUME, START_MS = range(6)


def bar_table(open_ms: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
              close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Bars [T] and [T, n] as one float64 [n * T, 6] table, symbol-major: an env walks its
    own symbol's rows one after the other, so each step reads the cache lines next to the
    last step's (one narrow table, not separate columns: fewer cache misses per env at
    4,096 envs). The book the fill model needs is derived per bar by `bar_book`, the rule
    `fills.market_from_bars` uses. Times as float64 are exact (epoch ms << 2**53)."""
    length, n_symbols = close.shape
    columns = (open_, high, low, close, volume, np.repeat(open_ms[:, None], n_symbols, 1))
    table = np.stack([np.asarray(c, np.float64) for c in columns], axis=-1)
    return np.ascontiguousarray(table.transpose(1, 0, 2).reshape(n_symbols * length,
                                                                  len(columns)))


@jit
def decode_action(action: int, n_offsets: int) -> tuple[bool, bool, int, int]:
    """(is_buy, is_sell, offset index, cancel side) of a flat action (rl.spaces layout)."""
    k = action - N_FIXED_ACTIONS
    is_buy = 0 <= k < n_offsets
    is_sell = k >= n_offsets
    offset_index = k - n_offsets if is_sell else max(k, 0)
    cancel_side = 1 if action == CANCEL_BUY else (-1 if action == CANCEL_SELL else 0)
    return is_buy, is_sell, offset_index, cancel_side


@parallel_jit
def step_envs(chunks: int, actions: np.ndarray, offsets: np.ndarray, bars: np.ndarray,
              length: int,
              # fill model and env knobs
              max_volume_share: float, through_volume_share: float,
              maker_fee_bps: float, taker_fee_bps: float,
              levels: int, growth: float, powers: np.ndarray, spacing: int,
              spread_ticks: float, spread: np.ndarray, book_share: float,
              risk_per_trade_pct: float, max_position_pct: float, stop_pct: float,
              target_return: float, shaping_weight: float, reward_scale: float,
              ruin_fraction: float,
              # env state, updated in place
              t: np.ndarray, t_end: np.ndarray, sym: np.ndarray,
              tick: np.ndarray, lot: np.ndarray, min_notional: np.ndarray,
              cash: np.ndarray, pos: np.ndarray, equity: np.ndarray, capital: np.ndarray,
              finished: np.ndarray, entry_equity: np.ndarray, trade_cost: np.ndarray,
              trade_bought: np.ndarray, trade_proceeds: np.ndarray, has_order: np.ndarray,
              side: np.ndarray, price: np.ndarray, amount: np.ndarray,
              remaining: np.ndarray, queue: np.ndarray, reserved: np.ndarray,
              fee_prepaid: np.ndarray,
              # per-step outputs
              reward: np.ndarray, done: np.ndarray, out_fill: np.ndarray,
              out_notional: np.ndarray, out_fee: np.ndarray, out_shaping: np.ndarray,
              out_ruined: np.ndarray, out_episode_log_return: np.ndarray) -> None:
    """Step every env once (see rl/env.py for the rules); done envs are not reset here.
    `chunks` slices of envs run on numba's threads (1 = serial); results do not depend on
    it."""
    worst_fee = max(maker_fee_bps, taker_fee_bps) * 1e-4
    n = actions.shape[0]
    for chunk in prange(chunks):  # envs are independent: each thread steps a slice
        level_price = np.zeros(levels)
        level_amount = np.zeros(levels)
        scratch = np.empty((3, levels))  # working space of the fill model and the booking
        for i in range(chunk * n // chunks, (chunk + 1) * n // chunks):
            active = not finished[i]
            is_buy, is_sell, offset_index, cancel_side = decode_action(actions[i], offsets.shape[0])
            is_buy = is_buy and active
            is_sell = is_sell and active
            # -- orders: cancels, then a new order replacing any resting one -------------------
            sells = is_sell and pos[i] > 0
            if (cancel_side != 0 and cancel_side == side[i]) or is_buy or sells:
                has_order[i] = False
            floor = min_notional[i] * (1 - EPS)
            bar = sym[i] * length + t[i]  # this minute's row of the env's symbol in `bars`
            close = bars[bar, CLOSE]
            if is_buy:
                limit = (np.rint(close / tick[i]) + offsets[offset_index]) * tick[i]
                size = size_entry(equity[i], limit, pos[i] * close, tick[i], lot[i],
                                  risk_per_trade_pct, max_position_pct, stop_pct, 1.0)
                # As the paper broker's reservation: limit cost plus the worse fee in cash.
                affordable = floor_to_lot(cash[i] / (limit * (1 + worst_fee)), lot[i])
                if ceil_quantum(affordable * limit * (1 + worst_fee)) > cash[i]:
                    affordable -= lot[i]
                size = fmin(size, fmax(affordable, 0.0))
                # The exchange's filters, as the risk gate's `too_small`: one lot, min notional.
                if size >= lot[i] * (1 - EPS) and limit > 0 and size * limit >= floor:
                    # A fresh order: not resting yet (no queue position), nothing prepaid.
                    has_order[i], side[i], price[i] = True, BUY, limit
                    amount[i] = remaining[i] = size
                    queue[i], fee_prepaid[i] = np.nan, 0.0
                    reserved[i] = ceil_quantum(size * limit * (1 + worst_fee))
            elif sells:
                width = spread_width(spread[sym[i]], close, tick[i], spread_ticks)
                limit = (np.rint(close / tick[i]) + width - offsets[offset_index]) * tick[i]
                size = floor_to_lot(pos[i], lot[i])
                if size >= lot[i] * (1 - EPS) and limit > 0 and size * limit >= floor:
                    has_order[i], side[i], price[i] = True, SELL, limit
                    amount[i] = remaining[i] = size
                    queue[i], fee_prepaid[i] = np.nan, 0.0
                    reserved[i] = np.inf
            # -- the resting order meets the next bar (a minute without a trade is no event) ---
            out_fill[i] = out_notional[i] = out_fee[i] = 0.0
            event = bar + 1  # the next bar of the same symbol
            if has_order[i] and active and bars[event, VOLUME] > 0:
                start = np.int64(bars[event, START_MS])
                open_, volume = bars[event, OPEN], bars[event, VOLUME]
                width = spread_width(spread[sym[i]], open_, tick[i], spread_ticks)
                bid, ask, bid_qty, ask_qty = bar_book(open_, volume, tick[i], width, book_share)
                level_price[:] = 0.0
                level_amount[:] = 0.0
                buy = side[i] == BUY
                (filled, _, _, liquidity, left, queue_after, canceled, _) = match_order(
                    # type: ignores: `start` is an np.int64 (numba compiles int64 either way)
                    side[i], False, price[i], remaining[i], queue[i],
                    start, NO_CANCEL_MS,  # type: ignore[arg-type]
                    reserved[i] + fee_prepaid[i], tick[i], lot[i], True,
                    start,  # type: ignore[arg-type]
                    start + BAR_LAST_MS,  # type: ignore[arg-type]
                    open_, bars[event, HIGH], bars[event, LOW],
                    bars[event, CLOSE], volume, bid, ask, bid_qty, ask_qty,
                    max_volume_share, through_volume_share, maker_fee_bps, taker_fee_bps,
                    levels, growth, powers, spacing, level_price, level_amount, scratch[0])
                booked = fill_notional = fee = 0.0
                if filled > 0:
                    rate = (taker_fee_bps if liquidity == TAKER else maker_fee_bps) * 1e-4
                    booked, fill_notional, fee, reserve_left, prepaid = book_fill(
                        level_price, level_amount, levels, buy, rate, lot[i],
                        reserved[i] if buy else np.inf, fee_prepaid[i], cash[i], scratch[1],
                        scratch[2])
                    if buy:
                        reserved[i] = reserve_left
                    fee_prepaid[i] = prepaid
                sign = 1.0 if buy else -1.0
                out_fill[i] = sign * booked
                out_notional[i] = fill_notional
                out_fee[i] = fee
                was_flat = pos[i] < lot[i] * 0.5
                cash[i] -= sign * fill_notional + fee
                new_pos = pos[i] + sign * booked
                pos[i] = 0.0 if new_pos < lot[i] * 0.5 else new_pos  # no float dust
                if was_flat and buy and booked > 0:
                    entry_equity[i] = equity[i]
                if buy:
                    trade_cost[i] += fill_notional + fee
                    trade_bought[i] += booked
                else:
                    trade_proceeds[i] += fill_notional - fee
                # What the booking cut (a buy its reservation could not pay) stays open.
                remaining[i] = left + (filled - booked)
                queue[i] = queue_after
                has_order[i] = not (remaining[i] < lot[i] * 0.5 or canceled)
            # -- mark to the bar's close, reward, shaping, episode end --------------------------
            before = equity[i]
            if active:
                t[i] += 1
            close = bars[sym[i] * length + t[i], CLOSE]
            if active:
                equity[i] = cash[i] + pos[i] * close
            shaping, closed = trade_outcome(active, close, t[i] >= t_end[i], pos[i],
                                            trade_cost[i], trade_proceeds[i], target_return)
            if closed:
                trade_cost[i] = trade_bought[i] = trade_proceeds[i] = 0.0
            out_shaping[i] = shaping
            reward[i] = (np.log(equity[i] / before) + shaping_weight * shaping) * reward_scale
            ruined = active and equity[i] <= ruin_fraction * capital[i]
            out_ruined[i] = ruined
            done[i] = (active and (t[i] >= t_end[i] or ruined)) or finished[i]
            out_episode_log_return[i] = (np.log(equity[i] / capital[i]) if done[i] and active
                                         else np.nan)
            if done[i]:
                finished[i] = True
                has_order[i] = False


@jit
def trade_outcome(active: bool, close: float, at_horizon: bool, position: float,
                  cost: float, proceeds: float, target_return: float) -> tuple[float, bool]:
    """(shaping points, closed) for an env's trade this step: clip(trade return / target,
    -1, 1) for a position sold out or still open at the horizon (marked at the close);
    nothing for entering, only outcomes score. `closed`: sold out, so its book is cleared."""
    in_trade = cost > 0
    sold_out = in_trade and position == 0.0
    points = 0.0
    if active and (sold_out or (in_trade and at_horizon)):
        value = proceeds + (0.0 if sold_out else position * close)
        points = fmin(fmax((value / cost - 1.0) / target_return, -1.0), 1.0)
    return points, active and sold_out


@parallel_jit
def observe(chunks: int, obs: np.ndarray, obs_table: np.ndarray, feature_width: int,
            horizon: int, bars: np.ndarray, length: int, sym: np.ndarray, t: np.ndarray,
            t_end: np.ndarray, pos: np.ndarray, equity: np.ndarray, capital: np.ndarray,
            entry_equity: np.ndarray, trade_cost: np.ndarray, trade_bought: np.ndarray,
            has_order: np.ndarray, side: np.ndarray, price: np.ndarray, amount: np.ndarray,
            remaining: np.ndarray) -> None:
    """For each env: its feature row of (t, symbol) with the extra columns, then the account
    columns in `rl.spaces.STATE_FEATURES` order, into `obs` (float32 [n_envs, width]).
    `obs_table` rows are symbol-major like `bars`; `chunks` slices of envs run on numba's
    threads. (One flat loop on purpose: a compiled helper per env reference-counts every
    array it is passed, which cost more than the arithmetic.)"""
    n = t.shape[0]
    for chunk in prange(chunks):
        for i in range(chunk * n // chunks, (chunk + 1) * n // chunks):
            r = sym[i] * length + t[i]
            for j in range(feature_width):
                obs[i, j] = obs_table[r, j]
            close = bars[r, CLOSE]
            in_position = pos[i] > 0
            unrealized = 0.0
            if in_position and trade_bought[i] > 0:
                unrealized = (close / (trade_cost[i] / trade_bought[i]) - 1.0) * 100.0
            order = has_order[i]
            filled_share = 0.0
            if order and amount[i] > 0:
                filled_share = 1.0 - remaining[i] / fmax(amount[i], 1e-300)
            c = feature_width
            obs[i, c] = pos[i] * close / equity[i]
            obs[i, c + 1] = np.log(equity[i] / capital[i])
            obs[i, c + 2] = (equity[i] / entry_equity[i] - 1.0) * 100.0 if in_position else 0.0
            obs[i, c + 3] = unrealized
            obs[i, c + 4] = 1.0 if order and side[i] == BUY else 0.0
            obs[i, c + 5] = 1.0 if order and side[i] == SELL else 0.0
            obs[i, c + 6] = (price[i] / close - 1.0) * 100.0 if order else 0.0
            obs[i, c + 7] = filled_share
            obs[i, c + 8] = (t_end[i] - t[i]) / horizon
