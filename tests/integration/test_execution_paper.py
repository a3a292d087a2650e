"""A paper trader built as the daemon builds it records each order's expected and realized
execution in the ledger, in the same transactions as the orders, and the record survives a
reopen; a backtest's trader records none (its ledger digest stays as documented)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

from bot.app.assembly import DaemonParts, make_trader
from bot.config import load_config
from bot.ops.metrics import snapshot_of
from model.instruments import Instrument
from model.market import MINUTE_MS, Bar
from state.ledger import Ledger
from strategies.features import FeatureBook
from strategies.policy import Action, DecisionView, Policy, PolicyAction
from trading.execution_monitor import ExecutionMonitor
from trading.notices import Notice, NoticeKind, Notifier

AAA = Instrument("AAAUSDT", "AAA", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("5"))
BBB = Instrument("BBBUSDT", "BBB", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("5"))
FIRST = 150  # minutes of history before the policy acts (the risk gate's return window)


@dataclass
class ScriptedPolicy(Policy):
    """Minute FIRST: a marketable buy of AAA and a passive buy of BBB 2 % under the price;
    FIRST+1: a far take-profit sell of AAA; FIRST+3: cancel every resting order."""

    name: str = "scripted"

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        minute = view.ts_ms // MINUTE_MS - 1
        if minute == FIRST:
            last = {s: view.quotes[s].last for s in ("AAAUSDT", "BBBUSDT")}
            return [PolicyAction("AAAUSDT", Action.BUY, limit_price=last["AAAUSDT"] * 1.01,
                                 stop_price=last["AAAUSDT"] * 0.95),
                    PolicyAction("BBBUSDT", Action.BUY, limit_price=last["BBBUSDT"] * 0.98,
                                 stop_price=last["BBBUSDT"] * 0.95)]
        if minute == FIRST + 1 and "AAAUSDT" in view.holdings:
            return [PolicyAction("AAAUSDT", Action.SELL, limit_price=150.0, exit=True)]
        if minute == FIRST + 3:
            return [PolicyAction(o.symbol, Action.CANCEL_BUY if o.side == "BUY"
                                 else Action.CANCEL_SELL, client_order_id=o.client_order_id)
                    for o in view.open_orders]
        return []


def run_minutes(trader, book: FeatureBook, first: int, last: int) -> None:  # type: ignore[no-untyped-def]
    for minute in range(first, last):
        bars = [Bar(s, minute * MINUTE_MS, 100.0, 100.5, 99.5, 100.0 + (minute % 3) * 0.1,
                    50.0, 5000.0) for s in ("AAAUSDT", "BBBUSDT")]
        trader.on_bars(bars)
        book.on_bars(bars)
        trader.step((minute + 1) * MINUTE_MS, book, ())


def open_paper(path: Path, notices: list[Notice], *, daemon: bool = True):  # type: ignore[no-untyped-def]
    config = load_config(None, environ={})
    ledger = Ledger.open(path, instruments={"AAAUSDT": AAA, "BBBUSDT": BBB})
    notifier = Notifier()
    notifier.subscribe(notices.append)
    trader = make_trader(config, [AAA, BBB], ledger, policy=ScriptedPolicy(),
                         quote_asset="USDT", balance=Decimal("10000"),
                         daemon=DaemonParts(notifier=notifier) if daemon else None)
    return trader, ledger


def test_a_paper_run_records_expected_and_realized_execution_that_survives_a_reopen(
        tmp_path: Path) -> None:
    # given the daemon's paper trader
    path, notices = tmp_path / "ledger.sqlite", list[Notice]()
    trader, ledger = open_paper(path, notices)
    assert isinstance(trader.execution, ExecutionMonitor)
    trader.open_account(Decimal("10000"), 0)
    book = FeatureBook(["AAAUSDT", "BBBUSDT"])
    # when it trades a few minutes: a taker buy, a passive buy, a sell, then cancels
    run_minutes(trader, book, 0, FIRST + 5)
    rows = {r.client_order_id: r for r in ledger.executions.completed()}
    # then every order has its expectation beside its outcome
    orders = {o["client_order_id"] for o in ledger.db.query("SELECT * FROM orders")}
    assert set(rows) == set(orders) and len(rows) == 3
    by_kind = {(r.symbol, r.side): r for r in rows.values()}
    taker = by_kind[("AAAUSDT", "BUY")]
    assert taker.marketable and taker.outcome == "FILLED"
    assert taker.expected_price > taker.reference_price  # touch + modeled slippage
    fills = ledger.fills_of(taker.client_order_id)
    average = sum(f.price * f.amount for f in fills) / sum(f.amount for f in fills)
    assert taker.avg_fill_price == average and taker.filled_share == 1.0
    assert taker.time_to_fill_ms == fills[-1].ts_event - taker.submitted_ts
    passive = by_kind[("BBBUSDT", "BUY")]
    assert not passive.marketable and passive.queue_ahead is not None
    assert passive.expected_price == passive.limit_price
    assert passive.outcome == "CANCELED" and passive.realized_slippage_bps is None
    assert 0.0 <= passive.fill_probability < 1.0  # 2 % under a market that never went there
    assert by_kind[("AAAUSDT", "SELL")].outcome == "CANCELED"
    # and the metrics' figures come from the same rows
    summary = trader.execution.summary()
    assert summary.orders == 3 and summary.filled_orders == 1
    metrics = snapshot_of(SimpleNamespace(engine=None, trader=trader, feed=None))
    assert metrics.fill_rate == {"modeled": summary.modeled_fill_rate,
                                 "realized": summary.realized_fill_rate}
    assert metrics.slippage_bps["realized"] == summary.realized_slippage_bps
    assert metrics.execution_drifts == 0
    assert not [n for n in notices if n.kind is NoticeKind.EXECUTION_DRIFT]  # 3 orders: no verdict
    ledger.close()
    # when the file is reopened, the rows are all there, and a restarted monitor reads them
    again, reopened = open_paper(path, notices)
    assert {r.client_order_id: r for r in reopened.executions.completed()} == rows
    assert again.execution.summary() == summary
    reopened.close()


def test_a_backtests_trader_records_no_execution_and_its_digest_ignores_the_empty_table(
        tmp_path: Path) -> None:
    trader, ledger = open_paper(tmp_path / "backtest.sqlite", [], daemon=False)
    assert trader.execution is None
    trader.open_account(Decimal("10000"), 0)
    run_minutes(trader, FeatureBook(["AAAUSDT", "BBBUSDT"]), 0, FIRST + 5)
    assert ledger.executions.count() == (0, 0)
    tables = [t for t in ledger.db.table_names() if t != "executions"]
    assert ledger.table_digest() == ledger.table_digest(tables)
    ledger.close()
