"""Anomaly detection end to end: train and report from the CLI; a backtest with it switched on
denies entries on coins in alarm and records every decision's anomaly score in the ledger."""

from __future__ import annotations

import json
import logging
import sqlite3
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bot.app.anomaly_setup import make_detector
from bot.cli import app
from bot.config import load_config
from bot.research.anomaly_io import load_grid
from bot.research.backtest import run_backtest
from risk.anomaly import train_bundle
from risk.anomaly_features import INPUT_FEATURES
from risk.anomaly_models import NetShape, TrainSettings
from tests.replay_data import BASELINE_TRADES, write_random_walk_market

TINY = TrainSettings(epochs=1, batch_size=128, seed=1)


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_walk_market(tmp_path_factory.mktemp("market"), minutes=2_000)


@pytest.mark.slow
def test_train_then_report_writes_a_model_a_chart_and_the_top_table(
        market: Path, tmp_path: Path, one_torch_thread: None) -> None:
    runner = CliRunner()
    model = tmp_path / "anomaly.pt"
    # when a model is trained from the command line (as the scheduler's subprocess would)
    trained = runner.invoke(app, ["anomalies", "train", "--data", str(market), "--out",
                                  str(model), "--epochs", "1", "--json"])
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.stdout.strip().splitlines()[-1])
    assert Path(summary["path"]) == model and model.stat().st_size > 10_000
    # and the report is asked for the top 5 with that model
    out_dir = tmp_path / "report"
    report = runner.invoke(app, ["anomalies", "--data", str(market), "--model", str(model),
                                 "--top", "5", "--out", str(out_dir), "--json"])
    assert report.exit_code == 0, report.output
    result = json.loads(report.stdout.strip().splitlines()[-1])
    # then five distinct anomalies come back, highest first, with their context
    rows = result["anomalies"]
    assert len(rows) == 5 and [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert {"time_utc", "symbol", "close", "move_15m_pct", "volume_ratio"} <= set(rows[0])
    png = Path(result["png"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert len((out_dir / "anomalies.csv").read_text().splitlines()) == 6


def test_report_without_data_or_with_a_bad_folder_says_what_to_pass(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["anomalies"])
    assert missing.exit_code == 2 and "--data DIR" in missing.output
    empty = runner.invoke(app, ["anomalies", "--data", str(tmp_path)])
    assert empty.exit_code == 2 and "1m.csv" in empty.output


def test_enabled_without_a_model_the_daemon_trades_without_detection(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(None, environ={"ENTASIS__ANOMALY__ENABLED": "true",
                                        "ENTASIS__APP__DATA_DIR": str(tmp_path)})
    with caplog.at_level(logging.WARNING):
        assert make_detector(config) is None
    assert "entasis anomalies train" in caplog.text
    assert make_detector(load_config(None, environ={})) is None  # off by default


@pytest.mark.slow
def test_a_backtest_with_detection_denies_entries_in_alarm_and_records_scores(
        market: Path, tmp_path: Path, one_torch_thread: None) -> None:
    # given a tiny model with a short warm-up, and a coin alarm rate high enough to bite
    grid = load_grid(market)
    bundle = train_bundle(grid.features, warmup_minutes=120, halflife_minutes=120.0,
                          shape=NetShape(len(INPUT_FEATURES), 8, 3), settings=TINY)
    model = bundle.save(tmp_path / "anomaly.pt")
    config = load_config(None, environ={
        **BASELINE_TRADES, "ENTASIS__ANOMALY__ENABLED": "true", "ENTASIS__ANOMALY__MODEL_PATH": str(model),
        "ENTASIS__ANOMALY__THRESHOLD_METHOD": "percentile", "ENTASIS__ANOMALY__RATE": "0.3",
        "ENTASIS__ANOMALY__MARKET_RATE": "0.0001"})
    # when the baseline policy is replayed with it
    db = tmp_path / "ledger.sqlite"
    run_backtest(config, market, db, policy="baseline", quote_asset="USDT",
                 balance=Decimal(10000))
    # then every decision after the warm-up carries a score, and blocked coins got no entry
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT verdict, anomaly_score, detail FROM decisions").fetchall()
    scored = [r for r in rows if r[1] is not None]
    assert scored and all(np.isfinite(r[1]) for r in scored)
    denied = [r for r in rows if r[0] == "DENIED:ANOMALY"]
    assert denied and all("anomaly score" in r[2] for r in denied)
