"""The compiled window sums (exchange/sim/window_kernel.py) against numpy's `sum(axis=0)`,
bit for bit: on random counts and floats of many shapes (empty windows, two symbols to
hundreds, a day of rows), through `GridColumn.sum_rows` in the int32 and the float64 form,
with one symbol (numpy's own pairwise order) and with rows spilled to the cold file."""

from __future__ import annotations

import numpy as np

from exchange.sim.grid_column import GridColumn
from exchange.sim.window_kernel import column_sums, grid_column_sums


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.view(np.int64).tolist() == b.view(np.int64).tolist()


def test_the_kernels_sum_as_numpy_does_over_the_outer_axis() -> None:
    rng = np.random.default_rng(4)
    for trial in range(400):
        symbols = int(rng.choice([2, 3, 5, 8, 20, 64, 500]))
        rows = int(rng.integers(0, 1500))
        counts = rng.integers(0, 2**31 - 1, (rows, symbols)).astype(np.int32)
        counts //= rng.integers(1, 10**6, (rows, symbols)).astype(np.int32)
        step = 10.0 ** rng.uniform(-9, 2, symbols)
        assert same_bits(grid_column_sums(counts, step), (counts * step).sum(axis=0)), trial
        values = counts * step
        assert same_bits(column_sums(values), values.sum(axis=0)), trial


def test_sum_rows_is_read_then_sum_in_both_forms_and_with_one_symbol() -> None:
    rng = np.random.default_rng(6)
    for symbols in (1, 2, 7):
        step = 10.0 ** rng.uniform(-8, 0, symbols)
        on_grid = rng.integers(0, 10**6, (3000, symbols)) * step
        off_grid = rng.uniform(0.0, 1e6, (3000, symbols))
        for values in (on_grid, off_grid):
            column = GridColumn(3000, symbols, step)
            column.write(0, values)
            assert column.on_grid == (values is on_grid)
            for lo, hi in ((0, 0), (0, 1), (5, 1445), (1555, 2995), (100, 3000)):
                rows = slice(lo, hi)
                assert same_bits(column.sum_rows(rows), column.read(rows).sum(axis=0))


def test_sum_rows_reads_spilled_rows_back_the_same() -> None:
    rng = np.random.default_rng(9)
    step = np.array([0.01, 0.001, 1e-6])
    column = GridColumn(4000, 3, step)
    column.write(0, rng.integers(0, 10**6, (4000, 3)) * step)
    before = [column.sum_rows(slice(lo, lo + 1440)) for lo in (0, 700, 2000)]
    column.spill(2500, 4000, 256, None)
    after = [column.sum_rows(slice(lo, lo + 1440)) for lo in (0, 700, 2000)]
    for a, b in zip(before, after, strict=True):
        assert same_bits(a, b)
