"""Log lines cannot be forged: control characters from outside are escaped by the formatter,
for every call site at once; and a refusal a stranger can repeat is logged once a minute."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import pytest

from bot.logs import escape_controls, setup_logging
from model.ratelimit import RateLimitedLog

FORGED = "/api/x\n12:00:00 WARNING bot.ops.control: all good\r\x1b[2K\x85\u2028\x00\t\x9b"


@pytest.fixture
def stderr(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], str]]:
    """What `setup_logging` writes to stderr; the root logger restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield lambda: capsys.readouterr().err
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize(("raw", "shown"), [
    ("a\nb", "a\\nb"), ("a\rb", "a\\rb"), ("a\tb", "a\\tb"), ("\x1b[31m", "\\x1b[31m"),
    ("\x00", "\\x00"), ("\x7f", "\\x7f"), ("\x85", "\\x85"), ("\x9b", "\\x9b"),
    ("\u2028", "\\u2028"), ("\u2029", "\\u2029"), ("\udcff", "\\udcff"),
    ("C:\\path ünïcödé €", "C:\\path ünïcödé €"),
])
def test_control_characters_become_visible_escapes(raw: str, shown: str) -> None:
    assert escape_controls(raw) == shown


def test_a_newline_in_a_logged_value_cannot_start_a_line_of_its_own(stderr: Callable[[], str]) -> None:
    setup_logging("human")
    logging.getLogger("bot.ops.control").warning("refused (%s)", FORGED)
    lines = stderr().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("refused (/api/x\\n12:00:00 WARNING bot.ops.control: all good"
                             "\\r\\x1b[2K\\x85\\u2028\\x00\\t\\x9b)")


def test_json_lines_escape_c1_and_separators_in_messages_and_extras(stderr: Callable[[], str]) -> None:
    setup_logging("json")
    logging.getLogger("bot.telegram").warning("text %s", FORGED, extra={"chat_text": FORGED})
    lines = stderr().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    for value in (record["msg"], record["chat_text"]):
        assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f or c in "\u2028\u2029"
                       for c in value)
        assert "\\n12:00:00 WARNING" in value and "\\x9b" in value


def test_a_traceback_keeps_its_lines_but_none_starts_at_column_zero(stderr: Callable[[], str]) -> None:
    setup_logging("human", secrets=["hunter2-secret"])
    try:
        raise ValueError("bad symbol\n12:00:00 WARNING forged hunter2-secret\x1b[0m")
    except ValueError:
        logging.getLogger("trading.engine").exception("step failed")
    first, *traceback = stderr().splitlines()
    assert first.endswith("ERROR   trading.engine: step failed")
    assert traceback[0] == "  Traceback (most recent call last):"
    assert all(line.startswith("  ") for line in traceback)
    assert traceback[-1] == "  12:00:00 WARNING forged ***\\x1b[0m"  # redacted and escaped


def test_repeated_refusals_are_logged_once_a_minute_with_a_count(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    refusals = RateLimitedLog(logging.getLogger("test.refusals"), 60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.refusals"):
        logged = [refusals.warning("127.0.0.1", "refused %s", n) for n in range(300)]
        now[0] += 59.9
        logged.append(refusals.warning("127.0.0.1", "refused %s", "late"))
        other_peer = refusals.warning("::1", "refused %s", "other")
        now[0] += 0.1
        logged.append(refusals.warning("127.0.0.1", "refused %s", "next minute"))
    assert logged.count(True) == 2 and other_peer
    assert [r.getMessage() for r in caplog.records] == [
        "refused 0", "refused other", "refused next minute (300 more suppressed in the last 60 s)"]


def test_the_throttle_forgets_old_peers_instead_of_growing() -> None:
    now = [0.0]
    refusals = RateLimitedLog(logging.getLogger("test.refusals"), 60.0, clock=lambda: now[0],
                              max_keys=8)
    for peer in range(100):
        now[0] += 1.0
        assert refusals.warning(peer, "refused")  # a new peer is always heard once
    assert len(refusals) <= 8
