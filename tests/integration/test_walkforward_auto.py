"""`entasis walkforward --policies auto`: inside every fold, auto scores each candidate on the
end of the training window, trades the best one that beat flat there, or stays flat; its
choice never reads the test window, it is the same on Ray, and every candidate is a trial.

Grids are planted: three coins that rise (or fall) steadily with small noise, so which
candidate beats flat on the training window is known beforehand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.config import load_config
from bot.research import walkforward as runner
from bot.research.ray_session import RayChoice
from bot.research.walkforward import PolicySpec
from bot.research.walkforward_auto import AutoSettingsError
from model.timeframes import HOUR_MS
from strategies.features_batch import BarGrid
from tests.integration.test_walkforward import write_bar_files
from trading.folds import grid_folds
from trading.walkforward_report import FoldOutcome

START_MS = 1_514_764_800_000  # 2018-01-01 00:00 UTC
SYMBOLS = ("BTCUSDT", "ETHUSDT", "XRPUSDT")
DAYS, TRAIN_DAYS, TEST_DAYS = 16, 12, 4
# sma never crosses inside a steady trend (it trades nothing); buy-and-hold rides it
SMA_OR_BUYHOLD = PolicySpec("auto", "auto", (("candidates", "sma+buyhold"),))


def trending_grid(train_drift: float, test_drift: float, seed: int = 3) -> BarGrid:
    """Hourly bars drifting by `train_drift` per bar for the first TRAIN_DAYS, then by
    `test_drift`, with 0.4 % noise."""
    rng = np.random.default_rng(seed)
    rows, train_rows = DAYS * 24, TRAIN_DAYS * 24
    drift = np.where(np.arange(rows) < train_rows, train_drift, test_drift)
    steps = rng.normal(0.0, 0.004, (rows, len(SYMBOLS))) + drift[:, np.newaxis]
    close = np.round(100.0 * np.exp(np.cumsum(steps, axis=0)), 2)
    open_ = np.vstack([close[:1], close[:-1]])
    return BarGrid(symbols=SYMBOLS, start_ms=START_MS, open=open_,
                   high=np.round(np.maximum(open_, close) * 1.002, 2),
                   low=np.round(np.minimum(open_, close) * 0.998, 2), close=close,
                   quote_volume=np.full(close.shape, 5e6), bar_ms=HOUR_MS)


def run_auto(grid: BarGrid, spec: PolicySpec = SMA_OR_BUYHOLD, *,
             ray: RayChoice | None = None) -> list[FoldOutcome]:
    settings = runner.fast_settings(load_config(None, environ={}), grid.bar_ms)
    folds = grid_folds(grid, train_days=TRAIN_DAYS, test_days=TEST_DAYS)
    return runner.walk_forward(grid, folds, [spec], settings=settings, ray=ray)


def test_auto_trades_the_candidate_that_clearly_won_on_the_training_window() -> None:
    # given coins rising through the training window (buy-and-hold gains, sma never crosses)
    grid = trending_grid(train_drift=0.002, test_drift=0.002)
    [outcome] = run_auto(grid)
    # then auto picked buy-and-hold, which beat flat on the selection window and sma did not
    selection = outcome.selection
    assert selection is not None and selection.picked == "buyhold"
    by_name = {run.policy: run for run in selection.candidates}
    assert set(by_name) == {"auto/sma", "auto/buyhold"}
    assert by_name["auto/buyhold"].equity[-1] > by_name["auto/buyhold"].balance
    assert by_name["auto/sma"].fees == 0
    # and on the test window it traded exactly what buy-and-hold alone trades there
    settings = runner.fast_settings(load_config(None, environ={}), grid.bar_ms)
    folds = grid_folds(grid, train_days=TRAIN_DAYS, test_days=TEST_DAYS)
    [alone] = runner.walk_forward(grid, folds, [PolicySpec("auto", "buyhold")],
                                  settings=settings)
    np.testing.assert_array_equal(outcome.equity, alone.equity)
    assert outcome.fees == alone.fees > 0


def test_auto_stays_flat_on_the_test_window_when_every_candidate_lost_on_training() -> None:
    # given coins falling through the training window, then rising through the test window
    grid = trending_grid(train_drift=-0.002, test_drift=0.003)
    [outcome] = run_auto(grid, PolicySpec("auto", "auto"))  # every candidate of the registry
    selection = outcome.selection
    assert selection is not None and selection.picked == "flat"
    assert {run.policy.removeprefix("auto/") for run in selection.candidates} | {
        name for name, _ in selection.unfit} == {"baseline", "buyhold", "sma", "topk",
                                                 "forecast"}
    # then it made no entry at all on the test window, however well the coins then did
    assert outcome.fees == 0 and outcome.traded_notional == 0 and outcome.exposed_steps == 0
    assert np.all(outcome.equity == outcome.balance)


def test_the_choice_for_a_fold_is_the_same_whatever_its_test_window_holds() -> None:
    grid = trending_grid(train_drift=0.002, test_drift=0.002)
    # given the same training bars and a crash over the whole test window instead
    crashed = trending_grid(train_drift=0.002, test_drift=0.002)
    test_start = TRAIN_DAYS * 24
    for prices in (crashed.open, crashed.high, crashed.low, crashed.close):
        prices[test_start:] *= 0.3
    [first], [second] = run_auto(grid), run_auto(crashed)
    # then auto chose the same, from candidate runs identical to the bit
    assert first.selection is not None and second.selection is not None
    assert first.selection.picked == second.selection.picked == "buyhold"
    for a, b in zip(first.selection.candidates, second.selection.candidates, strict=True):
        assert a.policy == b.policy
        np.testing.assert_array_equal(a.equity, b.equity)
    assert first.equity[-1] != second.equity[-1]  # while the test windows did differ


def test_auto_refuses_a_candidate_that_is_no_batch_policy_or_is_flat() -> None:
    for text in ("sma+magic", "flat+sma", "auto"):
        with pytest.raises(AutoSettingsError, match="cannot be a candidate"):
            runner.check_policies([PolicySpec("auto", "auto", (("candidates", text),))])
    with pytest.raises(AutoSettingsError, match="selection_share"):
        runner.check_policies([PolicySpec("auto", "auto", (("selection_share", 1.5),))])


@pytest.mark.slow
def test_auto_chooses_and_trades_the_same_in_process_and_on_ray(ray_session: None) -> None:
    grid = trending_grid(train_drift=0.002, test_drift=-0.001)
    spec = PolicySpec("auto", "auto", (("candidates", "sma+buyhold+topk"),))
    here, on_ray = run_auto(grid, spec), run_auto(grid, spec, ray=RayChoice())
    for a, b in zip(here, on_ray, strict=True):
        assert a.selection is not None and b.selection is not None
        assert a.selection.picked == b.selection.picked
        np.testing.assert_array_equal(a.equity, b.equity)
        for x, y in zip(a.selection.candidates, b.selection.candidates, strict=True):
            np.testing.assert_array_equal(x.equity, y.equity)


def test_cli_reports_the_pick_per_fold_and_counts_every_candidate_as_a_trial(
        tmp_path: Path) -> None:
    data = tmp_path / "bars"
    write_bar_files(data, trending_grid(train_drift=0.002, test_drift=0.002))
    config = tmp_path / "config.toml"
    config.write_text('[app]\ndata_dir = "var"\n')
    result = CliRunner().invoke(app, [
        "walkforward", "--data", str(data), "--timeframe", "1h", "--policies",
        "auto:candidates=sma+buyhold", "--train-days", str(TRAIN_DAYS), "--test-days",
        str(TEST_DAYS), "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    [fold] = report["selections"]["auto:candidates=sma+buyhold"]
    assert fold["picked"] == "buyhold" and fold["fold"] == 0
    assert fold["candidates"]["buyhold"]["total_return"] > 0
    assert fold["candidates"]["sma"]["sharpe"] == 0
    # auto, flat, btc_buyhold, ew_buyhold, and auto's two candidates
    assert report["n_trials"] == 6
    assert "the pick per fold" in result.stderr and "buyhold" in result.stderr


def test_cli_record_keeps_each_policys_verdict_under_the_data_market(tmp_path: Path) -> None:
    from bot.research.verdicts import latest_verdicts

    data = tmp_path / "binance_1h_planted"
    write_bar_files(data, trending_grid(train_drift=0.002, test_drift=0.002))
    config = tmp_path / "config.toml"
    config.write_text('[app]\ndata_dir = "var"\n')
    args = ["walkforward", "--data", str(data), "--policies", "auto:candidates=sma+buyhold,sma",
            "--train-days", str(TRAIN_DAYS), "--test-days", str(TEST_DAYS), "--config",
            str(config), "--json", "--record"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    recorded = json.loads(result.stdout.strip().splitlines()[-1])["recorded"]
    assert recorded["market"] == "binance/USDT/1h" and recorded["verdicts"] == 5
    verdicts = {v.policy: v for v in latest_verdicts(tmp_path / "var" /
                                                     "walkforward_trials.sqlite",
                                                     "binance/USDT/1h")}
    assert set(verdicts) == {"auto:candidates=sma+buyhold", "sma", "flat", "btc_buyhold",
                             "ew_buyhold"}
    # sma never crossed: no return, so it did not beat flat; auto bought the rising coins
    assert not verdicts["sma"].beat_flat and verdicts["sma"].plain
    assert verdicts["auto:candidates=sma+buyhold"].beat_flat
    assert not verdicts["btc_buyhold"].plain and verdicts["ew_buyhold"].plain
    first = verdicts["sma"]
    assert (first.folds, first.timeframe, first.n_trials) == (1, "1h", 7)
    winner = verdicts["auto:candidates=sma+buyhold"]  # its Sharpe's bootstrap interval too
    assert winner.sharpe_ci_low is not None and winner.sharpe_ci_high is not None
    assert winner.sharpe_ci_low <= winner.sharpe <= winner.sharpe_ci_high
    assert f"Sharpe {winner.sharpe:.2f} (95 % CI" in winner.figures_text()
    assert first.start_ms == START_MS + TRAIN_DAYS * 24 * HOUR_MS
    assert first.end_ms == START_MS + DAYS * 24 * HOUR_MS


def test_cli_record_without_a_known_exchange_exits_2_before_running(tmp_path: Path) -> None:
    data = tmp_path / "bars"
    write_bar_files(data, trending_grid(train_drift=0.002, test_drift=0.002))
    config = tmp_path / "config.toml"
    config.write_text('[app]\ndata_dir = "var"\n')
    result = CliRunner().invoke(app, [
        "walkforward", "--data", str(data), "--policies", "sma", "--train-days",
        str(TRAIN_DAYS), "--test-days", str(TEST_DAYS), "--config", str(config), "--record"])
    assert result.exit_code == 2 and "--exchange" in result.stderr
    assert not (tmp_path / "var" / "walkforward_trials.sqlite").exists()
