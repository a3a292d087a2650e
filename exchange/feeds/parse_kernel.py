"""The parser's number checks on whole tables, compiled (numba): one call per table.

Why compiled: `binance_parse.ticker_rows_valid` and `kline_values_valid` judge every ticker
array and every minute's closed klines (the live parser's fast path; the replay's direct
path judges a minute's four ticker arrays at once) and their array forms were some twenty
numpy calls on a few tens of values. The loops make the same comparisons value by value (no
arithmetic; "finite and >= 0" is `0 <= x < inf`, which NaN fails as `isfinite` does).
tests/unit/test_parse_kernel.py holds them to the array forms on random tables.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)


@jit
def ticker_rows_pass(ts_event: np.ndarray, table: np.ndarray, max_ts: int) -> np.ndarray:
    """Rows of `table` (frames, fields, rows) with every field finite and >= 0, bid (field
    1) <= ask (field 2) and event time in [0, max_ts]; `ts_event` is (frames, rows), or
    (frames, 1) for one time per frame."""
    frames, fields, rows = table.shape
    one_time = ts_event.shape[1] == 1
    good = np.empty((frames, rows), dtype=np.bool_)
    for m in range(frames):
        for i in range(rows):
            ts = ts_event[m, 0] if one_time else ts_event[m, i]
            ok = ts >= 0 and ts <= max_ts and table[m, 1, i] <= table[m, 2, i]
            for f in range(fields):
                value = table[m, f, i]
                ok = ok and value >= 0.0 and value < math.inf
            good[m, i] = ok
    return good


@jit
def kline_rows_pass(prices: np.ndarray, volumes: np.ndarray, max_price: float) -> np.ndarray:
    """Klines (columns) whose open, high, low, close (`prices` rows) and volumes are finite
    and >= 0, with low <= open, close <= high, low > 0 and high <= `max_price`."""
    rows = prices.shape[1]
    good = np.empty(rows, dtype=np.bool_)
    for i in range(rows):
        o, h, low, c = prices[0, i], prices[1, i], prices[2, i], prices[3, i]
        ok = low <= o and low <= c and o <= h and c <= h and low > 0.0 and h <= max_price
        for value in (o, h, low, c, volumes[0, i], volumes[1, i]):
            ok = ok and value >= 0.0 and value < math.inf
        good[i] = ok
    return good
