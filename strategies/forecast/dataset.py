"""Model inputs and targets from a bar grid: one set of formulas for training and serving.

Inputs per (bar, coin) are the multi-window features of `strategies/feature_columns.py`
(without the tick-only columns, which the history path cannot know, and without
`warm_minutes`, which only says how old the data is) followed by the indicators of
`indicators.py`. The target for horizon h is the forward log return
log(close[t + h] / close[t]) of flat-filled closes: what a position opened at the close of
bar t and closed h bars later would earn before fees. Row t's inputs use bars <= t only
(the feature tests prove it for the features; the indicators are trailing).

Rows are bars and horizons count bars: on the 1m grids of the served bundle a bar is a
minute (so "minutes" in training.py and splits.py); the forecast signal (signal.py) runs
the same code on 5m or 1h grids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model import libm
from strategies.feature_blocks import BLOCK_CELLS, grid_block, row_span, symbol_blocks
from strategies.feature_columns import FEATURE_INDEX, FEATURE_NAMES, TICK_FEATURES
from strategies.features_batch import MinuteGrid, features_from_history
from strategies.forecast.indicators import INDICATOR_NAMES, flat_fill, indicators

BASE_FEATURES: tuple[str, ...] = tuple(
    name for name in FEATURE_NAMES if name not in TICK_FEATURES and name != "warm_minutes")
#: The model's input columns, in order. A bundle trained on another list is refused.
INPUT_NAMES: tuple[str, ...] = BASE_FEATURES + INDICATOR_NAMES
_BASE_INDEX = np.asarray([FEATURE_INDEX[name] for name in BASE_FEATURES])
_WARM = FEATURE_INDEX["warm_minutes"]
#: Rows with less history than this are neither trained on nor evaluated (the day-long
#: windows must be full, the rule the backtests' warm-up day follows).
MIN_WARM_MINUTES = 1440


@dataclass(frozen=True, slots=True)
class Panel:
    """Inputs and prices of many coins on one bar grid (rows are bars).

    `inputs` [T, n, len(INPUT_NAMES)] float32 (NaN where unknown), `close` [T, n] flat-filled
    closes, `warm` [T, n] minutes of history behind each row, `open_ms` [T]. A panel of a
    row range of the grid (`build_panel(grid, start_row=...)`) starts at grid row
    `first_row`: its row r is grid row first_row + r, with every look-back of the full grid."""

    symbols: tuple[str, ...]
    open_ms: np.ndarray
    inputs: np.ndarray
    close: np.ndarray
    warm: np.ndarray
    first_row: int = 0

    def forward_returns(self, horizon: int) -> np.ndarray:
        """Target [T, n]: log(close[t + h] / close[t]); NaN where t + h is past the data."""
        return forward_log_returns(self.close, horizon)

    def usable(self, min_warm: int = MIN_WARM_MINUTES) -> np.ndarray:
        """[T, n] bool: rows with enough history and a known price."""
        return (self.warm >= min_warm) & np.isfinite(self.close)


def forward_log_returns(close: np.ndarray, horizon: int) -> np.ndarray:
    """log(close[t + h] / close[t]) along axis 0; NaN in the last h rows."""
    out = np.full(close.shape, np.nan)
    if horizon < close.shape[0]:
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:-horizon] = libm.log(close[horizon:] / close[:-horizon])
    return out


def build_panel(grid: MinuteGrid, *, start_row: int = 0, stop_row: int | None = None,
                block_cells: int = BLOCK_CELLS) -> Panel:
    """Every input of every coin at every bar of `grid` (the offline path), or at the bars
    [start_row, stop_row) only, computed a block of symbols at a time
    (strategies/feature_blocks.py): the memory is the panel's (48 float32 and two float64
    per cell) plus one block's temporaries. The same values, bit for bit, as the rows of a
    panel of the whole grid: every input reads bars <= its row, from the grid's first."""
    start, stop = row_span(grid, start_row, stop_row)
    n_symbols, n_base = len(grid.symbols), len(BASE_FEATURES)
    inputs = np.empty((stop - start, n_symbols, len(INPUT_NAMES)), dtype=np.float32)
    warm = np.empty((stop - start, n_symbols))
    close = flat_fill(grid.close[:stop])
    for columns in symbol_blocks(stop, n_symbols, block_cells):
        features = features_from_history(grid_block(grid, columns, stop), at=slice(start, stop))
        inputs[:, columns, :n_base] = features[..., _BASE_INDEX]
        inputs[:, columns, n_base:] = indicators(close[:, columns])[start:]
        warm[:, columns] = np.nan_to_num(features[..., _WARM], nan=0.0)
    return Panel(symbols=grid.symbols, open_ms=grid.open_ms[start:stop], inputs=inputs,
                 close=close if start == 0 else close[start:].copy(), warm=warm,
                 first_row=start)


def sequences(inputs: np.ndarray, rows: np.ndarray, cols: np.ndarray, length: int,
              stride: int) -> np.ndarray:
    """LSTM windows [N, length, F]: for each (row, col), inputs at rows
    row - (length - 1 - k) * stride, k = 0..length-1 (oldest first), clamped at row 0."""
    offsets = (np.arange(length - 1, -1, -1) * stride)[None, :]
    at = np.maximum(rows[:, None] - offsets, 0)
    return inputs[at, cols[:, None]]
