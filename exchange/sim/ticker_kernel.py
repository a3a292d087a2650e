"""`MarketState.ticker_tables`' and `partial_table`'s arithmetic, compiled (numba).

Why compiled: the replay's direct path asks once a minute for the numbers of every ticker
of the minute (ticks x fields x symbols) and of its klines, and the array forms were a dozen
small numpy calls and a stack each. The loops do the same operations on each value in the
same order (a volume floored to the lot grid as `floor_to_grid` does, the 24h volumes plus
the partial bar's, trade counts rounded half to even; no fused multiply-add without
fastmath), so each number is the same. tests/unit/test_ticker_kernel.py holds them to the
array forms.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)


@jit
def ticker_table(last: np.ndarray, bid: np.ndarray, ask: np.ndarray, bid_qty: np.ndarray,
                 ask_qty: np.ndarray, done: np.ndarray, bar_volume: np.ndarray,
                 bar_quote: np.ndarray, window_volume: np.ndarray,
                 window_quote: np.ndarray, lot: np.ndarray, index: np.ndarray) -> np.ndarray:
    """(ticks, 7, columns): last, bid, ask, bid_qty, ask_qty at each tick, then the 24h
    volume and quote volume with the share `done` of the minute's bar (columns k are the
    market's symbols `index[k]`; `window_*` and `lot` are per market symbol)."""
    ticks, columns = last.shape
    out = np.empty((ticks, 7, columns))
    for j in range(ticks):
        for k in range(columns):
            i = index[k]
            out[j, 0, k] = last[j, k]
            out[j, 1, k] = bid[j, k]
            out[j, 2, k] = ask[j, k]
            out[j, 3, k] = bid_qty[j, k]
            out[j, 4, k] = ask_qty[j, k]
            step = lot[i]
            traded = np.floor(bar_volume[k] * done[j, k] / step + 1e-9) * step
            out[j, 5, k] = window_volume[i] + traded
            out[j, 6, k] = window_quote[i] + bar_quote[k] * done[j, k]
    return out


@jit
def partial_bar_table(open_: np.ndarray, run_high: np.ndarray, run_low: np.ndarray,
                  last: np.ndarray, bar_volume: np.ndarray, bar_quote: np.ndarray,
                  bar_trades: np.ndarray, done: np.ndarray, lot: np.ndarray,
                  index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """((6, columns) open, high, low, close, volume, quote volume of the partial bars,
    their trade counts): `done` of each bar traded (`last` and `lot` per market symbol)."""
    columns = open_.shape[0]
    out = np.empty((6, columns))
    trades = np.empty(columns, dtype=np.int64)
    for k in range(columns):
        i = index[k]
        step = lot[i]
        out[0, k] = open_[k]
        out[1, k] = run_high[k]
        out[2, k] = run_low[k]
        out[3, k] = last[i]
        out[4, k] = np.floor(bar_volume[k] * done[k] / step + 1e-9) * step
        out[5, k] = bar_quote[k] * done[k]
        trades[k] = max(1, int(np.rint(bar_trades[k] * done[k])))
    return out, trades


@jit
def _parse_back_in_place(table: np.ndarray, exact_from: float, doubt: float,
                         doubtful: np.ndarray) -> bool:
    """`num_kernel.parse_back` of every value of the flat `table`, in place (the same
    operations, repeated here: numba's cache judges a kernel by its own file only), except
    that a doubtful value (within `doubt` of a rounding half, or NaN) is left as it is and
    marked, for the caller to format and parse for real. Returns whether any was."""
    any_doubtful = False
    for i in range(table.shape[0]):
        value = table[i]
        if abs(value) >= exact_from:
            continue
        whole = np.trunc(value)
        scaled = (value - whole) * 1e8
        rounded = np.rint(scaled)
        if not 0.5 - abs(scaled - rounded) > doubt:
            doubtful[i] = True
            any_doubtful = True
            continue
        table[i] = math.copysign((whole * 1e8 + rounded) / 1e8, value)
    return any_doubtful


@jit
def parsed_ticker_table(last: np.ndarray, bid: np.ndarray, ask: np.ndarray,
                        bid_qty: np.ndarray, ask_qty: np.ndarray, done: np.ndarray,
                        bar_volume: np.ndarray, bar_quote: np.ndarray,
                        window_volume: np.ndarray, window_quote: np.ndarray, lot: np.ndarray,
                        index: np.ndarray, exact_from: float,
                        doubt: float) -> tuple[np.ndarray, np.ndarray, bool]:
    """`ticker_table`, each value then read back from its 8-decimal string as
    `protocol.num_parsed` does, in one call: (table, doubtful values' mask of the same
    shape, whether any is doubtful: those still hold the raw value)."""
    table = ticker_table(last, bid, ask, bid_qty, ask_qty, done, bar_volume, bar_quote,
                         window_volume, window_quote, lot, index)
    doubtful = np.zeros(table.shape, dtype=np.bool_)
    any_doubtful = _parse_back_in_place(table.reshape(-1), exact_from, doubt,
                                        doubtful.reshape(-1))
    return table, doubtful, any_doubtful


@jit
def parsed_partial_bar_table(open_: np.ndarray, run_high: np.ndarray, run_low: np.ndarray,
                             last: np.ndarray, bar_volume: np.ndarray, bar_quote: np.ndarray,
                             bar_trades: np.ndarray, done: np.ndarray, lot: np.ndarray,
                             index: np.ndarray, exact_from: float, doubt: float,
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """`partial_bar_table`, its floats read back as `parsed_ticker_table` reads them:
    (floats, trade counts, doubtful mask, whether any is doubtful)."""
    floats, trades = partial_bar_table(open_, run_high, run_low, last, bar_volume,
                                       bar_quote, bar_trades, done, lot, index)
    doubtful = np.zeros(floats.shape, dtype=np.bool_)
    any_doubtful = _parse_back_in_place(floats.reshape(-1), exact_from, doubt,
                                        doubtful.reshape(-1))
    return floats, trades, doubtful, any_doubtful


@jit
def close_stores(index: np.ndarray, ts_event: np.ndarray, last_qty: np.ndarray,
                 bid: np.ndarray, ask: np.ndarray, bid_qty: np.ndarray, ask_qty: np.ndarray,
                 close: np.ndarray, high: np.ndarray, low: np.ndarray, state_ts: np.ndarray,
                 state_last_qty: np.ndarray, state_bid: np.ndarray, state_ask: np.ndarray,
                 state_bid_qty: np.ndarray, state_ask_qty: np.ndarray,
                 state_last: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`MarketState.close_after_last_tick`'s stores in one call (only copies, no
    arithmetic): the last tick's (row -1 of the (ticks, columns) arrays, when there is
    one) time, sizes and book into the state's rows `index` (distinct), then the close's
    last prices; returns the close's running high, low and volume done (copies of `high`
    and `low`, ones). Ten numpy stores and copies were ~10 us of a replayed minute."""
    n = index.shape[0]
    ticks = ts_event.shape[0]
    if ticks:
        j = ticks - 1
        ts = ts_event[j]
        for k in range(n):
            i = index[k]
            state_ts[i] = ts
            state_last_qty[i] = last_qty[j, k]
            state_bid[i] = bid[j, k]
            state_ask[i] = ask[j, k]
            state_bid_qty[i] = bid_qty[j, k]
            state_ask_qty[i] = ask_qty[j, k]
    run_high = np.empty(n)
    run_low = np.empty(n)
    for k in range(n):
        state_last[index[k]] = close[k]
        run_high[k] = high[k]
        run_low[k] = low[k]
    return run_high, run_low, np.ones(n)
