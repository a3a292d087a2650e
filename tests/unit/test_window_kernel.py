"""The compiled window sums (exchange/sim/window_kernel.py) against numpy's `sum(axis=0)`,
bit for bit: on random counts and floats of many shapes (empty windows, two symbols to
hundreds, a day of rows), through `GridColumn.sum_rows` in the int32 and the float64 form,
with one symbol (numpy's own pairwise order) and with rows spilled to the cold file."""

from __future__ import annotations

import numpy as np

from exchange.sim.bars import BarStore
from exchange.sim.grid_column import GridColumn
from exchange.sim.state import MarketState
from exchange.sim.window_kernel import column_sums, grid_column_sums, window_sums


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


def test_window_sums_give_each_window_the_sum_of_its_own_rows() -> None:
    rng = np.random.default_rng(11)
    for trial in range(200):
        symbols = int(rng.choice([2, 3, 20, 64]))
        rows = int(rng.integers(1, 400))
        windows = int(rng.integers(0, 70))
        starts = np.sort(rng.integers(0, rows + 1, windows))
        stops = np.sort(np.maximum(starts, rng.integers(0, rows + 1, windows)))
        stops = np.maximum.accumulate(np.maximum(stops, starts)) if windows else stops
        counts = rng.integers(-10**6, 10**6, (rows, symbols)).astype(np.int32)
        step = 10.0 ** rng.uniform(-9, 2, symbols)
        values = counts * step
        values[rng.random(values.shape) < 0.01] = -0.0
        by_grid = window_sums(counts, step, starts, stops)
        by_float = window_sums(values, np.empty(0), starts, stops)
        assert by_grid.shape == by_float.shape == (windows, symbols)
        for t in range(windows):
            lo, hi = int(starts[t]), int(stops[t])
            assert same_bits(by_grid[t], grid_column_sums(counts[lo:hi], step)), (trial, t)
            # column_sums, the per-window kernel: numpy's sum turns a lone -0.0 into 0.0
            assert same_bits(by_float[t], column_sums(values[lo:hi])), (trial, t)


def test_window_sums_of_a_column_are_its_sum_rows_in_both_forms_and_with_one_symbol() -> None:
    rng = np.random.default_rng(12)
    for symbols in (1, 2, 7):
        step = 10.0 ** rng.uniform(-8, 0, symbols)
        for values in (rng.integers(0, 10**6, (3000, symbols)) * step,
                       rng.uniform(0.0, 1e6, (3000, symbols))):
            column = GridColumn(3000, symbols, step)
            column.write(0, values)
            ends = np.arange(1400, 1500)
            starts = np.maximum(0, ends - 1439)
            sums = column.window_sums(starts, ends)
            for t, (lo, hi) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
                assert same_bits(sums[t], column.sum_rows(slice(lo, hi)))


def test_market_state_window_volumes_are_the_day_before_each_minute_across_blocks() -> None:
    """The 24h volumes a minute's tickers carry are `column_sum` of the day before it, also
    when minutes are summed a block ahead and when the store grows while it plays."""
    rng = np.random.default_rng(13)
    symbols, rows = 3, 1700
    tick, lot = np.array([0.01, 0.001, 1.0]), np.array([0.1, 0.01, 1e-6])
    store = BarStore(0, symbols, capacity=rows, tick=tick, lot=lot)

    def append(count: int) -> None:
        close = rng.integers(100, 10**5, (count, symbols)) * tick
        volume = rng.integers(0, 10**6, (count, symbols)) * lot
        columns = {"open": close, "high": close, "low": close, "close": close,
                   "volume": volume, "quote_volume": volume * close * rng.uniform(0.9, 1.1)}
        store.extend(columns, rng.integers(1, 50, (count, symbols)),
                     rng.random((count, symbols)) < 0.9)

    append(1500)
    state = MarketState(["A", "B", "C"], store, tick, lot, np.full(symbols, 5.0), 0)
    for row in range(1400, rows):
        if row >= store.rows:  # a generated market: the minute is stored as it is played
            append(1)
        state.begin_minute(store.minute(row))
        window = slice(max(0, row - 1439), row)
        assert same_bits(state._w_volume, store.column_sum("volume", window)), row
        assert same_bits(state._w_quote, store.column_sum("quote_volume", window)), row
