"""BinanceFeed against the embedded simulated exchange over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from itertools import pairwise

import aiohttp
import pytest

from bot.config import FeedConfig, SimConfig
from exchange.feeds.binance import BinanceFeed, ConsumerError
from exchange.feeds.binance_rest import fetch_klines
from exchange.feeds.errors import ExchangeError, ExchangeRefused
from exchange.sim.server import SimExchange
from model.market import MINUTE_MS, Bar, BarHistory, Tick, TickBatch
from tests.tasks import running
from tests.waiting import async_wait_until

START_MS = 1_700_000_040_000  # on the minute
FAST_RECONNECT = {"reconnect_min_s": 0.02, "reconnect_max_s": 0.1}


class Recorder:
    """Collects what a feed delivers."""

    def __init__(self) -> None:
        self.ticks: list[Tick] = []
        self.bars: list[Bar] = []
        self.histories: list[BarHistory] = []

    def bar_opens(self) -> dict[str, list[int]]:
        """Every delivered bar's open time per symbol, in delivery order (history first)."""
        opens: dict[str, list[int]] = defaultdict(list)
        for history in self.histories:
            opens[history.symbol].extend(history.open_ms.tolist())
        for bar in self.bars:
            opens[bar.symbol].append(bar.open_ms)
        return opens


async def until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait until `predicate()` holds, polling; fail the test after `timeout_s`."""
    await async_wait_until(predicate, timeout_s)


def make_feed(
    sim: SimExchange, recorder: Recorder, *, bulk: bool = True, **config: float
) -> BinanceFeed:
    return BinanceFeed(
        sim.rest_url, sim.ws_url, sim.symbols, FeedConfig(**config),  # type: ignore[arg-type]
        on_tick=recorder.ticks.append, on_bar=recorder.bars.append,
        on_history=recorder.histories.append if bulk else None,
    )


async def server_bar_opens(sim: SimExchange, symbol: str, start_ms: int, end_ms: int) -> list[int]:
    async with aiohttp.ClientSession() as session:
        history = await fetch_klines(session, sim.rest_url, symbol, start_ms, end_ms)
    return history.open_ms.tolist()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_feed_streams_ticks_and_closed_bars_for_every_symbol() -> None:
    async def scenario() -> None:
        config = SimConfig(coins=3, speed=1200, history_days=0.2, seed=11)
        async with SimExchange(config, start_ms=START_MS) as sim:
            recorder = Recorder()
            feed = make_feed(sim, recorder, backfill_minutes=0)
            async with running(feed):
                await until(lambda: len({b.symbol for b in recorder.bars}) == 3)
                health = feed.health()
        assert {t.symbol for t in recorder.ticks} == set(sim.symbols)
        assert all(t.bid <= t.ask and t.ts_recv > 0 for t in recorder.ticks)
        assert health.connected and not health.stale and health.malformed == 0
        assert health.messages > 0 and health.bars == len(recorder.bars)

    run(scenario)


def test_backfill_warms_history_oldest_first_then_live_bars_continue_it() -> None:
    async def scenario() -> None:
        # params="": the old generator trades every minute, so the window is 600 bars and
        # contiguity shows none lost (gaps: tests/contract/test_feed_contract.py).
        config = SimConfig(coins=2, speed=600, history_days=1, seed=5, params="")
        async with SimExchange(config, start_ms=START_MS) as sim:
            recorder = Recorder()
            feed = make_feed(sim, recorder, backfill_minutes=600)
            async with running(feed):
                await until(lambda: len(recorder.bars) >= 6)
        assert sorted(h.symbol for h in recorder.histories) == sorted(sim.symbols)
        for symbol, opens in recorder.bar_opens().items():
            history = next(h for h in recorder.histories if h.symbol == symbol)
            assert len(history) >= 599  # the window, less a bar still forming at the edge
            assert all(b - a == MINUTE_MS for a, b in pairwise(opens)), symbol

    run(scenario)


def test_backfill_without_on_history_arrives_bar_by_bar_in_order() -> None:
    async def scenario() -> None:
        # params="": every minute trades, so a 120-minute window is 120 bars per symbol.
        config = SimConfig(coins=2, history_days=0.2, seed=5, params="")
        sim = SimExchange(config, start_ms=START_MS, autorun=False)
        async with sim:
            recorder = Recorder()
            feed = make_feed(sim, recorder, bulk=False, backfill_minutes=120)
            async with running(feed):
                await until(lambda: feed.health().connected)
            assert not recorder.histories and len(recorder.bars) == 2 * 120
            for symbol, opens in recorder.bar_opens().items():
                assert opens == await server_bar_opens(sim, symbol, opens[0], sim.now_ms)

    run(scenario)


def test_dropped_connections_resume_with_no_duplicated_or_missing_bars() -> None:
    """Deterministic: the market only moves when the test steps it, so minutes played while
    the feed is disconnected can only reach it through the REST gap fill."""

    async def scenario() -> None:
        config = SimConfig(coins=3, history_days=0.2, seed=9)
        sim = SimExchange(config, start_ms=START_MS, autorun=False)
        async with sim:
            recorder = Recorder()
            feed = make_feed(sim, recorder, backfill_minutes=30, stale_after_s=5, **FAST_RECONNECT)
            async with running(feed):
                await until(lambda: feed.health().connected)
                for _ in range(3):
                    await sim.step(4)  # live
                    await until(lambda: len(recorder.bars) >= 1 and recorder.bars[-1].open_ms
                                == sim.now_ms - MINUTE_MS)
                    await sim.drop_connections()
                    await sim.step(3)  # missed while down
                    await until(lambda: not feed.health().connected, timeout_s=5)
                    await until(lambda: feed.health().connected)
                await sim.step(2)
                await until(lambda: all(opens[-1] == sim.now_ms - MINUTE_MS
                                        for opens in recorder.bar_opens().values()))
                health = feed.health()
            for symbol, opens in recorder.bar_opens().items():
                assert opens == await server_bar_opens(sim, symbol, opens[0], sim.now_ms), symbol
        assert health.reconnects >= 3 and health.gaps_filled >= 3 * 3 * 3

    run(scenario)


def test_connections_dropped_while_the_market_runs_lose_no_bars() -> None:
    async def scenario() -> None:
        config = SimConfig(coins=3, speed=1500, history_days=0.2, seed=13)
        async with SimExchange(config, start_ms=START_MS) as sim:
            recorder = Recorder()
            feed = make_feed(sim, recorder, backfill_minutes=20, **FAST_RECONNECT)
            async def three_live_minutes() -> None:  # of every coin, on this connection
                since = len(recorder.bars)
                await until(lambda: len(recorder.bars) >= since + 3 * config.coins)

            async with running(feed):
                for _ in range(3):
                    await until(lambda: feed.health().connected)
                    await three_live_minutes()
                    await sim.drop_connections()
                await until(lambda: feed.health().connected)
                await three_live_minutes()
            end_ms = min(opens[-1] for opens in recorder.bar_opens().values()) + MINUTE_MS
            for symbol, opens in recorder.bar_opens().items():
                opens = [t for t in opens if t < end_ms]
                assert opens == await server_bar_opens(sim, symbol, opens[0], end_ms), symbol
            assert feed.health().reconnects >= 3

    run(scenario)


def test_an_exception_in_a_consumer_callback_ends_the_feed() -> None:
    async def scenario() -> None:
        config = SimConfig(coins=1, speed=1200, history_days=0.1, seed=3)
        async with SimExchange(config, start_ms=START_MS) as sim:
            def broken_on_bar(bar: Bar) -> None:
                raise ZeroDivisionError("consumer bug")

            feed = BinanceFeed(sim.rest_url, sim.ws_url, sim.symbols,
                               FeedConfig(backfill_minutes=0), on_tick=lambda t: None,
                               on_bar=broken_on_bar)
            with pytest.raises(ConsumerError) as raised:
                await asyncio.wait_for(feed.run(), timeout=10)
        assert isinstance(raised.value.__cause__, ZeroDivisionError)

    run(scenario)


def test_all_tickers_stream_arrives_as_column_batches_of_our_symbols_only() -> None:
    async def scenario() -> None:
        config = SimConfig(coins=5, speed=1200, history_days=0.1, seed=17)
        async with SimExchange(config, start_ms=START_MS) as sim:
            ours = sim.symbols[:3]
            batches: list[TickBatch] = []
            ticks: list[Tick] = []
            feed = BinanceFeed(sim.rest_url, sim.ws_url, ours, FeedConfig(backfill_minutes=0),
                               on_tick=ticks.append, on_bar=lambda bar: None,
                               on_tick_batch=batches.append, all_tickers=True)
            async with running(feed):
                await until(lambda: len(batches) >= 5)
        assert not ticks
        assert all(set(b.symbols) <= set(ours) and len(b) > 0 for b in batches)
        assert {s for b in batches for s in b.symbols} == set(ours)
        assert all((b.bid <= b.ask).all() and b.last.dtype.kind == "f" for b in batches)

    run(scenario)


def test_fetch_klines_pages_past_1000_bars_and_reports_binance_errors() -> None:
    async def scenario() -> None:
        # params="": every minute has a bar, so 2,500 minutes are 2,500 bars over 3 pages.
        config = SimConfig(coins=1, history_days=2, seed=21, params="")
        async with SimExchange(config, start_ms=START_MS, autorun=False) as sim:
            symbol, end_ms = sim.symbols[0], sim.now_ms
            async with aiohttp.ClientSession() as session:
                history = await fetch_klines(session, sim.rest_url, symbol,
                                             end_ms - 2_500 * MINUTE_MS, end_ms)
                with pytest.raises(ExchangeError) as raised:
                    await fetch_klines(
                        session, sim.rest_url, "NOSUCHCOIN", end_ms - 600_000, end_ms
                    )
        assert len(history) == 2_500
        assert (history.open_ms[1:] - history.open_ms[:-1] == MINUTE_MS).all()
        assert history.open_ms[-1] + MINUTE_MS == end_ms  # every closed bar, none forming
        assert (raised.value.http_status, raised.value.code) == (400, -1121)
        assert isinstance(raised.value, ExchangeRefused)  # stop: a retry cannot help

    run(scenario)
