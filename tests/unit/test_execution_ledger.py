"""The ledger's executions table: migrated into older files, written through the Ledger API,
kept by reopen and replay, out of the digest while empty; and the monitor's drift notice."""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D
from pathlib import Path

from sqlite_utils import Database

from model.fills import FillParams
from model.orders import Canceled
from state.executions import ExecutionRow
from state.ledger import Ledger
from state.sample import SAMPLE_INSTRUMENTS, sample_events
from state.schema import SCHEMA_VERSION, migrate, schema_version
from trading.execution_drift import FILL_RATE, DriftLimits
from trading.execution_monitor import ExecutionMonitor
from trading.notices import Notice, NoticeKind, Notifier

T0 = 1_700_000_000_000


def expected(cid: str, *, symbol: str = "BTCUSDT", probability: float = 0.9) -> ExecutionRow:
    return ExecutionRow(
        client_order_id=cid, symbol=symbol, side="BUY", type="LIMIT", amount=D("0.5"),
        limit_price=D("100.00"), submitted_ts=T0, horizon_ms=300_000,
        reference_price=D("100.005"), expected_price=D("100.00"),
        expected_slippage_bps=-0.5, fill_probability=probability, queue_ahead=4.0,
        marketable=False)


def test_an_older_ledger_opens_migrated_with_an_empty_executions_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = Database(sqlite3.connect(path, isolation_level=None))
    migrate(old, target=5)  # as the release before execution recording wrote it
    old.table("kv").insert({"key": "trading_state", "value": '"ACTIVE"'})
    old.close()
    with Ledger.open(path) as ledger:
        assert schema_version(ledger.db) == SCHEMA_VERSION
        assert ledger.executions.count() == (0, 0)
        assert ledger.get_kv("trading_state") == "ACTIVE"


def test_an_execution_is_written_realized_once_and_read_back_after_a_reopen(
        tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as ledger:
        with ledger.batch():
            ledger.executions.record_expected(expected("E-1"))
            ledger.executions.record_expected(expected("E-1", probability=0.1))  # ignored
        assert ledger.executions.count() == (1, 1)
        assert ledger.executions.record_realized(
            "E-1", outcome="FILLED", completed_ts=T0 + 60_000, filled_amount=D("0.5"),
            avg_fill_price=D("100.00"), filled_share=1.0, filled_share_in_horizon=1.0,
            realized_slippage_bps=-0.5, time_to_fill_ms=60_000)
        assert not ledger.executions.record_realized(  # an order ends once
            "E-1", outcome="CANCELED", completed_ts=T0 + 120_000, filled_amount=D(0),
            avg_fill_price=None, filled_share=0.0, filled_share_in_horizon=0.0,
            realized_slippage_bps=None, time_to_fill_ms=None)
        written = ledger.executions.get("E-1")
    with Ledger.open(path) as again:
        assert again.executions.completed() == [written]
        assert written is not None and written.fill_probability == 0.9
        assert written.outcome == "FILLED" and written.avg_fill_price == D("100.00")


def test_the_digest_skips_the_executions_table_only_while_it_is_empty(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.db", instruments=SAMPLE_INSTRUMENTS) as ledger:
        ledger.record_all(sample_events(100, seed=4))
        others = [t for t in ledger.db.table_names() if t != "executions"]
        assert ledger.table_digest() == ledger.table_digest(others)  # backtest digests hold
        ledger.executions.record_expected(expected("E-1"))
        assert ledger.table_digest() != ledger.table_digest(others)
        with_row = ledger.table_digest()
        ledger.rebuild_projections()  # not a projection of events: a replay keeps it
        assert ledger.table_digest() == with_row


def cancel_all(monitor: ExecutionMonitor, ledger: Ledger, first: int, count: int) -> None:
    """`count` orders the model gave a 90 % chance that end canceled, unfilled."""
    for i in range(first, first + count):
        with ledger.batch():
            ledger.executions.record_expected(expected(f"E-{i}"))
            monitor.on_events([Canceled(f"E-{i}", "BTCUSDT", D("0.5"), T0 + i, T0 + i)])


def test_a_sustained_fill_rate_drift_is_one_notice_and_a_restart_does_not_repeat_it(
        tmp_path: Path) -> None:
    notices: list[Notice] = []
    notifier = Notifier()
    notifier.subscribe(notices.append)
    limits = DriftLimits(window_orders=30, min_orders=10)
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        monitor = ExecutionMonitor(ledger, SAMPLE_INSTRUMENTS, FillParams(), limits=limits,
                                   notifier=notifier)
        # when 25 orders in a row miss a 90 % fill probability
        cancel_all(monitor, ledger, 0, 25)
        # then one notice, at the 10th, that names the symbol, the side and the remedy
        drift = [n for n in notices if n.kind is NoticeKind.EXECUTION_DRIFT]
        assert len(drift) == 1 and drift[0].ts_ms == T0 + 9
        assert drift[0].data["metric"] == FILL_RATE and drift[0].data["raised"] is True
        assert "BTCUSDT BUY" in drift[0].text and "recalibrate" in drift[0].text
        assert monitor.summary().realized_fill_rate == 0.0
        # and a monitor built on the same ledger (a restart) knows, without a second notice
        restarted = ExecutionMonitor(ledger, SAMPLE_INSTRUMENTS, FillParams(), limits=limits,
                                     notifier=notifier)
        assert restarted.detector.drifting() == [("BTCUSDT", "BUY", FILL_RATE)]
        cancel_all(restarted, ledger, 25, 5)
        assert len([n for n in notices if n.kind is NoticeKind.EXECUTION_DRIFT]) == 1
