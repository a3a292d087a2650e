"""Old rows of a (rows, symbols) array, moved out of RAM into a file.

Why: the embedded simulator keeps a month of 1m bars of every coin to answer REST klines
(500 coins x 31 days = 22M cells per field, ~800 MB), but after the daemon's backfill it
reads only the last day (the 24h tickers) and the current minute. Rows older than that go
to a file, where the OS page cache (reclaimable, not the process's RSS) holds what is read.

Layout: whole blocks of `block_rows` rows, each stored symbol-major ([symbols, block_rows]
contiguous), because the reads that reach old rows are one symbol's history (a klines page):
a block then costs one `pread` per symbol instead of touching every page of the block.
The file is unlinked as soon as it is open: it lives while this object does and vanishes
with the process however it ends (kill -9 included); nothing is left behind in the data dir.
"""

from __future__ import annotations

import ctypes
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from model.lazy_zeros import lazy_zeros


def release_freed_heap() -> None:
    """Hand memory freed by large temporaries back to the OS (glibc keeps freed heap pages
    mapped, so RSS would still count them); a no-op where the C library is not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        return


class ColdRows:
    """Rows [0, rows) of one array, appended a whole block at a time, read back exactly."""

    def __init__(self, n_symbols: int, block_rows: int, dtype: np.dtype,
                 directory: Path | None = None) -> None:
        if block_rows < 1 or n_symbols < 1:
            raise ValueError("block_rows and n_symbols must be positive")
        self.n_symbols, self.block_rows = n_symbols, block_rows
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self._directory = directory
        handle, path = tempfile.mkstemp(prefix="entasis-cold-", dir=directory)
        os.unlink(path)  # the open descriptor keeps it; no name is left to clean up
        self._fd = handle

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()

    @property
    def _block_bytes(self) -> int:
        return self.n_symbols * self.block_rows * self.dtype.itemsize

    def append(self, values: np.ndarray) -> None:
        """Store rows `values` ([k * block_rows, n_symbols]) after the stored ones."""
        blocks, remainder = divmod(values.shape[0], self.block_rows)
        if remainder or values.shape[1:] != (self.n_symbols,):
            raise ValueError(f"append whole blocks of {self.block_rows} rows x "
                             f"{self.n_symbols} symbols, got {values.shape}")
        for b in range(blocks):
            block = values[b * self.block_rows:(b + 1) * self.block_rows]
            data = np.ascontiguousarray(block.T, dtype=self.dtype).tobytes()
            offset = (self.rows // self.block_rows) * self._block_bytes
            written = os.pwrite(self._fd, data, offset)
            if written != len(data):
                raise OSError(f"short write to the simulator's cold store ({written} of "
                              f"{len(data)} bytes): is the disk full?")
            self.rows += self.block_rows

    def converted(self, transform: Callable[[np.ndarray], np.ndarray]) -> ColdRows:
        """A copy holding `transform(rows)` block by block (a column leaving its int32 grid
        form, a trade-id column outgrowing int32); the dtype is the transform's."""
        other: ColdRows | None = None
        for b in range(self.rows // self.block_rows):
            values = transform(self.read(np.arange(b * self.block_rows,
                                                   (b + 1) * self.block_rows)))
            if other is None:
                other = ColdRows(self.n_symbols, self.block_rows, values.dtype, self._directory)
            other.append(values)
        return other if other is not None else ColdRows(
            self.n_symbols, self.block_rows, transform(np.zeros((0, self.n_symbols),
                                                               self.dtype)).dtype,
            self._directory)

    def read(self, rows: np.ndarray, symbol_index: int | None = None) -> np.ndarray:
        """Values at `rows` (ascending or not, all < `self.rows`): [len(rows), n_symbols],
        or [len(rows)] for one symbol."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.rows):
            raise IndexError(f"cold rows are [0, {self.rows}), asked for "
                             f"{rows.min()}..{rows.max()}")
        shape = (rows.size,) if symbol_index is not None else (rows.size, self.n_symbols)
        out = np.empty(shape, dtype=self.dtype)
        if rows.size == 0:
            return out
        # Rows come ascending from every caller but one; group them by block in one pass.
        ascending = rows.size < 2 or bool(np.all(rows[1:] >= rows[:-1]))
        order = np.arange(rows.size) if ascending else np.argsort(rows, kind="stable")
        ordered = rows[order]
        blocks = ordered // self.block_rows
        cuts = (np.flatnonzero(blocks[1:] != blocks[:-1]) + 1).tolist()
        for first, last in zip([0, *cuts], [*cuts, rows.size]):
            block = int(blocks[first])
            within = ordered[first:last] - block * self.block_rows
            picked = order[first:last]
            base = block * self._block_bytes
            if symbol_index is not None:  # one symbol: only its span of the block
                lo, hi = int(within[0]), int(within[-1]) + 1
                offset = base + (symbol_index * self.block_rows + lo) * self.dtype.itemsize
                span = self._pread((hi - lo) * self.dtype.itemsize, offset)
                out[picked] = np.frombuffer(span, dtype=self.dtype)[within - lo]
            else:
                whole = np.frombuffer(self._pread(self._block_bytes, base), dtype=self.dtype)
                out[picked] = whole.reshape(self.n_symbols, self.block_rows)[:, within].T
        return out

    def cells(self, rows: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """Values at the pairs (rows[i], symbols[i])."""
        out = np.empty(len(rows), dtype=self.dtype)
        for i, (row, symbol) in enumerate(zip(rows.tolist(), symbols.tolist())):
            out[i] = self.read(np.array([row]), int(symbol))[0]
        return out

    def _pread(self, size: int, offset: int) -> bytes:
        data = os.pread(self._fd, size, offset)
        if len(data) != size:
            raise OSError(f"short read from the simulator's cold store ({len(data)} of "
                          f"{size} bytes)")
        return data


class TieredArray:
    """A (rows, symbols) array of absolute rows [0, capacity) whose oldest rows may live in a
    `ColdRows` file: rows [0, offset) cold, [offset, capacity) in RAM (`hot`).

    Indexed like the numpy array it replaces, for the forms the bar store uses: `a[rows]`,
    `a[rows, j]`, `a[rows, symbols]` (rows a slice or an int array, absolute) and `a[rows] =
    values` for appends. Reads that stay in RAM are plain numpy indexing (views for slices,
    as before); reads that reach cold rows gather from the file."""

    def __init__(self, capacity: int, n_symbols: int, dtype: Any) -> None:
        self.hot = lazy_zeros((capacity, n_symbols), dtype)  # a month's capacity: paged as written
        self.offset = 0
        self.cold: ColdRows | None = None

    @property
    def dtype(self) -> np.dtype:
        return self.hot.dtype

    @property
    def capacity(self) -> int:
        return self.offset + int(self.hot.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes in RAM."""
        return int(self.hot.nbytes)

    def _local(self, rows: slice | np.ndarray) -> slice | np.ndarray | None:
        """`rows` as indices into `hot`, or None when some are cold."""
        if isinstance(rows, slice):
            start, stop, step = rows.indices(self.capacity)
            if step != 1:
                rows = np.arange(start, stop, step)
            else:
                return slice(start - self.offset, stop - self.offset) if (
                    start >= self.offset or stop <= start) else None
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and rows.min() < self.offset:
            return None
        return rows - self.offset

    def __getitem__(self, key: Any) -> np.ndarray:
        rows, column = key if isinstance(key, tuple) else (key, None)
        if not isinstance(rows, slice) and np.ndim(rows) == 0:  # one row: numpy's a[r, ...]
            row = int(rows)
            values = (self.hot[row - self.offset] if row >= self.offset
                      else self[np.array([row])][0])
            return values if column is None else values[column]
        local = self._local(rows)
        if local is not None:
            return self.hot[local] if column is None else self.hot[local, column]
        if isinstance(rows, slice):
            rows = np.arange(*rows.indices(self.capacity))
        rows = np.asarray(rows, dtype=np.int64)
        assert self.cold is not None
        cold = rows < self.offset
        if column is None or np.ndim(column) == 0:
            symbol = None if column is None else int(column)
            shape = (rows.size,) if symbol is not None else (rows.size, self.hot.shape[1])
            out = np.empty(shape, dtype=np.result_type(self.cold.dtype, self.hot.dtype))
            out[cold] = self.cold.read(rows[cold], symbol)
            hot_rows = rows[~cold] - self.offset
            out[~cold] = self.hot[hot_rows] if symbol is None else self.hot[hot_rows, symbol]
            return out
        symbols = np.broadcast_to(np.asarray(column, dtype=np.int64), rows.shape)
        out = np.empty(rows.shape, dtype=np.result_type(self.cold.dtype, self.hot.dtype))
        out[cold] = self.cold.cells(rows[cold], symbols[cold])
        out[~cold] = self.hot[rows[~cold] - self.offset, symbols[~cold]]
        return out

    def __setitem__(self, rows: slice, values: np.ndarray) -> None:
        local = self._local(rows)
        if local is None:
            raise IndexError("cold rows are read-only: the store only appends")
        self.hot[local] = values

    def grow(self, capacity: int) -> None:
        """Room for absolute rows up to `capacity`, keeping the stored ones."""
        bigger = np.zeros((max(capacity - self.offset, 0), self.hot.shape[1]), self.hot.dtype)
        kept = min(bigger.shape[0], self.hot.shape[0])
        bigger[:kept] = self.hot[:kept]
        self.hot = bigger

    def convert(self, transform: Callable[[np.ndarray], np.ndarray]) -> None:
        """Replace every value, hot and cold, by `transform(values)` (a dtype change)."""
        self.hot = transform(self.hot)
        if self.cold is not None:
            old, self.cold = self.cold, self.cold.converted(transform)
            old.close()

    def spill(self, before_row: int, stored_rows: int, block_rows: int,
              directory: Path | None) -> int:
        """Move whole blocks of rows before `before_row` to the cold file. The RAM part is
        reallocated to the written rows it keeps (< `stored_rows`) plus one block of room
        (spills come a block at a time, so appends until the next one need no regrowth).
        Why not keep the capacity: a month's capacity at 500 coins is ~90 MB per array, and
        glibc serves such a request from heap that the generator's freed temporaries left
        behind, where calloc must zero, and so touch, every page (~800 MB of RSS in all).
        Returns the new offset (rows [0, offset) are cold)."""
        blocks = (before_row - self.offset) // block_rows
        if blocks <= 0:
            return self.offset
        if self.cold is None:
            self.cold = ColdRows(self.hot.shape[1], block_rows, self.hot.dtype, directory)
        moved = blocks * block_rows
        self.cold.append(self.hot[:moved])
        written = max(stored_rows - self.offset, moved)
        remaining = np.zeros((written - moved + block_rows, self.hot.shape[1]), self.hot.dtype)
        remaining[: written - moved] = self.hot[moved:written]
        self.hot, self.offset = remaining, self.offset + moved
        return self.offset
