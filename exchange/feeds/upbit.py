"""Upbit market data feed: REST candle backfill, websocket stream, reconnect, gap fill.

Same contract as `BinanceFeed` (same callbacks, `health()`, errors), so the daemon and the
engine do not care which exchange they watch. `UpbitFeed.run()` owns its tasks:

1. backfill `config.backfill_minutes` of closed 1m candles per market over REST (paced under
   Upbit's 10 requests/s), delivered oldest first through `on_history`;
2. connect to `<ws_url>` (Upbit: `wss://api.upbit.com/websocket/v1`), send one subscription
   (ticker, trade, orderbook; SIMPLE or DEFAULT format) for every market and a text PING
   (its `{"status": "UP"}` answers are control frames, never fresh market data), and parse
   the binary frames: ticks from `TickAssembler`, 1m bars from `TradeBarBuilder`;
3. bars reach `on_bar` exactly once and in order per market (`BarSequencer`). A minute the
   connection did not watch from its start (the one in progress at connect) is never built
   from trades: the next live bar sees the gap and fetches it from REST candles, as do
   minutes missed while disconnected;
4. on any network or protocol failure, reconnect with exponential backoff and jitter; a
   connection without market data is reconnected after `SILENT_RECONNECT_FACTOR` stale
   periods.

Malformed frames are counted and skipped. Consumer exceptions end `run()` as ConsumerError.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidURI

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
    wall_clock_ms,
)
from exchange.feeds.errors import MalformedFrame
from exchange.feeds.sanity_rules import PriceBounds
from exchange.feeds.stream_base import RECOVERABLE, FeedSettings, StreamFeedBase
from exchange.feeds.upbit_parse import (
    TickAssembler,
    TradeBarBuilder,
    UpbitBook,
    UpbitRefused,
    UpbitStatus,
    UpbitTicker,
    UpbitTrade,
    minute_after,
    parse_message,
    subscription_request,
)
from exchange.feeds.upbit_rest import RequestPacer, fetch_candles, fetch_ticker_prices
from exchange.heap_trim import release_free_heap
from model.errors import TemporaryError
from model.market import MINUTE_MS, Bar, BarHistory, Tick

__all__ = ["ConsumerError", "FeedHealth", "UpbitFeed"]

log = logging.getLogger(__name__)

REST_CONCURRENCY = 4
UPBIT_REQUEST_INTERVAL_S = 0.11  # quotation REST: 10 requests/s per IP
MAX_FRAME_BYTES = 2**20
BAR_CLOSE_LAG_MS = 2_000  # close other markets' bars this long after the minute ends
# Upbit answers a text PING with {"status": "UP"} (and keeps repeating it every ~10 s): the
# subscription's reply, as Binance's {"result": null} is. A control frame, not market data.
STATUS_REQUEST = "PING"


class UpbitFeed(StreamFeedBase):
    """Market data for a list of Upbit markets ("KRW-BTC") from Upbit or the simulator."""

    FEED_NAME = "upbit feed"

    def __init__(
        self,
        rest_url: str,
        ws_url: str,
        codes: list[str],
        config: FeedSettings,
        *,
        on_tick: Callable[[Tick], None],
        on_bar: Callable[[Bar], None],
        on_history: Callable[[BarHistory], None] | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
        fmt: str = "SIMPLE",
        request_interval_s: float = UPBIT_REQUEST_INTERVAL_S,
        price_bounds: Mapping[str, PriceBounds] | None = None,
    ) -> None:
        """`ws_url` is the full websocket endpoint. `fmt` picks Upbit's SIMPLE or DEFAULT
        message format. `request_interval_s` paces REST (0 against the local simulator)."""
        if not codes:
            raise ValueError("UpbitFeed needs at least one market code")
        self._rest_url = rest_url.rstrip("/")
        self._ws_url = ws_url
        self._codes = list(dict.fromkeys(c.upper() for c in codes))
        self._code_set = frozenset(self._codes)
        self._config = config
        self._on_tick = on_tick
        self._clock_ms = clock_ms
        self._validator = edge_validator(log, config.backfill_minutes, price_bounds)
        self._sequencer = BarSequencer(on_bar, on_history, self._validator, clock_ms)
        self._request = subscription_request(str(uuid.uuid4()), self._codes, fmt=fmt)
        self._pacer = RequestPacer(request_interval_s)
        self._ticks = TickAssembler()
        self._bars = TradeBarBuilder()
        self._watch_from_ms = 0  # bars of minutes before this come from REST, not trades
        self._exchange_ms = 0  # newest exchange time seen in a message
        self._exchange_seen_s = time.monotonic()
        self._connected = False
        self._session: aiohttp.ClientSession | None = None
        self._random = random.Random()
        self._messages = self._control_messages = self._reconnects = 0
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
                self._last_message_s = time.monotonic()
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._watch_clock())
                    group.create_task(self._connection_loop())
            except BaseExceptionGroup as failure:
                raise first_leaf(failure)  # noqa: B904  as is: `from` would overwrite its __cause__
            finally:
                self._connected = False
                self._session = None

    def health(self) -> FeedHealth:
        """Current connection state and counters."""
        now = time.monotonic()
        age = now - self._last_message_s if self._ever_received else float("inf")
        return FeedHealth(
            connected=self._connected,
            stale=self._is_stale(now),
            msgs_per_s=self._rate.per_second(now),
            messages=self._messages,
            malformed=self._malformed.count,
            reconnects=self._reconnects,
            last_message_age_s=age,
            bars=self._sequencer.bars,
            gaps_filled=self._sequencer.gaps_filled,
            dropped_rows=self._bars.late_trades,
            control_messages=self._control_messages,
            invalid=self._validator.total,
            invalid_by_reason=invalid_counts(self._validator),
        )

    # ------------------------------------------------------------------ connection

    async def _connection_loop(self) -> None:
        attempt = 0
        while True:
            received = [0]
            try:
                async with self._connect() as websocket:
                    await websocket.send(orjson.dumps(self._request).decode())
                    await websocket.send(STATUS_REQUEST)  # answered after the subscription
                    self._bars.discard_open()
                    now_ms = await self._catch_up(gap_fill=True)
                    self._watch_from_ms = minute_after(now_ms)
                    self._connected = True
                    log.info("upbit feed up: %d markets", len(self._codes))
                    await self._stream(websocket, received)
            except TemporaryError as exc:
                log.warning("upbit feed: %s", exc)
            except InvalidURI:
                raise
            except RECOVERABLE as exc:
                log.warning("upbit feed connection lost: %s", describe(exc))
            finally:
                self._connected = False
            attempt = 0 if received[0] else attempt + 1
            delay_s = self._backoff_s(attempt)
            self._reconnects += 1
            log.info("upbit feed: reconnecting in %.2f s", delay_s)
            await asyncio.sleep(delay_s)

    def _connect(self) -> Any:
        return connect(
            self._ws_url,
            ping_interval=self._config.ping_interval_s,
            ping_timeout=self._config.ping_interval_s,
            open_timeout=10,
            close_timeout=2,
            max_size=MAX_FRAME_BYTES,
            compression=None,
            proxy=None,
        )

    # ------------------------------------------------------------------ messages

    async def _handle(self, raw: str | bytes) -> bool:
        ts_recv = self._clock_ms()
        try:
            event = parse_message(raw)
        except MalformedFrame as exc:
            self._malformed.report(exc.reason, raw)
            return False
        if isinstance(event, (UpbitStatus, UpbitRefused)):  # the connection speaks, not the market
            self._note_control()
            if isinstance(event, UpbitRefused):
                log.error("upbit refused the subscription: %s: %s", event.name, event.message)
            return False
        if event.code in self._code_set and not self._admit(event, ts_recv):
            return False  # impossible values are no market data (exchange/feeds/sanity.py)
        self._note_market()
        if event.code not in self._code_set:
            return True
        self._advance_clock(event.ts_event)
        # A market's own trades arrive in order, so its next-minute trade closes its bar at
        # once; other message kinds and markets may lag a little, so they close bars late.
        bars = self._bars.add(event) if isinstance(event, UpbitTrade) else []
        bars.extend(self._bars.close_before(event.ts_event - BAR_CLOSE_LAG_MS))
        for bar in bars:
            await self._accept_live_bar(bar)
        if isinstance(event, (UpbitTicker, UpbitTrade, UpbitBook)):
            tick = self._ticks.apply(event, ts_recv)
            if tick is not None:
                call_consumer(self._on_tick, tick)
        return True

    def _admit(self, event: UpbitTicker | UpbitTrade | UpbitBook, ts_recv: int) -> bool:
        """Judge a market message before it moves the exchange clock or a bar: a trade
        stamped 2099 would otherwise close every bar up to then."""
        now_ms = max(ts_recv, self._exchange_ms)
        if isinstance(event, UpbitTrade):
            return self._validator.admit_values(event.code, event.ts_event, now_ms,
                                                prices=(event.price,), amounts=(event.volume,))
        if isinstance(event, UpbitBook):  # the parser refuses a crossed book
            return self._validator.admit_values(
                event.code, event.ts_event, now_ms, prices=(event.bid, event.ask),
                amounts=(event.bid_qty, event.ask_qty))
        return self._validator.admit_values(
            event.code, event.ts_event, now_ms, prices=(event.last,),
            amounts=(event.base_volume_24h, event.quote_volume_24h))

    async def _accept_live_bar(self, bar: Bar) -> None:
        """Deliver a trade-built bar once, in order; skipped minutes come from REST first,
        and a minute not watched from its start is left for REST (see the module doc)."""
        if bar.open_ms < self._watch_from_ms:
            return
        last = self._sequencer.last_bar_ms.get(bar.symbol)
        if last is not None and bar.open_ms <= last:
            return
        gap_start = self._watch_from_ms - MINUTE_MS if last is None else last + MINUTE_MS
        if bar.open_ms > gap_start:
            history = await fetch_candles(self._http(), self._rest_url, bar.symbol,
                                          gap_start, bar.open_ms, self._pacer)
            self._sequencer.deliver(history, bulk=False, gap_fill=True)
        self._sequencer.deliver_bar(bar)

    def _advance_clock(self, ts_ms: int) -> None:
        if ts_ms > self._exchange_ms:
            self._exchange_ms, self._exchange_seen_s = ts_ms, time.monotonic()

    # ------------------------------------------------------------------ bars over REST

    async def _backfill(self) -> None:
        if self._config.backfill_minutes > 0:
            await self._catch_up(gap_fill=False)

    async def _catch_up(self, *, gap_fill: bool) -> int:
        """Fetch and deliver each market's closed candles after its last delivered bar (or
        the backfill window) up to the exchange's clock; returns that clock (epoch ms)."""
        _, now_ms = await fetch_ticker_prices(self._http(), self._rest_url, self._codes[:1],
                                              self._pacer)
        now_ms = now_ms or self._clock_ms()
        self._validator.observe_time(now_ms)  # a fast simulator may be ahead of our clock
        codes = self._codes
        if self._config.backfill_minutes == 0:
            codes = [c for c in codes if c in self._sequencer.last_bar_ms]
        window_start_ms = now_ms - self._config.backfill_minutes * MINUTE_MS
        limit = asyncio.Semaphore(REST_CONCURRENCY)

        async def one(code: str) -> None:
            last = self._sequencer.last_bar_ms.get(code)
            start_ms = window_start_ms if last is None else last + MINUTE_MS
            if start_ms + MINUTE_MS > now_ms:
                return
            async with limit:
                history = await fetch_candles(self._http(), self._rest_url, code, start_ms,
                                              now_ms, self._pacer)
            self._sequencer.deliver(history, bulk=not gap_fill, gap_fill=gap_fill)

        try:
            async with asyncio.TaskGroup() as group:
                for code in codes:
                    group.create_task(one(code))
        except BaseExceptionGroup as failure:
            raise first_leaf(failure)  # noqa: B904  as is: `from` would overwrite its __cause__
        return now_ms

    # ------------------------------------------------------------------ timing

    async def _watch_clock(self) -> None:
        """Staleness, and closing bars of quiet markets once the exchange clock (last seen
        exchange time plus the wall time since) has left their minute."""
        period_s = min(1.0, self._config.stale_after_s / 4)
        while True:
            await asyncio.sleep(period_s)
            now = time.monotonic()
            self._update_stale(now)
            if self._exchange_ms and self._connected:
                estimate_ms = self._exchange_ms + int((now - self._exchange_seen_s) * 1000)
                for bar in self._bars.close_before(estimate_ms - BAR_CLOSE_LAG_MS):
                    await self._accept_live_bar(bar)
