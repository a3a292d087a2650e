"""The simulator's compact bar columns: int32 counts of a step only while that is lossless,
and a bar store that reads back exactly what it was given (issue 15: the daemon's memory)."""

from __future__ import annotations

import numpy as np

from exchange.sim.bars import BAR_FIELDS, BarStore
from exchange.sim.generator import GeneratorSource
from exchange.sim.grid_column import CHECK_BLOCK_ROWS, GridColumn
from model.market import MINUTE_MS

TICK = np.array([0.01, 1e-8, 1000.0])


def bits(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.int64)


def test_values_on_the_tick_grid_are_stored_as_int32_and_read_back_bit_for_bit():
    column = GridColumn(4, 3, TICK)
    values = np.round(np.array([[123.45, 0.00001234, 1_400_000.0],
                                [99_999.99, 0.5, 3_000.0]]) / TICK) * TICK
    column.write(0, values)
    assert column.on_grid
    assert column.nbytes == 4 * 3 * 4  # int32: half the float64 bytes
    np.testing.assert_array_equal(bits(column.read(slice(0, 2))), bits(values))
    np.testing.assert_array_equal(bits(column.read(np.array([1, 0]), 1)),
                                  bits(values[[1, 0], 1]))


def test_an_off_grid_value_turns_the_column_into_float64_and_keeps_what_was_there():
    column = GridColumn(3, 3, TICK)
    on_grid = np.round(np.array([[1.0, 2e-8, 5000.0]]) / TICK) * TICK
    column.write(0, on_grid)
    off_grid = np.array([[0.1 + 0.2, 3e-8, 7000.0]])  # 0.30000000000000004 is no count * 0.01
    column.write(1, off_grid)
    assert not column.on_grid
    np.testing.assert_array_equal(bits(column.read(slice(0, 2))),
                                  bits(np.vstack([on_grid, off_grid])))


def test_an_off_grid_value_in_a_later_block_keeps_the_blocks_already_stored():
    rows = CHECK_BLOCK_ROWS + 3
    values = np.round(np.linspace(1.0, 500.0, rows * 3).reshape(rows, 3) / TICK) * TICK
    values[-1, 0] = 1.0 / 3.0
    column = GridColumn(rows, 3, TICK)
    column.write(0, values)
    assert not column.on_grid
    np.testing.assert_array_equal(bits(column.read(slice(0, rows))), bits(values))


def test_nan_negative_zero_and_counts_beyond_int32_are_kept_exactly_as_float64():
    for odd in (np.nan, -0.0, 0.01 * 2.0**40):
        column = GridColumn(1, 3, TICK)
        values = np.array([[odd, 1e-8, 1000.0]])
        column.write(0, values)
        assert not column.on_grid, odd
        np.testing.assert_array_equal(bits(column.read(slice(0, 1))), bits(values))


def test_window_extremes_of_the_counts_equal_the_extremes_of_the_decoded_values():
    rng = np.random.default_rng(5)
    values = np.round(rng.uniform(0.5, 2_000.0, (50, 3)) / TICK) * TICK
    mask = rng.random((50, 3)) < 0.5
    mask[:, 2] = False  # a symbol that never traded in the window
    for step in (TICK, None):
        column = GridColumn(50, 3, step)
        column.write(0, values)
        for highest, fill in ((True, -np.inf), (False, np.inf)):
            expected = np.where(mask, values, fill)
            expected = expected.max(axis=0) if highest else expected.min(axis=0)
            np.testing.assert_array_equal(bits(column.extreme(slice(0, 50), mask, highest)),
                                          bits(expected))


def test_a_missing_or_unusable_step_stores_float64_from_the_start():
    assert not GridColumn(2, 3, None).on_grid
    assert not GridColumn(2, 3, np.array([0.01, 0.0, 1.0])).on_grid
    assert not GridColumn(2, 3, np.array([0.01, 1.0])).on_grid  # one step per symbol


def test_growing_keeps_the_stored_rows():
    column = GridColumn(1, 3, TICK)
    values = np.array([[1.0, 1e-8, 2000.0]])
    column.write(0, values)
    column.grow(8)
    assert column.capacity == 8
    np.testing.assert_array_equal(bits(column.read(slice(0, 1))), bits(values))


def test_the_compact_store_serves_the_same_bars_trades_and_ids_as_a_float64_one():
    source = GeneratorSource(seed=3, coins=12, history_minutes=600, start_ms=1_700_000_040_000)
    compact = source.store
    rows = slice(0, compact.rows)
    plain = BarStore(compact.first_open_ms, compact.n_symbols, capacity=7)
    traded = np.ones((compact.rows, compact.n_symbols), dtype=bool)
    traded[5:9, 2] = False  # a replay gap: no bar, no trades
    trades = compact.column("trades", rows)
    columns = {f: compact.column(f, rows) for f in BAR_FIELDS}
    plain.extend(columns, trades, traded)
    gapped = BarStore(compact.first_open_ms, compact.n_symbols, capacity=7,
                      tick=source.tick, lot=source.lot)
    gapped.extend(columns, trades, traded)
    assert all(compact.on_grid()[f] for f in ("open", "high", "low", "close"))
    assert gapped.nbytes < 0.75 * plain.nbytes
    for field in (*BAR_FIELDS, "trades", "trade_id_end", "traded"):
        np.testing.assert_array_equal(gapped.column(field, rows), plain.column(field, rows),
                                      err_msg=field)
    assert gapped.column("trades", slice(5, 9), 2).tolist() == [0, 0, 0, 0]
    end_ms = compact.first_open_ms + compact.rows * MINUTE_MS
    served = gapped.history("X", 2, end_ms, 100, compact.first_open_ms)
    reference = plain.history("X", 2, end_ms, 100, compact.first_open_ms)
    np.testing.assert_array_equal(served.open_ms, reference.open_ms)
    for name in BAR_FIELDS:
        np.testing.assert_array_equal(bits(getattr(served, name)),
                                      bits(getattr(reference, name)), err_msg=name)
    for row in (0, 6, compact.rows - 1):
        a, b = gapped.minute(row), plain.minute(row)
        for name in ("index", "trades", "first_trade_id", *BAR_FIELDS):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    some = gapped.history("X", 2, end_ms, 50).open_ms
    assert [x.tolist() for x in gapped.trades_of(2, some)] == [
        x.tolist() for x in plain.trades_of(2, some)]
