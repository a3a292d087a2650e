"""Intra-bar ticks synthesized from one closed bar alone.

The path visits open -> low -> high -> close when the bar closed up (close >= open) and
open -> high -> low -> close otherwise, sampled at `ticks_per_bar` evenly spaced points
(4 points hit exactly the four waypoints). Nothing here looks at a later bar, so a strategy
fed these ticks cannot peek at the future. The only randomness (spread and size noise) comes
from a generator seeded by (seed, minute index), drawn for every symbol of the market, so the
ticks of a symbol in minute m depend on bar m and nothing else.
"""

from __future__ import annotations

import numpy as np

from exchange.sim.bars import IntraTicks, MinuteBars
from model import libm
from model.market import MINUTE_MS

SPREAD_RANGE_WIDENING = 100.0  # spread grows with the bar's relative range: busy = wide
BOOK_SHARE_OF_BAR_VOLUME = 0.08  # typical best-level size as a share of the minute's volume


def round_to_grid(values: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Nearest multiple of `step` (per column), as a float."""
    return np.round(values / step) * step


def floor_to_grid(values: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Largest multiple of `step` not above `values`, tolerant of float noise."""
    return np.floor(values / step + 1e-9) * step


def path_positions(ticks_per_bar: int) -> np.ndarray:
    """Where along the 3-leg open/extreme/extreme/close path each tick lies, in [0, 1]."""
    if ticks_per_bar == 1:
        return np.ones(1)
    return np.linspace(0.0, 1.0, ticks_per_bar)


def synthesize_ticks(
    bars: MinuteBars,
    tick_size: np.ndarray,
    lot_size: np.ndarray,
    spread_bps: np.ndarray,
    ticks_per_bar: int,
    seed: int,
) -> IntraTicks:
    """Ticks of one minute for the symbols in `bars` (per-symbol arrays are indexed by
    `bars.index` into the market's full symbol list)."""
    n_all = tick_size.shape[0]
    idx = bars.index
    tick, lot, bps = tick_size[idx], lot_size[idx], spread_bps[idx]
    o, h, l, c = bars.open, bars.high, bars.low, bars.close  # noqa: E741  OHLC
    rng = np.random.default_rng([seed, bars.open_ms // MINUTE_MS])
    spread_noise = libm.exp(0.3 * rng.standard_normal((ticks_per_bar, n_all)))[:, idx]
    bid_noise = libm.exp(0.6 * rng.standard_normal((ticks_per_bar, n_all)))[:, idx]
    ask_noise = libm.exp(0.6 * rng.standard_normal((ticks_per_bar, n_all)))[:, idx]
    qty_noise = libm.exp(0.5 * rng.standard_normal((ticks_per_bar, n_all)))[:, idx]

    up = c >= o
    waypoints = np.stack([o, np.where(up, l, h), np.where(up, h, l), c])  # (4, n)
    position = path_positions(ticks_per_bar) * 3.0
    leg = np.minimum(position.astype(np.int64), 2)
    frac = (position - leg)[:, None]
    last = waypoints[leg] + frac * (waypoints[leg + 1] - waypoints[leg])
    last = np.clip(round_to_grid(last, tick), l, h)

    previous = np.vstack([o[None, :], last[:-1]])
    relative_range = (h - l) / np.maximum(c, 1e-300)
    spread_price = c * bps * 1e-4 * (1.0 + SPREAD_RANGE_WIDENING * relative_range)
    spread_ticks = np.maximum(1.0, np.round(spread_price * spread_noise / tick))
    spread = spread_ticks * tick
    buyer_initiated = last >= previous  # an up-tick trades at the ask
    bid = np.where(buyer_initiated, last - spread, last)
    bid = np.where(bid <= 0, last, bid)
    ask = round_to_grid(bid + spread, tick)
    bid = round_to_grid(bid, tick)

    volume = bars.volume[None, :]
    book = volume * BOOK_SHARE_OF_BAR_VOLUME
    bid_qty = np.maximum(lot, floor_to_grid(book * bid_noise, lot))
    ask_qty = np.maximum(lot, floor_to_grid(book * ask_noise, lot))
    per_trade = volume / np.maximum(bars.trades, 1)[None, :]
    last_qty = np.maximum(lot, floor_to_grid(per_trade * qty_noise, lot))

    steps = np.arange(ticks_per_bar, dtype=np.int64)
    ts_event = bars.open_ms + ((2 * steps + 1) * MINUTE_MS) // (2 * ticks_per_bar)
    return IntraTicks(
        ts_event=ts_event,
        last=last,
        bid=bid,
        ask=ask,
        bid_qty=bid_qty,
        ask_qty=ask_qty,
        last_qty=last_qty,
        volume_done=np.broadcast_to(((steps + 1) / ticks_per_bar)[:, None], last.shape).copy(),
    )
