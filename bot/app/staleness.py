"""A silent market stream: poll REST meanwhile, and pause new entries until it is live again.

A websocket can stay open and say nothing (an exchange-side stall, a half-dead proxy). The
feed notices (`FeedHealth.stale` after `feed.stale_after_s` without market data) and will
reconnect; until the data is flowing again the daemon must not open positions on prices it
has not seen. Only market data counts: the subscription reply or status frame a reconnect
brings is a control frame (`FeedHealth.control_messages`), so reconnecting during a stall
does not end the episode here (ADR-042). Hummingbot's answer, which we follow: while the
stream is silent, poll the REST API instead (here the top of book of every symbol, so marks
and `status` stay fresh), and hold new entries back. Exits and cancels continue: they only reduce exposure.

This watch is about the market stream only. The live broker's orders have their own rule
(ADR-033, exchange/brokers/ccxt_stream.py): fills come from the account's user-data stream,
and the broker polls open orders over REST (every `live.poll_interval_s`) only while that
stream is down or silent beyond `live.stream_silent_after_s`, after a (re)subscription or an
unreadable frame, and every `live.stream_safety_poll_s` as a safety net; without a user
stream (Upbit, or `live.user_stream = false`) it polls every `live.poll_interval_s`. A
silent user stream does not pause entries here: REST gives the same answers, only later.

Before the first market message there is no silence to speak of (the feed is backfilling
and connecting; its age is `inf`): the watch says once, at INFO, that it is waiting for the
first market data, and only calls the stream silent once data has been seen and then stops,
or when none came within `first_data_grace_s` of the start.

`StreamWatch` is the state machine (LIVE -> STALE -> RECOVERING -> LIVE, with the stream
live for `resume_after_s` before entries resume, so a flapping stream does not toggle the
gate every second). `EntryPause` wraps the trading policy and turns its BUYs into HOLDs
with the reason while the watch says so; every held-back entry is audited in the decisions
table like any other decision.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import aiohttp

from exchange.feeds.binance_event_parse import tick_from_book_ticker
from exchange.feeds.binance_rest import get_json
from exchange.feeds.common import FeedHealth, describe, wall_clock_ms
from exchange.feeds.errors import ExchangeError, MalformedFrame
from exchange.feeds.sanity import FrameValidator
from model.market import Tick
from strategies.entry_hold import EntryHold
from strategies.policy import DecisionView, Policy

log = logging.getLogger(__name__)

CHECK_PERIOD_S = 0.25
FIRST_DATA_GRACE_S = 60.0  # backfill + connect + first frame; a start taking longer is news


class StreamState(Enum):
    LIVE = "LIVE"
    STALE = "STALE"  # silent beyond the threshold: REST polling, entries paused
    RECOVERING = "RECOVERING"  # messages again; entries paused until resume_after_s


@dataclass(frozen=True, slots=True)
class WatchStats:
    """Counters for status, logs and the chaos test."""

    state: StreamState
    stale_episodes: int
    rest_polls: int
    rest_poll_errors: int
    entries_held: int
    steps_paused: int
    paused_s: float


class StreamWatch:
    """Watches one stream's health; while it is stale, polls REST and pauses entries."""

    def __init__(self, name: str, health: Callable[[], FeedHealth], *,
                 poll: Callable[[], Awaitable[int]] | None = None,
                 poll_interval_s: float = 2.0, resume_after_s: float = 3.0,
                 first_data_grace_s: float = FIRST_DATA_GRACE_S,
                 clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[StreamState, str], None] | None = None) -> None:
        """`poll` fetches what the stream would have said (returns items delivered);
        `on_change` hears every state change with its reason (notices, logs);
        `first_data_grace_s` is how long after the start no market data at all is normal."""
        self.name = name
        self.health = health
        self.poll = poll
        self.poll_interval_s = poll_interval_s
        self.resume_after_s = resume_after_s
        self.first_data_grace_s = first_data_grace_s
        self.clock = clock
        self.on_change = on_change
        self.state = StreamState.LIVE
        self.reason = ""
        self._since = self._recovering_since = self._started = clock()
        self._said_waiting = False
        self._paused_total_s = 0.0
        self._last_poll = -float("inf")
        self.stale_episodes = self.rest_polls = self.rest_poll_errors = 0
        self.entries_held = 0  # BUYs turned into HOLDs
        self.steps_paused = 0  # decision steps that ran with entries paused
        self.last_paused_ms = 0  # decision time of the last such step

    @property
    def paused_reason(self) -> str | None:
        """Why new entries are held back now, or None when they may go."""
        return None if self.state is StreamState.LIVE else self.reason

    def stats(self) -> WatchStats:
        paused = self._paused_total_s
        if self.state is not StreamState.LIVE:
            paused += self.clock() - self._since
        return WatchStats(self.state, self.stale_episodes, self.rest_polls,
                          self.rest_poll_errors, self.entries_held, self.steps_paused,
                          paused)

    def check(self) -> bool:
        """Advance the state machine on the current health; True when a REST poll is due."""
        now = self.clock()
        health = self.health()
        if health.stale and self._still_starting(health, now):
            pass  # no data yet, and it is early: nothing is silent
        elif health.stale:
            if self.state is not StreamState.STALE:
                if self.state is StreamState.LIVE:
                    self.stale_episodes += 1
                    self._since = now
                self._move(StreamState.STALE, f"{self._silence(health, now)}; polling REST, "
                           "new entries paused")
        elif self.state is StreamState.STALE:
            self._move(StreamState.RECOVERING,
                       f"{self.name} stream live again; new entries resume after "
                       f"{self.resume_after_s:g} s without silence")
            self._recovering_since = now
        elif self.state is StreamState.RECOVERING and \
                now - self._recovering_since >= self.resume_after_s:
            self._paused_total_s += now - self._since
            self._move(StreamState.LIVE, f"{self.name} stream live; new entries resumed")
        due = self.state is StreamState.STALE and now - self._last_poll >= self.poll_interval_s
        if due:
            self._last_poll = now
        return due

    def _still_starting(self, health: FeedHealth, now: float) -> bool:
        """No market data since the start (age `inf`), within `first_data_grace_s` of it;
        says once that it is waiting."""
        if math.isfinite(health.last_message_age_s) or \
                now - self._started >= self.first_data_grace_s:
            return False
        if not self._said_waiting:
            self._said_waiting = True
            log.info("%s stream: waiting for the first market data", self.name)
        return True

    def _silence(self, health: FeedHealth, now: float) -> str:
        """How long the stream has said nothing, in words (never `inf`)."""
        age = health.last_message_age_s
        if math.isfinite(age):
            return f"{self.name} stream silent for {age:.1f} s"
        return (f"{self.name} stream: no market data in the {now - self._started:.0f} s "
                "since the start")

    async def run(self) -> None:
        """Check every CHECK_PERIOD_S and poll REST while stale, until cancelled. The
        first-data grace counts from here: the daemon builds the watch before the trader
        (its entry pause is part of the trader's policy), well before the feed starts."""
        self._started = self.clock()
        while True:
            if self.check() and self.poll is not None:
                try:
                    await self.poll()
                    self.rest_polls += 1
                except (ExchangeError, MalformedFrame, aiohttp.ClientError, OSError,
                        TimeoutError) as exc:
                    self.rest_poll_errors += 1
                    log.warning("%s REST poll failed: %s", self.name, describe(exc))
            await asyncio.sleep(CHECK_PERIOD_S)

    def _move(self, state: StreamState, reason: str) -> None:
        self.state, self.reason = state, reason
        (log.warning if state is StreamState.STALE else log.info)("%s", reason)
        if self.on_change is not None:
            self.on_change(state, reason)


class EntryPause(EntryHold):
    """A policy wrapper: while `watch` pauses entries, a BUY becomes a HOLD with the reason.
    Everything else (exits, cancels, the `Policy` protocol's other members) passes through."""

    def __init__(self, policy: Policy, watch: StreamWatch) -> None:
        super().__init__(policy)
        self.watch = watch

    def held_reason(self, view: DecisionView) -> str | None:
        why = self.watch.paused_reason
        return None if why is None else f"entry paused: {why}"

    def on_held(self, view: DecisionView, entries: int) -> None:
        self.watch.steps_paused += 1
        self.watch.last_paused_ms = view.ts_ms
        self.watch.entries_held += entries


def binance_book_poll(rest_url: str, symbols: list[str], on_tick: Callable[[Tick], None],
                      clock_ms: Callable[[], int] = wall_clock_ms
                      ) -> Callable[[], Awaitable[int]]:
    """A poll that fetches `/api/v3/ticker/bookTicker` for every symbol in one request and
    hands each row to `on_tick` as the stream's bookTicker would (last and volumes NaN)."""
    wanted = set(symbols)
    url = f"{rest_url.rstrip('/')}/api/v3/ticker/bookTicker"
    validator = FrameValidator()  # the feed edge's checks apply to polled quotes too

    async def poll() -> int:
        async with aiohttp.ClientSession() as session:
            rows = await get_json(session, url)
        if not isinstance(rows, list):
            raise MalformedFrame("bookTicker without a list of rows")
        now = clock_ms()
        delivered = 0
        for row in rows:
            if not isinstance(row, dict) or row.get("symbol") not in wanted:
                continue
            tick = tick_from_book_ticker({"s": row["symbol"], "b": row.get("bidPrice"),
                                          "B": row.get("bidQty"), "a": row.get("askPrice"),
                                          "A": row.get("askQty")}, now)
            if validator.tick_problem(tick, now) is not None:
                continue  # a zero or absurd quote: no better than the silence it covers
            on_tick(tick)
            delivered += 1
        return delivered

    return poll


def watch_daemon_feed(daemon: Any, symbols: list[str]) -> StreamWatch:
    """The daemon's market-stream watch over `symbols`, built before its trader, engine and
    feed: `bot.app.assembly.make_trader` puts its `EntryPause` in front of the policy, and
    it reaches the feed's health and the engine's `on_tick` through `daemon` once they run.
    (Binance protocol: REST top-of-book polls; Upbit: the pause alone.) Stale/recovered
    notices are already `bot.ops.notify.watch_runtime`'s job."""
    from bot.app.market_source import speaks_upbit

    config = daemon.config
    poll = None
    if not speaks_upbit(config):
        rest_url = daemon.sim.rest_url if daemon.sim is not None else config.exchange.rest_url
        poll = binance_book_poll(rest_url, symbols, lambda tick: daemon.engine.on_tick(tick),
                                 daemon.now_ms)
    return StreamWatch("market", lambda: daemon.feed.health(), poll=poll,
                       poll_interval_s=config.recovery.stale_poll_interval_s,
                       resume_after_s=config.recovery.resume_after_s)
