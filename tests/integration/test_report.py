"""Reports and charts from a REAL backtest ledger: the baseline policy replayed on a seeded
market through the daemon's engine, broker and ledger (bot/research/backtest.py), then charted."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from bot.config import load_config
from bot.research import charts
from bot.research.backtest import BacktestResult, run_backtest
from bot.research.report import (
    REGIME_WINDOWS,
    build_report,
    hourly_stats,
    load_ledger,
    prices_from_ohlcv_dir,
    regime_outcomes,
    regime_series,
)
from model.instruments import Side
from tests.conftest import REPO_ROOT
from tests.replay_data import BASELINE_TRADES, write_random_walk_market


@pytest.fixture(scope="module")
def backtested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, BacktestResult]:
    """(market folder, ledger, result) of a ~22 h baseline backtest on 4 coins."""
    root = tmp_path_factory.mktemp("report")
    market = write_random_walk_market(root / "market", coins=4, minutes=2_800)
    ledger = root / "ledger.sqlite"
    result = run_backtest(load_config(None, environ=BASELINE_TRADES), market, ledger,
                          policy="baseline",
                          quote_asset="USDT", balance=Decimal(10000))
    assert result.performance.trades > 10, "the scenario must trade for the charts to mean much"
    return market, ledger, result


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails unless the file is a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.mark.slow
def test_round_trips_read_back_from_the_ledger_match_the_traders_own(backtested) -> None:
    _, ledger, result = backtested
    view = load_ledger(ledger)
    assert len(view.trips) == result.performance.trades
    wins = sum(1 for t in view.trips if t.pnl > 0)
    assert wins / len(view.trips) == pytest.approx(result.performance.win_rate, abs=1e-6)
    assert view.equity[0] == pytest.approx(result.performance.start_equity)
    assert view.equity[-1] == pytest.approx(result.performance.end_equity)


@pytest.mark.slow
def test_hourly_stats_count_every_fill_and_chain_returns(backtested) -> None:
    _, ledger, _ = backtested
    view = load_ledger(ledger)
    hours = hourly_stats(view)
    assert sum(h.buys for h in hours) == sum(1 for f in view.fills if f.side is Side.BUY)
    assert sum(h.sells for h in hours) == sum(1 for f in view.fills if f.side is Side.SELL)
    assert sum(h.closed_trips for h in hours) == len(view.trips)
    growth = np.prod([1 + h.return_pct / 100 for h in hours])
    assert growth == pytest.approx(view.equity[-1] / view.equity[0], rel=1e-9)


@pytest.mark.slow
def test_charts_carry_the_expected_series_and_labels(backtested) -> None:
    market, ledger, _ = backtested
    view = load_ledger(ledger)
    hours = hourly_stats(view)

    equity = charts.equity_chart(view)
    top = equity.axes[0]
    assert top.get_title() == "Equity with fills"
    np.testing.assert_allclose(top.lines[0].get_ydata(), view.equity)
    labels = [t.get_text() for t in top.get_legend().get_texts()]
    buys = sum(1 for f in view.fills if f.side is Side.BUY)
    sells = len(view.fills) - buys
    assert labels == ["equity", f"buy fills ({buys})", f"sell fills ({sells})"]
    assert [len(c.get_offsets()) for c in top.collections] == [buys, sells]

    activity = charts.hourly_activity_chart(hours)
    counts, rates = activity.axes
    assert [t.get_text() for t in counts.get_legend().get_texts()] == ["buys", "sells"]
    bar_heights = [p.get_height() for p in counts.patches]
    assert sum(bar_heights) == len(view.fills)
    assert rates.get_ylabel() == "win rate %"

    series = regime_series(prices_from_ohlcv_dir(market, view.symbols_by_activity[:1]))
    symbol = view.symbols_by_activity[0]
    regime = charts.regime_chart(series[symbol])
    assert [ax.get_ylabel() for ax in regime.axes] == [f"{w} regime" for w, _ in REGIME_WINDOWS]
    assert symbol in regime._suptitle.get_text()
    shaded = sum(len(ax.patches) for ax in regime.axes)
    assert shaded > 0, "a random walk over ~2 days must have some bull or bear minutes"

    outcomes = regime_outcomes(view.trips, series)
    chart = charts.regime_outcomes_chart(outcomes)
    assert [ax.get_title() for ax in chart.axes[:4]] == [f"{w} regime" for w, _ in REGIME_WINDOWS]
    mine = [t for t in view.trips if t.symbol == symbol]
    for window, by_name in outcomes.items():
        assert sum(o.wins + o.losses for o in by_name.values()) == len(mine), window


@pytest.mark.slow
def test_report_writes_pngs_and_a_self_contained_html(backtested, tmp_path: Path) -> None:
    market, ledger, result = backtested
    view = load_ledger(ledger)
    prices = prices_from_ohlcv_dir(market, view.symbols_by_activity)
    report = build_report(ledger, tmp_path, prices=prices, regime_symbols=2)
    expected = {"equity", "hourly_activity", "hourly_returns", "regime_outcomes",
                *(f"regime_{s}" for s in view.symbols_by_activity[:2])}
    assert set(report.charts) == expected
    for name, path in report.charts.items():
        width, height = png_size(path)
        assert width >= 600 and height >= 300, name
        assert path.stat().st_size > 10_000, f"{name} looks empty"
    page = report.html_path.read_text()
    assert page.count("data:image/png;base64,") == len(expected)
    assert "src=\"http" not in page and "<script" not in page  # nothing fetched from outside
    assert "Round trips by regime at entry" in page
    summary = report.summary
    assert summary["round_trips"] == result.performance.trades
    assert set(summary["regimes"]) == {w for w, _ in REGIME_WINDOWS}


@pytest.mark.slow
def test_report_cli_without_prices_leaves_regimes_out_and_says_how(backtested, tmp_path: Path) -> None:
    _, ledger, _ = backtested
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "report", "--out", str(tmp_path / "r"), "--ledger",
         str(ledger), "--json"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(summary["charts"]) == {"equity", "hourly_activity", "hourly_returns"}
    assert "--data DIR" in (tmp_path / "r" / "report.html").read_text()

    missing = subprocess.run(
        [sys.executable, "-m", "bot.cli", "report", "--out", str(tmp_path / "x"), "--ledger",
         str(tmp_path / "nope.sqlite")], capture_output=True, text=True, cwd=REPO_ROOT,
        timeout=60)
    assert missing.returncode == 2 and "not found" in " ".join(missing.stderr.split())
