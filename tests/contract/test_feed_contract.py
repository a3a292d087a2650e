"""The feed contract, once for every feed: subscribe, reconnect, malformed frame.

Each feed runs against the simulator over real sockets on 127.0.0.1 (see harness.py).
"""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest

from bot.config import SimConfig
from exchange.sim.server import SimExchange
from model.market import MINUTE_MS
from tests.contract.harness import FEEDS, FeedHarness, FeedRecorder, until
from tests.tasks import running

START_MS = 1_700_000_040_000
MARKET = SimConfig(coins=6, speed=1200, history_days=0.1, seed=21)


@pytest.fixture(params=sorted(FEEDS))
def feed_kind(request: pytest.FixtureRequest) -> FeedHarness:
    return FEEDS[request.param]


def exchange_closed_bars(sim: SimExchange, feed_symbol: str, opens: list[int]) -> list[int]:
    """Open times of the bars the exchange closed from the first to the last of `opens`.

    The calibrated market has no-trade minutes without a bar (as real exchange files do), so
    "no bar lost, none repeated" is checked against the exchange's own bars, not against a
    minute grid."""
    store_symbols = {i.symbol: i.symbol for i in sim.instruments}
    store_symbols |= {code: i.symbol for code, i in zip(sim.upbit.codes, sim.instruments,
                                                         strict=True)}
    history = sim.source.bars_before(store_symbols[feed_symbol], opens[-1] + MINUTE_MS,
                                     limit=len(opens) * 10, start_ms=opens[0])
    return history.open_ms.tolist()


def assert_bars_are_the_exchanges(sim: SimExchange, recorder: FeedRecorder) -> None:
    for symbol, opens in recorder.bar_opens().items():
        assert all(b > a for a, b in pairwise(opens)), symbol  # in order, no repeat
        # backfill, then live bars: every bar the exchange closed, none made up
        assert opens == exchange_closed_bars(sim, symbol, opens), symbol


def test_subscribe_delivers_ticks_for_every_symbol_and_bars_in_order(feed_kind: FeedHarness) -> None:
    async def scenario() -> None:
        async with SimExchange(MARKET, start_ms=START_MS) as sim:
            symbols = feed_kind.symbols(sim)
            recorder = FeedRecorder()
            feed = feed_kind.build(sim, symbols, recorder)
            async with running(feed):
                # Bars may all come from the REST backfill before the first tick: wait for both.
                await until(lambda: len({b.symbol for b in recorder.bars}) == len(symbols)
                            and len(recorder.bars) >= 3 * len(symbols)
                            and {t.symbol for t in recorder.ticks} == set(symbols))
                health = feed.health()
        assert {t.symbol for t in recorder.ticks} == set(symbols)
        assert all(t.bid <= t.ask and t.ts_event > 0 for t in recorder.ticks)
        assert health.connected and health.malformed == 0 and health.messages > 0
        assert_bars_are_the_exchanges(sim, recorder)

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_reconnect_after_a_drop_loses_and_repeats_no_bar(feed_kind: FeedHarness) -> None:
    async def scenario() -> None:
        async with SimExchange(MARKET, start_ms=START_MS) as sim:
            symbols = feed_kind.symbols(sim)
            recorder = FeedRecorder()
            feed = feed_kind.build(sim, symbols, recorder)
            async with running(feed):
                await until(lambda: len(recorder.bars) >= len(symbols))
                # The first bars may come from the REST catch-up before the socket is up: a
                # drop then would hit no connection, and count no reconnect.
                await until(lambda: feed.health().connected)
                for _ in range(2):
                    reconnects = feed.health().reconnects
                    await sim.drop_connections()
                    await until(lambda: feed.health().reconnects > reconnects  # noqa: B023  awaited here
                                and feed.health().connected)
                dropped_at = len(recorder.bars)
                ticks_before = len(recorder.ticks)
                await until(lambda: len(recorder.bars) >= dropped_at + 3 * len(symbols))
                await until(lambda: len(recorder.ticks) > ticks_before)
                health = feed.health()
        assert health.reconnects >= 2
        assert_bars_are_the_exchanges(sim, recorder)

    asyncio.run(asyncio.wait_for(scenario(), 60))


@pytest.mark.parametrize("frame", [b"{not json", b'{"e":"24hrTicker","s":5,"ty":"trade","cd":5}'])
def test_malformed_frame_is_counted_and_skipped_and_the_stream_goes_on(
    feed_kind: FeedHarness, frame: bytes
) -> None:
    async def scenario() -> None:
        async with SimExchange(MARKET, start_ms=START_MS) as sim:
            symbols = feed_kind.symbols(sim)
            recorder = FeedRecorder()
            feed = feed_kind.build(sim, symbols, recorder)
            async with running(feed) as task:
                await until(lambda: feed.health().connected and len(recorder.ticks) > 0)
                feed_kind.inject(sim, frame)
                await until(lambda: feed.health().malformed >= 1)
                seen = len(recorder.ticks)
                await until(lambda: len(recorder.ticks) > seen)
                health = feed.health()
                assert not task.done()
        assert health.reconnects == 0 and health.connected

    asyncio.run(asyncio.wait_for(scenario(), 60))
