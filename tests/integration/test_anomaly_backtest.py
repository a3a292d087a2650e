"""`python -m bot.research.anomaly_backtest` / `entasis anomalies backtest` on small generated markets:
train on one period, replay a later one with detection off and on, same everything else."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.config import load_config
from bot.research.anomaly_backtest import VARIANTS, Variant, compare, main, table_lines
from tests.replay_data import BASELINE_TRADES, write_random_walk_market


@pytest.fixture(scope="module")
def periods(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("periods")
    train = write_random_walk_market(root / "train", coins=4, minutes=2_000, seed=21, gaps=0)
    test = write_random_walk_market(root / "test", coins=4, minutes=2 * 1_440 + 60, seed=22)
    return train, test


@pytest.mark.slow
def test_detection_off_and_on_differ_only_in_detection(
        periods: tuple[Path, Path], tmp_path: Path, one_torch_thread: None) -> None:
    train, test = periods
    # a coin alarm rate high enough to bite in 120 minutes
    config = load_config(None, environ={**BASELINE_TRADES,
                                        "ENTASIS__ANOMALY__THRESHOLD_METHOD": "percentile",
                                        "ENTASIS__ANOMALY__RATE": "0.2"})
    result = compare(config, test, tmp_path / "work", train_dir=train, epochs=1,
                     variants=VARIANTS[:3], balance=Decimal(10_000), minutes=120)
    off, gate, ranked, flat = result["runs"]
    assert Path(result["model"]).is_file()
    # then all three replayed the same minutes of the same market
    assert off["minutes"] == gate["minutes"] == ranked["minutes"] == 120
    assert off["symbols"] == gate["symbols"] == 4
    # detection off: no scores, nothing blocked; on: every decision scored from the first
    # minute (the backfill warmed it) and entries on coins in alarm were blocked
    assert off["decisions_scored"] == 0 and off["entries_blocked_anomaly"] == 0
    for run in (gate, ranked):
        assert run["decisions_scored"] > 0
        assert run["entries_blocked_anomaly"] > 0
        assert run["buy_decisions"] >= (run["entries_approved"] + run["entries_blocked_anomaly"]
                                        + run["entries_denied_trading_state"])
    assert gate["ledger_digest"] != off["ledger_digest"]
    assert all("hours_to_drawdown_breaker" in run for run in (off, gate, ranked))
    assert flat["total_return"] == 0.0 and flat["trades"] == 0
    lines = table_lines(result)
    assert lines[0].startswith("| variant |") and len(lines) == 2 + 4


def test_the_command_line_prints_one_json_object_and_says_what_is_missing(
        periods: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        one_torch_thread: None) -> None:
    _, test = periods
    # when only the no-detection baseline and buy-and-hold are asked for, nothing is trained
    code = main(["--test", str(test), "--out", str(tmp_path / "w"), "--variants", "0,3",
                 "--balance", "10000", "--minutes", "30", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["variant"] for r in result["runs"]] == [VARIANTS[0].name, VARIANTS[3].name,
                                                      "flat (no trades)"]
    assert result["model"] is None
    # a detection variant without --train or --model is refused with what to pass
    runner = CliRunner()
    refused = runner.invoke(app, ["anomalies", "backtest", "--test", str(test), "--out",
                                  str(tmp_path / "w2"), "--variants", "1", "--minutes", "5"])
    assert refused.exit_code == 2 and "--train DIR" in refused.output


def test_a_variant_with_detection_needs_a_model() -> None:
    from bot.research.anomaly_backtest import variant_config

    with pytest.raises(ValueError, match="needs a model"):
        variant_config(load_config(None, environ={}), Variant("x", "baseline", "gate"), None)


def test_hours_to_drawdown_counts_from_the_first_snapshot_to_the_first_breach(
        tmp_path: Path) -> None:
    import sqlite3

    from bot.research.anomaly_backtest import hours_to_drawdown

    db = tmp_path / "ledger.sqlite"
    hour = 3_600_000
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE equity (ts INTEGER, equity TEXT)")
        # peak 110 at 1 h; 104 (-5.5 %) at 3 h; 103 (-6.4 %) at 4 h
        conn.executemany("INSERT INTO equity VALUES (?, ?)", [
            (0, "100"), (hour, "110"), (2 * hour, "106"), (3 * hour, "104"),
            (4 * hour, "103")])
    assert hours_to_drawdown(db, 5.0) == 3.0  # measured from the peak, not the start
    assert hours_to_drawdown(db, 6.0) == 4.0
    assert hours_to_drawdown(db, 10.0) is None
