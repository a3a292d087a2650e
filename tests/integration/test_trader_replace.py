"""Replacing an order in one decision step through the trader (ADR-011): the risk gate and the
paper broker treat the cancelled order as gone, also for a coin that did not trade in the
minute before the step. Real ledger (SQLite file), real paper broker and risk gate."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from bot.app.assembly import make_trader
from bot.config import load_config
from model.instruments import Instrument, Side
from model.market import MINUTE_MS, Bar
from model.orders import OrderRequest, OrderType
from state.ledger import Ledger
from strategies.features import FeatureBook
from strategies.policy import Action, DecisionView, Policy, PolicyAction
from trading.trader import Trader

AAA = Instrument("AAAUSDT", "AAA", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal(5))
BBB = Instrument("BBBUSDT", "BBB", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal(5))
SYMBOLS = ("AAAUSDT", "BBBUSDT")
FIRST_MINUTE = 1_500  # enough history for the features and VaR


@dataclass
class ReplacingPolicy(Policy):
    """Step 1: buy AAA (marketable). Step 2: rest a far take-profit sell on AAA. Step 3 (a
    minute AAA did not trade): cancel that sell and sell the whole holding lower instead."""

    name: str = "replacing"
    steps: list[int] = field(default_factory=list)

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        step = view.ts_ms // MINUTE_MS - FIRST_MINUTE
        self.steps.append(step)
        if step == 1:
            return [PolicyAction("AAAUSDT", Action.BUY, limit_price=101.0, stop_price=95.0)]
        if step == 2 and "AAAUSDT" in view.holdings:
            return [PolicyAction("AAAUSDT", Action.SELL, limit_price=150.0, exit=True)]
        if step == 3:
            resting = [o for o in view.open_orders if o.symbol == "AAAUSDT"]
            return [*(PolicyAction("AAAUSDT", Action.CANCEL_SELL, client_order_id=o.client_order_id)
                      for o in resting),
                    PolicyAction("AAAUSDT", Action.SELL, limit_price=100.2, exit=True)]
        return []


def open_trader(path: Path) -> tuple[Trader, Ledger]:
    ledger = Ledger.open(path, instruments={"AAAUSDT": AAA, "BBBUSDT": BBB})
    trader = make_trader(load_config(None, environ={}), [AAA, BBB], ledger,
                         policy=ReplacingPolicy(), quote_asset="USDT", balance=Decimal(10000))
    trader.open_account(Decimal(10000), 0)
    return trader, ledger


def run_minute(trader: Trader, book: FeatureBook, minute: int, symbols: tuple[str, ...]) -> None:
    bars = [Bar(s, minute * MINUTE_MS, 100.0, 100.5, 99.5, 100.0 + (minute % 3) * 0.1, 50.0,
                5000.0) for s in symbols]
    trader.on_bars(bars)
    book.on_bars(bars)
    book.advance_to(minute * MINUTE_MS)
    trader.step((minute + 1) * MINUTE_MS, book, ())


@pytest.mark.slow
def test_replacing_sell_in_a_minute_without_a_bar_is_accepted(tmp_path: Path) -> None:
    trader, ledger = open_trader(tmp_path / "ledger.sqlite")
    with ledger:
        book = FeatureBook(list(SYMBOLS))
        for minute in range(FIRST_MINUTE - 1_440, FIRST_MINUTE + 2):
            run_minute(trader, book, minute, SYMBOLS)
        held = trader.positions["AAAUSDT"].amount
        [resting] = trader.broker.open_orders()
        assert held > 0 and resting.side is Side.SELL and resting.amount == held
        run_minute(trader, book, FIRST_MINUTE + 2, ("BBBUSDT",))  # AAA did not trade
        statuses = {r["client_order_id"]: r["status"] for r in ledger.db.query(
            "SELECT client_order_id, status FROM orders")}
        assert statuses[resting.client_order_id] == "CANCELED"
        [replacing] = trader.broker.open_orders()
        assert statuses[replacing.client_order_id] == "ACCEPTED"
        assert replacing.amount == held and replacing.price == Decimal("100.20")
        assert "REJECTED" not in statuses.values()
        assert trader.policy.steps[-1] == 3  # type: ignore[attr-defined]


def test_a_buy_with_a_cancel_requested_is_not_a_pending_buy(tmp_path: Path) -> None:
    """A mid-minute cancel (the operator's forceexit) may still fill on the bar in progress,
    so the broker keeps its funds locked; the gate no longer counts it as exposure."""
    trader, ledger = open_trader(tmp_path / "ledger.sqlite")
    with ledger:
        book = FeatureBook(list(SYMBOLS))
        run_minute(trader, book, FIRST_MINUTE, SYMBOLS)
        request_ts = (FIRST_MINUTE + 1) * MINUTE_MS
        for price in ("90.00", "91.00"):
            trader.broker.submit(_limit_buy(trader, price, request_ts))
        first, second = trader.broker.open_orders()
        equity = trader.equity()
        both = trader._portfolio(equity).pending_buys["AAAUSDT"]
        assert both == Decimal("181.00")
        trader.broker.cancel(first.client_order_id, request_ts + 30_000)  # mid-minute
        assert trader.broker.open_orders()[0].cancel_requested_ms == request_ts + 30_000
        view = trader._portfolio(equity)
        assert view.pending_buys["AAAUSDT"] == second.price
        assert view.cash == trader.broker.free_balances()["USDT"] < Decimal(10000) - both


def _limit_buy(trader: Trader, price: str, ts: int) -> OrderRequest:
    return OrderRequest(trader.broker.next_client_order_id(), "AAAUSDT", Side.BUY,
                        OrderType.LIMIT, Decimal("1.000"), Decimal(price), ts)
