"""`MarketState.ticker_tables`' arithmetic, compiled (numba): a minute's tables in one pass.

Why compiled: the replay's direct path asks for the numbers of every ticker of a minute
(ticks x fields x symbols) once a minute, and the array form was a dozen small numpy calls
and a stack of seven arrays. The loop does the same operations on each value in the same
order (the 24h volume plus the partial bar's volume floored to the lot grid, the 24h quote
volume plus the partial bar's; no fused multiply-add without fastmath), so each number is the
same float. tests/unit/test_ticker_kernel.py holds it to the array form.
"""

from __future__ import annotations

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
