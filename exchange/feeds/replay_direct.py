"""The replay feed's direct path: what the parser would make of the simulator's frames,
computed without building, serializing and parsing them.

The wire path (`ReplayFeed(..., direct=False)`) turns every frame `MinutePlayer` publishes
into bytes and parses them back with `binance_parse.dispatch`, the live feed's code; that is
what makes it the daemon's path, and it was about 40% of a backtest's time (issue 15). Here
the same `MinutePlayer` state moves the same way, and the numbers a client would read come
straight from it: every float as `float(protocol.num(x))` (`protocol.num_parsed`), the
parser's checks (`binance_parse.ticker_rows_valid`, `kline_values_valid`, `symbol_valid`) on
the same columns, the same `Dispatched` results in the same frame order. A frame the parser
would refuse as malformed goes the wire way instead (built, serialized, parsed), so odd data
is reported exactly as before. Forming klines (`x: false`) are not made: they reach no
callback (tests/unit/test_replay_feed.py: skipping them changes no callback).

The contract, tests/unit/test_replay_direct.py: on the same source, both paths deliver the
same callbacks, every event in order, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import numpy as np
import orjson

import exchange.sim.protocol as protocol
from exchange.feeds.binance_event_parse import MAX_TS_MS, kline_values_valid
from exchange.feeds.binance_parse import Dispatched, symbol_valid, ticker_batch
from exchange.feeds.common import select_rows
from exchange.feeds.parse_kernel import ticker_rows_pass
from exchange.sim.bars import MinuteData
from exchange.sim.player import ALL_TICKERS_STREAM, MinutePlayer
from model.market import MINUTE_MS, Bar, BarBatch, Tick, TickArrays, TickBatch

__all__ = ["DirectFrames", "FrameOut"]

# (market ms, the frame as dispatched, a whole good ticker array as the TickBatch its
# `Dispatched` would carry (nothing dropped, no events), a minute's ticker arrays all whole
# and good as one TickArrays (at the last one's time), a minute's good closed klines as one
# batch, or raw bytes for the wire path to dispatch)
FrameOut = tuple[int, Dispatched | TickBatch | TickArrays | BarBatch | bytes]


class DirectFrames:
    """Per minute, the `dispatch` results of the frames a replay feed follows, in order:
    per tick one `!ticker@arr` (with `all_tickers`) or one `@ticker` per followed symbol,
    then the closed `@kline_1m` of the followed symbols that traded (consecutive good ones
    as one result: a frame's events are delivered in order, so the callbacks are the same)."""

    def __init__(
        self, player: MinutePlayer, symbols: list[str], *, all_tickers: bool, batch: bool,
        arrays: bool = False,
    ) -> None:
        """`symbols`: the followed exchange ids; `batch`: ticker arrays come back as one
        TickBatch (the consumer has `on_tick_batch`), else as Ticks; `arrays` (with
        `batch`): a minute whose ticker arrays are all whole and good comes back as one
        TickArrays (the consumer takes those too)."""
        self._player = player
        followed = frozenset(symbols)
        self._followed = np.array([s in followed for s in player.symbols], dtype=bool)
        self._symbol_ok = np.array([symbol_valid(s) for s in player.symbols], dtype=bool)
        # Known once, not per minute: then the per-minute masks need no gather and no AND.
        self._every_symbol_ok = bool(self._symbol_ok.all())
        self._every_followed = bool(self._followed.all())
        #: Every symbol of the market is followed and valid: a minute's columns are then
        #: judged by their numbers alone (the replay feed's usual minute, replay_usual.py).
        self.plain_symbols = self._every_symbol_ok and self._every_followed
        self._all_tickers, self._batch = all_tickers, batch
        self._arrays = arrays and all_tickers and batch
        # Per set of traded symbols (a minute's `index`, as bytes): their ids, which are
        # followed and whether all are. A market trades the same symbols minute after minute.
        self._columns: dict[bytes, tuple[tuple[str, ...], np.ndarray, bool]] = {}

    def play(self, data: MinuteData) -> Iterator[FrameOut]:
        """The minute's frames, lazily: the clock moves to an instant when its first frame
        is requested, as `MinutePlayer.play` does; the quotes only when a frame is built from
        them (a refused one), and to the last tick before the close."""
        player = self._player
        player.begin(data)
        index = data.bars.index
        symbols, followed, all_followed = self.columns_of(index)
        times = data.ticks.ts_event
        if not len(index):  # nothing traded: the market moves, no ticker is published
            for j in range(len(times)):
                player.move_to(data, j)
        else:
            # `num_parsed(state.ticker_tables(...))`, computed and read back in one call.
            tables = protocol.parsed_tables(*player.state.parsed_ticker_tables(
                data.ticks, protocol.NUM_EXACT_FROM, protocol.NUM_DOUBT))
            # `ticker_rows_valid(times[:, None], tables)`, its kernel called directly: the
            # shapes are already the ones it takes.
            good = ticker_rows_pass(times[:, None], tables, MAX_TS_MS)
            if not self._every_symbol_ok:
                good &= self._symbol_ok[index]
            # The usual minute: every array whole (each row good, every symbol followed;
            # `all(whole)` below, known in one call), its arrays as one object.
            if self._arrays and good.all() and (all_followed or not len(times)):
                player.now_ms = int(times[-1])
                yield player.now_ms, TickArrays(symbols, times, tables)
                close_ms = player.finish_from_last_tick(data)  # only the last tick counts
                yield from self.klines(close_ms, data, symbols, followed)
                return
            # Per minute, not per instant: which arrays go out whole, their event times.
            whole = cast(list[bool], (good.all(axis=1) & followed.all()).tolist())
            event_ms = np.repeat(times[:, None], len(index), axis=1)
            columnar = self._all_tickers and self._batch
            moved = -1  # the last tick applied to the market state
            for j, ts in enumerate(times.tolist()):
                player.now_ms = ts
                if columnar and whole[j]:
                    # The usual array: `ticker_batch(..., None)`'s TickBatch, built inline
                    # (rows of the contiguous table are its columns, as `_batch` takes them).
                    last, bid, ask, bid_qty, ask_qty, base, quote = tables[j]
                    yield ts, TickBatch(symbols, event_ms[j], ts, last, bid, ask, bid_qty,
                                        ask_qty, base, quote)
                    continue
                if not whole[j]:  # a refused frame is built from the state: bring it here
                    for tick in range(moved + 1, j + 1):
                        player.move_to(data, tick)
                    moved = j
                yield from self._tickers(ts, index, symbols, followed, tables[j], good[j],
                                         event_ms[j])
            if moved < len(times) - 1:
                # Nothing read the quotes in between: a tick overwrites them all but the
                # running high and low, which the close resets, so only the last one counts.
                player.move_to(data, len(times) - 1)
        close_ms = player.finish(data)
        yield from self.klines(close_ms, data, symbols, followed)

    def columns_of(self, index: np.ndarray) -> tuple[tuple[str, ...], np.ndarray, bool]:
        """(exchange ids, followed mask, all followed) of a minute's traded symbols
        `index`, cached."""
        key = index.tobytes()
        columns = self._columns.get(key)
        if columns is None:
            if len(self._columns) >= 64:
                self._columns.clear()
            symbols = tuple(self._player.symbols[i] for i in index.tolist())
            followed = self._followed[index]
            columns = self._columns[key] = (symbols, followed, bool(followed.all()))
        return columns

    # ------------------------------------------------------------------ tickers

    def _tickers(self, ts: int, index: np.ndarray, symbols: tuple[str, ...],
                 followed: np.ndarray, table: np.ndarray, good: np.ndarray,
                 event_ms: np.ndarray) -> Iterator[FrameOut]:
        """One instant's ticker frames but a whole good columnar array (`play` yields that
        itself); where a row is refused the state is at that instant, to build its frame."""
        if self._all_tickers and self._batch:  # columnar: bad rows dropped and counted
            rows, dropped = ticker_batch(symbols, event_ms, ts, table, good)
            wanted = followed[good]  # `dispatch` keeps the followed symbols of the kept rows
            if not wanted.all():
                rows = select_rows(rows, wanted)
            yield ts, Dispatched(batch=rows if len(rows) else None, dropped=dropped)
        elif self._all_tickers:  # one array parsed strictly: any bad row refuses the frame
            if not good.all():
                yield ts, self._ticker_array_frame(index)
                return
            yield ts, Dispatched(events=tuple(self._ticks(ts, symbols, table, followed)))
        else:
            ticks = self._ticks(ts, symbols, table, followed)
            for k in np.flatnonzero(followed).tolist():
                tick = next(ticks)
                yield ts, (Dispatched(events=(tick,)) if good[k] else
                           self._ticker_frame(int(index[k]), k))

    @staticmethod
    def _ticks(ts: int, symbols: tuple[str, ...], table: np.ndarray,
               keep: np.ndarray) -> Iterator[Tick]:
        """Rows of `table` where `keep` is set, as the parser's Ticks (Python floats)."""
        for k, row in zip(np.flatnonzero(keep).tolist(), table[:, keep].T.tolist()):
            yield Tick(symbols[k], ts, ts, *row)

    def _ticker_array_frame(self, index: np.ndarray) -> bytes:
        state = self._player.state
        rows = [protocol.ws_ticker(state.ticker(i, k)) for k, i in enumerate(index.tolist())]
        return protocol.combined(ALL_TICKERS_STREAM, orjson.dumps(rows))

    def _ticker_frame(self, i: int, k: int) -> bytes:
        payload = protocol.ws_ticker(self._player.state.ticker(i, k))
        return protocol.combined(f"{self._player.names[i]}@ticker", orjson.dumps(payload))

    # ------------------------------------------------------------------ closed klines

    def klines(self, close_ms: int, data: MinuteData, symbols: tuple[str, ...],
                followed: np.ndarray) -> Iterator[FrameOut]:
        """The closed klines of the followed symbols (the minute is closed)."""
        if not followed.any():
            return
        state = self._player.state
        floats, trades, doubtful, any_doubtful = state.parsed_partial_table(
            protocol.NUM_EXACT_FROM, protocol.NUM_DOUBT)
        values = protocol.parsed_tables(floats, doubtful, any_doubtful)  # num_parsed(floats)
        good = kline_values_valid(values[:4], values[4:])
        if not self._every_symbol_ok:
            good &= self._symbol_ok[data.bars.index]
        open_ms = int(data.bars.open_ms)
        good &= open_ms % MINUTE_MS == 0 and 0 <= open_ms <= MAX_TS_MS
        if (good if self._every_followed else good[followed]).all():
            # The usual minute: every kline as one columnar batch.
            yield close_ms, self._bar_batch(open_ms, symbols, followed, values, trades)
            return
        rows = values.T.tolist()
        counts = trades.tolist()
        index = data.bars.index.tolist()
        # Good klines in a row go as one result: the feed judges a result's events before it
        # delivers them, which changes nothing here, since they share one close time and the
        # validator only remembers the newest time it accepted.
        bars: list[Bar] = []
        for k in np.flatnonzero(followed).tolist():
            if good[k]:
                o, h, low, c, volume, quote = rows[k]
                bars.append(Bar(symbols[k], open_ms, o, h, low, c, volume, quote, counts[k]))
                continue
            if bars:
                yield close_ms, Dispatched(events=tuple(bars))
                bars = []
            payload = protocol.ws_kline(symbols[k], state.partial_bar(k), close_ms, True)
            stream = f"{self._player.names[index[k]]}@kline_1m"
            yield close_ms, protocol.combined(stream, orjson.dumps(payload))
        if bars:
            yield close_ms, Dispatched(events=tuple(bars))


    @staticmethod
    def _bar_batch(open_ms: int, symbols: tuple[str, ...], followed: np.ndarray,
                   values: np.ndarray, trades: np.ndarray) -> BarBatch:
        """The followed columns of the minute's parsed kline table as a BarBatch: the same
        numbers the per-kline Bars carry (`BarBatch.bars()` gives those Bars)."""
        if not followed.all():
            keep = np.flatnonzero(followed)
            symbols = tuple(symbols[k] for k in keep.tolist())
            values, trades = values[:, keep], trades[keep]
        return BarBatch(symbols, open_ms, values[0], values[1], values[2], values[3],
                        values[4], values[5], np.asarray(trades, dtype=np.int64))
