"""Crash-safe paper booking: a fill commits with the broker's id counters, and a ledger whose
saved counters are behind its own ids (written by an older Entasis, which saved them apart
from the fills) resumes past them instead of issuing a booked trade id again."""

from __future__ import annotations

import json
import logging
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from bot.app.assembly import make_trader
from bot.config import load_config
from model.instruments import Instrument, Side
from model.market import MINUTE_MS, Bar
from model.orders import Accepted, Filled, Liquidity, OrderRequest, OrderType
from state.codec import BalanceSet
from state.ledger import Ledger
from trading.trader import Trader

AAA = Instrument("AAAUSDT", "AAA", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("5"))
INSTRUMENTS = {"AAAUSDT": AAA}


def open_trader(path: Path) -> Trader:
    ledger = Ledger.open(path, instruments=INSTRUMENTS)
    return make_trader(load_config(None, environ={}), [AAA], ledger, policy="baseline",
                       quote_asset="USDT", balance=Decimal("10000"))


def bar(minute: int, low: float = 99.0) -> Bar:
    return Bar("AAAUSDT", minute * MINUTE_MS, 100.0, 101.0, low, 100.0, 5_000.0, 500_000.0)


def place_buy(trader: Trader, price: str, ts_ms: int) -> OrderRequest:
    """A resting limit buy of 1 AAA, recorded as the trader's step records it."""
    request = OrderRequest(trader.broker.next_client_order_id(), "AAAUSDT", Side.BUY,
                           OrderType.LIMIT, Decimal(1), Decimal(price), ts_ms)
    trader.ledger.record(request)
    trader.on_order_events(trader.broker.submit(request))
    return request


def saved_cursor(path: Path) -> tuple[list[int], dict[str, int]]:
    """The cursor as another connection sees it: only what was committed."""
    with sqlite3.connect(path) as conn:
        rows = dict(conn.execute("SELECT key, value FROM kv").fetchall())
    return json.loads(rows["broker_counters"]), json.loads(rows["position_opened_ms"])


def write_old_ledger(path: Path) -> None:
    """What the old code could leave after a kill between a fill and the end of its step:
    order E-00000003 filled as trade E-T00000003, counters still saved at (1, 1)."""
    with Ledger.open(path, instruments=INSTRUMENTS) as ledger:
        ledger.record(BalanceSet("USDT", Decimal(10000), Decimal(0), 0, 0))
        ledger.set_kv("account_opened", 0)
        request = OrderRequest("E-00000003", "AAAUSDT", Side.BUY, OrderType.LIMIT,
                               Decimal(1), Decimal(100), MINUTE_MS)
        ledger.record(request)
        ledger.record(Accepted("E-00000003", "AAAUSDT", Side.BUY, OrderType.LIMIT, Decimal(1),
                               Decimal(100), MINUTE_MS, MINUTE_MS))
        ledger.record(Filled("E-00000003", "AAAUSDT", Side.BUY, "E-T00000003", Decimal(100),
                             Decimal(1), Decimal("0.1"), Liquidity.MAKER, 2 * MINUTE_MS - 1,
                             2 * MINUTE_MS - 1))
        ledger.set_kv("broker_counters", [1, 1])


def test_given_a_resting_buy_when_a_bar_fills_it_then_the_counters_commit_with_the_fill(
        tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    trader = open_trader(path)
    trader.open_account(Decimal(10000), 0)
    place_buy(trader, "100.00", MINUTE_MS)

    trader.on_bars([bar(1)])  # no decision step after it: nothing else saves the cursor

    counters, opened = saved_cursor(path)
    assert [row.trade_id for row in trader.ledger.fills()] == ["E-T00000001"]
    assert counters == [1, 1] == list(trader.broker.counters())
    assert opened == {"AAAUSDT": 2 * MINUTE_MS - 1}
    trader.ledger.close()


def test_given_counters_saved_behind_the_fills_when_resumed_then_ids_continue_after_the_ledger(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ledger.sqlite"
    write_old_ledger(path)
    trader = open_trader(path)

    with caplog.at_level(logging.WARNING, logger="trading.trader"):
        assert trader.open_account(Decimal(10000), 0) is True

    assert trader.broker.counters() == (3, 3)
    assert any("behind the ledger" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)
    request = place_buy(trader, "100.00", 2 * MINUTE_MS)
    trader.on_bars([bar(2)])  # the old code issued E-T00000001 again... and crash-looped
    assert request.client_order_id == "E-00000004"
    assert [row.trade_id for row in trader.ledger.fills()] == ["E-T00000003", "E-T00000004"]
    assert trader.positions["AAAUSDT"].amount == Decimal(2)
    trader.ledger.close()


def test_given_counters_in_step_with_the_ledger_when_resumed_then_nothing_is_corrected(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ledger.sqlite"
    trader = open_trader(path)
    trader.open_account(Decimal(10000), 0)
    place_buy(trader, "100.00", MINUTE_MS)
    trader.on_bars([bar(1)])
    trader.ledger.close()

    resumed = open_trader(path)
    with caplog.at_level(logging.WARNING, logger="trading.trader"):
        assert resumed.open_account(Decimal(10000), 0) is True

    assert resumed.broker.counters() == (1, 1)
    assert not [r for r in caplog.records if "behind the ledger" in r.getMessage()]
    resumed.ledger.close()


def test_highest_id_numbers_reads_only_the_brokers_own_numbered_ids(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite", instruments=INSTRUMENTS) as ledger:
        for cid, trade_id in (("E-00000007", "E-T00000012"), ("X-00000099", "X-T00000099"),
                              ("E-manual", "E-Tmanual"), ("E-00000002", "E-T00000003")):
            ledger.record(OrderRequest(cid, "AAAUSDT", Side.BUY, OrderType.LIMIT, Decimal(1),
                                       Decimal(100), 0))
            ledger.record(Filled(cid, "AAAUSDT", Side.BUY, trade_id, Decimal(100), Decimal(1),
                                 Decimal(0), Liquidity.MAKER, 1, 1))

        assert ledger.highest_id_numbers("E-", "E-T") == (7, 12)
        assert ledger.highest_id_numbers("Z-", "Z-T") == (0, 0)
