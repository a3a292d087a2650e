"""The engine's per-ticker-array steps, compiled (numba): one call each instead of ~20.

Why compiled: every ticker array (four a replayed minute, about one a second live) is
judged by the bad-print filter (`PrintFilter.admit_batch`) and stored by the feature book
(`FeatureBook.on_tick_batch`); their array forms were some forty numpy calls on a few tens
of rows, all call overhead. These loops make the same comparisons and copy the same floats
(no arithmetic, so nothing can round differently; every comparison with NaN is False, as
in numpy; rows are written in order, so a symbol twice in an array keeps its last row, as a
numpy fancy assignment does). tests/unit/test_tick_kernel.py holds them to the array forms.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)


@jit
def ticks_inside(rows: np.ndarray, low: np.ndarray, high: np.ndarray, last: np.ndarray,
                 bid: np.ndarray, ask: np.ndarray) -> bool:
    """Whether every row's last, bid and ask lie in [low, high] of its range row (NaN
    passes: a stream without that field)."""
    for i in range(rows.shape[0]):
        lo, hi = low[rows[i]], high[rows[i]]
        for price in (last[i], bid[i], ask[i]):
            if not (math.isnan(price) or (price >= lo and price <= hi)):
                return False
    return True


@jit
def store_ticks(rows: np.ndarray, ts_event: np.ndarray, last: np.ndarray, bid: np.ndarray,
                ask: np.ndarray, bid_qty: np.ndarray, ask_qty: np.ndarray,
                quote_volume: np.ndarray, tick_last: np.ndarray, tick_ts: np.ndarray,
                book_bid: np.ndarray, book_ask: np.ndarray, book_bid_qty: np.ndarray,
                book_ask_qty: np.ndarray, book_quote_volume: np.ndarray) -> None:
    """Each row's finite fields into the book's arrays at `rows[i]` (a row < 0 is a symbol
    outside the universe: skipped); `tick_ts` moves with a finite `last`."""
    for i in range(rows.shape[0]):
        row = rows[i]
        if row < 0:
            continue
        if math.isfinite(last[i]):
            tick_last[row] = last[i]
            tick_ts[row] = ts_event[i]
        if math.isfinite(bid[i]):
            book_bid[row] = bid[i]
        if math.isfinite(ask[i]):
            book_ask[row] = ask[i]
        if math.isfinite(bid_qty[i]):
            book_bid_qty[row] = bid_qty[i]
        if math.isfinite(ask_qty[i]):
            book_ask_qty[row] = ask_qty[i]
        if math.isfinite(quote_volume[i]):
            book_quote_volume[row] = quote_volume[i]


@jit
def bars_inside(rows: np.ndarray, low_range: np.ndarray, high_range: np.ndarray,
                low: np.ndarray, high: np.ndarray) -> bool:
    """Whether every bar's low and high lie within its range row (`PrintFilter.admit_bar`'s
    test, low >= range low and high <= range high; NaN fails, as there)."""
    for i in range(rows.shape[0]):
        row = rows[i]
        if not (low[i] >= low_range[row] and high[i] <= high_range[row]):
            return False
    return True


@jit
def arrays_inside(rows: np.ndarray, low: np.ndarray, high: np.ndarray,
                  table: np.ndarray) -> bool:
    """`ticks_inside` of every array of a `TickArrays` table (arrays, 7, rows): rows 0, 1
    and 2 of each are its last, bid and ask."""
    for j in range(table.shape[0]):
        for i in range(rows.shape[0]):
            lo, hi = low[rows[i]], high[rows[i]]
            for price in (table[j, 0, i], table[j, 1, i], table[j, 2, i]):
                if not (math.isnan(price) or (price >= lo and price <= hi)):
                    return False
    return True


@jit
def store_tick_arrays(rows: np.ndarray, ts_event: np.ndarray, table: np.ndarray,
                      tick_last: np.ndarray, tick_ts: np.ndarray, book_bid: np.ndarray,
                      book_ask: np.ndarray, book_bid_qty: np.ndarray,
                      book_ask_qty: np.ndarray, book_quote_volume: np.ndarray) -> None:
    """`store_ticks` of every array of a `TickArrays` table, one after the other: array j's
    rows at time `ts_event[j]`, fields last, bid, ask, bid_qty, ask_qty (rows 0-4) and
    quote volume (row 6)."""
    for j in range(table.shape[0]):
        ts = ts_event[j]
        for i in range(rows.shape[0]):
            row = rows[i]
            if row < 0:
                continue
            if math.isfinite(table[j, 0, i]):
                tick_last[row] = table[j, 0, i]
                tick_ts[row] = ts
            if math.isfinite(table[j, 1, i]):
                book_bid[row] = table[j, 1, i]
            if math.isfinite(table[j, 2, i]):
                book_ask[row] = table[j, 2, i]
            if math.isfinite(table[j, 3, i]):
                book_bid_qty[row] = table[j, 3, i]
            if math.isfinite(table[j, 4, i]):
                book_ask_qty[row] = table[j, 4, i]
            if math.isfinite(table[j, 6, i]):
                book_quote_volume[row] = table[j, 6, i]


@jit
def last_prices(n_seen: np.ndarray, minute: np.ndarray, close: np.ndarray,
                tick_ts: np.ndarray, tick_last: np.ndarray, minute_ms: int) -> np.ndarray:
    """Each symbol's last price (`FeatureBook._last`): its newest tick when that tick is
    finite and newer than its last bar's close (or it has no bar yet), else that close. Only
    a choice, no arithmetic on the floats. Asked once a decision step by the decision view,
    where the array form's six numpy calls were ~8 us on 20 rows."""
    n = n_seen.shape[0]
    out = np.empty(n)
    for i in range(n):
        newer = tick_ts[i] > (minute[i] + 1) * minute_ms - 1 or n_seen[i] == 0
        out[i] = tick_last[i] if newer and math.isfinite(tick_last[i]) else close[i]
    return out
