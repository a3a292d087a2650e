"""The simulated exchange's frame producer: one market minute -> Binance stream payloads.

Pure (no sockets, no clock, no asyncio), so the server and the backtester's replay feed build
their frames with the very same code: same state updates, same floats, same order. The server
waits for market time between instants and publishes to websocket clients; the replay feed
serializes the same payloads and parses them without waiting.

A minute is played as a sequence of *instants*: one per synthesized tick (at its `ts_event`),
then the close (at `open_ms + MINUTE_MS`). State moves only when an instant is played, never
before: the server waits for an instant's market time *before* playing it, so REST clients
(`/time`, `/ticker`, `/klines`) never see an instant early.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import exchange.sim.protocol as protocol
from exchange.sim.bars import MinuteData
from exchange.sim.source import MarketSource
from exchange.sim.state import MarketState, PartialBar
from model.instruments import Instrument
from model.market import MINUTE_MS, BarHistory

ALL_TICKERS_STREAM = "!ticker@arr"

Frame = tuple[str, Any]  # (stream name, JSON-ready payload)
Wanted = Callable[[str], bool]  # does anyone listen to this stream? (skip building it if not)


class MinutePlayer:
    """Owns the `MarketState` of a source's symbols and turns minutes into stream frames.

    `now_ms` is the market time of the last played instant; `closed_until_ms` is the end of
    the last closed minute (REST klines serve bars opening before it).
    """

    def __init__(self, source: MarketSource) -> None:
        self.source = source
        self.instruments: list[Instrument] = list(source.instruments)
        self.symbols: list[str] = [i.symbol for i in self.instruments]
        self.names: list[str] = [s.lower() for s in self.symbols]
        tick = np.array([float(i.tick) for i in self.instruments])
        lot = np.array([float(i.lot) for i in self.instruments])
        self.state = MarketState(
            self.symbols, source.store, tick, lot, source.spread_bps(), source.now_ms
        )
        self.now_ms: int = source.now_ms
        self.closed_until_ms: int = source.now_ms

    # -- the whole minute at once ----------------------------------------------------------
    def play(
        self, data: MinuteData, wanted: Wanted, *, during: Wanted | None = None
    ) -> Iterator[tuple[int, str, Any]]:
        """Every frame of the minute in publication order, as `(market_ms, stream, payload)`:
        each tick's frames at its ts, then the closed klines at the close. Lazy: the state
        of an instant is applied when its first frame is requested. `during`, if given,
        replaces `wanted` for the tick instants (e.g. to skip in-progress klines)."""
        during = wanted if during is None else during
        self.begin(data)
        for j, ts in enumerate(data.ticks.ts_event.tolist()):
            for stream, payload in self.tick(data, j, during):
                yield ts, stream, payload
        close_ms = self.close_ms(data)
        for stream, payload in self.close(data, wanted):
            yield close_ms, stream, payload

    # -- instant by instant (the server waits between them) --------------------------------
    def begin(self, data: MinuteData) -> None:
        """Start the minute: the 24h windows now end at its open."""
        self.state.begin_minute(data.bars)

    @staticmethod
    def close_ms(data: MinuteData) -> int:
        """Market time at which the minute closes."""
        return data.bars.open_ms + MINUTE_MS

    def move_to(self, data: MinuteData, j: int) -> int:
        """Move the market to tick j of the minute, building no frame; its market time."""
        ts = int(data.ticks.ts_event[j])
        self.now_ms = ts
        self.state.apply_tick(data.ticks, j)
        return ts

    def tick(self, data: MinuteData, j: int, wanted: Wanted) -> list[Frame]:
        """Move to tick j and build its frames, only for streams `wanted` accepts: per
        symbol bookTicker, ticker, in-progress kline; then one `!ticker@arr` of all tickers."""
        ticks = data.ticks
        ts = self.move_to(data, j)
        frames: list[Frame] = []
        all_tickers: list[dict[str, Any]] | None = [] if wanted(ALL_TICKERS_STREAM) else None
        update_id = (data.bars.open_ms // MINUTE_MS) * len(ticks.ts_event) + j
        for k, i in enumerate(data.bars.index.tolist()):
            name, symbol = self.names[i], self.symbols[i]
            if wanted(f"{name}@bookTicker"):
                frames.append(
                    (
                        f"{name}@bookTicker",
                        protocol.ws_book_ticker(
                            update_id,
                            symbol,
                            float(ticks.bid[j, k]),
                            float(ticks.bid_qty[j, k]),
                            float(ticks.ask[j, k]),
                            float(ticks.ask_qty[j, k]),
                        ),
                    )
                )
            wants_ticker = wanted(f"{name}@ticker")
            if wants_ticker or all_tickers is not None:
                payload = protocol.ws_ticker(self.state.ticker(i, k))
                if wants_ticker:
                    frames.append((f"{name}@ticker", payload))
                if all_tickers is not None:
                    all_tickers.append(payload)
            if wanted(f"{name}@kline_1m"):
                frames.append(
                    (
                        f"{name}@kline_1m",
                        protocol.ws_kline(symbol, self.state.partial_bar(k), ts, False),
                    )
                )
        if all_tickers:
            frames.append((ALL_TICKERS_STREAM, all_tickers))
        return frames

    def finish(self, data: MinuteData) -> int:
        """Close the minute, building no frame: its bars become final and REST-visible.
        Returns the close time."""
        close_ms = self.close_ms(data)
        self.state.close_minute()
        self.closed_until_ms = self.now_ms = close_ms
        return close_ms

    def finish_from_last_tick(self, data: MinuteData) -> int:
        """`move_to` the minute's last tick, then `finish`: the same state and clock, in
        fewer stores (`MarketState.close_after_last_tick`). Returns the close time."""
        close_ms = self.close_ms(data)
        self.state.close_after_last_tick(data.ticks)
        self.closed_until_ms = self.now_ms = close_ms
        return close_ms

    def close(self, data: MinuteData, wanted: Wanted) -> list[Frame]:
        """Close the minute: its bars become final and REST-visible; the closed klines."""
        close_ms = self.finish(data)
        frames: list[Frame] = []
        for k, i in enumerate(data.bars.index.tolist()):
            stream = f"{self.names[i]}@kline_1m"
            if wanted(stream):
                bar = self.state.partial_bar(k)
                frames.append((stream, protocol.ws_kline(self.symbols[i], bar, close_ms, True)))
        return frames

    # -- REST ------------------------------------------------------------------------------
    def kline_rows(
        self, index: int, start_ms: int | None, end_ms: int | None, limit: int
    ) -> list[list[Any]]:
        """Closed 1m klines of symbol `index` as `/api/v3/klines` rows (Binance semantics:
        open time within [startTime, endTime], only minutes closed so far)."""
        bars, trades, first_ids = self._kline_bars(index, start_ms, end_ms, limit)
        return [
            protocol.kline_row(
                PartialBar(
                    open_ms=int(bars.open_ms[r]),
                    open=float(bars.open[r]),
                    high=float(bars.high[r]),
                    low=float(bars.low[r]),
                    close=float(bars.close[r]),
                    volume=float(bars.volume[r]),
                    quote_volume=float(bars.quote_volume[r]),
                    trades=int(trades[r]),
                    first_id=int(first_ids[r]),
                )
            )
            for r in range(len(bars))
        ]

    def kline_arrays(
        self, index: int, start_ms: int | None, end_ms: int | None, limit: int
    ) -> tuple[BarHistory, np.ndarray]:
        """The bars and trade counts `kline_rows` formats, as arrays (the replay feed's
        direct path reads them)."""
        bars, trades, _ = self._kline_bars(index, start_ms, end_ms, limit)
        return bars, trades

    def _kline_bars(
        self, index: int, start_ms: int | None, end_ms: int | None, limit: int
    ) -> tuple[BarHistory, np.ndarray, np.ndarray]:
        end = self.closed_until_ms if end_ms is None else min(end_ms + 1, self.closed_until_ms)
        source = self.source
        bars = source.bars_before(self.symbols[index], end, limit, start_ms)
        trades, first_ids = source.store.trades_of(index, bars.open_ms)
        return bars, trades, first_ids
