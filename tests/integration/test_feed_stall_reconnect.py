"""A stalled market stream stays stale across a reconnect (ADR-042), on both protocols.

A reconnect during a stall brings a control frame at once: Binance answers the SUBSCRIBE
with `{"result": null, "id": 1}`, Upbit answers the feed's PING with `{"status": "UP"}`.
Neither is market data, so neither may make the feed fresh (the staleness watch would let
entries go on prices nobody has seen) nor put off the reconnect that market silence forces.

Everything runs over real sockets on 127.0.0.1 against the simulator. Two ways to stall:
the market only moves when the test steps it (`autorun=False`), so not stepping is a stall
on either protocol; and the chaos hub's stall (exchange/sim/chaos.py), which swallows the
frames of a running market (Binance protocol only: the chaos hub does not cover the Upbit
face). Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.app.staleness import StreamState, StreamWatch
from bot.config import FeedConfig, SimConfig
from exchange.feeds.binance import BinanceFeed
from exchange.feeds.upbit import UpbitFeed
from exchange.sim.chaos import Chaos, ChaosConfig
from exchange.sim.server import SimExchange
from exchange.sim.upbit_server import WS_PATH
from model.market import Tick
from tests.tasks import background
from tests.waiting import async_wait_until

START_MS = 1_700_000_040_000
STALE_AFTER_S = 0.5  # the feed reconnects by itself after 3 x this without market data
FEED = FeedConfig(backfill_minutes=0, stale_after_s=STALE_AFTER_S, reconnect_min_s=0.02,
                  reconnect_max_s=0.1)
MARKET = SimConfig(coins=3, history_days=0.1, seed=23)


@dataclass(frozen=True)
class Protocol:
    """How to build a feed for one wire protocol and push a control frame at it."""

    name: str
    build: Callable[[SimExchange, list[Tick]], Any]
    inject_control: Callable[[SimExchange], None]


def _binance(sim: SimExchange, ticks: list[Tick]) -> BinanceFeed:
    return BinanceFeed(sim.rest_url, sim.ws_url, list(sim.symbols), FEED, on_tick=ticks.append,
                       on_bar=lambda bar: None, clock_ms=lambda: sim.now_ms)


def _upbit(sim: SimExchange, ticks: list[Tick]) -> UpbitFeed:
    return UpbitFeed(sim.rest_url, sim.ws_url + WS_PATH, list(sim.upbit.codes), FEED,
                     on_tick=ticks.append, on_bar=lambda bar: None,
                     clock_ms=lambda: sim.now_ms, request_interval_s=0.0)


def _binance_reply(sim: SimExchange) -> None:
    for connection in sim.hub.connections:  # what a LIST/SUBSCRIBE answer looks like
        connection.push(b'{"result":null,"id":7}')


PROTOCOLS = {
    "binance": Protocol("binance", _binance, _binance_reply),
    "upbit": Protocol("upbit", _upbit, lambda sim: sim.upbit.push_raw(b'{"status":"UP"}')),
}


@dataclass
class Sampler:
    """Samples the feed's `stale` flag and a StreamWatch on it every 20 ms while running."""

    feed: Any
    watch: StreamWatch
    fresh_samples: int = 0  # samples that said "not stale"
    samples: int = 0
    states: set[StreamState] = field(default_factory=set)

    async def run(self) -> None:
        while True:
            self.watch.check()
            self.samples += 1
            self.fresh_samples += not self.feed.health().stale
            self.states.add(self.watch.state)
            await asyncio.sleep(0.02)


async def until(predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    await async_wait_until(predicate, timeout_s)


async def step_until_fresh(sim: SimExchange, feed: Any) -> None:
    """Play market minutes until the feed is fresh (a minute played while the feed is
    between connections reaches it only as REST bars, which do not make it fresh)."""
    await until(lambda: feed.health().connected)
    async with asyncio.timeout(15):
        while feed.health().stale:
            await sim.step(1)
            with contextlib.suppress(TimeoutError):
                await until(lambda: not feed.health().stale, timeout_s=0.3)


async def control_frames_every(sim: SimExchange, protocol: Protocol, period_s: float) -> None:
    while True:
        protocol.inject_control(sim)
        await asyncio.sleep(period_s)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_stalled_stream_stays_stale_through_reconnects_and_control_frames(protocol: str) -> None:
    """Given a feed that saw market data, when the market goes silent, the connection is
    dropped and comes back with its subscription reply, and control frames keep arriving,
    then the feed stays stale (and reconnects on its own) until market data flows again."""
    kind = PROTOCOLS[protocol]

    async def scenario() -> None:
        async with SimExchange(MARKET, start_ms=START_MS, autorun=False) as sim:
            ticks: list[Tick] = []
            feed = kind.build(sim, ticks)
            async with background(feed.run()):
                await until(lambda: feed.health().connected
                            and feed.health().control_messages >= 1)  # subscription answered
                await sim.step(1)
                await until(lambda: len(ticks) > 0 and not feed.health().stale)

                # The market stalls: nothing is stepped from here until the end.
                await until(lambda: feed.health().stale, timeout_s=5)
                stalled = feed.health()
                watch = StreamWatch("market", feed.health, resume_after_s=60)
                sampler = Sampler(feed, watch)
                async with background(sampler.run()):
                    await sim.drop_connections()
                    await until(lambda: feed.health().reconnects > stalled.reconnects
                                and feed.health().connected
                                and feed.health().control_messages > stalled.control_messages)
                    after_reply = feed.health()
                    await asyncio.sleep(2 * STALE_AFTER_S)  # the reply did not make it fresh

                    # Control frames every 0.1 s must not put off the market-silence reconnect.
                    async with background(control_frames_every(sim, kind, 0.1)):
                        await until(lambda: feed.health().reconnects > after_reply.reconnects,
                                    timeout_s=3 * 3 * STALE_AFTER_S)
                    during = feed.health()
                    stalled_samples, fresh_while_stalled = sampler.samples, sampler.fresh_samples
                    ticks_before = len(ticks)
                    await step_until_fresh(sim, feed)  # market data again
                    await until(lambda: watch.state is StreamState.RECOVERING)
                fresh = feed.health()

        assert stalled_samples >= 50 and fresh_while_stalled == 0
        assert after_reply.stale and after_reply.last_message_age_s > STALE_AFTER_S
        assert during.stale and during.messages == stalled.messages  # no market frame counted
        assert during.control_messages >= after_reply.control_messages + 3
        assert during.last_message_age_s > 3 * STALE_AFTER_S
        assert watch.stats().stale_episodes == 1 and StreamState.LIVE not in sampler.states
        assert fresh.messages > during.messages and fresh.malformed == 0
        assert len(ticks) > ticks_before

    asyncio.run(asyncio.wait_for(scenario(), 50))


@pytest.mark.timeout(60)
def test_chaos_stall_stays_stale_across_a_drop_until_the_stall_ends() -> None:
    """Given a running market behind the chaos hub, when the hub stalls and every
    websocket is dropped, then the Binance feed reconnects, gets its subscription reply and
    still reports stale; once the stall ends, market data makes it fresh again."""

    async def scenario() -> None:
        sim = SimExchange(SimConfig(coins=3, speed=600, history_days=0.1, seed=29),
                          start_ms=START_MS)
        chaos = Chaos(sim, ChaosConfig(seed=5))  # no scheduled failures: the test drives it
        async with sim:
            ticks: list[Tick] = []
            feed = PROTOCOLS["binance"].build(sim, ticks)
            async with background(feed.run()):
                await until(lambda: len(ticks) > 0 and not feed.health().stale)
                chaos.hub.stalled = True  # what Chaos._stall does, held as long as we need
                await until(lambda: feed.health().stale, timeout_s=5)
                stalled = feed.health()
                await sim.drop_connections()
                await until(lambda: feed.health().reconnects > stalled.reconnects
                            and feed.health().connected
                            and feed.health().control_messages > stalled.control_messages)
                samples = []
                for _ in range(50):  # 1 s, two stale periods, with the reconnected stream
                    samples.append(feed.health().stale)
                    await asyncio.sleep(0.02)
                during = feed.health()
                ticks_before = len(ticks)
                chaos.calm()  # ends the stall
                await until(lambda: not feed.health().stale and len(ticks) > ticks_before)

        assert all(samples) and during.stale and during.messages == stalled.messages
        assert chaos.counts.frames_swallowed > 0

    asyncio.run(asyncio.wait_for(scenario(), 50))
