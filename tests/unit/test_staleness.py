"""The stale-stream watch and the entry pause, driven by a fake clock and a scripted health.

The health and the clock are the only fakes here (the real ones are a websocket and time);
the integration chaos test drives the same code through a real stalled stream.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

import numpy as np
import pytest

from bot.app.staleness import EntryPause, StreamState, StreamWatch, binance_book_poll
from exchange.feeds.common import FeedHealth
from strategies.policy import Action, DecisionView, Policy, PolicyAction


def health(stale: bool, age_s: float = 0.1) -> FeedHealth:
    return FeedHealth(connected=True, stale=stale, msgs_per_s=0.0, messages=1, malformed=0,
                      reconnects=0, last_message_age_s=age_s, bars=0, gaps_filled=0)


class Script:
    """A settable clock and health."""

    def __init__(self) -> None:
        self.now = 0.0
        self.stale = False

    def clock(self) -> float:
        return self.now

    def health(self) -> FeedHealth:
        return health(self.stale, 5.0 if self.stale else 0.1)


class Wants(Policy):
    """A policy that always wants to buy one coin and sell another."""

    name = "wants"
    version = "w1"

    def __init__(self) -> None:
        self.feature_rows: list[tuple[str, ...]] = []

    def between_steps(self, feature_symbols: Sequence[str]) -> None:
        self.feature_rows.append(tuple(feature_symbols))

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        return [PolicyAction("AAAUSDT", Action.BUY, 1.0, 0.9, 0.5, reason="top ranked"),
                PolicyAction("BBBUSDT", Action.SELL, 2.0, exit=True, reason="target hit")]


def view(ts_ms: int) -> DecisionView:
    return DecisionView(ts_ms=ts_ms, symbols=(), features=np.zeros((0, 0)), feature_names=(),
                        ranking=(), quotes={}, holdings={}, open_orders=(), equity=1.0)


def test_silence_pauses_entries_polls_rest_and_resumes_only_after_a_live_spell() -> None:
    script = Script()
    changes: list[StreamState] = []
    watch = StreamWatch("market", script.health, poll_interval_s=2.0, resume_after_s=3.0,
                        clock=script.clock, on_change=lambda state, _: changes.append(state))
    wants = Wants()
    policy = EntryPause(wants, watch)
    assert not watch.check() and watch.paused_reason is None
    assert [a.action for a in policy.decide(view(1))] == [Action.BUY, Action.SELL]

    # the stream falls silent: a poll is due at once, then every poll_interval_s
    script.stale, script.now = True, 10.0
    assert watch.check() and watch.state is StreamState.STALE
    assert "silent for 5.0 s" in (watch.paused_reason or "")
    script.now = 11.0
    assert not watch.check()
    script.now = 12.0
    assert watch.check()
    held = policy.decide(view(2))
    assert [a.action for a in held] == [Action.HOLD, Action.SELL]  # exits still go
    assert held[0].reason.startswith("entry paused: market stream silent")

    # live again: still paused until resume_after_s without silence
    script.stale, script.now = False, 13.0
    assert not watch.check() and watch.state is StreamState.RECOVERING
    assert policy.decide(view(3))[0].action is Action.HOLD
    script.now = 15.9
    watch.check()
    assert watch.state is StreamState.RECOVERING
    script.now = 16.0
    watch.check()
    assert watch.state is StreamState.LIVE and watch.paused_reason is None
    assert policy.decide(view(4))[0].action is Action.BUY

    stats = watch.stats()
    assert changes == [StreamState.STALE, StreamState.RECOVERING, StreamState.LIVE]
    assert (stats.stale_episodes, stats.entries_held, stats.steps_paused) == (1, 2, 2)
    assert math.isclose(stats.paused_s, 6.0) and watch.last_paused_ms == 3
    # the rest of the Policy protocol is the wrapped policy's
    policy.between_steps(["AAAUSDT", "BBBUSDT"])
    assert (policy.name, policy.version) == ("wants", "w1")
    assert wants.feature_rows == [("AAAUSDT", "BBBUSDT")]


def test_silence_during_recovery_is_the_same_episode() -> None:
    script = Script()
    watch = StreamWatch("market", script.health, resume_after_s=3.0, clock=script.clock)
    script.stale = True
    watch.check()
    script.stale, script.now = False, 1.0
    watch.check()
    script.stale, script.now = True, 2.0  # flaps back before resume_after_s
    watch.check()
    script.stale, script.now = False, 3.0
    watch.check()
    script.now = 6.0
    watch.check()
    assert watch.state is StreamState.LIVE and watch.stats().stale_episodes == 1


@pytest.mark.integration  # the simulator's REST server
def test_book_poll_turns_rest_rows_into_ticks_for_the_wanted_symbols() -> None:
    """Against the simulator's real REST endpoint on 127.0.0.1."""
    from bot.config import SimConfig
    from exchange.sim.server import SimExchange

    async def main() -> list:
        sim = SimExchange(SimConfig(coins=4, history_days=0.01), autorun=False)
        await sim.start()
        try:
            ticks: list = []
            wanted = sim.symbols[:2]
            poll = binance_book_poll(sim.rest_url, wanted, ticks.append, lambda: 42)
            assert await poll() == 2
            return ticks
        finally:
            await sim.stop()

    ticks = asyncio.run(asyncio.wait_for(main(), 30))
    assert [t.ts_recv for t in ticks] == [42, 42]
    assert all(t.bid > 0 and t.ask >= t.bid and math.isnan(t.last) for t in ticks)
