"""The walk-forward runner (bot/research/walkforward.py) and `entasis walkforward`: the same
seeds give the same results in-process and on Ray, a Ray address that does not answer is
refused fast by name, and `--json` leaves exactly one JSON line on stdout.

One local Ray session (num_cpus=2) serves the whole module: starting Ray takes seconds."""

from __future__ import annotations

import json
import socket
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.research import walkforward as runner
from bot.research.ray_session import RayChoice, RayUnavailable, connect_ray
from bot.research.walkforward import PolicySpec, WalkForwardTask
from model.timeframes import HOUR_MS
from strategies.features_batch import BarGrid
from trading.folds import grid_folds
from trading.walkforward_report import FoldOutcome, summarize

START_MS = 1_514_764_800_000  # 2018-01-01 00:00 UTC
SYMBOLS = ("BTCUSDT", "ETHUSDT", "XRPUSDT")


def synthetic_grid(days: int = 40, seed: int = 11) -> BarGrid:
    """Hourly random-walk bars of three coins, a few bars missing."""
    rng = np.random.default_rng(seed)
    rows = days * 24
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, (rows, len(SYMBOLS))), axis=0))
    close = np.round(close, 2)
    open_ = np.vstack([close[:1], close[:-1]])
    high = np.round(np.maximum(open_, close) * 1.003, 2)
    low = np.round(np.minimum(open_, close) * 0.997, 2)
    volume = np.full(close.shape, 5e6)
    close[rng.integers(0, rows, 5), 2] = np.nan  # no XRP bar in five hours
    return BarGrid(symbols=SYMBOLS, start_ms=START_MS, open=open_, high=high, low=low,
                   close=close, quote_volume=volume, bar_ms=HOUR_MS)


def toy_evaluator(grid: BarGrid, task: WalkForwardTask) -> FoldOutcome:
    """Test double for the fast backtester: a deterministic account per (fold, policy, seed).
    flat keeps its balance, buyhold follows the mean close of its universe over the test
    window, anything else draws noise from a generator seeded by the task key (crc32, the same
    in every process, unlike `hash`). Reads no row after the test window."""
    fold = task.fold
    columns = [i for i, s in enumerate(grid.symbols)
               if task.policy.symbols is None or s in task.policy.symbols]
    window = grid.close[fold.test_start_row:fold.test_stop_row][:, columns]
    rows = window.shape[0]
    if task.policy.name == "flat":
        equity = np.full(rows, task.balance)
    elif task.policy.name == "buyhold":
        filled = np.where(np.isfinite(window), window, np.nanmean(window, axis=0))
        equity = task.balance * np.mean(filled / filled[0], axis=1)
    else:
        key = f"{task.policy.label}/{fold.index}/{task.seed}".encode()
        rng = np.random.default_rng(zlib.crc32(key))
        equity = task.balance * np.cumprod(1.0 + rng.normal(0.0, 0.005, rows))
    first_close = fold.open_ms(fold.test_start_row) + grid.bar_ms
    return FoldOutcome(task.policy.label, fold.index, task.seed, task.balance,
                       first_close + grid.bar_ms * np.arange(rows, dtype=np.int64), equity,
                       fees=0.1 * rows, traded_notional=float(rows), exposed_steps=rows // 2)


def _assert_same_outcomes(first: list[FoldOutcome], second: list[FoldOutcome]) -> None:
    assert [o.key for o in first] == [o.key for o in second]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.equity, b.equity)
        np.testing.assert_array_equal(a.equity_ms, b.equity_ms)
        assert (a.fees, a.traded_notional, a.exposed_steps) == (
            b.fees, b.traded_notional, b.exposed_steps)


@pytest.mark.slow
def test_same_seeds_give_identical_results_in_process_and_on_ray(ray_session: None) -> None:
    grid = synthetic_grid()
    folds = grid_folds(grid, train_days=10, test_days=5, embargo_days=1)
    policies = runner.with_benchmarks([PolicySpec("noise", "noise")], grid.symbols)
    here = runner.walk_forward(grid, folds, policies, seeds=(0, 1), evaluate=toy_evaluator)
    seen: list[tuple[int, str, int]] = []
    on_ray = runner.walk_forward(grid, folds, policies, seeds=(0, 1), evaluate=toy_evaluator,
                                 ray=RayChoice(), progress=lambda o, done, total: seen.append(o.key))
    # every task ran once, reported as it finished, and results come back sorted by key
    assert len(here) == len(folds) * 4 * 2 and sorted(seen) == [o.key for o in on_ray]
    _assert_same_outcomes(here, on_ray)
    reports = [summarize(outcomes, grid.bar_ms, n_trials=4, trial_sharpes=[0.0, 0.01],
                         n_boot=200) for outcomes in (here, on_ray)]
    assert [{k: v.as_dict() for k, v in r.policies.items()} for r in reports] == [
        {k: v.as_dict() for k, v in reports[0].policies.items()}] * 2


@pytest.mark.slow
def test_the_fast_backtester_gives_identical_results_in_process_and_on_ray(
        ray_session: None) -> None:
    from bot.config import load_config

    grid = synthetic_grid(days=25)
    folds = grid_folds(grid, train_days=10, test_days=5, embargo_days=0)
    settings = runner.fast_settings(load_config(None, environ={}), grid.bar_ms)
    policies = runner.with_benchmarks([PolicySpec("sma", "sma")], grid.symbols)
    here = runner.walk_forward(grid, folds, policies, settings=settings)
    on_ray = runner.walk_forward(grid, folds, policies, settings=settings, ray=RayChoice())
    _assert_same_outcomes(here, on_ray)
    # the benchmarks ran through the fills: buy-and-hold paid fees, flat paid none
    by_key = {o.key: o for o in here}
    assert by_key[(0, runner.EW_HOLD, 0)].fees > 0 and by_key[(0, runner.FLAT, 0)].fees == 0
    assert all(o.equity.size == 5 * 24 for o in here)


@pytest.mark.slow
def test_a_learning_policy_with_two_seeds_gives_identical_results_in_process_and_on_ray(
        ray_session: None) -> None:
    """The forecast top-k fits a model per fold (seeded): still the same bits either way."""
    from bot.config import load_config

    grid = synthetic_grid(days=30)
    folds = grid_folds(grid, train_days=20, test_days=5, embargo_days=0)
    settings = runner.fast_settings(load_config(None, environ={}), grid.bar_ms)
    policies = [PolicySpec("forecast", "forecast", (("k", 1), ("horizon_minutes", 360)))]
    here = runner.walk_forward(grid, folds, policies, seeds=(0, 1), settings=settings)
    on_ray = runner.walk_forward(grid, folds, policies, seeds=(0, 1), settings=settings,
                                 ray=RayChoice())
    _assert_same_outcomes(here, on_ray)
    assert len(here) == 2 * len(folds)


def test_a_policy_that_takes_a_seed_gets_the_tasks_unless_its_parameters_fix_one() -> None:
    fold = grid_folds(synthetic_grid(days=25), train_days=10, test_days=5, embargo_days=0)[0]
    def task(spec: PolicySpec) -> WalkForwardTask:
        return WalkForwardTask(fold, spec, 3, 10_000.0)
    assert runner.seeded_policy(task(PolicySpec("forecast", "forecast"))).seed == 3
    fixed = PolicySpec("forecast", "forecast", (("seed", 9),))
    assert runner.seeded_policy(task(fixed)).seed == 9
    assert runner.seeded_policy(task(PolicySpec("sma", "sma"))).name == "sma"  # takes none


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_ray_address_that_does_not_answer_is_refused_fast_by_name() -> None:
    address = f"127.0.0.1:{_closed_port()}"
    began = time.monotonic()
    with pytest.raises(RayUnavailable) as caught:
        connect_ray(RayChoice(address=address, connect_timeout_s=3.0))
    assert time.monotonic() - began < 3.0
    message = str(caught.value)
    assert f"--ray-address {address}" in message and "ray start --head" in message


def test_a_ray_address_without_a_port_says_what_one_looks_like() -> None:
    with pytest.raises(RayUnavailable, match="not HOST:PORT"):
        connect_ray(RayChoice(address="headnode"))


def test_a_universe_without_btc_has_no_btc_benchmark_and_says_so() -> None:
    with pytest.raises(runner.WalkForwardError, match="BTC_<QUOTE>"):
        runner.benchmarks(("ETHUSDT", "XRPUSDT"))
    assert runner.btc_pair(("ETHUSDT", "BTCUSDT", "BTCDOWNUSDT")) == "BTCUSDT"


def write_bar_files(folder: Path, grid: BarGrid) -> None:
    """The grid as <BASE>_USDT-1h.csv files (the shared data's format), missing bars left out."""
    folder.mkdir(parents=True, exist_ok=True)
    for column, symbol in enumerate(grid.symbols):
        lines = ["timestamp_ms,open,high,low,close,volume"]
        for row in np.flatnonzero(np.isfinite(grid.close[:, column])):
            price = [grid.open[row, column], grid.high[row, column], grid.low[row, column],
                     grid.close[row, column]]
            lines.append(f"{grid.start_ms + row * grid.bar_ms}," + ",".join(
                f"{p:.2f}" for p in price) + ",50000.0")
        (folder / f"{symbol[:-4]}_USDT-1h.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_cli_json_prints_one_json_line_and_counts_trials_across_runs(tmp_path: Path) -> None:
    data = tmp_path / "bars"
    write_bar_files(data, synthetic_grid(days=25))
    config = tmp_path / "config.toml"
    config.write_text('[app]\ndata_dir = "var"\n')
    args = ["walkforward", "--data", str(data), "--timeframe", "1h", "--policies", "sma",
            "--train-days", "10", "--test-days", "5", "--config", str(config), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    report = json.loads(lines[0])
    assert [f["test_start"] for f in report["folds"]] == [
        "2018-01-11T00:00Z", "2018-01-16T00:00Z", "2018-01-21T00:00Z"]
    assert set(report["policies"]) == {"sma", "flat", "btc_buyhold", "ew_buyhold"}
    for figures in report["policies"].values():
        assert {"sharpe", "deflated_sharpe", "total_return", "max_drawdown",
                "turnover", "ci"} <= set(figures)
    assert "pbo" in report["pbo"] and report["n_trials"] == 4
    # a second configuration on the same data is a fifth trial
    again = CliRunner().invoke(app, [*args[:6], "sma:fast=10:slow=30", *args[7:]])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout.strip().splitlines()[-1])["n_trials"] == 5


def test_cli_with_too_little_data_for_a_fold_exits_2_naming_the_options(tmp_path: Path) -> None:
    data = tmp_path / "bars"
    write_bar_files(data, synthetic_grid(days=5))
    config = tmp_path / "config.toml"
    config.write_text('[app]\ndata_dir = "var"\n')
    result = CliRunner().invoke(app, [
        "walkforward", "--data", str(data), "--policies", "sma", "--train-days", "10",
        "--test-days", "5", "--config", str(config), "--json"])
    assert result.exit_code == 2
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["ok"] is False and "--train-days" in answer["error"]
    assert not (tmp_path / "var" / "walkforward_trials.sqlite").exists()


def test_cli_refuses_a_policy_or_parameter_the_fast_backtester_cannot_batch(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[app]\ndata_dir = "var"\n')
    result = CliRunner().invoke(app, [
        "walkforward", "--data", str(tmp_path), "--policies", "sma,magic", "--train-days",
        "10", "--test-days", "5", "--config", str(config)])
    assert result.exit_code == 2
    assert "'magic'" in result.stderr and "choose among" in result.stderr
    # and parameters the policy does not take, before any data is read
    wrong = CliRunner().invoke(app, [
        "walkforward", "--data", str(tmp_path), "--policies", "sma:window=3", "--train-days",
        "10", "--test-days", "5", "--config", str(config)])
    assert wrong.exit_code == 2 and "'window'" in wrong.stderr and "SmaBatch" in wrong.stderr


def test_bars_after_a_test_window_change_nothing_in_that_fold() -> None:
    from bot.config import load_config

    grid = synthetic_grid(days=25)
    folds = grid_folds(grid, train_days=10, test_days=5)
    settings = runner.fast_settings(load_config(None, environ={}), grid.bar_ms)
    policies = runner.with_benchmarks([PolicySpec("sma", "sma"), PolicySpec("topk", "topk")],
                                      grid.symbols)
    # given the same bars up to the end of fold 0's test window and a crash after it
    crashed = synthetic_grid(days=25)
    after = folds[0].test_stop_row
    for prices in (crashed.open, crashed.high, crashed.low, crashed.close):
        prices[after:] *= 0.3
    first = runner.walk_forward(grid, folds[:1], policies, settings=settings)
    second = runner.walk_forward(crashed, folds[:1], policies, settings=settings)
    # then fold 0 comes out the same, to the bit, for every policy
    _assert_same_outcomes(first, second)


@pytest.mark.slow
def test_cli_ray_starts_a_local_ray_and_keeps_stdout_to_one_json_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    data = tmp_path / "bars"
    write_bar_files(data, synthetic_grid(days=20))
    config = tmp_path / "config.toml"
    config.write_text('[app]\ndata_dir = "var"\n')
    # a process of its own: Ray is started (on the main thread) and shut down by the command
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "walkforward", "--data", str(data), "--policies",
         "sma", "--train-days", "10", "--test-days", "5", "--ray", "--config", str(config),
         "--json"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and len(json.loads(lines[0])["folds"]) == 2
