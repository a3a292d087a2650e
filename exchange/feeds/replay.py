"""A socket-less market feed for backtests: the simulator's frames, without the network.

Backtest parity needs the engine to see *exactly* the floats, in the same order, that the
daemon sees from the embedded simulator over its websocket. So this feed does not read bars
and build events itself: it takes the frames the simulator would publish (the same
`MinutePlayer`), serializes them the way the server does (`orjson`, wrapped as combined-stream
frames because `BinanceFeed` connects to `/stream`), and parses them with the same
`binance_parse.dispatch` the live feed calls for every websocket message. History comes the
way the live feed's REST backfill gets it: `/api/v3/klines` rows (`protocol.kline_row`),
a JSON round trip, `binance_rest.parse_klines`, the same paging. Instruments go through
`exchangeInfo` and `parse_exchange_info`, as the daemon loads them.

Differences from `BinanceFeed`, all deliberate:
- `ts_recv` is the frame's market time (the simulator's clock at publication), not the time
  a socket delivered it; decisions use `ts_event`, which is identical.
- Nothing is lost in transit, so the gap fill that the live feed does from REST when a bar
  skips minutes always finds nothing here too (a missing minute is a minute without trades);
  it is still done, through the same klines path, so the two stay interchangeable.
- Everything is synchronous: the caller drives time with `play_minute()`.

`direct=True` skips the frames for the live minutes: the same player state gives the events
the parser would have made (exchange/feeds/replay_direct.py), equal bit for bit (tested), and
the backtest is much faster. History, gap fill and instruments still take the REST path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson

import exchange.sim.protocol as protocol
from exchange.feeds.binance import subscription_streams
from exchange.feeds.binance_parse import Dispatched, dispatch
from exchange.feeds.binance_rest import (
    KLINES_PAGE,
    check_klines,
    concat_histories,
    history_after,
    parse_exchange_info,
    parse_klines,
)
from exchange.feeds.common import (
    BarSequencer,
    InvalidReporter,
    MalformedReporter,
    call_consumer,
    screen,
)
from exchange.feeds.errors import MalformedFrame
from exchange.feeds.replay_direct import DirectFrames, FrameOut
from exchange.feeds.replay_usual import UsualMinute
from exchange.feeds.sanity import FrameValidator
from exchange.sim.player import MinutePlayer
from exchange.sim.source import MarketSource
from model.instruments import Instrument
from model.market import MINUTE_MS, Bar, BarBatch, BarHistory, Tick, TickArrays, TickBatch

__all__ = ["ReplayFeed"]

log = logging.getLogger(__name__)


class ReplayFeed:
    """Plays a `MarketSource` minute by minute into `BinanceFeed`'s callbacks, synchronously.

    Build it on a fresh source (`exchange.sim.source.open_source(config)` or
    `ReplaySource.from_dir(...)`) configured like the simulator it stands in for: same seed,
    coins, history and ticks_per_bar give the same frames.
    """

    @property
    def bars(self) -> int:
        """Bars delivered so far (backfill included)."""
        return self._sequencer.bars

    @property
    def gaps_filled(self) -> int:
        """Bars delivered by gap repair (a live bar that skipped minutes)."""
        return self._sequencer.gaps_filled

    def __init__(
        self,
        source: MarketSource,
        *,
        on_tick: Callable[[Tick], None],
        on_bar: Callable[[Bar], None],
        on_history: Callable[[BarHistory], None] | None = None,
        on_tick_batch: Callable[[TickBatch], None] | None = None,
        on_bar_batch: Callable[[BarBatch], None] | None = None,
        on_tick_arrays: Callable[[TickArrays], None] | None = None,
        symbols: list[str] | None = None,
        all_tickers: bool = True,
        forming_klines: bool = True,
        direct: bool = False,
        usual: bool = True,
    ) -> None:
        """`symbols` (exchange ids) defaults to every symbol of the source. The callbacks
        mean what they mean for `BinanceFeed`; `all_tickers=True` is the daemon's choice in
        sim mode (ticker arrays, delivered to `on_tick_batch` when given).
        `forming_klines=False` skips the in-progress kline frames (`x: false`), about a
        third of the work: the parser drops them anyway, so callbacks are unchanged.
        `direct=True` plays minutes without frames (see the module docstring): same
        callbacks; `messages` then counts the frames that would carry events. With
        `on_bar_batch` too, a direct minute's closed bars come as one BarBatch when nothing
        about them is unusual (see `_deliver_bars`), otherwise bar by bar as ever. With
        `on_tick_arrays` and `on_tick_batch` too, a direct minute's ticker arrays come as one
        TickArrays when every array is whole and passes the edge's checks as it is;
        otherwise array by array through `on_tick_batch` as ever. With all of these and
        every symbol followed, the usual minute is made and judged in one compiled call
        (exchange/feeds/replay_usual.py; `usual=False` plays it the direct path's way, the
        same callbacks)."""
        self._player = MinutePlayer(source)
        self._source = source
        known = {s: i for i, s in enumerate(self._player.symbols)}
        chosen = self._player.symbols if symbols is None else symbols
        self.symbols: list[str] = list(dict.fromkeys(s.upper() for s in chosen))
        unknown = [s for s in self.symbols if s not in known]
        if unknown or not self.symbols:
            raise ValueError(f"ReplayFeed: symbols not in the source: {unknown or 'none given'}")
        self._index = known
        self._symbol_set = frozenset(self.symbols)
        self._streams = frozenset(subscription_streams(self.symbols, all_tickers))
        self._during = (
            self._streams
            if forming_klines
            else frozenset(s for s in self._streams if not s.endswith("@kline_1m"))
        )
        self._on_tick, self._on_tick_batch = on_tick, on_tick_batch
        self._on_tick_arrays = on_tick_arrays if on_tick_batch is not None else None
        # The feed edge's checks, as live (no age bound: a replay starts wherever its data does).
        self._validator = FrameValidator(on_invalid=InvalidReporter(log))
        self._sequencer = BarSequencer(on_bar, on_history, self._validator, lambda: self.now_ms,
                                       on_bar_batch)
        self._malformed = MalformedReporter(log)
        self._direct = (
            DirectFrames(self._player, self.symbols, all_tickers=all_tickers,
                         batch=on_tick_batch is not None,
                         arrays=self._on_tick_arrays is not None)
            if direct else None
        )
        self._usual = (
            UsualMinute(self._player, self._direct, self._validator)
            if usual and self._direct is not None and self._direct.plain_symbols
            and self._on_tick_arrays is not None and all_tickers
            and on_bar_batch is not None else None
        )
        self.messages = self.dropped_rows = 0
        self.usual_minutes = 0  # minutes played whole by `_usual` (tickers and klines)
        self.finished = False  # the source ran out

    # ------------------------------------------------------------------ public

    @property
    def now_ms(self) -> int:
        """The simulator's clock: the close of the last played minute (its open at start)."""
        return self._player.now_ms

    @property
    def instruments(self) -> list[Instrument]:
        """Trading rules of the followed symbols as the daemon gets them: `exchangeInfo`
        serialized and parsed back (so Decimals carry the same exponents, "0.01000000")."""
        body = orjson.loads(
            orjson.dumps(protocol.exchange_info(self._player.instruments, self.now_ms))
        )
        parsed = parse_exchange_info(body, trading_only=True)
        return [i for i in parsed if i.symbol in self._symbol_set]

    @property
    def invalid(self) -> int:
        """Ticks, bars and rows dropped as impossible (exchange/feeds/sanity.py)."""
        return self._validator.total

    @property
    def malformed(self) -> int:
        """Frames skipped as malformed (always 0 unless the simulator has a bug)."""
        return self._malformed.count

    def backfill(self, minutes: int) -> None:
        """Deliver, per symbol, the closed bars of the `minutes` before now (or since the
        last delivered bar) through `on_history` in one BarHistory, oldest first (bar by bar
        through `on_bar` without `on_history`), exactly as `BinanceFeed`'s REST backfill."""
        if minutes < 0:
            raise ValueError("backfill minutes must be >= 0")
        symbols = self.symbols
        if minutes == 0:  # no window: only resume symbols that already have bars
            symbols = [s for s in symbols if s in self._sequencer.last_bar_ms]
        now_ms = self.now_ms
        window_start_ms = now_ms - minutes * MINUTE_MS
        for symbol in symbols:
            last = self._sequencer.last_bar_ms.get(symbol)
            start_ms = window_start_ms if last is None else last + MINUTE_MS
            if start_ms + MINUTE_MS > now_ms:
                continue
            self._sequencer.deliver(self._fetch_klines(symbol, start_ms, now_ms), bulk=True)

    def play_minute(self) -> int | None:
        """Play the next market minute through the callbacks: every frame the simulator
        publishes for the followed streams, serialized, parsed and dispatched like a
        websocket message. Returns the minute's open time, or None once the source is
        exhausted (then and after, nothing is delivered)."""
        if self.finished:
            return None
        data = self._source.advance()
        if data is None:
            self.finished = True
            return None
        usual = self._usual
        if usual is not None:
            arrays = usual.tickers(data)
            if arrays is not None:  # admitted by the edge already (`_deliver_arrays`)
                self.messages += len(arrays)
                call_consumer(self._on_tick_arrays, arrays)  # type: ignore[arg-type]
                close_ms, bars = usual.close(data, arrays.symbols)
                if bars is None:  # a kline that is not plain: the direct path's klines
                    symbols, followed, _ = self._direct.columns_of(  # type: ignore[union-attr]
                        data.bars.index)
                    self._play_direct(self._direct.klines(  # type: ignore[union-attr]
                        close_ms, data, symbols, followed))
                    return data.bars.open_ms
                self.messages += 1
                sequencer = self._sequencer
                # `_deliver_bars` with the rows' values judged already (the kernel did
                # `admit_bar_batch`'s value checks): the sequence, then the time check.
                if (sequencer.continues(bars)
                        and self._validator.time_problem(bars.close_ms, close_ms, bar=True)
                        is None):
                    validator = self._validator
                    validator.newest_ms = max(validator.newest_ms, bars.close_ms)
                    sequencer.deliver_batch(bars)
                    self.usual_minutes += 1
                else:
                    self._deliver(Dispatched(events=tuple(bars.bars())), close_ms)
                return data.bars.open_ms
        if self._direct is not None:
            self._play_direct(self._direct.play(data))
            return data.bars.open_ms
        frames = self._player.play(
            data, self._streams.__contains__, during=self._during.__contains__
        )
        batch = self._on_tick_batch is not None
        for market_ms, stream, payload in frames:
            raw = protocol.combined(stream, orjson.dumps(payload))
            self._handle(raw, market_ms, batch)
        return data.bars.open_ms

    def _play_direct(self, frames: Iterator[FrameOut]) -> None:
        """Deliver the direct path's frames, each as the wire path would deliver it."""
        batch = self._on_tick_batch is not None
        validator, on_tick_batch = self._validator, self._on_tick_batch
        for market_ms, frame in frames:
            if isinstance(frame, TickBatch):  # `_deliver` of a whole good array, inline
                self.messages += 1
                rows = validator.admit_batch(frame, market_ms)
                if rows is not None:
                    call_consumer(on_tick_batch, rows)  # type: ignore[arg-type]
            elif isinstance(frame, Dispatched):
                self.messages += 1
                self._deliver(frame, market_ms)
            elif isinstance(frame, BarBatch):
                self.messages += 1
                self._deliver_bars(frame, market_ms)
            elif isinstance(frame, TickArrays):
                self._deliver_arrays(frame)
            else:  # a frame the parser would refuse: the wire way, reported as such
                self._handle(frame, market_ms, batch)

    def run(self, max_minutes: int | None = None) -> int:
        """Play minutes until the source runs out (or `max_minutes`); returns how many."""
        played = 0
        while (max_minutes is None or played < max_minutes) and self.play_minute() is not None:
            played += 1
        return played

    # ------------------------------------------------------------------ messages

    def _handle(self, raw: bytes, ts_recv: int, batch: bool) -> None:
        """What `BinanceFeed._handle` does with one websocket message, minus the socket."""
        self.messages += 1
        try:
            frame = dispatch(raw, ts_recv, self._symbol_set, batch=batch)
        except MalformedFrame as exc:
            self._malformed.report(exc.reason, raw)
            return
        self._deliver(frame, ts_recv)

    def _deliver(self, frame: Dispatched, ts_recv: int) -> None:
        """What a feed does with a dispatched frame: the edge's checks, then the callbacks."""
        self.dropped_rows += frame.dropped
        rows, events, _ = screen(self._validator, frame.batch, frame.events, ts_recv,
                                     frame.dropped)
        if rows is not None:
            call_consumer(self._on_tick_batch, rows)  # type: ignore[arg-type]
        for event in events:
            if isinstance(event, Tick):
                call_consumer(self._on_tick, event)
            else:
                self._accept_live_bar(event)

    def _deliver_bars(self, batch: BarBatch, ts_recv: int) -> None:
        """A minute's good closed klines: judged, sequenced and delivered as one batch when
        the consumer takes batches, every row is its symbol's next minute and every row
        passes the edge's checks; otherwise exactly as the Bars they are, one by one (a gap
        to fill, a duplicate or an invalid row is then handled, counted and reported as on
        the wire path)."""
        if (self._sequencer.takes_batches and self._sequencer.continues(batch)
                and self._validator.admit_bar_batch(batch, ts_recv)):
            self._sequencer.deliver_batch(batch)
            return
        self._deliver(Dispatched(events=tuple(batch.bars())), ts_recv)

    def _deliver_arrays(self, arrays: TickArrays) -> None:
        """A minute's whole, good ticker arrays: judged by the edge in one call and
        delivered as one TickArrays when every row passes; otherwise array by array, each
        at its own time, exactly as the TickBatches they are."""
        self.messages += len(arrays)
        if self._validator.admit_arrays(arrays):
            call_consumer(self._on_tick_arrays, arrays)  # type: ignore[arg-type]
            return
        for j, ts in enumerate(arrays.ts_event.tolist()):
            rows = self._validator.admit_batch(arrays.batch(j), ts)
            if rows is not None:
                call_consumer(self._on_tick_batch, rows)  # type: ignore[arg-type]

    def _accept_live_bar(self, bar: Bar) -> None:
        """Once and in order per symbol; skipped minutes are filled from klines first."""
        last = self._sequencer.last_bar_ms.get(bar.symbol)
        if last is not None and bar.open_ms <= last:
            return
        if last is not None and bar.open_ms > last + MINUTE_MS:
            history = self._fetch_klines(bar.symbol, last + MINUTE_MS, bar.open_ms)
            self._sequencer.deliver(history, bulk=False, gap_fill=True)
        self._sequencer.deliver_bar(bar)

    # ------------------------------------------------------------------ bars over "REST"

    def _fetch_klines(self, symbol: str, start_ms: int, end_ms: int) -> BarHistory:
        """`binance_rest.fetch_klines` against the simulator's `/api/v3/klines`, without
        HTTP: same request parameters and paging, same JSON bytes, same parser (on the
        direct path, what they would give: `_klines_direct`)."""
        index = self._index[symbol]
        if self._direct is not None:
            return self._klines_direct(symbol, index, start_ms, end_ms)
        pages: list[BarHistory] = []
        cursor = start_ms
        while cursor < end_ms:
            rows: Any = orjson.loads(
                orjson.dumps(self._player.kline_rows(index, cursor, end_ms - 1, KLINES_PAGE))
            )
            page = parse_klines(rows, symbol, end_ms)
            pages.append(history_after(page, cursor - 1))
            if len(rows) < KLINES_PAGE or not len(page):
                break
            cursor = int(page.open_ms[-1]) + MINUTE_MS
        return concat_histories(symbol, pages)

    def _klines_direct(self, symbol: str, index: int, start_ms: int, end_ms: int) -> BarHistory:
        """What `_fetch_klines`' pages parse to, from the simulator's arrays: every page's
        bars at once (the pages are consecutive), each value as its 8-decimal string reads
        back (`protocol.num_parsed`), judged by the parser's own checks (MalformedFrame as
        the parser raises it). A backfill's month of klines no longer goes through ~30,000
        rows of strings (tests/unit/test_replay_direct.py holds it to the wire's)."""
        if start_ms >= end_ms:
            return concat_histories(symbol, [])
        minutes = (end_ms - start_ms) // MINUTE_MS + 1
        bars, trades = self._player.kline_arrays(index, start_ms, end_ms - 1, minutes)
        if not len(bars):
            return concat_histories(symbol, [])
        table = protocol.num_parsed(np.vstack([bars.open, bars.high, bars.low, bars.close,
                                               bars.volume, bars.quote_volume]))
        check_klines(bars.open_ms, table, trades)
        closed = bars.open_ms + (MINUTE_MS - 1) < end_ms
        o, h, low, c, v, q = (np.ascontiguousarray(column[closed]) for column in table)
        return BarHistory(symbol, bars.open_ms[closed], o, h, low, c, v, q)
