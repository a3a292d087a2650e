"""A block of minutes' synthesized ticks from their bars and noise draws, compiled (numba).

Why compiled: the replay synthesizes the ticks of 60 minutes at once
(`ticks.synthesize_tick_block`), and the array form (`ticks.tick_table`: the noise's
exponentials, `_tick_fields`' two dozen array operations and a stack) was about a fifth of
a block's cost, a few microseconds a replayed minute. The loop makes each cell's
operations in the array form's order: the same products, quotients and sums
(no fused multiply-add without fastmath), `np.round` as `rint`, `np.floor`,
`np.maximum`'s and `np.clip`'s NaN rules written out, `libm.exp` as the C library's `exp`
(`math.exp`, as model/libm.py's ufunc calls it). tests/unit/test_tick_block_kernel.py holds
it to the array form bit for bit on random blocks with zeros, NaN, inf and negative values.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)


@jit
def _maximum(a: float, b: float) -> float:
    """np.maximum: the larger, NaN if either is NaN."""
    if math.isnan(a):
        return a
    if math.isnan(b):
        return b
    return a if a >= b else b


@jit
def _clip(x: float, low: float, high: float) -> float:
    """np.clip of floats: min(max(x, low), high), each keeping a NaN first operand and
    otherwise taking the second unless the first is strictly beyond it (numpy's rule)."""
    if not math.isnan(x):
        x = x if x > low else low
    if not math.isnan(x):
        x = x if x < high else high
    return x


@jit
def tick_block_table(
    out: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
    volume: np.ndarray, trades: np.ndarray, tick: np.ndarray, lot: np.ndarray,
    bps: np.ndarray, noise: np.ndarray, scales: np.ndarray, leg: np.ndarray,
    frac: np.ndarray, range_widening: float, book_share: float,
) -> None:
    """`ticks.tick_table` into `out` (minutes, 6, ticks, symbols: last, bid, ask, bid_qty,
    ask_qty, last_qty): bars (minutes, symbols), per-symbol tick, lot and spread bps,
    standard normal `noise` (minutes, 4, ticks, symbols) scaled by `scales` (spread, bid
    size, ask size, trade size), each tick on path leg `leg[j]` at `frac[j]` of it."""
    minutes, symbols = open_.shape
    ticks = leg.shape[0]
    waypoints = np.empty(4)
    for b in range(minutes):
        for i in range(symbols):
            o, h, lw, c = open_[b, i], high[b, i], low[b, i], close[b, i]
            up = c >= o
            waypoints[0] = o
            waypoints[1] = lw if up else h
            waypoints[2] = h if up else lw
            waypoints[3] = c
            step, lot_i = tick[i], lot[i]
            relative_range = (h - lw) / _maximum(c, 1e-300)
            spread_price = c * bps[i] * 1e-4 * (1.0 + range_widening * relative_range)
            book = volume[b, i] * book_share
            count = trades[b, i]
            per_trade = volume[b, i] / float(count if count >= 1 else 1)
            previous = o
            for j in range(ticks):
                start, end = waypoints[leg[j]], waypoints[leg[j] + 1]
                last = _clip(np.rint((start + frac[j] * (end - start)) / step) * step, lw, h)
                spread_noise = math.exp(scales[0] * noise[b, 0, j, i])
                spread_ticks = _maximum(1.0, np.rint(spread_price * spread_noise / step))
                spread = spread_ticks * step
                bid = last - spread if last >= previous else last  # an up-tick: at the ask
                if bid <= 0:
                    bid = last
                ask = np.rint((bid + spread) / step) * step
                bid = np.rint(bid / step) * step
                bid_noise = math.exp(scales[1] * noise[b, 1, j, i])
                ask_noise = math.exp(scales[2] * noise[b, 2, j, i])
                qty_noise = math.exp(scales[3] * noise[b, 3, j, i])
                out[b, 0, j, i] = last
                out[b, 1, j, i] = bid
                out[b, 2, j, i] = ask
                out[b, 3, j, i] = _maximum(lot_i, np.floor(book * bid_noise / lot_i + 1e-9)
                                           * lot_i)
                out[b, 4, j, i] = _maximum(lot_i, np.floor(book * ask_noise / lot_i + 1e-9)
                                           * lot_i)
                out[b, 5, j, i] = _maximum(lot_i, np.floor(per_trade * qty_noise / lot_i
                                                           + 1e-9) * lot_i)
                previous = last
