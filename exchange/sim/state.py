"""What the exchange currently shows: last trade, best bid/ask and rolling 24h statistics.

Rolling windows are computed from stored closed bars once per minute (vectorized over all
symbols) and combined with the partial bar of the minute being played, so every ticker is
consistent with the klines a client can download.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exchange.sim.bars import BarStore, IntraTicks, MinuteBars
from exchange.sim.ticker_kernel import (
    close_stores,
    parsed_partial_bar_table,
    parsed_ticker_table,
    partial_bar_table,
    ticker_table,
)
from exchange.sim.ticks import BOOK_SHARE_OF_BAR_VOLUME, floor_to_grid, round_to_grid
from model.market import MINUTE_MS

WINDOW_MS = 86_400_000
WINDOW_MINUTES = WINDOW_MS // MINUTE_MS
CLOSED = 1 << 30  # tick index meaning "the current minute's bar is complete"
#: Minutes whose 24h window volumes are summed at once (`MarketState._window_volumes`).
WINDOW_BLOCK_MINUTES = 60


@dataclass(frozen=True, slots=True)
class TickerStats:
    """One symbol's 24h rolling statistics and top of book at `close_ms` (Binance 24hrTicker)."""

    symbol: str
    open: float
    high: float
    low: float
    last: float
    prev_close: float  # last price before the window
    volume: float
    quote_volume: float
    last_qty: float
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float
    first_id: int
    last_id: int
    count: int
    open_ms: int
    close_ms: int


@dataclass(frozen=True, slots=True)
class PartialBar:
    """The kline of the minute being played, as far as it has traded."""

    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float
    trades: int
    first_id: int


class MarketState:
    """Current quotes and 24h windows of every symbol."""

    def __init__(
        self,
        symbols: list[str],
        store: BarStore,
        tick: np.ndarray,
        lot: np.ndarray,
        spread_bps: np.ndarray,
        now_ms: int,
    ) -> None:
        self.symbols, self.store, self._tick, self._lot = symbols, store, tick, lot
        n = len(symbols)
        self.ts_ms = np.full(n, now_ms, dtype=np.int64)
        self.last, self.last_qty = np.zeros(n), np.zeros(n)
        self.bid, self.ask, self.bid_qty, self.ask_qty = (np.zeros(n) for _ in range(4))
        self._bars: MinuteBars | None = None
        self._tick_index = -1  # ticks of the current minute applied so far, minus one
        self._done = np.zeros(0)
        # The 24h volumes of the windows ending at rows [first, first + len) (see
        # `_window_volumes`): base and quote, one row per minute.
        self._volume_block: tuple[int, np.ndarray, np.ndarray] = (0, np.zeros((0, n)),
                                                                  np.zeros((0, n)))
        self._begin(now_ms)
        self._seed_quotes(spread_bps)

    def _seed_quotes(self, spread_bps: np.ndarray) -> None:
        """Quotes before the first tick: around each symbol's last stored close."""
        self.last = self._tick.astype(np.float64).copy()  # never traded: one tick
        missing = np.ones(len(self.symbols), dtype=bool)
        stop = self.store.rows
        while stop > 0 and missing.any():  # a day at a time from the newest row backwards:
            start = max(0, stop - 1440)  # the month of history may sit in the cold file
            traded = self.store.column("traded", slice(start, stop))
            latest = traded.shape[0] - 1 - np.argmax(traded[::-1], axis=0)
            found = missing & traded.any(axis=0)
            if found.any():
                symbols = np.flatnonzero(found)
                self.last[symbols] = self.store.cells("close", start + latest[symbols], symbols)
                missing &= ~found
            stop = start
        spread = np.maximum(1.0, np.round(self.last * spread_bps * 1e-4 / self._tick)) * self._tick
        self.bid = self.last.copy()
        self.ask = round_to_grid(self.last + spread, self._tick)
        self.bid_qty = np.maximum(
            self._lot,
            floor_to_grid(self._w_volume / WINDOW_MINUTES * BOOK_SHARE_OF_BAR_VOLUME, self._lot),
        )
        self.ask_qty = self.bid_qty.copy()
        self.last_qty = self._lot.copy()

    # -- minute lifecycle ------------------------------------------------------------------
    def _begin(self, open_ms: int) -> None:
        """Recompute the closed part of the 24h window ending at minute `open_ms`: its volumes
        now (every ticker carries them), the rest on the minute's first `ticker` call."""
        row = max(0, min(self.store.row_of(open_ms), self.store.rows))
        lo = max(0, row - (WINDOW_MINUTES - 1))
        self._w_volume, self._w_quote = self._window_volumes(row)
        self._window_rows: tuple[int, int] | None = (lo, row)

    def _window_volumes(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """The base and quote volume sums of the window rows [row - 1439, row) (read them,
        never write), as `column_sum` gives them: summed for up to WINDOW_BLOCK_MINUTES
        minutes at once, since consecutive minutes' windows share all but one row and the
        store only appends (a row once stored never changes, so a sum once made stays
        true). Reading a day of rows from memory every minute was a tenth of a replayed
        minute; the block reads them once (exchange/sim/window_kernel.py)."""
        first, volume, quote = self._volume_block
        if not first <= row < first + len(volume):
            # Windows end at most at the newest stored row: a generated market appends
            # as it plays, so rows beyond it are not known yet.
            ends = np.arange(row, min(row + WINDOW_BLOCK_MINUTES, self.store.rows + 1))
            starts = np.maximum(0, ends - (WINDOW_MINUTES - 1))
            volume = self.store.window_sums("volume", starts, ends)
            quote = self.store.window_sums("quote_volume", starts, ends)
            self._volume_block = first, volume, quote = row, volume, quote
        return volume[row - first], quote[row - first]

    def _window_statistics(self) -> None:
        """High, low, open, trade ids and previous close of the window `_begin` chose, once
        per minute, when a ticker is first built: the replay feed's direct path needs only
        the volumes, and these were a large share of its time per minute. The store
        only appends, so the rows read now are the rows of the minute's start."""
        if self._window_rows is None:
            return
        lo, row = self._window_rows
        self._window_rows = None
        n = len(self.symbols)
        rows = slice(lo, row)
        traded = self.store.column("traded", rows)
        self._w_high = self.store.extreme("high", rows, highest=True)
        self._w_low = self.store.extreme("low", rows, highest=False)
        self._w_open, self._prev_close = np.full(n, np.nan), np.full(n, np.nan)
        self._w_first_id, self._w_last_id = np.full(n, -1), np.full(n, -1)
        if row > lo:
            pick = np.arange(n)
            any_traded = traded.any(axis=0)
            first = np.argmax(traded, axis=0)
            last = traded.shape[0] - 1 - np.argmax(traded[::-1], axis=0)
            # Each symbol's first and last bar of the window only: nothing window-wide is
            # decoded from the store's compact columns (exchange/sim/grid_column.py).
            first_row, last_row = lo + first, lo + last
            self._w_open = np.where(any_traded, self.store.cells("open", first_row, pick), np.nan)
            first_trades = self.store.cells("trades", first_row, pick)
            first_end = self.store.cells("trade_id_end", first_row, pick)
            self._w_first_id = np.where(any_traded, first_end - first_trades, -1)
            last_end = self.store.cells("trade_id_end", last_row, pick)
            self._w_last_id = np.where(any_traded, last_end - 1, -1)
        if lo > 0:
            before = slice(lo - 1, lo)
            was_traded = self.store.column("traded", before)[0]
            self._prev_close = np.where(was_traded, self.store.column("close", before)[0], np.nan)

    def begin_minute(self, bars: MinuteBars, *, running: bool = True) -> None:
        """Start playing a minute whose bars are `bars` (already in the store).
        `running=False` leaves the running high, low and volume done unmade, for a caller
        that closes the minute with `closed_with` before anything reads them (the replay
        feed's usual minute; were it to do anything else first, it begins again)."""
        self._begin(bars.open_ms)
        self._bars = bars
        self._tick_index = -1
        if running:
            self._run_high = bars.open.copy()
            self._run_low = bars.open.copy()
            self._done = np.zeros(len(bars))

    def apply_tick(self, ticks: IntraTicks, j: int) -> None:
        """Move quotes to tick j of the current minute."""
        bars = self._bars
        assert bars is not None, "begin_minute() first"
        idx = bars.index
        self._tick_index = j
        self.ts_ms[idx] = ticks.ts_event[j]
        self.last[idx], self.last_qty[idx] = ticks.last[j], ticks.last_qty[j]
        self.bid[idx], self.ask[idx] = ticks.bid[j], ticks.ask[j]
        self.bid_qty[idx], self.ask_qty[idx] = ticks.bid_qty[j], ticks.ask_qty[j]
        self._run_high = np.maximum(self._run_high, ticks.last[j])
        self._run_low = np.minimum(self._run_low, ticks.last[j])
        self._done = ticks.volume_done[j]

    def close_after_last_tick(self, ticks: IntraTicks) -> None:
        """`apply_tick(ticks, last)` then `close_minute()`, with only the stores the close
        keeps: the close overwrites the last price, the running high and low and the volume
        done, so only the last tick's time, sizes and book are written (the replay feed's
        direct path, where nothing reads the state in between)."""
        bars = self._bars
        assert bars is not None, "begin_minute() first"
        # The stores of `close_minute` too, in one compiled call (exchange/sim/ticker_kernel.py;
        # tests/unit/test_ticker_kernel.py holds it to these stores as numpy makes them).
        self._run_high, self._run_low, self._done = close_stores(
            bars.index, ticks.ts_event, ticks.last_qty, ticks.bid, ticks.ask, ticks.bid_qty,
            ticks.ask_qty, bars.close, bars.high, bars.low, self.ts_ms, self.last_qty,
            self.bid, self.ask, self.bid_qty, self.ask_qty, self.last)
        self._tick_index = CLOSED

    def ticker_volumes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(24h base volumes and quote volumes of the minute's closed window, lot) per market
        symbol: what `parsed_ticker_tables` adds to each tick's share of its bar (the replay
        feed's compiled usual minute, exchange/feeds/replay_usual.py; read them, never
        write)."""
        return self._w_volume, self._w_quote, self._lot

    def closed_with(self, run_high: np.ndarray, run_low: np.ndarray, done: np.ndarray) -> None:
        """The minute was closed outside (`close_after_last_tick`'s stores, made by the replay
        feed's compiled usual minute into the public arrays): keep its running high, low
        and volume done, as `close_after_last_tick` does."""
        self._run_high, self._run_low, self._done = run_high, run_low, done
        self._tick_index = CLOSED

    def close_minute(self) -> None:
        """The minute is over: the partial bar becomes the full stored bar."""
        bars = self._bars
        assert bars is not None
        self._run_high, self._run_low = bars.high.copy(), bars.low.copy()
        self.last[bars.index] = bars.close
        self._done = np.ones(len(bars))
        self._tick_index = CLOSED

    # -- views -----------------------------------------------------------------------------
    def partial_bar(self, k: int) -> PartialBar:
        """Column k of the current minute's bars, as traded so far."""
        bars = self._bars
        assert bars is not None
        done = float(self._done[k])
        trades = max(1, round(int(bars.trades[k]) * done))
        return PartialBar(
            open_ms=bars.open_ms,
            open=float(bars.open[k]),
            high=float(self._run_high[k]),
            low=float(self._run_low[k]),
            close=float(self.last[bars.index[k]]),
            volume=float(floor_to_grid(bars.volume[k] * done, self._lot[bars.index[k]])),
            quote_volume=float(bars.quote_volume[k] * done),
            trades=trades,
            first_id=int(bars.first_trade_id[k]),
        )

    def partial_table(self) -> tuple[np.ndarray, np.ndarray]:
        """`partial_bar(k)` of every column k at once: (rows open, high, low, close, volume,
        quote_volume of shape (6, columns), trade counts). The same operations element by
        element, hence the same numbers: the replay feed's direct path builds closed bars
        from it (compiled: exchange/sim/ticker_kernel.py)."""
        bars = self._bars
        assert bars is not None
        return partial_bar_table(bars.open, self._run_high, self._run_low, self.last,
                                 bars.volume, bars.quote_volume, bars.trades, self._done,
                                 self._lot, bars.index)

    def parsed_partial_table(self, exact_from: float, doubt: float
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """`partial_table()` with its floats read back from 8-decimal strings in the same
        call (`protocol.parsed_tables` finishes it; `exact_from` and `doubt` are its
        thresholds): (floats, trade counts, doubtful mask, any doubtful)."""
        bars = self._bars
        assert bars is not None
        return parsed_partial_bar_table(bars.open, self._run_high, self._run_low, self.last,
                                        bars.volume, bars.quote_volume, bars.trades,
                                        self._done, self._lot, bars.index, exact_from, doubt)

    def parsed_ticker_tables(self, ticks: IntraTicks, exact_from: float, doubt: float
                             ) -> tuple[np.ndarray, np.ndarray, bool]:
        """`ticker_tables(ticks)` with every number read back from its 8-decimal string in
        the same call, as `parsed_partial_table`: (tables, doubtful mask, any doubtful)."""
        bars = self._bars
        assert bars is not None, "begin_minute() first"
        return parsed_ticker_table(ticks.last, ticks.bid, ticks.ask, ticks.bid_qty,
                                   ticks.ask_qty, ticks.volume_done, bars.volume,
                                   bars.quote_volume, self._w_volume, self._w_quote,
                                   self._lot, bars.index, exact_from, doubt)

    def ticker_tables(self, ticks: IntraTicks) -> np.ndarray:
        """The numbers `ticker(index[k], k)` will show at every tick j of the current
        minute, shape (ticks, 7, columns), rows last, bid, ask, bid_qty, ask_qty, volume,
        quote_volume (24h): what `apply_tick(ticks, j)` then `ticker` give, element by
        element the same operations, computed for the whole minute at once (the replay
        feed's direct path; nothing moves)."""
        bars = self._bars
        assert bars is not None, "begin_minute() first"
        return ticker_table(ticks.last, ticks.bid, ticks.ask, ticks.bid_qty, ticks.ask_qty,
                            ticks.volume_done, bars.volume, bars.quote_volume, self._w_volume,
                            self._w_quote, self._lot, bars.index)  # exchange/sim/ticker_kernel.py

    def ticker(self, i: int, k: int | None = None) -> TickerStats:
        """24h statistics of symbol i; `k` is its column in the current minute if it traded."""
        self._window_statistics()
        part = self.partial_bar(k) if k is not None else None
        open_, high, low = self._w_open[i], self._w_high[i], self._w_low[i]
        volume, quote = self._w_volume[i], self._w_quote[i]
        first_id, last_id = int(self._w_first_id[i]), int(self._w_last_id[i])
        if part is not None:
            open_ = part.open if np.isnan(open_) else open_
            high, low = max(high, part.high), min(low, part.low)
            volume, quote = volume + part.volume, quote + part.quote_volume
            first_id = part.first_id if first_id < 0 else first_id
            last_id = part.first_id + part.trades - 1
        last = float(self.last[i])
        if np.isnan(open_):
            open_, high, low = last, last, last
        prev = self._prev_close[i]
        close_ms = int(self.ts_ms[i])
        return TickerStats(
            symbol=self.symbols[i],
            open=float(open_),
            high=float(high),
            low=float(low),
            last=last,
            prev_close=float(open_ if np.isnan(prev) or prev == 0 else prev),
            volume=float(volume),
            quote_volume=float(quote),
            last_qty=float(self.last_qty[i]),
            bid=float(self.bid[i]),
            bid_qty=float(self.bid_qty[i]),
            ask=float(self.ask[i]),
            ask_qty=float(self.ask_qty[i]),
            first_id=first_id,
            last_id=last_id,
            count=0 if first_id < 0 else last_id - first_id + 1,
            open_ms=close_ms - WINDOW_MS,
            close_ms=close_ms,
        )

    def current_column(self, i: int) -> int | None:
        """Column of symbol i in the minute being played, if it traded in it."""
        if self._bars is None or self._tick_index < 0:
            return None
        hits = np.flatnonzero(self._bars.index == i)
        return int(hits[0]) if hits.size else None
