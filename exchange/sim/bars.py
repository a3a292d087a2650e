"""Column store of 1m bars for many symbols on one minute grid, and the data types a market
source hands to the server each minute.

Row r of every column is the minute `first_open_ms + r * MINUTE_MS`; column i is symbol i.
A False in `traded` means no trade that minute (replay gaps): no bar exists there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.market import MINUTE_MS, BarHistory

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
class MinuteData:
    """What a market source produces for one minute: its closed bars and the ticks inside."""

    bars: MinuteBars
    ticks: IntraTicks


class BarStore:
    """Growable column store; appends are amortized O(symbols)."""

    def __init__(self, first_open_ms: int, n_symbols: int, capacity: int = 1024) -> None:
        self.first_open_ms = first_open_ms
        self.n_symbols = n_symbols
        self.rows = 0
        capacity = max(capacity, 1)
        self._cols = {f: np.zeros((capacity, n_symbols)) for f in BAR_FIELDS}
        self._trades = np.zeros((capacity, n_symbols), dtype=np.int64)
        self._traded = np.zeros((capacity, n_symbols), dtype=bool)
        self._trade_id_end = np.zeros((capacity, n_symbols), dtype=np.int64)  # cumulative

    # -- writing ---------------------------------------------------------------------------
    def extend(
        self, columns: dict[str, np.ndarray], trades: np.ndarray, traded: np.ndarray
    ) -> None:
        """Append rows (shape (T, N) each); trade ids continue from the previous rows."""
        count = int(trades.shape[0])
        self._reserve(self.rows + count)
        rows = slice(self.rows, self.rows + count)
        for field in BAR_FIELDS:
            self._cols[field][rows] = columns[field]
        trades = np.where(traded, trades, 0)
        self._trades[rows] = trades
        self._traded[rows] = traded
        before = (
            self._trade_id_end[self.rows - 1] if self.rows else np.zeros(self.n_symbols, np.int64)
        )
        self._trade_id_end[rows] = before + np.cumsum(trades, axis=0)
        self.rows += count

    def _reserve(self, rows: int) -> None:
        capacity = self._trades.shape[0]
        if rows <= capacity:
            return
        new_capacity = max(rows, capacity * 2)

        def grow(array: np.ndarray) -> np.ndarray:
            bigger = np.zeros((new_capacity, self.n_symbols), dtype=array.dtype)
            bigger[:capacity] = array
            return bigger

        self._cols = {f: grow(a) for f, a in self._cols.items()}
        self._trades = grow(self._trades)
        self._traded = grow(self._traded)
        self._trade_id_end = grow(self._trade_id_end)

    # -- reading ---------------------------------------------------------------------------
    def row_of(self, open_ms: int) -> int:
        """Row index of a minute (may be out of range)."""
        return (open_ms - self.first_open_ms) // MINUTE_MS

    def column(self, field: str, rows: slice, symbol_index: int | None = None) -> np.ndarray:
        """A view of one field over a row range (all symbols, or one)."""
        if field == "trades":
            array = self._trades
        elif field == "traded":
            array = self._traded
        elif field == "trade_id_end":
            array = self._trade_id_end
        else:
            array = self._cols[field]
        view = array[rows]
        return view if symbol_index is None else view[:, symbol_index]

    def minute(self, row: int) -> MinuteBars:
        """The bars of one stored minute, for the symbols that traded."""
        index = np.flatnonzero(self._traded[row])
        trades = self._trades[row, index]
        return MinuteBars(
            open_ms=self.first_open_ms + row * MINUTE_MS,
            index=index.astype(np.int64),
            trades=trades,
            first_trade_id=self._trade_id_end[row, index] - trades,
            **{f: self._cols[f][row, index] for f in BAR_FIELDS},
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
            **{f: self._cols[f][rows, symbol_index].copy() for f in BAR_FIELDS},
        )

    def trades_of(self, symbol_index: int, open_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(trade count, first trade id) of one symbol's bars at the given open times."""
        rows = self.row_of_many(open_ms)
        trades = self._trades[rows, symbol_index]
        return trades, self._trade_id_end[rows, symbol_index] - trades

    def row_of_many(self, open_ms: np.ndarray) -> np.ndarray:
        return ((open_ms - self.first_open_ms) // MINUTE_MS).astype(np.int64)
