"""Notice batching and drop accounting, without a network: the message a batch becomes, how
drops are counted and warned about, and the /forceexit pre-check."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from bot.ops.notify import summarize
from bot.ops.telegram_support import DropCounter, forceexit_problem
from trading.notices import Notice, NoticeKind


def fill(side: str, text: str) -> Notice:
    return Notice(NoticeKind.FILL, text, 1, {"side": side})


def test_a_batch_of_fills_opens_with_counts_by_side_then_every_line() -> None:
    batch = [fill("BUY", "b1"), fill("SELL", "s1"), fill("BUY", "b2"), fill("BUY", "b3"),
             fill("SELL", "s2")]
    assert summarize(batch).splitlines() == ["5 fills: 3 buys, 2 sells", "b1", "s1", "b2", "b3", "s2"]


def test_a_single_notice_is_sent_as_its_own_text() -> None:
    assert summarize([fill("SELL", "filled: SELL 1 AAAUSDT @ 10")]) == "filled: SELL 1 AAAUSDT @ 10"


def test_a_long_batch_is_capped_and_says_how_many_more() -> None:
    batch = [fill("BUY", f"b{i}") for i in range(30)] + [
        Notice(NoticeKind.STALE_FEED, "market feed STALE", 2)]
    lines = summarize(batch, max_lines=3).splitlines()
    assert lines == ["30 fills: 30 buys", "1 stale_feed notice", "b0", "b1", "b2", "… and 28 more"]


def test_drops_warn_at_most_once_a_minute_and_are_owed_to_the_next_message(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    drops = DropCounter(warn_every_s=60.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        drops.add(3, "flood")
        now[0] += 59.0
        drops.add(2, "flood")
        now[0] += 1.0
        drops.add(1, "flood")
    assert [r.getMessage() for r in caplog.records] == [
        "telegram: 3 notice(s) dropped (flood); 3 since start",
        "telegram: 1 notice(s) dropped (flood); 6 since start"]
    assert drops.note() == "(6 notices dropped: rate limit)"
    drops.reported(6)
    assert drops.note() == "" and drops.total == 6


@dataclass
class _Position:
    amount: Decimal


@dataclass
class _Order:
    symbol: str


@dataclass
class _Broker:
    orders: list[_Order] = field(default_factory=list)

    def open_orders(self) -> list[_Order]:
        return self.orders


@dataclass
class _Trader:
    instruments: dict[str, object]
    positions: dict[str, _Position]
    broker: _Broker


@pytest.mark.parametrize(("symbol", "problem"), [
    ("NOPE", "'NOPE' is not a traded symbol (e.g. AAAUSDT, BBBUSDT, CCCUSDT); or pass 'all'"),
    ("cccusdt", "nothing to exit: CCCUSDT is not held and has no open orders"),
    ("aaausdt", ""),  # held
    ("BBBUSDT", ""),  # an open order
    ("all", ""),
])
def test_forceexit_needs_a_traded_symbol_that_is_held_or_has_orders(symbol: str, problem: str) -> None:
    trader = _Trader({"AAAUSDT": 1, "BBBUSDT": 1, "CCCUSDT": 1},
                     {"AAAUSDT": _Position(Decimal(2)), "CCCUSDT": _Position(Decimal(0))},
                     _Broker([_Order("BBBUSDT")]))
    assert forceexit_problem(trader, symbol) == problem
