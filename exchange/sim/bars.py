"""Column store of 1m bars for many symbols on one minute grid, and the data types a market
source hands to the server each minute.

Row r of every column is the minute `first_open_ms + r * MINUTE_MS`; column i is symbol i.
A False in `traded` means no trade that minute (replay gaps): no bar exists there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exchange.sim.cold_rows import TieredArray
from exchange.sim.grid_column import GridColumn
from model.market import MINUTE_MS, BarHistory

_INT32_MAX = np.iinfo(np.int32).max
#: Rows spilled to the cold file go a day at a time (exchange/sim/cold_rows.py's blocks).
COLD_BLOCK_ROWS = 1440

BAR_FIELDS = ("open", "high", "low", "close", "volume", "quote_volume")


@dataclass(frozen=True, slots=True)
class MinuteBars:
    """The bars of one minute for the symbols that traded in it (`index` into instruments)."""

    open_ms: int
    index: np.ndarray  # int64 symbol indices, ascending
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote_volume: np.ndarray
    trades: np.ndarray  # int64
    first_trade_id: np.ndarray  # int64, id of the bar's first trade

    def __len__(self) -> int:
        return int(self.index.shape[0])


@dataclass(frozen=True, slots=True)
class IntraTicks:
    """Ticks synthesized inside one minute: row j is tick j (all symbols of `MinuteBars` at
    once, same column order), at market time `ts_event[j]`."""

    ts_event: np.ndarray  # int64, shape (K,)
    last: np.ndarray  # float64, shape (K, n) like every array below
    bid: np.ndarray
    ask: np.ndarray
    bid_qty: np.ndarray
    ask_qty: np.ndarray
    last_qty: np.ndarray
    volume_done: np.ndarray  # fraction of the bar's volume traded up to and including tick j


@dataclass(frozen=True, slots=True)
class MinuteBlock:
    """Consecutive stored minutes, every symbol's cells (traded or not), read at once:
    one read per field for many minutes; `minute(b)` is `BarStore.minute` of minute b."""

    first_open_ms: int
    traded: np.ndarray  # bool [B, n]
    fields: dict[str, np.ndarray]  # BAR_FIELDS -> float64 [B, n]
    trades: np.ndarray  # int64 [B, n]
    trade_id_end: np.ndarray  # int64 [B, n]
    # The traded cells of the whole block, minute by minute (gathered once: a minute is
    # then slices of them): symbol index, trades, first trade id, BAR_FIELDS rows.
    _index: np.ndarray = dataclasses.field(init=False, repr=False)
    _trades: np.ndarray = dataclasses.field(init=False, repr=False)
    _first_ids: np.ndarray = dataclasses.field(init=False, repr=False)
    _values: np.ndarray = dataclasses.field(init=False, repr=False)
    _starts: list[int] = dataclasses.field(init=False, repr=False)
    _rows: tuple[np.ndarray, ...] = dataclasses.field(init=False, repr=False)  # _values'

    def __post_init__(self) -> None:
        minutes, symbols = np.nonzero(self.traded)  # minute by minute, symbols ascending
        trades = self.trades[minutes, symbols]
        cells = {
            "_index": symbols.astype(np.int64, copy=False),
            "_trades": trades,
            "_first_ids": self.trade_id_end[minutes, symbols] - trades,
            "_values": np.stack([self.fields[f][minutes, symbols] for f in BAR_FIELDS]),
            "_starts": np.searchsorted(minutes, np.arange(len(self.traded) + 1)).tolist(),
        }
        cells["_rows"] = tuple(cells["_values"])  # type: ignore[arg-type]
        for name, value in cells.items():
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return int(self.traded.shape[0])

    def minute(self, b: int) -> MinuteBars:
        """The bars of minute b for the symbols that traded (views of the block's cells:
        read them, never write)."""
        start, stop = self._starts[b], self._starts[b + 1]
        o, h, low, c, volume, quote_volume = self._rows  # a minute's: slices of each row
        return MinuteBars(self.first_open_ms + b * MINUTE_MS, self._index[start:stop],
                          o[start:stop], h[start:stop], low[start:stop], c[start:stop],
                          volume[start:stop], quote_volume[start:stop],
                          self._trades[start:stop], self._first_ids[start:stop])


@dataclass(frozen=True, slots=True)
class MinuteData:
    """What a market source produces for one minute: its closed bars and the ticks inside."""

    bars: MinuteBars
    ticks: IntraTicks


class BarStore:
    """Growable column store; appends are amortized O(symbols).

    Memory (a month of 500 coins is 22M cells per field): prices and volumes are kept as
    int32 counts of each symbol's tick and lot when `tick`/`lot` are given and the values
    sit on that grid (exchange/sim/grid_column.py, checked bit for bit on every write); a
    bar's trade count is not stored (it is the step of the cumulative trade id), and that
    cumulative count is int32 until it outgrows it. Reads give float64 and int64.

    With `ram_rows`, rows older than the latest `ram_rows` (in whole blocks of a day) move to
    a file (exchange/sim/cold_rows.py) as they age: the generator's month of history then
    costs a few days of RAM. Reads are the same either way; only their cost differs."""

    def __init__(
        self, first_open_ms: int, n_symbols: int, capacity: int = 1024, *,
        tick: np.ndarray | None = None, lot: np.ndarray | None = None,
        ram_rows: int | None = None, cold_dir: Path | None = None,
    ) -> None:
        self.first_open_ms = first_open_ms
        self.n_symbols = n_symbols
        self.rows = 0
        self.ram_rows, self._cold_dir = ram_rows, cold_dir
        capacity = max(capacity, 1)
        steps = {"open": tick, "high": tick, "low": tick, "close": tick, "volume": lot}
        self._cols = {f: GridColumn(capacity, n_symbols, steps.get(f)) for f in BAR_FIELDS}
        self._traded = TieredArray(capacity, n_symbols, bool)
        # Cumulative trade count (a bar's trades are its step): int32 until a sum passes it.
        self._trade_id_end = TieredArray(capacity, n_symbols, np.int32)

    @property
    def nbytes(self) -> int:
        """Bytes allocated by the store's arrays (numpy pages in only what was written)."""
        return (sum(c.nbytes for c in self._cols.values()) + self._traded.nbytes
                + self._trade_id_end.nbytes)

    @property
    def ram_bytes(self) -> int:
        """Bytes of the written rows held in RAM (what the process pays for the store; the
        rows before `first_ram_row` are in the cold file)."""
        capacity = self._traded.capacity - self._traded.offset
        held = self.rows - self.first_ram_row
        return self.nbytes * held // max(capacity, 1)

    def on_grid(self) -> dict[str, bool]:
        """Which fields are stored as int32 counts of their step (the rest as float64)."""
        return {f: c.on_grid for f, c in self._cols.items()}

    # -- writing ---------------------------------------------------------------------------
    def extend(
        self, columns: dict[str, np.ndarray], trades: np.ndarray, traded: np.ndarray
    ) -> None:
        """Append rows (shape (T, N) each); trade ids continue from the previous rows."""
        count = int(trades.shape[0])
        self._reserve(self.rows + count)
        rows = slice(self.rows, self.rows + count)
        for field in BAR_FIELDS:
            self._cols[field].write(self.rows, columns[field])
        trades = np.where(traded, trades, 0)
        self._traded[rows] = traded
        before = (
            self._trade_id_end[self.rows - 1].astype(np.int64) if self.rows
            else np.zeros(self.n_symbols, np.int64)
        )
        ends = before + np.cumsum(trades, axis=0)
        if self._trade_id_end.dtype != np.int64 and ends.size and ends.max() > _INT32_MAX:
            self._trade_id_end.convert(lambda ids: ids.astype(np.int64))
        self._trade_id_end[rows] = ends
        self.rows += count
        if self.ram_rows is not None:
            self._spill(self.rows - self.ram_rows)

    def _spill(self, before_row: int) -> None:
        """Move whole days of rows before `before_row` out of RAM."""
        for column in self._cols.values():
            column.spill(before_row, self.rows, COLD_BLOCK_ROWS, self._cold_dir)
        self._traded.spill(before_row, self.rows, COLD_BLOCK_ROWS, self._cold_dir)
        self._trade_id_end.spill(before_row, self.rows, COLD_BLOCK_ROWS, self._cold_dir)

    @property
    def first_ram_row(self) -> int:
        """Rows before this one are read from the cold file."""
        return self._traded.offset

    def _reserve(self, rows: int) -> None:
        capacity = self._trade_id_end.capacity
        if rows <= capacity:
            return
        new_capacity = max(rows, self._trade_id_end.offset + 2 * (capacity
                                                                   - self._trade_id_end.offset))
        for column in self._cols.values():
            column.grow(new_capacity)
        self._traded.grow(new_capacity)
        self._trade_id_end.grow(new_capacity)

    # -- reading ---------------------------------------------------------------------------
    def row_of(self, open_ms: int) -> int:
        """Row index of a minute (may be out of range)."""
        return (open_ms - self.first_open_ms) // MINUTE_MS

    def column(
        self, field: str, rows: slice | np.ndarray, symbol_index: int | None = None
    ) -> np.ndarray:
        """One field over rows (all symbols, or one); may be a view: read it, never write."""
        if field == "trades":
            return self._trades_at(rows, symbol_index)
        if field == "traded":
            return self._traded[rows] if symbol_index is None else self._traded[rows, symbol_index]
        if field == "trade_id_end":
            ends = self._trade_id_end
            view = ends[rows] if symbol_index is None else ends[rows, symbol_index]
            return view.astype(np.int64, copy=False)
        return self._cols[field].read(rows, symbol_index)

    def column_sum(self, field: str, rows: slice) -> np.ndarray:
        """Per symbol, the sum of a bar field over `rows`: `column(field, rows).sum(axis=0)`,
        bit for bit, without decoding the rows into a temporary."""
        return self._cols[field].sum_rows(rows)

    def window_sums(self, field: str, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
        """Row t: `column_sum(field, slice(starts[t], stops[t]))`, bit for bit, for many
        windows with nondecreasing starts and stops (a block of minutes' 24h windows) in
        one pass over their rows."""
        return self._cols[field].window_sums(starts, stops)

    def cells(self, field: str, rows: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """One field at the pairs (rows[i], symbols[i]): a bar field, "trades" or
        "trade_id_end"."""
        if field not in ("trades", "trade_id_end"):
            return self._cols[field].cells(rows, symbols)
        ends = self._trade_id_end[rows, symbols].astype(np.int64)
        if field == "trade_id_end":
            return ends
        return ends - np.where(rows > 0, self._trade_id_end[np.maximum(rows - 1, 0), symbols], 0)

    def extreme(self, field: str, rows: slice, highest: bool) -> np.ndarray:
        """Per symbol, the highest (or lowest) value of a bar field over the rows that
        traded; -inf (+inf) for a symbol that never traded in them."""
        return self._cols[field].extreme(rows, self._traded[rows], highest)

    def _trades_at(self, rows: slice | np.ndarray, symbol_index: int | None = None) -> np.ndarray:
        """Trade counts of `rows`: each row's cumulative trade id minus the previous row's."""
        if isinstance(rows, slice):
            rows = np.arange(*rows.indices(self._trade_id_end.capacity))
        rows = np.asarray(rows, dtype=np.int64)
        before = np.maximum(rows - 1, 0)
        if symbol_index is None:
            ends, previous = self._trade_id_end[rows], self._trade_id_end[before]
        else:
            ends = self._trade_id_end[rows, symbol_index]
            previous = self._trade_id_end[before, symbol_index]
        first = (rows == 0).reshape(-1, *([1] * (ends.ndim - 1)))
        return ends.astype(np.int64) - np.where(first, 0, previous)

    def minute(self, row: int) -> MinuteBars:
        """The bars of one stored minute, for the symbols that traded."""
        index = np.flatnonzero(self._traded[row])
        trades = self._trades_at(np.array([row]))[0, index]
        return MinuteBars(
            open_ms=self.first_open_ms + row * MINUTE_MS,
            index=index.astype(np.int64),
            trades=trades,
            first_trade_id=self._trade_id_end[row, index] - trades,
            **{f: self._cols[f].read(slice(row, row + 1))[0, index] for f in BAR_FIELDS},
        )

    def minute_block(self, start_row: int, stop_row: int) -> MinuteBlock:
        """The stored minutes `start_row` to `stop_row` (exclusive) at once."""
        rows = slice(start_row, stop_row)
        return MinuteBlock(
            first_open_ms=self.first_open_ms + start_row * MINUTE_MS,
            traded=np.array(self._traded[rows], dtype=bool),
            fields={f: self._cols[f].read(rows) for f in BAR_FIELDS},
            trades=self._trades_at(np.arange(start_row, stop_row)),
            trade_id_end=self.column("trade_id_end", rows),
        )

    def history(
        self, symbol: str, symbol_index: int, end_ms: int, limit: int, start_ms: int | None = None
    ) -> BarHistory:
        """Bars of one symbol with `start_ms <= open_ms < end_ms`: the earliest `limit` of
        them when `start_ms` is given (Binance's paging forward), else the latest `limit`."""
        lo = 0 if start_ms is None else max(0, -(-(start_ms - self.first_open_ms) // MINUTE_MS))
        hi = min(self.rows, max(0, -(-(end_ms - self.first_open_ms) // MINUTE_MS)))
        rows = np.arange(lo, max(lo, hi))
        rows = rows[self._traded[lo : max(lo, hi), symbol_index]]
        rows = rows[:limit] if start_ms is not None else rows[max(0, len(rows) - limit) :]
        return BarHistory(
            symbol=symbol,
            open_ms=(self.first_open_ms + rows * MINUTE_MS).astype(np.int64),
            **{f: self._cols[f].read(rows, symbol_index) for f in BAR_FIELDS},
        )

    def trades_of(self, symbol_index: int, open_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(trade count, first trade id) of one symbol's bars at the given open times."""
        rows = self.row_of_many(open_ms)
        trades = self._trades_at(rows, symbol_index)
        return trades, self._trade_id_end[rows, symbol_index] - trades

    def row_of_many(self, open_ms: np.ndarray) -> np.ndarray:
        return ((open_ms - self.first_open_ms) // MINUTE_MS).astype(np.int64)
