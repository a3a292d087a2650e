"""Recorded bars put on the replay's minute grid: `ReplaySource`'s store rows.

Each symbol's bars are made from its frame's columns (prices rounded to its tick and kept
inside each other, volumes floored to its lot, a quote volume from both), then put in
column i of (minutes, symbols) arrays at their minutes. Where every symbol's minutes
ascend (as `read_ohlcv` gives them), the bars of a few thousand minutes at a time are put
on the grid in one compiled pass that writes each grid row once, in order
(exchange/sim/grid_kernel.py): numpy's fancy assignment, a symbol at a time, wrote across
the grid's rows, a tenth of a second of a backtest's set-up on a month of 20 coins, and a
whole month's bars made at once would hold a second copy of the grid. Other frames are
written bar by bar where they fall, as before (a later duplicate over an earlier one).
tests/unit/test_replay_read.py holds both to the column-by-column fill.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from exchange.sim.bars import BAR_FIELDS
from exchange.sim.grid_kernel import merge_onto_grid
from exchange.sim.ticks import floor_to_grid, round_to_grid

#: Grid rows put on the grid per compiled pass (its bars are made, then merged): a few
#: MB of bars at a time for 20 symbols.
CHUNK_ROWS = 8192

_Raw = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_Bars = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def bars_on_grid(frames: list[pd.DataFrame], at_of: list[np.ndarray], tick: np.ndarray,
                 lot: np.ndarray, rows: int,
                 ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """(BAR_FIELDS columns, trade counts, traded), each (rows, symbols): symbol i's bars
    from `frames[i]` at grid rows `at_of[i]` with its `tick` and `lot`."""
    raw = [tuple(frame[f].to_numpy(float) for f in ("open", "high", "low", "close", "volume"))
           for frame in frames]
    if all(_ascending_within(at, rows) for at in at_of):
        columns, traded, typical = _merged(raw, at_of, tick, lot, rows)
    else:
        columns, traded, typical = _written(raw, at_of, tick, lot, rows)
    quote = columns["quote_volume"]
    trades = 1 + np.floor(20.0 * quote / np.maximum(typical, 1e-12)).astype(np.int64)
    return columns, trades, traded


def _bars(raw: _Raw, tick: Any, lot: Any) -> _Bars:
    """A symbol's bars from its frame's columns: every value from its own row alone.
    `tick` and `lot`: the symbol's, numpy float64 scalars."""
    o, h, l, c = (round_to_grid(values, tick) for values in raw[:4])  # noqa: E741  OHLC
    c = np.maximum(c, tick)
    o = np.maximum(o, tick)
    h = np.maximum(h, np.maximum(o, c))
    l = np.minimum(np.maximum(l, tick), np.minimum(o, c))  # noqa: E741  the low
    volume = np.maximum(floor_to_grid(raw[4], lot), 0.0)
    return o, h, l, c, volume, volume * (o + h + l + c) / 4.0


def _ascending_within(at: np.ndarray, rows: int) -> bool:
    """Whether the grid rows `at` ascend strictly inside [0, rows)."""
    return not len(at) or bool(at[0] >= 0 and at[-1] < rows and np.all(at[1:] > at[:-1]))


def _merged(raw: list[_Raw], at_of: list[np.ndarray], tick: np.ndarray, lot: np.ndarray,
            rows: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """(columns, traded, each symbol's median quote volume) of bars whose rows ascend,
    CHUNK_ROWS grid rows at a time. A symbol's bars are then exactly its traded cells, so
    the median of its bars' quote volumes is that of those cells."""
    symbols = len(raw)
    grid = np.zeros((len(BAR_FIELDS), rows, symbols))
    traded = np.zeros((rows, symbols), dtype=bool)
    quotes: list[list[np.ndarray]] = [[] for _ in range(symbols)]
    for start in range(0, rows, CHUNK_ROWS):
        stop = min(rows, start + CHUNK_ROWS)
        spans = [np.searchsorted(at, (start, stop)).tolist() for at in at_of]
        offsets = np.zeros(symbols + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([hi - lo for lo, hi in spans])
        values = np.empty((len(BAR_FIELDS), int(offsets[-1])))
        for i, (lo, hi) in enumerate(spans):
            bars = _bars(tuple(column[lo:hi] for column in raw[i]),  # type: ignore[arg-type]
                         tick[i], lot[i])
            for f, column in enumerate(bars):
                values[f, offsets[i]:offsets[i + 1]] = column
            quotes[i].append(bars[5])
        at = np.concatenate([at_of[i][lo:hi] for i, (lo, hi) in enumerate(spans)])
        merge_onto_grid(grid[:, start:stop], traded[start:stop], at - start, values, offsets)
    typical = np.array([np.median(np.concatenate(parts) if parts else np.zeros(0))
                        for parts in quotes])
    return dict(zip(BAR_FIELDS, grid, strict=True)), traded, typical


def _written(raw: list[_Raw], at_of: list[np.ndarray], tick: np.ndarray, lot: np.ndarray,
             rows: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """`_merged` for bars in any order: each written where it falls (numpy's fancy
    assignment: a later duplicate over an earlier one)."""
    columns = {f: np.zeros((rows, len(raw))) for f in BAR_FIELDS}
    traded = np.zeros((rows, len(raw)), dtype=bool)
    for col, at in enumerate(at_of):
        for field, values in zip(BAR_FIELDS, _bars(raw[col], tick[col], lot[col]), strict=True):
            columns[field][at, col] = values
        traded[at, col] = True
    quote = columns["quote_volume"]
    typical = np.array([np.median(quote[traded[:, i], i]) for i in range(len(raw))])
    return columns, traded, typical
