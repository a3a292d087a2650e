"""`entasis backtest --engine fast`: the engine's summary JSON, a ledger `entasis report`
reads, other timeframes, and clear refusals."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bot.cli import app
from state.ledger import Ledger
from tests.replay_data import START_MS, write_random_walk_market

HOUR_MS = 3_600_000
HOUR_START_MS = START_MS - START_MS % HOUR_MS


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_walk_market(tmp_path_factory.mktemp("market"), minutes=1_800)


def write_hourly_market(folder: Path, hours: int = 400, coins: int = 3) -> Path:
    """`<C>_USDT-1h.csv.gz` files of a seeded random walk."""
    rng = np.random.default_rng(5)
    folder.mkdir(parents=True, exist_ok=True)
    for c in range(coins):
        close = np.exp(np.log(30.0 + 10 * c) + np.cumsum(rng.normal(0, 0.01, hours)))
        open_ = np.r_[close[0], close[:-1]]
        lines = ["timestamp_ms,open,high,low,close,volume"]
        for t in range(hours):
            high, low = max(open_[t], close[t]) * 1.004, min(open_[t], close[t]) * 0.996
            lines.append(f"{HOUR_START_MS + t * HOUR_MS},{open_[t]:.4f},{high:.4f},{low:.4f},"
                         f"{close[t]:.4f},{rng.lognormal(6, 0.5):.3f}")
        with gzip.open(folder / f"H{c}_USDT-1h.csv.gz", "wt") as handle:
            handle.write("\n".join(lines) + "\n")
    return folder


@pytest.fixture(autouse=True)
def defaults(tmp_path: Path) -> None:
    """Every command reads an empty config (the defaults), not the checkout's config.toml."""
    (tmp_path / "config.toml").write_text("")


def backtest(*args: str) -> tuple[int, str]:
    config = Path(args[args.index("--db") + 1]).parent / "config.toml"
    result = CliRunner().invoke(app, ["backtest", *args, "--config", str(config)])
    return result.exit_code, result.output


def test_fast_engine_prints_the_event_engines_summary_fields(market: Path, tmp_path: Path) -> None:
    code, out = backtest("--engine", "fast", "--policy", "sma", "--data", str(market),
                         "--db", str(tmp_path / "fast.sqlite"), "--quote", "USDT", "--json")
    assert code == 0, out
    figures = json.loads(out.strip().splitlines()[-1])
    assert {"policy", "quote_asset", "symbols", "minutes", "total_return", "sharpe",
            "max_drawdown", "trades", "fees", "exposure", "turnover", "start_equity",
            "end_equity", "ledger_digest", "wall_s", "db"} <= set(figures)
    assert figures["policy"] == "sma" and figures["trades"] > 0
    with Ledger.open(tmp_path / "fast.sqlite") as ledger:
        assert len(ledger.fills()) > 0 and len(ledger.equity_curve()) > 0
        assert ledger.integrity_check() == "ok"
        assert ledger.rebuild_projections() >= 0


def test_report_reads_a_fast_ledger(market: Path, tmp_path: Path) -> None:
    code, out = backtest("--engine", "fast", "--policy", "buyhold", "--data", str(market),
                         "--db", str(tmp_path / "fast.sqlite"), "--quote", "USDT", "--json")
    assert code == 0, out
    done = CliRunner().invoke(app, ["report", "--out", str(tmp_path / "r"), "--ledger",
                                    str(tmp_path / "fast.sqlite"), "--json",
                                    "--config", str(tmp_path / "config.toml")])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "r" / "report.html").is_file()


def test_fast_engine_trades_hourly_bars(tmp_path: Path) -> None:
    data = write_hourly_market(tmp_path / "hourly")
    code, out = backtest("--engine", "fast", "--timeframe", "1h", "--policy", "sma", "--data",
                         str(data), "--db", str(tmp_path / "h.sqlite"), "--json")
    assert code == 0, out
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["quote_asset"] == "USDT" and figures["trades"] > 0
    assert figures["minutes"] == 200 * 60  # half of the 400 hours is warm-up; in minutes


def test_event_engine_refuses_other_timeframes_and_names_the_fast_engine(market: Path,
                                                                          tmp_path: Path) -> None:
    code, out = backtest("--timeframe", "5m", "--data", str(market), "--db",
                         str(tmp_path / "x.sqlite"))
    assert code == 2
    assert "--engine fast" in " ".join(out.split())
    assert not (tmp_path / "x.sqlite").exists()


def test_fast_engine_refuses_a_policy_it_cannot_batch(market: Path, tmp_path: Path) -> None:
    code, out = backtest("--engine", "fast", "--policy", "rl", "--data", str(market),
                         "--db", str(tmp_path / "x.sqlite"))
    assert code == 2
    assert "baseline, buyhold, flat, forecast, sma, topk" in " ".join(out.split())
    assert not (tmp_path / "x.sqlite").exists()


def test_fast_engine_names_a_missing_timeframe_file(market: Path, tmp_path: Path) -> None:
    code, out = backtest("--engine", "fast", "--timeframe", "1h", "--policy", "sma", "--data",
                         str(market), "--db", str(tmp_path / "x.sqlite"))
    assert code == 2
    assert str(market.name) in " ".join(out.split())
    assert not (tmp_path / "x.sqlite").exists()
