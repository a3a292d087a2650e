"""Market data events: the one vocabulary feeds speak and the core consumes.

Prices and quantities of *market data* are floats: they feed numpy features and never become
order prices without going through `Instrument.price()` (which rounds to the tick grid in
`Decimal`). Every event carries two timestamps, both epoch milliseconds (UTC): when the
exchange says it happened (`ts_event`) and when we received it (`ts_recv`). Decisions use
`ts_event`, so replay and live see the same clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Tick:
    """Best bid/ask and last trade of one symbol at one moment.

    `base_volume` and `quote_volume` are the exchange's rolling 24-hour totals (Binance
    `v`/`q`); they are NaN when the stream does not carry them (bookTicker).
    """

    symbol: str
    ts_event: int
    ts_recv: int
    last: float
    bid: float
    ask: float
    bid_qty: float
    ask_qty: float
    base_volume: float
    quote_volume: float


@dataclass(frozen=True, slots=True)
class Bar:
    """A closed 1-minute candle. `open_ms` is the bar's open time; it closes at
    `open_ms + MINUTE_MS - 1` (Binance's convention), so a decision at time t may use a bar
    only when `bar.close_ms < t`."""

    symbol: str
    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float
    trades: int = 0

    @property
    def close_ms(self) -> int:
        return self.open_ms + MINUTE_MS - 1


def minute_floor(ts_ms: int) -> int:
    """The open time of the 1m bar containing `ts_ms`."""
    return ts_ms - ts_ms % MINUTE_MS


@dataclass(frozen=True, slots=True)
class TickBatch:
    """Many tickers at once, column-wise (one `!ticker@arr` frame, say).

    The fast path: parsing into columns and updating features with numpy avoids one Python
    object per ticker. Row i of every array belongs to `symbols[i]`.
    """

    symbols: tuple[str, ...]
    ts_event: np.ndarray  # int64 ms
    ts_recv: int
    last: np.ndarray  # float64, as every column below
    bid: np.ndarray
    ask: np.ndarray
    bid_qty: np.ndarray
    ask_qty: np.ndarray
    base_volume: np.ndarray
    quote_volume: np.ndarray

    def __len__(self) -> int:
        return len(self.symbols)

    def row(self, i: int) -> Tick:
        """Row `i` as a Tick (for the rare path that must judge tickers one by one)."""
        return Tick(self.symbols[i], int(np.asarray(self.ts_event)[i]), self.ts_recv,
                    float(self.last[i]), float(self.bid[i]), float(self.ask[i]),
                    float(self.bid_qty[i]), float(self.ask_qty[i]),
                    float(self.base_volume[i]), float(self.quote_volume[i]))

    def select(self, keep: np.ndarray) -> TickBatch:
        """The rows where the boolean mask `keep` is true, in order."""
        index = np.flatnonzero(keep)
        return TickBatch(
            symbols=tuple(self.symbols[i] for i in index),
            ts_event=np.asarray(self.ts_event)[index], ts_recv=self.ts_recv,
            last=self.last[index], bid=self.bid[index], ask=self.ask[index],
            bid_qty=self.bid_qty[index], ask_qty=self.ask_qty[index],
            base_volume=self.base_volume[index], quote_volume=self.quote_volume[index],
        )


@dataclass(frozen=True, slots=True)
class BarBatch:
    """One minute's closed 1m bars of many symbols, column-wise (a replay's klines).

    The fast path of a replay: the feed edge, the sequencer, the bad-print filter, the
    broker and the features take a minute's bars as arrays, not one frozen Bar and a dozen
    Python calls each. Every row opens at `open_ms`; `symbols` are distinct. Row i of every
    array belongs to `symbols[i]`; `bars()` gives the same rows as Bars, in order (the
    per-bar path, which must have the same effects)."""

    symbols: tuple[str, ...]
    open_ms: int
    open: np.ndarray  # float64, as every price and volume column below
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote_volume: np.ndarray
    trades: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.symbols)

    def __iter__(self) -> Iterator[Bar]:
        """The rows as Bars: a batch is an `Iterable[Bar]` for code without a fast path."""
        return iter(self.bars())

    @property
    def close_ms(self) -> int:
        """The close time every row shares (Binance's convention, as `Bar.close_ms`)."""
        return self.open_ms + MINUTE_MS - 1

    def select(self, keep: np.ndarray) -> BarBatch:
        """The rows where the boolean mask `keep` is true, in order."""
        index = np.flatnonzero(keep)
        return BarBatch(tuple(self.symbols[i] for i in index.tolist()), self.open_ms,
                        self.open[index], self.high[index], self.low[index],
                        self.close[index], self.volume[index], self.quote_volume[index],
                        self.trades[index])

    def bars(self) -> list[Bar]:
        """The rows as Bar objects, in order (Python floats, as the parser makes them)."""
        open_ms = self.open_ms
        return [Bar(s, open_ms, o, h, low, c, v, q, n) for s, o, h, low, c, v, q, n in zip(
            self.symbols, self.open.tolist(), self.high.tolist(), self.low.tolist(),
            self.close.tolist(), self.volume.tolist(), self.quote_volume.tolist(),
            self.trades.tolist())]


@dataclass(frozen=True, slots=True)
class BarHistory:
    """Closed 1m bars of one symbol, column-wise, oldest first, open times strictly
    increasing (gaps allowed: a missing minute means no trade). Used for REST backfill and
    for loading history into features in bulk."""

    symbol: str
    open_ms: np.ndarray  # int64
    open: np.ndarray  # float64, as every column below
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote_volume: np.ndarray

    def __len__(self) -> int:
        return int(self.open_ms.shape[0])


def empty_history(symbol: str) -> BarHistory:
    """A BarHistory with no bars."""
    floats = [np.empty(0, dtype=np.float64) for _ in range(6)]
    return BarHistory(symbol, np.empty(0, dtype=np.int64), *floats)


def concat_histories(symbol: str, parts: list[BarHistory]) -> BarHistory:
    """Join pages of one symbol's history, oldest first."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_history(symbol)
    if len(parts) == 1:
        return parts[0]
    names = ("open_ms", "open", "high", "low", "close", "volume", "quote_volume")
    columns = [np.concatenate([getattr(p, name) for p in parts]) for name in names]
    return BarHistory(symbol, *columns)


def history_after(history: BarHistory, after_ms: int | None) -> BarHistory:
    """The bars of `history` that opened after `after_ms` (all of them when None)."""
    if after_ms is None or not len(history) or history.open_ms[0] > after_ms:
        return history
    keep = history.open_ms > after_ms
    names = ("open_ms", "open", "high", "low", "close", "volume", "quote_volume")
    return BarHistory(history.symbol, *(getattr(history, n)[keep] for n in names))


def bars_of(history: BarHistory) -> list[Bar]:
    """The rows of a BarHistory as Bar objects, oldest first (trade counts are not kept)."""
    return [
        Bar(history.symbol, int(t), float(o), float(h), float(low), float(c), float(v), float(q))
        for t, o, h, low, c, v, q in zip(
            history.open_ms.tolist(),
            history.open.tolist(),
            history.high.tolist(),
            history.low.tolist(),
            history.close.tolist(),
            history.volume.tolist(),
            history.quote_volume.tolist(),
        )
    ]


# --- a replayed minute's ticker arrays --------------------------------------------------
# A replayed minute's ticker arrays as one object, for one call per consumer a minute.
#
# Why: a replay publishes one `!ticker@arr` array per synthesized tick, four a minute, and
# each went through the feed edge's check, the bad-print filter and the feature book on its
# own: twelve compiled calls and their Python glue a minute, for arrays that almost always
# all pass. `TickArrays` carries the minute's arrays together (the replay feed's direct path
# has them as one table already); each consumer judges or stores them in one call, exactly
# as it would one array after the other, and where any array might not pass as it is, the
# consumer takes them one by one as `TickBatch`es (`batch(j)`), changing nothing first.

#: The rows of `TickArrays.table`, in order (the fields of a TickBatch after its times).
TICKER_FIELDS = ("last", "bid", "ask", "bid_qty", "ask_qty", "base_volume", "quote_volume")


@dataclass(frozen=True, slots=True)
class TickArrays:
    """Ticker arrays of the same symbols at consecutive instants: array j was published at
    `ts_event[j]` (every row's event time, and its receive time) with the numbers
    `table[j]` (rows TICKER_FIELDS, columns `symbols`). Read the arrays, never write."""

    symbols: tuple[str, ...]
    ts_event: np.ndarray  # int64 (arrays,)
    table: np.ndarray  # float64 (arrays, 7, symbols), C-contiguous

    def __len__(self) -> int:
        """How many arrays."""
        return int(self.ts_event.shape[0])

    @property
    def ticks(self) -> int:
        """Rows in all the arrays together."""
        return len(self) * len(self.symbols)

    def batch(self, j: int) -> TickBatch:
        """Array j as the TickBatch a feed delivers for it (views of the table)."""
        ts = int(self.ts_event[j])
        last, bid, ask, bid_qty, ask_qty, base_volume, quote_volume = self.table[j]
        return TickBatch(self.symbols, np.full(len(self.symbols), ts, dtype=np.int64), ts,
                         last, bid, ask, bid_qty, ask_qty, base_volume, quote_volume)

    def batches(self) -> list[TickBatch]:
        """Every array as its TickBatch, in order."""
        return [self.batch(j) for j in range(len(self))]
