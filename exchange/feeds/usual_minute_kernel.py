"""The replay feed's usual minute in one compiled call (numba): its ticker arrays, made,
read back and judged by the parser and the feed edge (`ticker_minute`); then its close and
closed klines (`close_minute`); `usual_minute` makes both.

Why: a replayed minute whose every number is plain (the usual one) went through some
twenty Python calls and eight compiled ones between the simulator's state and the
engine's two callbacks (the ticker tables, their parser check, the edge's check, the
close's stores, the kline table, its parser check, the edge's bar check), about half of the
feed's time a minute (issue 15). Here the same loops run one after the other in one call,
writing into arrays the caller made (a returned array costs numba more than making it
in Python), and answer only whether the minute is the usual one. Where it is not (a value
near a rounding half, a row the parser or the edge would refuse), nothing that the caller
can see has been judged: the caller plays the minute the general way
(exchange/feeds/replay_usual.py).

Each loop repeats, operation for operation, the kernel it stands for (numba's on-disk cache
judges a kernel by its own file's stamp only, so nothing is called from another file):
`ticker_kernel.ticker_table` and `_parse_back_in_place`, `parse_kernel.ticker_rows_pass`,
`sanity_kernel.ticker_arrays_admit`, `ticker_kernel.close_stores` and
`parsed_partial_bar_table`, `parse_kernel.kline_rows_pass`, `sanity_kernel.bar_rows_pass`.
tests/unit/test_usual_minute_kernel.py holds the calls to those kernels on random states
with NaN, inf, negative and out-of-range values.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)

#: What the calls answer: the usual minute, or why not (then the caller goes the general way).
USUAL = 0
DOUBTFUL = 1  # a value the kernel cannot read back (it must be formatted and parsed)
REFUSED = 2  # a row the parser would refuse
NOT_ADMITTED = 3  # a row the feed edge would not pass as it is

#: `sanity_kernel.TS_LIMIT_MAX`: the largest event-time limit (int64).
TS_LIMIT_MAX = int(np.iinfo(np.int64).max)


@jit
def _parse_back(table: np.ndarray, exact_from: float, doubt: float) -> bool:
    """`ticker_kernel._parse_back_in_place` without the mask: every value of the flat
    `table` read back from its 8-decimal string, in place; True when any value is
    doubtful, which the caller then does not use. Every value is read back, doubtful or
    not, with no branch in the loop, so the compiler makes it vector code (the division by
    1e8 was most of the loop's time; a doubtful value's reading is of no use, as before)."""
    doubtful = False
    for i in range(table.shape[0]):
        value = table[i]
        whole = np.trunc(value)
        scaled = (value - whole) * 1e8
        rounded = np.rint(scaled)
        exact = abs(value) >= exact_from
        doubtful |= not exact and not 0.5 - abs(scaled - rounded) > doubt
        parsed = math.copysign((whole * 1e8 + rounded) / 1e8, value)
        table[i] = value if exact else parsed
    return doubtful


@jit
def ticker_minute(
    out: np.ndarray, last: np.ndarray, bid: np.ndarray, ask: np.ndarray, bid_qty: np.ndarray,
    ask_qty: np.ndarray, done: np.ndarray, bar_volume: np.ndarray, bar_quote: np.ndarray,
    window_volume: np.ndarray, window_quote: np.ndarray, lot: np.ndarray, index: np.ndarray,
    ts_event: np.ndarray, exact_from: float, doubt: float, max_ts: int, newest_ms: int,
    max_future_ms: int, lo: np.ndarray, hi: np.ndarray, max_amount: float,
) -> tuple[int, int]:
    """(USUAL or why not, the newest event time) of a minute's ticker arrays: `out`
    (ticks, 7, columns) gets `ticker_table`, read back as `parsed_ticker_table` reads it;
    then every row must pass `parse_kernel.ticker_rows_pass` (one time per array, in
    [0, max_ts]) and the arrays `sanity_kernel.ticker_arrays_admit` from `newest_ms`. The
    caller guards 0 <= newest_ms and |max_future_ms| <= 2**62, as `admit_arrays` does."""
    ticks, columns = last.shape
    for j in range(ticks):  # ticker_table
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
    if _parse_back(out.reshape(-1), exact_from, doubt):
        return DOUBTFUL, 0
    fields = out.shape[1]
    for m in range(ticks):  # parse_kernel.ticker_rows_pass, one time per array
        ts = ts_event[m]
        for i in range(columns):
            ok = ts >= 0 and ts <= max_ts and out[m, 1, i] <= out[m, 2, i]
            for f in range(fields):
                value = out[m, f, i]
                ok = ok and value >= 0.0 and value < math.inf
            if not ok:
                return REFUSED, 0
    # sanity_kernel.ticker_arrays_admit: each array's limit, then ticker_arrays_pass.
    newest = newest_ms
    top = TS_LIMIT_MAX
    latest = ts_event[0]
    for j in range(ticks):
        ts = ts_event[j]
        base = ts if ts > newest else newest
        limit = (top if max_future_ms >= 0 and base > top - max_future_ms
                 else base + max_future_ms)
        newest = base
        for i in range(columns):
            low, high = lo[i], hi[i]
            b, a, x = out[j, 1, i], out[j, 2, i], out[j, 0, i]
            if not (b > 0.0 and b <= high and b >= low and a > 0.0 and a <= high
                    and a >= low):
                return NOT_ADMITTED, latest
            if x <= 0.0 or x > high or x < low or not b <= a:
                return NOT_ADMITTED, latest
            for amount in (out[j, 3, i], out[j, 4, i], out[j, 5, i], out[j, 6, i]):
                if amount < 0.0 or amount > max_amount:
                    return NOT_ADMITTED, latest
            if not ts <= limit:
                return NOT_ADMITTED, latest
            if ts > latest:
                latest = ts
    return USUAL, latest


@jit
def close_minute(
    values: np.ndarray, trades: np.ndarray, run_high: np.ndarray, run_low: np.ndarray,
    done: np.ndarray, index: np.ndarray, ts_event: np.ndarray, last_qty: np.ndarray,
    bid: np.ndarray, ask: np.ndarray, bid_qty: np.ndarray, ask_qty: np.ndarray,
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
    bar_volume: np.ndarray, bar_quote: np.ndarray, bar_trades: np.ndarray, lot: np.ndarray,
    state_ts: np.ndarray, state_last_qty: np.ndarray, state_bid: np.ndarray,
    state_ask: np.ndarray, state_bid_qty: np.ndarray, state_ask_qty: np.ndarray,
    state_last: np.ndarray, exact_from: float, doubt: float, max_price: float,
    lo: np.ndarray, hi: np.ndarray, max_amount: float,
) -> int:
    """The minute's close, then its closed klines judged: `close_stores` into the state's
    arrays (the last tick's time, sizes and book, the close's last prices) with the
    close's running high, low and volume done written to `run_high`, `run_low`, `done`
    (always: the close happens whatever the klines are); then `values` (6, columns) and
    `trades` get `parsed_partial_bar_table` of the closed state. Returns USUAL when no
    value is doubtful, every kline passes `parse_kernel.kline_rows_pass` and every row
    `sanity_kernel.bar_rows_pass` (their time checks are the caller's); else why not."""
    n = index.shape[0]
    ticks = ts_event.shape[0]
    if ticks:  # close_stores
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
    for k in range(n):
        state_last[index[k]] = close[k]
        run_high[k] = high[k]
        run_low[k] = low[k]
        done[k] = 1.0
    for k in range(n):  # partial_bar_table of the closed state
        i = index[k]
        step = lot[i]
        values[0, k] = open_[k]
        values[1, k] = run_high[k]
        values[2, k] = run_low[k]
        values[3, k] = state_last[i]
        values[4, k] = np.floor(bar_volume[k] * done[k] / step + 1e-9) * step
        values[5, k] = bar_quote[k] * done[k]
        trades[k] = max(1, int(np.rint(bar_trades[k] * done[k])))
    if _parse_back(values.reshape(-1), exact_from, doubt):
        return DOUBTFUL
    for i in range(n):  # parse_kernel.kline_rows_pass
        o, h, lw, c = values[0, i], values[1, i], values[2, i], values[3, i]
        ok = lw <= o and lw <= c and o <= h and c <= h and lw > 0.0 and h <= max_price
        for value in (o, h, lw, c, values[4, i], values[5, i]):
            ok = ok and value >= 0.0 and value < math.inf
        if not ok:
            return REFUSED
    for i in range(n):  # sanity_kernel.bar_rows_pass
        lw, hg, o, c = values[2, i], values[1, i], values[0, i], values[3, i]
        if not (lw > 0.0 and lw <= o and o <= hg and lw <= c and c <= hg
                and hg <= hi[i] and lw >= lo[i]):
            return NOT_ADMITTED
        v, q = values[4, i], values[5, i]
        if not (v >= 0.0 and v <= max_amount):
            return NOT_ADMITTED
        if q < 0.0 or q > max_amount:
            return NOT_ADMITTED
    return USUAL


@jit
def usual_minute(
    table: np.ndarray, closing: np.ndarray, trades: np.ndarray, last: np.ndarray,
    bid: np.ndarray, ask: np.ndarray, bid_qty: np.ndarray, ask_qty: np.ndarray,
    last_qty: np.ndarray, done: np.ndarray, ts_event: np.ndarray, open_: np.ndarray,
    high: np.ndarray, low: np.ndarray, close: np.ndarray, bar_volume: np.ndarray,
    bar_quote: np.ndarray, bar_trades: np.ndarray, index: np.ndarray,
    window_volume: np.ndarray, window_quote: np.ndarray, lot: np.ndarray,
    state_ts: np.ndarray, state_last_qty: np.ndarray, state_bid: np.ndarray,
    state_ask: np.ndarray, state_bid_qty: np.ndarray, state_ask_qty: np.ndarray,
    state_last: np.ndarray, exact_from: float, doubt: float, max_ts: int, max_price: float,
    newest_ms: int, max_future_ms: int, lo: np.ndarray, hi: np.ndarray, max_amount: float,
) -> tuple[int, int, int]:
    """`ticker_minute` into `table`; when its minute is the usual one (and only then: else
    nothing is stored), `close_minute` too, its klines into rows 0-5 of `closing` (9,
    columns) and `trades`, the close's running high, low and volume done into rows 6-8.
    Returns (the tickers' answer, their newest time, the klines' answer: USUAL when
    nothing was closed)."""
    status, latest = ticker_minute(
        table, last, bid, ask, bid_qty, ask_qty, done, bar_volume, bar_quote, window_volume,
        window_quote, lot, index, ts_event, exact_from, doubt, max_ts, newest_ms,
        max_future_ms, lo, hi, max_amount)
    if status != USUAL:
        return status, latest, USUAL
    kline_status = close_minute(
        closing[:6], trades, closing[6], closing[7], closing[8], index, ts_event, last_qty,
        bid, ask, bid_qty, ask_qty, open_, high, low, close, bar_volume, bar_quote,
        bar_trades, lot, state_ts, state_last_qty, state_bid, state_ask, state_bid_qty,
        state_ask_qty, state_last, exact_from, doubt, max_price, lo, hi, max_amount)
    return status, latest, kline_status
