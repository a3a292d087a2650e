"""Vectorized twin of `FeatureBook`: the same features for every bar of a history.

Row t of `features_from_history(grid)` equals `FeatureBook.matrix()` after the bars of
minute t closed, `advance_to(minute t)` was called and no tick was applied (so "last" is the
last close and the tick features are NaN). Backtests, training and the no-lookahead tests
use it; live trading uses the book.

Grids of longer bars (`BarGrid`: 5m, 1h, ...) give the same features in the same units, row
t being the features after bar t closed: windows are durations (strategies/windows.py), a
window shorter than a bar or not a whole number of bars is NaN, and the per-minute figures
(volatility, warm-up minutes) are converted from bars to minutes in `assemble`.

Window sums are computed chunk-wise (van Herk / Gil-Werman): split time into chunks of the
window length, take prefix sums inside each chunk and suffix sums inside the previous one;
a window is one suffix plus one prefix. Unlike a global cumsum difference, every addend lies
inside the window, so a volume spike a week ago cannot swamp the rounding of a quiet hour's
sum. Highs/lows use the same chunking with maxima (exact). Every step only looks backwards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from model import libm
from model.errors import DataError
from model.market import MINUTE_MS, BarHistory
from strategies.feature_columns import Primitives, assemble, sanitize_bars
from strategies.windows import (
    AVERAGE_WINDOWS,
    RANGE_WINDOWS,
    RETURN_WINDOWS,
    SQUARE_SLOTS,
    window_rows,
)


@dataclass(frozen=True, slots=True)
class MinuteGrid:
    """1m bars of many symbols on one full minute grid: arrays [T, n_symbols], row t is
    the bar opening at `start_ms + t * MINUTE_MS`. NaN close = no bar that minute (no
    trade); `features_from_history` applies the flat-bar rule itself. Bars of other lengths
    come as its subclass `BarGrid`."""

    symbols: tuple[str, ...]
    start_ms: int
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    quote_volume: np.ndarray

    @property
    def bar_ms(self) -> int:
        """The bar length: one minute here, any timeframe in `BarGrid`."""
        return MINUTE_MS

    @property
    def open_ms(self) -> np.ndarray:
        """Open time of every row."""
        return self.start_ms + self.bar_ms * np.arange(self.close.shape[0], dtype=np.int64)

    @classmethod
    def from_histories(cls, histories: Mapping[str, BarHistory] | Sequence[BarHistory],
                       symbols: Sequence[str] | None = None,
                       end_ms: int | None = None) -> MinuteGrid:
        """Reindex per-symbol bar histories onto one minute grid, from the earliest bar to
        the latest (or to the minute opening at `end_ms`). Quote volume falls back to
        volume x close where a history has none."""
        symbols, start_ms, columns = reindexed(histories, symbols, end_ms, MINUTE_MS)
        return MinuteGrid(symbols=symbols, start_ms=start_ms, **columns)


@dataclass(frozen=True, slots=True)
class BarGrid(MinuteGrid):
    """Bars of any length on one full grid: row t opens at `start_ms + t * bar_ms`, NaN =
    no bar. A subclass, not a field of `MinuteGrid`, so every 1m caller builds and reads
    grids as before; loaders of other timeframes (`load_bar_grid` in exchange/sim) set
    `bar_ms`. The features take their windows as durations, so any whole number of minutes
    works (`grid_primitives`)."""

    bar_ms: int

    @classmethod
    def from_histories(cls, histories: Mapping[str, BarHistory] | Sequence[BarHistory],
                       symbols: Sequence[str] | None = None,
                       end_ms: int | None = None, *, bar_ms: int | None = None) -> BarGrid:
        """Reindex per-symbol histories of `bar_ms` bars onto one grid, from the earliest
        bar to the latest (or to the bar opening at `end_ms`). `bar_ms` is required: a
        history does not say its bar length, and reading 5m bars as 1m would be silent.
        A bar whose open time is off the grid (not start + k x bar_ms) is refused."""
        if bar_ms is None or bar_ms <= 0:
            raise ValueError("BarGrid.from_histories needs the bar length: pass bar_ms "
                             "(e.g. model.timeframes' milliseconds of '5m')")
        symbols, start_ms, columns = reindexed(histories, symbols, end_ms, bar_ms)
        return BarGrid(symbols=symbols, start_ms=start_ms, bar_ms=bar_ms, **columns)


def reindexed(histories: Mapping[str, BarHistory] | Sequence[BarHistory],
              symbols: Sequence[str] | None, end_ms: int | None, bar_ms: int
              ) -> tuple[tuple[str, ...], int, dict[str, np.ndarray]]:
    """(symbols, start_ms, columns [T, n] by name) of histories put on one grid of
    `bar_ms` bars: what `MinuteGrid.from_histories` and `BarGrid.from_histories` build.
    On bars longer than a minute, bars off the grid are refused (ValueError naming the
    symbol); 1m grids keep flooring open times to the minute, as they always did."""
    items = list(histories.values()) if isinstance(histories, Mapping) else list(histories)
    by_symbol = {h.symbol: h for h in items}
    symbols = tuple(symbols) if symbols is not None else tuple(by_symbol)
    present = [by_symbol[s] for s in symbols if s in by_symbol and len(by_symbol[s])]
    if not present:
        raise ValueError("no bars to put on a grid")
    # 1m: open times floored to the minute, as always; longer bars: the grid starts at the
    # earliest bar (a week's bars need not align with the epoch) and every bar must be on it.
    origin = 0 if bar_ms == MINUTE_MS else min(int(h.open_ms[0]) for h in present)
    start = min((int(h.open_ms[0]) - origin) // bar_ms for h in present)
    stop = max((int(h.open_ms[-1]) - origin) // bar_ms for h in present)
    if end_ms is not None:
        stop = (end_ms - origin) // bar_ms
    shape = (stop - start + 1, len(symbols))
    columns = {name: np.full(shape, np.nan) for name in
               ("open", "high", "low", "close", "quote_volume")}
    for col, symbol in enumerate(symbols):
        history = by_symbol.get(symbol)
        if history is None or len(history) == 0:
            continue
        offset = (history.open_ms - origin) % bar_ms
        if bar_ms != MINUTE_MS and offset.any():
            raise ValueError(f"{symbol}: a bar opens at {int(history.open_ms[offset != 0][0])}, "
                             f"off the grid of {bar_ms} ms bars from {origin}; pass the bar "
                             "length the history was sampled at")
        rows = (history.open_ms - origin) // bar_ms - start
        keep = (rows >= 0) & (rows < shape[0])
        quote_volume = np.where(np.isfinite(history.quote_volume), history.quote_volume,
                                history.volume * history.close)
        for name, values in (("open", history.open), ("high", history.high),
                             ("low", history.low), ("close", history.close),
                             ("quote_volume", quote_volume)):
            columns[name][rows[keep], col] = values[keep]
    return symbols, origin + start * bar_ms, columns


def window_sums(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing sums over `window` rows of values [T, ...] (rows before 0 count as 0)."""
    return _chunked(values, window, np.add, 0.0)


def window_max(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing maxima over `window` rows (rows before 0 count as -inf)."""
    return _chunked(values, window, np.maximum, -np.inf)


def window_min(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing minima over `window` rows (rows before 0 count as +inf)."""
    return _chunked(values, window, np.minimum, np.inf)


def _chunked(values: np.ndarray, window: int, op: np.ufunc, neutral: float) -> np.ndarray:
    length = values.shape[0]
    n_chunks = -(-length // window)
    padded = np.full((n_chunks * window,) + values.shape[1:], neutral)
    padded[:length] = values
    chunks = padded.reshape((n_chunks, window) + values.shape[1:])
    prefix = op.accumulate(chunks, axis=1).reshape(padded.shape)[:length]
    suffix = op.accumulate(chunks[:, ::-1], axis=1)[:, ::-1].reshape(padded.shape)[:length]
    out = prefix.copy()
    rows = np.arange(window, length)
    straddling = rows[(rows + 1) % window != 0]  # windows that are not exactly one chunk
    out[straddling] = op(suffix[straddling - window + 1], prefix[straddling])
    return out


class FilledBars(NamedTuple):
    """Bars [T, n] as the window statistics read them: a missing bar (NaN close or no
    volume) is a flat bar at the last close, with no volume and no range."""

    valid: np.ndarray  # a real bar
    has: np.ndarray  # a close known (this bar or an earlier one)
    close: np.ndarray  # forward-filled close, NaN before the first bar
    close0: np.ndarray  # the same, 0 before the first bar
    volume: np.ndarray  # quote volume, 0 for a missing bar
    highs: np.ndarray  # high, the filled close for a missing bar, -inf before the first
    lows: np.ndarray  # low, likewise (+inf before the first)
    ret: np.ndarray  # log return close to close, 0 where either is unknown


def filled_bars(close: np.ndarray, high: np.ndarray, low: np.ndarray,
                quote_volume: np.ndarray) -> FilledBars:
    """`FilledBars` of raw bars; shared by the grid's features and the live portfolio
    adapter's newest row (rl/portfolio_live_obs.py), so both fill gaps by one rule."""
    length, n = close.shape
    valid, high, low, quote_volume = sanitize_bars(close, high, low, quote_volume)
    index = np.where(valid, np.arange(length)[:, None], -1)
    newest = np.maximum.accumulate(index, axis=0)
    has = newest >= 0
    filled = np.where(has, close[np.maximum(newest, 0), np.arange(n)], np.nan)
    previous = np.vstack([np.full((1, n), np.nan), filled[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = np.where(has & ~np.isnan(previous), libm.log(filled / previous), 0.0)
    return FilledBars(valid, has, filled, np.where(has, filled, 0.0),
                      np.where(valid, quote_volume, 0.0),
                      np.where(valid, high, np.where(has, filled, -np.inf)),
                      np.where(valid, low, np.where(has, filled, np.inf)), ret)


class UnusableBarLength(DataError, ValueError):
    """A grid whose bars are not a positive whole number of minutes: warm-up is counted in
    whole minutes and every feature window is a whole number of minutes."""


def grid_primitives(grid: MinuteGrid) -> Primitives:
    """Window statistics at every row of `grid` ([T, n, ...] arrays), no ticks. Windows
    absent at the grid's bar length (strategies/windows.py) are NaN columns; `n_seen`
    counts minutes (bars seen x bar minutes)."""
    bar_ms = grid.bar_ms
    if bar_ms <= 0 or bar_ms % MINUTE_MS:
        raise UnusableBarLength(
            f"features need bars of a whole number of minutes, got {bar_ms} ms bars; load "
            "1m, 5m, 1h ... data")
    bar_minutes = bar_ms // MINUTE_MS
    length, n = grid.close.shape
    valid, _, close, close0, volume, highs, lows, ret = filled_bars(
        grid.close, grid.high, grid.low, grid.quote_volume)
    first = np.where(valid.any(axis=0), valid.argmax(axis=0), length)
    bars_seen = np.maximum(np.arange(length)[:, None] - first[None, :] + 1, 0)
    n_seen = (bars_seen * bar_minutes).astype(np.float64)

    nan = np.full((length, n), np.nan)

    def by_window(statistic: Callable[[np.ndarray, int], np.ndarray], x: np.ndarray,
                  windows: Sequence[int]) -> np.ndarray:
        """`statistic(x, rows)` per window, stacked last; NaN for absent windows."""
        columns = []
        for minutes in windows:
            rows = window_rows(minutes, bar_ms)
            columns.append(nan if rows is None else statistic(x, rows))
        return np.stack(columns, axis=-1)

    def sums(x: np.ndarray, windows: Sequence[int], nonzero: np.ndarray | None = None
             ) -> np.ndarray:
        stacked = by_window(window_sums, x, windows)
        if nonzero is not None:  # exact zeros, as the live rings do
            counts = by_window(window_sums, nonzero, windows)
            stacked = np.where(counts == 0, 0.0, stacked)
        return stacked

    nonzero_ret = (ret != 0).astype(np.float64)
    square_windows = [RETURN_WINDOWS[k] for k in SQUARE_SLOTS]
    nonzero_sq = by_window(window_sums, nonzero_ret, square_windows)
    sum_ret2 = np.where(nonzero_sq == 0, 0.0, sums(ret * ret, square_windows))
    return Primitives(
        n_seen=n_seen, close=close, last=close,
        sum_close=sums(close0, AVERAGE_WINDOWS),
        sum_qv=sums(volume, AVERAGE_WINDOWS, (volume != 0).astype(np.float64)),
        sum_ret=sums(ret, RETURN_WINDOWS, nonzero_ret), sum_ret2=sum_ret2,
        high=by_window(window_max, highs, RANGE_WINDOWS),
        low=by_window(window_min, lows, RANGE_WINDOWS),
        bid=nan, ask=nan, bid_qty=nan, ask_qty=nan, tick_quote_volume=nan,
    )


def features_from_history(
    history: MinuteGrid | Mapping[str, BarHistory] | Sequence[BarHistory],
    at: np.ndarray | slice | None = None,
) -> np.ndarray:
    """Features [T, n_symbols, n_features] for every bar of `history` (or only rows
    `at`): row t is what `FeatureBook.matrix()` gives after minute t closed, without ticks;
    on a `BarGrid` of longer bars, the features after bar t closed, in the same units.
    A dict/list of `BarHistory` is first put on a minute grid (`MinuteGrid.from_histories`).
    """
    grid = history if isinstance(history, MinuteGrid) else MinuteGrid.from_histories(history)
    primitives = grid_primitives(grid)
    if at is not None:
        primitives = Primitives(**{name: getattr(primitives, name)[at]
                                   for name in Primitives.__slots__})
    return assemble(primitives, bar_ms=grid.bar_ms)
