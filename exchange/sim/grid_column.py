"""A (rows, symbols) float column kept as int32 counts of a per-symbol step when lossless.

Why: the simulator keeps a month of 1m bars of every coin in memory to answer REST klines
(500 coins x 31 days = 22M cells per field). Prices and amounts there sit on each coin's tick
and lot grid, so `count * step` gives back the very float64 that was written, and a count fits
in 4 bytes instead of 8. Every write is checked bit for bit; the first value that does not
come back exactly (off the grid, NaN, too large for int32) turns the column into plain float64
for good, so what is read is always what was written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exchange.sim.cold_rows import TieredArray
from exchange.sim.window_kernel import column_sums, grid_column_sums, window_sums

_INT32_MAX = np.iinfo(np.int32).max
CHECK_BLOCK_ROWS = 2048


class GridColumn:
    """One field of a bar store: `write` rows, `read` them back bit-identical as float64."""

    def __init__(self, capacity: int, n_symbols: int, step: np.ndarray | None = None) -> None:
        """`step` (one positive finite float per symbol) enables the int32 form; None or an
        unusable step keeps float64 from the start."""
        usable = (step is not None and step.shape == (n_symbols,)
                  and bool(np.all(np.isfinite(step) & (step > 0))))
        self._step = np.asarray(step, dtype=np.float64) if usable else None
        self._symbols = n_symbols
        self._data = TieredArray(capacity, n_symbols,
                                 np.int32 if self._step is not None else np.float64)

    @property
    def on_grid(self) -> bool:
        """True while the column is stored as int32 counts of its step."""
        return self._data.dtype == np.int32

    @property
    def capacity(self) -> int:
        """Rows allocated."""
        return self._data.capacity

    @property
    def nbytes(self) -> int:
        """Bytes of the array in RAM (allocated, touched or not); spilled rows not counted."""
        return int(self._data.nbytes)

    def write(self, first_row: int, values: np.ndarray) -> None:
        """Store `values` (shape (rows, n_symbols)) from row `first_row` on; checked in
        blocks of rows so the check's temporaries stay a few MB at 500 coins."""
        for start in range(0, values.shape[0], CHECK_BLOCK_ROWS):
            self._write_block(first_row + start, values[start : start + CHECK_BLOCK_ROWS])

    def _write_block(self, first_row: int, values: np.ndarray) -> None:
        rows = slice(first_row, first_row + values.shape[0])
        if self._step is not None and self.on_grid:
            counts = np.rint(values / self._step)
            if np.all(np.abs(counts) < _INT32_MAX):  # False for NaN and inf
                stored = counts.astype(np.int32)
                # What a read will give, bit for bit (a -0.0 must not come back as 0.0).
                if np.array_equal((stored * self._step).view(np.int64),
                                  np.ascontiguousarray(values, np.float64).view(np.int64)):
                    self._data[rows] = stored
                    return
            step = self._step
            self._data.convert(lambda counts: counts * step)  # off the grid: float64 for good
        self._data[rows] = values

    def read(self, rows: slice | np.ndarray, symbol_index: int | None = None) -> np.ndarray:
        """Float64 values of `rows` (all symbols, or one): a fresh array in the int32 form,
        a view in the float64 form; read it, never write into it."""
        data = self._data[rows] if symbol_index is None else self._data[rows, symbol_index]
        if not self.on_grid:
            return data
        assert self._step is not None
        step = self._step if symbol_index is None else self._step[symbol_index]
        return data * step

    def sum_rows(self, rows: slice) -> np.ndarray:
        """Per symbol, the sum of the float64 values of `rows`: `read(rows).sum(axis=0)`,
        the same floats, without the decoded temporary (exchange/sim/window_kernel.py)."""
        data = self._data[rows]
        if data.shape[1] < 2:  # numpy sums one column pairwise: keep its order
            return self.read(rows).sum(axis=0)
        if not self.on_grid:
            return column_sums(data)
        assert self._step is not None
        return grid_column_sums(data, self._step)

    def window_sums(self, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
        """Row t: `sum_rows(slice(starts[t], stops[t]))`, the same floats, for windows whose
        starts and stops are each nondecreasing (consecutive minutes' windows), in one pass
        that reads each row once (exchange/sim/window_kernel.py)."""
        starts = np.asarray(starts, dtype=np.int64)
        stops = np.asarray(stops, dtype=np.int64)
        if not len(starts) or self._symbols < 2:  # one symbol: numpy's pairwise order
            return np.array([self.sum_rows(slice(int(lo), int(hi)))
                             for lo, hi in zip(starts.tolist(), stops.tolist())]).reshape(
                                 len(starts), self._symbols)
        first = int(starts[0])
        data = self._data[first:int(stops[-1])]
        if not self.on_grid:
            return window_sums(data, np.empty(0), starts - first, stops - first)
        assert self._step is not None
        return window_sums(data, self._step, starts - first, stops - first)

    def cells(self, rows: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """Float64 values at the pairs (rows[i], symbols[i])."""
        data = self._data[rows, symbols]
        if not self.on_grid:
            return data
        assert self._step is not None
        return data * self._step[symbols]

    def extreme(self, rows: slice, mask: np.ndarray, highest: bool) -> np.ndarray:
        """Per symbol, the largest (or smallest) value over `rows` where `mask` is True;
        -inf (+inf) where it never is. In the int32 form the counts are compared, then one
        per symbol decoded: `count * step` is monotone in the count, so it is the same
        float as the extreme of the decoded values, without decoding the window."""
        data = self._data[rows]
        if not self.on_grid:
            fill = -np.inf if highest else np.inf
            picked = np.where(mask, data, fill)
            return picked.max(axis=0, initial=fill) if highest else picked.min(
                axis=0, initial=fill)
        assert self._step is not None
        # Stored counts lie strictly inside +-_INT32_MAX, so the fill marks "never traded".
        fill = -_INT32_MAX - 1 if highest else _INT32_MAX
        counts = np.where(mask, data, np.int32(fill))
        best = counts.max(axis=0, initial=fill) if highest else counts.min(axis=0, initial=fill)
        return np.where(best != fill, best * self._step, -np.inf if highest else np.inf)

    def grow(self, capacity: int) -> None:
        """Reallocate to `capacity` rows, keeping the stored ones."""
        self._data.grow(capacity)

    def spill(self, before_row: int, stored_rows: int, block_rows: int,
              directory: Path | None) -> int:
        """Move whole blocks of rows before `before_row` out of RAM (exchange/sim/cold_rows.py);
        they read back the same. Returns the first row still in RAM."""
        return self._data.spill(before_row, stored_rows, block_rows, directory)
