"""Ctrl-C and restart: the paper account resumes from the ledger file with the same
positions, open orders, balances and id counters (a real SQLite file, closed and reopened)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from bot.app.assembly import make_trader
from bot.config import load_config
from model.instruments import Instrument
from model.market import MINUTE_MS, Bar
from state.ledger import Ledger
from strategies.features import FeatureBook
from strategies.policy import Action, DecisionView, Policy, PolicyAction

AAA = Instrument("AAAUSDT", "AAA", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("5"))
BBB = Instrument("BBBUSDT", "BBB", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("5"))


@dataclass
class ScriptedPolicy(Policy):
    """Buy both coins at step 0 (marketable), then rest a far take-profit sell on AAA and a
    far buy on BBB: leaves one position with a resting sell, and two resting orders."""

    name: str = "scripted"

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        step = (view.ts_ms // MINUTE_MS) % 1000
        if step == 1501 % 1000:
            return [PolicyAction(s, Action.BUY, limit_price=view.quotes[s].last * 1.01,
                                 stop_price=view.quotes[s].last * 0.95, confidence=1.0)
                    for s in ("AAAUSDT", "BBBUSDT")]
        if step == 1502 % 1000 and "AAAUSDT" in view.holdings:
            return [PolicyAction("AAAUSDT", Action.SELL, limit_price=150.0, exit=True),
                    PolicyAction("BBBUSDT", Action.HOLD, reason="holding")]
        return []


def run_minutes(trader, book: FeatureBook, first: int, last: int) -> None:
    for minute in range(first, last):
        bars = [Bar(s, minute * MINUTE_MS, 100.0, 100.5, 99.5, 100.0 + (minute % 3) * 0.1, 50.0, 5000.0)
                for s in ("AAAUSDT", "BBBUSDT")]
        for bar in bars:
            trader.on_bar(bar)
        book.on_bars(bars)
        trader.step((minute + 1) * MINUTE_MS, book, ())


def open_trader(path: Path):
    config = load_config(None, environ={})
    ledger = Ledger.open(path, instruments={"AAAUSDT": AAA, "BBBUSDT": BBB})
    trader = make_trader(config, [AAA, BBB], ledger, policy=ScriptedPolicy(), quote_asset="USDT",
                         balance=Decimal("10000"))
    return trader, ledger


def snapshot(trader) -> dict:
    return {
        "positions": {s: (p.amount, p.avg_price, p.realized)
                      for s, p in trader.positions.items() if p.amount},
        "orders": [(o.client_order_id, o.symbol, o.side, o.price, o.remaining)
                   for o in trader.broker.open_orders()],
        "balances": trader.broker.balances(),
        "counters": trader.broker.counters(),
        "equity": trader.equity(),
    }


@pytest.mark.slow
def test_restart_resumes_positions_open_orders_balances_and_ids(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    trader, ledger = open_trader(path)
    assert trader.open_account(Decimal("10000"), 0) is False  # fresh: deposit recorded
    book = FeatureBook(["AAAUSDT", "BBBUSDT"])
    run_minutes(trader, book, 0, 1504)
    before = snapshot(trader)
    assert before["positions"] and before["orders"], "scenario must leave positions and orders"
    ledger.close()

    resumed, ledger2 = open_trader(path)
    assert resumed.open_account(Decimal("10000"), 0) is True
    after = snapshot(resumed)
    resumed.last_price.update(trader.last_price)  # marks come from the next bar in real life
    assert after["positions"] == before["positions"]
    assert after["orders"] == before["orders"]
    assert after["balances"] == before["balances"]
    assert after["counters"] == before["counters"]
    assert resumed.equity() == before["equity"]
    # New ids continue the sequence: nothing is issued twice.
    assert resumed.broker.next_client_order_id() not in {o[0] for o in before["orders"]}
    ledger2.close()
