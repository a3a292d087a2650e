"""`entasis sim report --ledger` end to end on a ledger in a temp dir: realized vs modeled
execution per symbol and side, the drift state, and the errors that say what to do."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from sqlite_utils import Database
from typer.testing import CliRunner

from bot.cli import app
from model.fills import FillParams
from state.ledger import Ledger
from state.sample import SAMPLE_INSTRUMENTS
from state.schema import migrate
from strategies.features import FeatureBook
from tests.integration.test_execution_paper import FIRST, open_paper, run_minutes
from tests.unit.test_execution_ledger import cancel_all
from trading.execution_drift import DriftLimits
from trading.execution_monitor import ExecutionMonitor


def _report(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["sim", "report", *args])
    return result.exit_code, result.stdout


@pytest.fixture(scope="module")
def paper_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A paper run's ledger: a taker buy filled, a passive buy and a sell canceled."""
    path = tmp_path_factory.mktemp("sim_ledger") / "ledger.sqlite"
    trader, ledger = open_paper(path, [])
    trader.open_account(Decimal("10000"), 0)
    run_minutes(trader, FeatureBook(["AAAUSDT", "BBBUSDT"]), 0, FIRST + 5)
    ledger.close()
    return path


def test_json_is_one_line_with_each_symbol_side_realized_beside_modeled(
        paper_ledger: Path, tmp_path: Path) -> None:
    code, stdout = _report("--ledger", str(paper_ledger), "--config", str(tmp_path / "none"),
                           "--json")
    assert code == 0 and len(stdout.strip().splitlines()) == 1
    report = json.loads(stdout)
    assert report["ok"] is True and (report["orders"], report["open"]) == (3, 0)
    assert report["outcomes"] == {"CANCELED": 2, "FILLED": 1}
    rows = {(r["symbol"], r["side"]): r for r in report["by_symbol_side"]}
    assert set(rows) == {("AAAUSDT", "BUY"), ("AAAUSDT", "SELL"), ("BBBUSDT", "BUY")}
    taker = rows[("AAAUSDT", "BUY")]
    assert taker["filled_orders"] == 1 and taker["realized_fill_rate"] == 1.0
    assert taker["realized_slippage_bps"] == pytest.approx(taker["modeled_slippage_bps"])
    assert rows[("BBBUSDT", "BUY")]["realized_slippage_bps"] is None  # nothing filled
    assert report["total"]["orders"] == 3 and report["drifting"] == []
    assert report["limits"]["window_orders"] == DriftLimits().window_orders


def test_the_table_names_every_symbol_side_and_the_total(paper_ledger: Path) -> None:
    code, stdout = _report("--ledger", str(paper_ledger))
    assert code == 0
    for label in ("AAAUSDT BUY", "AAAUSDT SELL", "BBBUSDT BUY", "all", "3 orders recorded"):
        assert label in stdout


def test_a_drifting_symbol_side_is_reported_with_the_config_limits(tmp_path: Path) -> None:
    path, config = tmp_path / "ledger.sqlite", tmp_path / "config.toml"
    config.write_text("[execution]\nwindow_orders = 30\nmin_orders = 10\n")
    with Ledger.open(path) as ledger:
        monitor = ExecutionMonitor(ledger, SAMPLE_INSTRUMENTS, FillParams(),
                                   limits=DriftLimits(window_orders=30, min_orders=10))
        cancel_all(monitor, ledger, 0, 12)  # 12 orders given 90 %, none filled
    code, stdout = _report("--ledger", str(path), "--config", str(config), "--json")
    assert code == 0
    report = json.loads(stdout)
    assert report["drifting"] == [{"symbol": "BTCUSDT", "side": "BUY", "metric": "fill_rate"}]
    fill = report["by_symbol_side"][0]["drift"]["fill_rate"]
    assert fill["drifting"] and fill["mean_gap"] == pytest.approx(-0.9)
    _, table = _report("--ledger", str(path), "--config", str(config))
    assert "DRIFT: fill rate -90%" in table


def test_a_missing_ledger_and_one_older_than_the_table_are_clear_errors(tmp_path: Path) -> None:
    code, stdout = _report("--ledger", str(tmp_path / "nope.sqlite"), "--json")
    assert code == 1 and "no ledger at" in json.loads(stdout)["error"]
    old = tmp_path / "old.sqlite"
    db = Database(sqlite3.connect(old, isolation_level=None))
    migrate(db, target=5)
    db.close()
    code, stdout = _report("--ledger", str(old), "--json")
    assert code == 1 and "no executions table" in json.loads(stdout)["error"]
    assert "daemon adds the table" in json.loads(stdout)["hint"]


def test_ledger_and_data_are_two_reports_one_of_which_must_be_asked_for(
        paper_ledger: Path, tmp_path: Path) -> None:
    assert _report("--ledger", str(paper_ledger), "--data", str(tmp_path))[0] == 2
    assert _report()[0] == 2
