"""Old simulator rows live in a file and read back exactly as if they had stayed in RAM.

The bar store keeps the newest `ram_rows` in memory and moves whole days older than that to
an unlinked file (exchange/sim/cold_rows.py). Every read the simulator makes (REST klines,
trade ids, 24h windows, the current minute) must give bit-identical answers either way.
"""

from __future__ import annotations

import numpy as np
import pytest

from exchange.sim.bars import COLD_BLOCK_ROWS, BarStore
from exchange.sim.cold_rows import ColdRows, TieredArray
from exchange.sim.generator import GeneratorSource
from model.market import MINUTE_MS

START_MS = 1_700_000_040_000
DAYS = 5


def sources() -> tuple[GeneratorSource, GeneratorSource]:
    kwargs = dict(seed=11, coins=6, history_minutes=DAYS * 1440, start_ms=START_MS)
    return (GeneratorSource(**kwargs, ram_minutes=None),  # type: ignore[arg-type]
            GeneratorSource(**kwargs, ram_minutes=1440))  # type: ignore[arg-type]


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit (NaN == NaN, -0.0 != 0.0) and of one dtype."""
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(
        np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8))


def test_a_month_of_history_keeps_only_its_newest_days_in_ram() -> None:
    in_ram, spilled = sources()
    assert in_ram.store.first_ram_row == 0
    # 5 days + the rows kept: whole days before the newest 1440 rows went to the file.
    assert spilled.store.first_ram_row == (DAYS * 1440 - 1440) // COLD_BLOCK_ROWS * COLD_BLOCK_ROWS
    assert spilled.store.first_ram_row > 0
    assert spilled.store.rows - spilled.store.first_ram_row < 2 * 1440


def test_every_read_gives_the_same_bits_from_ram_and_from_the_file() -> None:
    in_ram, spilled = sources()
    a, b = in_ram.store, spilled.store
    boundary = b.first_ram_row
    for symbol_index, symbol in enumerate(in_ram.symbols):
        for start_ms in (None, START_MS - DAYS * 1440 * MINUTE_MS + 17 * MINUTE_MS):
            for limit in (1, 1000, 10_000):
                x = a.history(symbol, symbol_index, START_MS, limit, start_ms)
                y = b.history(symbol, symbol_index, START_MS, limit, start_ms)
                for field in ("open_ms", "open", "high", "low", "close", "volume",
                              "quote_volume"):
                    assert same(getattr(x, field), getattr(y, field)), (symbol, field)
        opens = START_MS - (DAYS * 1440 - np.arange(0, DAYS * 1440, 97)) * MINUTE_MS
        for x, y in zip(a.trades_of(symbol_index, opens), b.trades_of(symbol_index, opens)):
            assert same(x, y)
    crossing = slice(boundary - 50, boundary + 50)
    rows = np.array([0, 1, boundary - 1, boundary, a.rows - 1])
    for field in ("open", "close", "quote_volume", "traded", "trades", "trade_id_end"):
        assert same(a.column(field, crossing), b.column(field, crossing)), field
        assert same(a.column(field, rows, 2), b.column(field, rows, 2)), field
        if field not in ("traded",):
            assert same(a.cells(field, rows, rows % 6), b.cells(field, rows, rows % 6)), field
    for row in (0, boundary - 1, boundary, a.rows - 1):
        x, y = a.minute(row), b.minute(row)
        assert all(same(getattr(x, f), getattr(y, f)) for f in
                   ("index", "open", "close", "quote_volume", "trades", "first_trade_id"))
    assert same(a.extreme("high", crossing, True), b.extreme("high", crossing, True))


def test_the_market_goes_on_identically_after_the_spill() -> None:
    in_ram, spilled = sources()
    for _ in range(30):
        x, y = in_ram.advance(), spilled.advance()
        assert same(x.bars.close, y.bars.close) and same(x.ticks.last, y.ticks.last)
        assert same(x.bars.first_trade_id, y.bars.first_trade_id)


def test_a_column_leaving_its_grid_after_a_spill_converts_its_cold_rows_too() -> None:
    tick = np.array([0.5, 0.25])
    store = BarStore(0, 2, capacity=8, tick=tick, lot=tick, ram_rows=COLD_BLOCK_ROWS)
    on_grid = np.tile(np.arange(1, 1 + 3 * COLD_BLOCK_ROWS, dtype=np.float64)[:, None],
                      (1, 2)) * tick
    columns = {f: on_grid for f in ("open", "high", "low", "close", "volume", "quote_volume")}
    trades = np.ones((3 * COLD_BLOCK_ROWS, 2), np.int64)
    store.extend(columns, trades, np.ones_like(trades, dtype=bool))
    assert store.first_ram_row == 2 * COLD_BLOCK_ROWS and store.on_grid()["close"]
    off = {f: np.full((1, 2), 0.3) for f in columns}  # 0.3 is on neither grid
    store.extend(off, np.full((1, 2), 3_000_000_000), np.ones((1, 2), bool))
    assert not store.on_grid()["close"]
    assert same(store.column("close", slice(0, 3 * COLD_BLOCK_ROWS)), on_grid)
    assert store.column("close", np.array([3 * COLD_BLOCK_ROWS]), 1)[0] == 0.3
    ids = store.column("trade_id_end", np.array([0, 3 * COLD_BLOCK_ROWS]), 0)
    assert ids.dtype == np.int64 and ids.tolist() == [1, 3 * COLD_BLOCK_ROWS + 3_000_000_000]


def test_the_cold_file_takes_whole_blocks_and_refuses_rows_it_does_not_hold() -> None:
    cold = ColdRows(3, 4, np.dtype(np.int32))
    with pytest.raises(ValueError, match="whole blocks of 4 rows"):
        cold.append(np.zeros((3, 3), np.int32))
    cold.append(np.arange(24, dtype=np.int32).reshape(8, 3))
    assert cold.read(np.array([7, 0, 5]), 2).tolist() == [23, 2, 17]
    with pytest.raises(IndexError, match=r"cold rows are \[0, 8\)"):
        cold.read(np.array([8]))
    array = TieredArray(8, 3, np.int32)
    array[slice(0, 8)] = np.arange(24, dtype=np.int32).reshape(8, 3)
    array.spill(6, 8, 4, None)
    with pytest.raises(IndexError, match="read-only"):
        array[slice(2, 3)] = np.zeros((1, 3), np.int32)
