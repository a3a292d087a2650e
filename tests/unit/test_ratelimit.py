"""model/ratelimit.py: at most one line per key per interval, counting the suppressed ones.
The gate behind the control endpoint's refusals, the Telegram bot's unauthorized chats and
the feeds' invalid-data lines."""

from __future__ import annotations

import logging

import pytest

from model.ratelimit import Passed, RateLimit, RateLimitedLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_keys_first_event_passes_and_the_next_within_the_interval_is_held() -> None:
    clock = Clock()
    gate = RateLimit(10.0, clock=clock)
    assert gate.admit("peer") == Passed(suppressed=0, since_s=0.0)
    clock.now += 9.9
    assert gate.admit("peer") is None


def test_the_next_line_after_the_interval_counts_what_was_held_back() -> None:
    clock = Clock()
    gate = RateLimit(10.0, clock=clock)
    gate.admit()
    for _ in range(3):
        clock.now += 1.0
        assert gate.admit() is None
    clock.now += 7.0  # 10 s after the first line: the interval is over
    assert gate.admit() == Passed(suppressed=3, since_s=10.0)
    clock.now += 10.0
    assert gate.admit() == Passed(suppressed=0, since_s=10.0)


def test_keys_are_limited_each_on_its_own() -> None:
    gate = RateLimit(60.0, clock=Clock())
    assert gate.admit(1) is not None
    assert gate.admit(2) is not None
    assert gate.admit(1) is None


def test_made_up_keys_cannot_grow_memory_past_max_keys() -> None:
    clock = Clock()
    gate = RateLimit(60.0, clock=clock, max_keys=4)
    for chat_id in range(100):
        gate.admit(chat_id)
    assert len(gate) <= 4
    assert gate.admit(99) is None  # the newest keys are kept, still limited
    assert gate.admit(0) is not None  # the oldest were forgotten: at most 4 are held


def test_rate_limited_log_adds_the_suppressed_count_to_the_next_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    refusals = RateLimitedLog(logging.getLogger("test.ratelimit"), 60.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="test.ratelimit"):
        assert refusals.warning("10.0.0.1", "refused %s", "10.0.0.1")
        assert not refusals.warning("10.0.0.1", "refused %s", "10.0.0.1")
        clock.now += 61.0
        assert refusals.warning("10.0.0.1", "refused %s", "10.0.0.1")
    assert [r.getMessage() for r in caplog.records] == [
        "refused 10.0.0.1",
        "refused 10.0.0.1 (1 more suppressed in the last 61 s)",
    ]
