"""Binance spot market data feed: REST backfill, websocket stream, reconnect, gap fill.

`BinanceFeed.run()` owns its tasks and runs until cancelled:

1. backfill `config.backfill_minutes` of closed 1m bars per symbol over REST (bounded
   concurrency), delivered oldest first through `on_history` (or `on_bar` one by one);
2. connect to `<ws_url>/stream` (combined streams), SUBSCRIBE `<sym>@ticker` and
   `<sym>@kline_1m` in chunks (Binance: at most 5 incoming messages/s, 1024 streams per
   connection, so symbols are sharded over connections of at most 511 symbols);
3. REST-fetch the bars missed since the last delivered one, then stream; a live bar that
   skips minutes triggers the same gap fill first. Bars therefore reach `on_bar` exactly
   once and in order per symbol, whatever the connection does;
4. on any network or protocol failure, reconnect with exponential backoff and jitter.

Malformed frames are counted and skipped (logged rate-limited, never in full). Exceptions
raised by the consumer's callbacks are bugs in the consumer: they end `run()` as a
`ConsumerError` whose `__cause__` is the original exception, and are never retried.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidURI

from exchange.feeds.binance_parse import dispatch
from exchange.feeds.binance_rest import fetch_klines, fetch_server_time
from exchange.feeds.common import (
    BarSequencer,
    ConsumerError,
    FeedHealth,
    MalformedReporter,
    RateMeter,
    call_consumer,
    describe,
    edge_validator,
    first_leaf,
    invalid_counts,
    screen,
    wall_clock_ms,
)
from exchange.feeds.errors import ExchangeError, MalformedFrame
from exchange.feeds.sanity_rules import PriceBounds
from exchange.feeds.stream_base import RECOVERABLE, FeedSettings, StreamFeedBase
from exchange.heap_trim import release_free_heap
from model.errors import TemporaryError
from model.market import MINUTE_MS, Bar, BarHistory, Tick, TickBatch

__all__ = ["BinanceFeed", "ConsumerError", "FeedHealth", "subscription_streams"]

log = logging.getLogger(__name__)

MAX_STREAMS_PER_CONNECTION = 1024
STREAMS_PER_SYMBOL = 2  # @ticker and @kline_1m
SUBSCRIBE_CHUNK = 200  # streams per SUBSCRIBE message
SUBSCRIBE_INTERVAL_S = 0.25  # 4 control messages/s, under Binance's 5/s limit
REST_CONCURRENCY = 6
MAX_FRAME_BYTES = 8 * 2**20  # a full-market !ticker@arr is about 1 MB


def subscription_streams(symbols: list[str], all_tickers: bool, *, first: bool = True) -> list[str]:
    """Per symbol `@ticker` and `@kline_1m`; with all_tickers, one `!ticker@arr` (on the
    first connection) replaces the per-symbol tickers. Shared with the replay feed."""
    kinds = ("kline_1m",) if all_tickers else ("ticker", "kline_1m")
    streams = [f"{s.lower()}@{kind}" for s in symbols for kind in kinds]
    return (["!ticker@arr"] if all_tickers and first else []) + streams


class BinanceFeed(StreamFeedBase):
    """Market data for a list of symbols from a Binance-protocol exchange (real or sim)."""

    def __init__(
        self,
        rest_url: str,
        ws_url: str,
        symbols: list[str],
        config: FeedSettings,
        *,
        on_tick: Callable[[Tick], None],
        on_bar: Callable[[Bar], None],
        on_history: Callable[[BarHistory], None] | None = None,
        on_tick_batch: Callable[[TickBatch], None] | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
        all_tickers: bool = False,
        price_bounds: Mapping[str, PriceBounds] | None = None,
    ) -> None:
        """`symbols` are exchange ids ("BTCUSDT"). `on_history` receives each symbol's
        backfill in one BarHistory (without it, backfilled bars go through `on_bar`).
        `on_tick_batch` receives ticker-array frames as columns instead of one `on_tick` per
        row. `clock_ms` stamps `ts_recv`. `all_tickers=True` subscribes one `!ticker@arr`
        instead of a ticker stream per symbol (the simulator serves it; Binance has dropped
        it from its current documentation, so leave it off against the real exchange).
        `price_bounds` (sanity.bounds_of(instruments)) adds the instruments' price rules to
        the feed edge's checks (exchange/feeds/sanity.py)."""
        if not symbols:
            raise ValueError("BinanceFeed needs at least one symbol")
        self._rest_url = rest_url.rstrip("/")
        self._ws_url = ws_url.rstrip("/")
        self._symbols = list(dict.fromkeys(s.upper() for s in symbols))
        self._symbol_set = frozenset(self._symbols)
        self._config = config
        self._on_tick, self._on_tick_batch = on_tick, on_tick_batch
        self._clock_ms = clock_ms
        self._validator = edge_validator(log, config.backfill_minutes, price_bounds)
        self._sequencer = BarSequencer(on_bar, on_history, self._validator, clock_ms)
        self._all_tickers = all_tickers
        # One stream slot kept free for !ticker@arr on the first connection.
        per_connection = (MAX_STREAMS_PER_CONNECTION - 1) // STREAMS_PER_SYMBOL
        self._shards = [
            self._symbols[i : i + per_connection]
            for i in range(0, len(self._symbols), per_connection)
        ]
        self._connected: set[int] = set()
        self._session: aiohttp.ClientSession | None = None
        self._random = random.Random()
        self._messages = self._control_messages = self._reconnects = 0
        self._dropped_rows = 0
        self._last_message_s = time.monotonic()
        self._ever_received = False
        self._stale = False
        self._rate = RateMeter()
        self._malformed = MalformedReporter(log)

    # ------------------------------------------------------------------ public

    async def run(self) -> None:
        """Backfill, then stream and reconnect forever; returns only by cancellation or by
        raising (an ExchangeRefused, a bad URL, or a ConsumerError)."""
        async with aiohttp.ClientSession() as session:
            self._session = session
            try:
                await self._retrying("backfill", self._backfill)
                release_free_heap()  # the backfill's parsed pages are garbage now
                self._last_message_s = time.monotonic()  # staleness counts from streaming
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._watch_staleness())
                    for index, shard in enumerate(self._shards):
                        group.create_task(self._connection_loop(index, shard))
            except BaseExceptionGroup as failure:
                raise first_leaf(failure)  # noqa: B904  as is: `from` would overwrite its __cause__
            finally:
                self._connected.clear()
                self._session = None

    def health(self) -> FeedHealth:
        """Current connection state and counters."""
        now = time.monotonic()
        age = now - self._last_message_s if self._ever_received else float("inf")
        return FeedHealth(
            connected=len(self._connected) == len(self._shards),
            stale=self._is_stale(now),
            msgs_per_s=self._rate.per_second(now),
            messages=self._messages,
            malformed=self._malformed.count,
            reconnects=self._reconnects,
            last_message_age_s=age,
            bars=self._sequencer.bars,
            gaps_filled=self._sequencer.gaps_filled,
            dropped_rows=self._dropped_rows,
            control_messages=self._control_messages,
            invalid=self._validator.total,
            invalid_by_reason=invalid_counts(self._validator),
        )

    # ------------------------------------------------------------------ connection

    async def _connection_loop(self, index: int, symbols: list[str]) -> None:
        attempt = 0
        while True:
            received = [0]  # messages on this connection; any at all resets the backoff
            try:
                async with self._connect() as websocket:
                    await self._subscribe(websocket, self._streams(index, symbols))
                    await self._catch_up(symbols, gap_fill=True)
                    self._connected.add(index)
                    log.info("feed connection %d up: %d symbols", index, len(symbols))
                    await self._stream(websocket, received)
            except TemporaryError as exc:
                log.warning("feed connection %d: %s", index, exc)
            except InvalidURI:
                raise
            except RECOVERABLE as exc:
                log.warning("feed connection %d lost: %s", index, describe(exc))
            finally:
                self._connected.discard(index)
            attempt = 0 if received[0] else attempt + 1
            delay_s = self._backoff_s(attempt)
            self._reconnects += 1
            log.info("feed connection %d: reconnecting in %.2f s", index, delay_s)
            await asyncio.sleep(delay_s)

    def _connect(self) -> Any:
        return connect(
            f"{self._ws_url}/stream",
            ping_interval=self._config.ping_interval_s,
            ping_timeout=self._config.ping_interval_s,
            open_timeout=10,
            close_timeout=2,
            max_size=MAX_FRAME_BYTES,
            compression=None,
            proxy=None,
        )

    def _streams(self, index: int, symbols: list[str]) -> list[str]:
        """Connection `index`'s streams (see `subscription_streams`)."""
        return subscription_streams(symbols, self._all_tickers, first=index == 0)

    async def _subscribe(self, websocket: ClientConnection, streams: list[str]) -> None:
        """SUBSCRIBE in chunks, paced under Binance's 5 incoming messages per second."""
        for request_id, start in enumerate(range(0, len(streams), SUBSCRIBE_CHUNK), start=1):
            if request_id > 1:
                await asyncio.sleep(SUBSCRIBE_INTERVAL_S)
            chunk = streams[start : start + SUBSCRIBE_CHUNK]
            message = {"method": "SUBSCRIBE", "params": chunk, "id": request_id}
            await websocket.send(orjson.dumps(message).decode())

    # ------------------------------------------------------------------ messages

    async def _handle(self, raw: str | bytes) -> bool:
        ts_recv = self._clock_ms()
        try:
            frame = dispatch(
                raw, ts_recv, self._symbol_set, batch=self._on_tick_batch is not None
            )
        except MalformedFrame as exc:
            self._malformed.report(exc.reason, raw)
            return False
        if frame.control:  # a SUBSCRIBE reply: the connection is up, the market may not be
            self._note_control()
            if frame.refused is not None:
                log.error("exchange refused a control request: %s", frame.refused)
            return False
        self._dropped_rows += frame.dropped
        batch, events, valid = screen(self._validator, frame.batch, frame.events, ts_recv,
                                       frame.dropped)
        if not valid:  # only impossible values: no market data, the feed may go stale
            return False
        self._note_market()
        if batch is not None:
            call_consumer(self._on_tick_batch, batch)  # type: ignore[arg-type]
        for event in events:
            if isinstance(event, Tick):
                call_consumer(self._on_tick, event)
            else:
                await self._accept_live_bar(event)
        return True

    async def _accept_live_bar(self, bar: Bar) -> None:
        """Deliver a live closed bar exactly once, in order, filling any skipped minutes
        from REST first (a missed kline message must not become a missing bar)."""
        last = self._sequencer.last_bar_ms.get(bar.symbol)
        if last is not None and bar.open_ms <= last:
            return  # already delivered (REST gap fill or a repeated message)
        if last is not None and bar.open_ms > last + MINUTE_MS:
            history = await fetch_klines(
                self._http(), self._rest_url, bar.symbol, last + MINUTE_MS, bar.open_ms
            )
            self._sequencer.deliver(history, bulk=False, gap_fill=True)
        self._sequencer.deliver_bar(bar)

    # ------------------------------------------------------------------ bars over REST

    async def _backfill(self) -> None:
        if self._config.backfill_minutes > 0:
            await self._catch_up(self._symbols, gap_fill=False)

    async def _catch_up(self, symbols: list[str], *, gap_fill: bool) -> None:
        """Fetch and deliver, per symbol, the closed bars after the last delivered one (or
        the backfill window), up to the exchange's current time; REST_CONCURRENCY at once."""
        if self._config.backfill_minutes == 0:
            symbols = [s for s in symbols if s in self._sequencer.last_bar_ms]
        if not symbols:
            return  # nothing to resume from and no window to fill: no REST call at all
        now_ms = await self._exchange_now_ms()
        self._validator.observe_time(now_ms)  # a fast simulator may be ahead of our clock
        window_start_ms = now_ms - self._config.backfill_minutes * MINUTE_MS
        limit = asyncio.Semaphore(REST_CONCURRENCY)

        async def one(symbol: str) -> None:
            last = self._sequencer.last_bar_ms.get(symbol)
            start_ms = window_start_ms if last is None else last + MINUTE_MS
            if start_ms + MINUTE_MS > now_ms:
                return
            async with limit:
                history = await fetch_klines(self._http(), self._rest_url, symbol, start_ms, now_ms)
            self._sequencer.deliver(history, bulk=not gap_fill, gap_fill=gap_fill)

        try:
            async with asyncio.TaskGroup() as group:
                for symbol in symbols:
                    group.create_task(one(symbol))
        except BaseExceptionGroup as failure:
            raise first_leaf(failure)  # noqa: B904  as is: `from` would overwrite its __cause__

    async def _exchange_now_ms(self) -> int:
        """The exchange's clock (a simulator's runs at its own speed); our clock if the
        server has no /api/v3/time."""
        try:
            return await fetch_server_time(self._http(), self._rest_url)
        except ExchangeError as exc:
            if exc.http_status != 404:
                raise
            return self._clock_ms()


    # ------------------------------------------------------------------ timing

    async def _watch_staleness(self) -> None:
        period_s = min(1.0, self._config.stale_after_s / 4)
        while True:
            await asyncio.sleep(period_s)
            self._update_stale(time.monotonic())
