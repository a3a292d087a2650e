"""Longer bars from the live 1m rings: what a policy trained on 5m or 1h bars reads live.

Why here: the engine streams 1m bars into `FeatureBook`'s rings (strategies/rolling.py),
which keep 30 days of closes and quote volumes and a week of highs and lows. A policy
trained on a `BarGrid` of longer bars (the portfolio network, rl/portfolio_live_policy.py)
needs those bars as the exchange's own klines of that length would give them, and nothing
newer than the decision. Aggregation per bar of `bar_ms`:

* close: the close of the bar's last minute (the rings hold forward-filled closes: a minute
  without a trade keeps the previous close);
* traded: some minute of the bar traded, i.e. had a positive quote volume (a minute the
  engine flat-filled has none, the only mark the rings keep of it);
* high / low: the extremes of the traded minutes; beyond the week the range rings keep,
  the close (every range window is a week or less, so no feature reads those);
* quote volume: the sum over the bar's minutes.

Minutes a symbol has no data for (before its first bar, or older than the rings) read as
NaN closes and no trade.
"""

from __future__ import annotations

import numpy as np

from model.market import MINUTE_MS
from strategies.features_batch import MinuteGrid
from strategies.policy import RecentBars
from strategies.rolling import BarRings
from strategies.windows import PRICE_CAPACITY, RANGE_CAPACITY

#: Minutes read at once (bounds the temporary arrays at 500 symbols to a few MB).
_CHUNK_MINUTES = 1440


def rings_recent_bars(rings: BarRings, symbols: tuple[str, ...], bar_ms: int, count: int,
                      end_ms: int) -> RecentBars:
    """The `count` bars of `bar_ms` closing at or before `end_ms` (module docstring). Reads
    each bar's close at its last minute only, the volumes of every minute, and the highs and
    lows of the last week only (closes and extremes are stored as decimal counts, whose
    decoding is the cost: a month of minutes of 100 symbols took 0.2 s)."""
    if bar_ms <= 0 or bar_ms % MINUTE_MS or count < 1:
        raise ValueError(f"bars of {bar_ms} ms x {count}: need a positive whole number of "
                         "minutes and at least one bar")
    bar_minutes = bar_ms // MINUTE_MS
    n = len(symbols)
    end_minute = end_ms // MINUTE_MS - 1  # the newest minute of the newest bar
    first_minute = end_minute - count * bar_minutes + 1
    rows = np.arange(n)[:, None]
    seen = rings.n_seen[:, None] > 0

    def known(minutes: np.ndarray, capacity: int) -> np.ndarray:
        """[n, len(minutes)]: the rings hold that minute of that symbol."""
        return (seen & (minutes[None, :] >= rings.first_minute[:, None])
                & (minutes[None, :] <= rings.minute[:, None])
                & (minutes[None, :] > rings.minute[:, None] - capacity))

    # Closes: the bar's last minute (or the symbol's newest, if it stopped earlier).
    last = first_minute + (np.arange(count) + 1) * bar_minutes - 1
    at = np.minimum(last[None, :], rings.minute[:, None])
    held = (seen & (at >= rings.first_minute[:, None])
            & (at > rings.minute[:, None] - PRICE_CAPACITY))
    close = np.where(held, rings.ring_close[rows, at % PRICE_CAPACITY], np.nan).T
    # Volumes, and so which bars traded: every minute, in chunks.
    quote_volume = np.zeros((count, n))
    traded = np.zeros((count, n), bool)
    bars_per_chunk = max(1, _CHUNK_MINUTES // bar_minutes)
    for first_bar in range(0, count, bars_per_chunk):
        stop_bar = min(count, first_bar + bars_per_chunk)
        minutes = first_minute + np.arange(first_bar * bar_minutes, stop_bar * bar_minutes)
        volumes = np.where(known(minutes, PRICE_CAPACITY),  # float32 ring, summed in float64
                           rings.ring_qv[rows, (minutes % PRICE_CAPACITY)[None, :]].astype(
                               np.float64), 0.0)
        shape = (n, stop_bar - first_bar, bar_minutes)
        quote_volume[first_bar:stop_bar] = volumes.reshape(shape).sum(axis=2).T
        traded[first_bar:stop_bar] = (volumes > 0).reshape(shape).any(axis=2).T
    # Extremes of the traded minutes, within the week the range rings keep; older: the close.
    high, low = np.where(traded, close, np.nan), np.where(traded, close, np.nan)
    recent_bar = max(0, count - (RANGE_CAPACITY // bar_minutes))
    minutes = first_minute + np.arange(recent_bar * bar_minutes, count * bar_minutes)
    if minutes.size:
        slots = (minutes % RANGE_CAPACITY)[None, :]
        active = known(minutes, RANGE_CAPACITY) & (
            rings.ring_qv[rows, (minutes % PRICE_CAPACITY)[None, :]] > 0)
        shape = (n, count - recent_bar, bar_minutes)
        highs = np.where(active, rings.ring_high[rows, slots], -np.inf).reshape(shape).max(axis=2)
        lows = np.where(active, rings.ring_low[rows, slots], np.inf).reshape(shape).min(axis=2)
        # A bar reaching back past the week keeps its close where none of its trades is held.
        high[recent_bar:] = np.where(np.isfinite(highs.T), highs.T, high[recent_bar:])
        low[recent_bar:] = np.where(np.isfinite(lows.T), lows.T, low[recent_bar:])
    first_open_ms = np.where(rings.n_seen > 0, rings.first_minute * MINUTE_MS, -1)
    return RecentBars(symbols, bar_ms, first_minute * MINUTE_MS, close, high, low,
                      quote_volume, traded, first_open_ms.astype(np.int64))


def grid_recent_bars(symbols: tuple[str, ...], start_ms: int, bar_ms: int, close: np.ndarray,
                     high: np.ndarray, low: np.ndarray, quote_volume: np.ndarray, count: int,
                     end_ms: int) -> RecentBars:
    """The same from a grid of bars already of `bar_ms` ([T, n], row t opening at
    `start_ms + t * bar_ms`, NaN close = no bar): the bars of rows before the one opening at
    `end_ms`, forward-filled. Backtests and the live/env parity test feed policies with it."""
    stop = (end_ms - start_ms) // bar_ms
    if (end_ms - start_ms) % bar_ms or not 0 < stop <= close.shape[0]:
        raise ValueError(f"end_ms {end_ms} is not a bar close of the grid")
    first = stop - count
    valid = np.isfinite(close) & (close > 0)
    index = np.where(valid, np.arange(close.shape[0])[:, None], -1)
    newest = np.maximum.accumulate(index, axis=0)
    filled = np.where(newest >= 0, close[np.maximum(newest, 0), np.arange(close.shape[1])],
                      np.nan)

    def window(values: np.ndarray, fill: float) -> np.ndarray:
        out = np.full((count, values.shape[1]), fill, dtype=values.dtype)
        out[max(0, -first):] = values[max(0, first):stop]
        return out

    before = valid[:stop]  # nothing at or after end_ms: not even when a coin first traded
    first_open_ms = np.where(before.any(axis=0), start_ms + before.argmax(axis=0) * bar_ms, -1)
    traded = window(valid, False)
    return RecentBars(symbols, bar_ms, start_ms + first * bar_ms, window(filled, np.nan),
                      np.where(traded, window(high, np.nan), np.nan),
                      np.where(traded, window(low, np.nan), np.nan),
                      np.where(traded, np.nan_to_num(window(quote_volume, 0.0)), 0.0),
                      traded, first_open_ms.astype(np.int64))


class GridBars:
    """`strategies.policy.BarSource` over a grid of bars (`BarGrid`): what a policy reading
    its own bars sees in a replay of the grid, and in the live/env parity test."""

    def __init__(self, grid: MinuteGrid) -> None:
        self.grid = grid

    def recent_bars(self, bar_ms: int, count: int, end_ms: int) -> RecentBars:
        """The grid's `count` bars closing at or before `end_ms`; the grid's own length only."""
        grid = self.grid
        if bar_ms != grid.bar_ms:
            raise ValueError(f"the grid has {grid.bar_ms} ms bars, {bar_ms} ms asked")
        return grid_recent_bars(grid.symbols, grid.start_ms, bar_ms, grid.close, grid.high,
                                grid.low, grid.quote_volume, count, end_ms)
