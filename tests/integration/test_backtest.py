"""Replay backtests: deterministic ledgers, baselines beside the policy, a clear CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import load_config
from bot.research.backtest import run_backtest
from exchange.feeds.replay import ReplayFeed
from exchange.sim.replay import ReplaySource
from state.ledger import Ledger
from tests.conftest import REPO_ROOT
from tests.replay_data import BASELINE_TRADES, write_random_walk_market


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_walk_market(tmp_path_factory.mktemp("market"), minutes=1_800)


def backtest(market: Path, db: Path, policy: str = "baseline"):
    config = load_config(None, environ=BASELINE_TRADES)
    return run_backtest(config, market, db, policy=policy, quote_asset="USDT",
                        balance=Decimal("10000"))


@pytest.mark.slow
def test_same_data_config_and_seed_give_byte_identical_ledgers(market: Path, tmp_path: Path) -> None:
    first = backtest(market, tmp_path / "a.sqlite")
    second = backtest(market, tmp_path / "b.sqlite")
    assert first.ledger_digest == second.ledger_digest
    feed = ReplayFeed(ReplaySource.from_dir(market), on_tick=print, on_bar=print)
    instruments = {i.symbol: i for i in feed.instruments}
    with Ledger.open(tmp_path / "a.sqlite", instruments=instruments) as ledger:
        assert len(ledger.fills()) > 0, "the scenario must trade for the comparison to mean anything"
        assert ledger.integrity_check() == "ok"
        assert ledger.rebuild_projections() >= 0
        assert ledger.table_digest() == first.ledger_digest  # projections rebuilt from events alone


@pytest.mark.slow
def test_the_baseline_uses_all_five_actions_and_records_every_decision(market: Path, tmp_path: Path) -> None:
    backtest(market, tmp_path / "a.sqlite")
    with Ledger.open(tmp_path / "a.sqlite") as ledger:
        actions = {row["action"] for row in ledger.db.query("SELECT DISTINCT action FROM decisions")}
        verdicts = {row["verdict"] for row in ledger.db.query("SELECT DISTINCT verdict FROM decisions")}
    assert actions >= {"BUY", "SELL", "HOLD", "CANCEL_BUY"}, actions
    assert "APPROVED" in verdicts


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["buyhold", "sma"])
def test_baselines_run_on_the_same_engine_and_fill_model(market: Path, tmp_path: Path, policy: str) -> None:
    result = backtest(market, tmp_path / f"{policy}.sqlite", policy)
    assert result.performance.fees > 0  # it traded through the same broker
    assert result.minutes > 0


@pytest.mark.slow
def test_cli_prints_one_json_object_with_the_statistics_as_last_line(market: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "backtest", "--data", str(market), "--policy", "sma",
         "--db", str(tmp_path / "cli.sqlite"), "--quote", "USDT", "--json", "--to", "1700095980000"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("total_return", "sharpe", "sortino", "max_drawdown", "win_rate", "trades", "fees"):
        assert key in figures
    # warm-up is min(1 day, half the data) = 900 minutes; --to stops 200 minutes early
    assert figures["minutes"] == 1_600 - 900


@pytest.mark.slow
def test_cli_refuses_an_unknown_policy_and_a_missing_folder(tmp_path: Path) -> None:
    unknown = subprocess.run(
        [sys.executable, "-m", "bot.cli", "backtest", "--data", str(tmp_path), "--policy", "moon"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
    )
    assert unknown.returncode == 2 and "baseline, buyhold, sma" in unknown.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "bot.cli", "backtest", "--data", str(tmp_path / "nope"),
         "--db", str(tmp_path / "x.sqlite")],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
    )
    assert missing.returncode == 2 and "not found" in missing.stderr


@pytest.mark.slow
def test_no_decision_sees_a_bar_before_it_closes(market: Path, tmp_path: Path) -> None:
    """Rewrite every bar from minute t on: every decision stamped at or before t is unchanged
    (a decision at t may use only bars that closed before t)."""
    import gzip

    altered = tmp_path / "altered"
    altered.mkdir()
    cut_ms = 1_699_999_980_000 + 1_650 * 60_000
    for source in market.iterdir():
        with gzip.open(source, "rt") as handle:
            lines = handle.read().splitlines()
        out = [lines[0]]
        for line in lines[1:]:
            ts, o, h, l, c, v = line.split(",")  # noqa: E741  OHLCV
            if int(ts) >= cut_ms:  # crash the market from t on: a policy that peeked would react
                o, h, l, c = (f"{float(x) * 0.5:.4f}" for x in (o, h, l, c))  # noqa: E741
            out.append(",".join((ts, o, h, l, c, v)))
        with gzip.open(altered / source.name, "wt") as handle:
            handle.write("\n".join(out) + "\n")

    def decisions(path: Path) -> list[tuple]:
        with Ledger.open(path) as ledger:
            return [tuple(r.values()) for r in ledger.db.query(
                "SELECT ts, symbol, score, action, verdict, detail FROM decisions WHERE ts <= ? ORDER BY id",
                [cut_ms])]

    backtest(market, tmp_path / "original.sqlite")
    backtest(altered, tmp_path / "altered.sqlite")
    before = decisions(tmp_path / "original.sqlite")
    assert before and before == decisions(tmp_path / "altered.sqlite")
    with Ledger.open(tmp_path / "altered.sqlite") as ledger:
        later = ledger.db.execute("SELECT COUNT(*) FROM decisions WHERE ts > ?", [cut_ms]).fetchone()[0]
    assert later > 0  # and the run did go on past t


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["baseline", "sma"])
def test_the_direct_replay_writes_the_ledger_the_wire_frames_write(
    market: Path, tmp_path: Path, policy: str
) -> None:
    """The default replay (events computed from the simulator's state) and the replay through
    serialized and re-parsed Binance frames give byte-identical ledgers (ADR-045 digest)."""
    config = load_config(None, environ=BASELINE_TRADES)
    runs = [run_backtest(config, market, tmp_path / f"{policy}-{wire}.sqlite", policy=policy,
                         quote_asset="USDT", balance=Decimal("10000"), wire_frames=wire)
            for wire in (False, True)]
    assert runs[0].performance.trades > 0, "the comparison must cover fills"
    assert runs[0].ledger_digest == runs[1].ledger_digest


@pytest.mark.slow
def test_a_replay_commits_every_minute_it_played_including_the_last_partial_hour(
        market: Path, tmp_path: Path) -> None:
    # the replay commits an hour of steps at a time (bot/research/backtest.py): 150 minutes
    # end inside the third hour, whose steps must reach the file too
    config = load_config(None, environ=BASELINE_TRADES)
    start = ReplaySource.from_dir(market).now_ms
    result = run_backtest(config, market, tmp_path / "a.sqlite", policy="baseline",
                          quote_asset="USDT", balance=Decimal("10000"), to_ms=start + 150 * 60_000)
    assert result.minutes == 150
    with Ledger.open(tmp_path / "a.sqlite") as ledger:
        steps = [point.ts for point in ledger.equity_curve()]
    assert steps[-150:] == [start + minute * 60_000 for minute in range(1, 151)]
