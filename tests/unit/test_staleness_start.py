"""At start, before the first market message, the stream is not "silent for inf s":
the watch says once, at INFO, that it waits for the first market data, and pauses nothing.
It calls the stream silent only once data was seen and then stopped, or when no data came
within `first_data_grace_s` of the start, and then never with `inf` in the words.

A fake clock and a scripted health, as in tests/unit/test_staleness.py.
"""

from __future__ import annotations

import logging
import math

import pytest

from bot.app.staleness import StreamState, StreamWatch
from exchange.feeds.common import FeedHealth

STALENESS = "bot.app.staleness"  # the logger these tests listen to


class Feed:
    """A feed that is stale from the start; `last_data` is when its last frame arrived."""

    def __init__(self) -> None:
        self.now = 0.0
        self.last_data: float | None = None

    def clock(self) -> float:
        return self.now

    def health(self) -> FeedHealth:
        age = math.inf if self.last_data is None else self.now - self.last_data
        return FeedHealth(connected=True, stale=age > 5.0, msgs_per_s=0.0, messages=0,
                          malformed=0, reconnects=0, last_message_age_s=age, bars=0,
                          gaps_filled=0)


def watch_for(feed: Feed) -> StreamWatch:
    return StreamWatch("market", feed.health, first_data_grace_s=60.0, clock=feed.clock)


def run_until(watch: StreamWatch, feed: Feed, until_s: float) -> None:
    while feed.now < until_s:
        watch.check()
        feed.now += 0.25


def test_before_the_first_data_the_watch_waits_quietly_and_pauses_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    feed = Feed()
    watch = watch_for(feed)
    with caplog.at_level(logging.INFO, logger=STALENESS):
        run_until(watch, feed, 59.0)

    assert watch.state is StreamState.LIVE and watch.paused_reason is None
    assert watch.stale_episodes == 0
    assert [(r.levelno, r.getMessage()) for r in caplog.records if r.name == STALENESS] == \
        [(logging.INFO, "market stream: waiting for the first market data")]


def test_data_seen_then_stopped_is_a_silence_in_finite_seconds(
        caplog: pytest.LogCaptureFixture) -> None:
    feed = Feed()
    watch = watch_for(feed)
    run_until(watch, feed, 10.0)
    feed.last_data = feed.now  # the first frame, then nothing
    with caplog.at_level(logging.WARNING, logger=STALENESS):
        run_until(watch, feed, 20.0)

    assert watch.state is StreamState.STALE and watch.stale_episodes == 1
    (warning,) = [r.getMessage() for r in caplog.records if r.name == STALENESS]
    assert warning.startswith("market stream silent for 5.") and "inf" not in warning
    assert warning.endswith("polling REST, new entries paused")


def test_no_data_within_the_grace_after_start_is_reported_in_seconds_since_start(
        caplog: pytest.LogCaptureFixture) -> None:
    feed = Feed()
    watch = watch_for(feed)
    with caplog.at_level(logging.WARNING, logger=STALENESS):
        run_until(watch, feed, 61.0)

    assert watch.state is StreamState.STALE and watch.paused_reason is not None
    (warning,) = [r.getMessage() for r in caplog.records if r.name == STALENESS]
    assert warning == ("market stream: no market data in the 60 s since the start; polling "
                       "REST, new entries paused")
