"""`entasis sim report` end to end on small 1m folders written in a temp dir: the gap table,
its one-line JSON, the chart, and the errors that name what to fix."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from exchange.sim.fact_gap import UNDEFINED, WITHIN
from tests.replay_data import write_random_walk_market

MINUTES = 2_000  # a day and a bit: the report's minimum is a day


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sim_report")
    return {name: write_random_walk_market(root / name, coins=4, minutes=MINUTES, seed=seed)
            for name, seed in (("real", 11), ("other", 12), ("sim", 13))}


def _report(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["sim", "report", *args])
    return result.exit_code, result.stdout


def test_json_is_one_line_with_a_row_per_statistic_and_the_yardstick_of_two_sets(
        folders: dict[str, Path]) -> None:
    code, stdout = _report("--data", str(folders["real"]), "--data", str(folders["other"]),
                           "--sim", str(folders["sim"]), "--json")

    assert code == 0
    lines = stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["ok"] is True
    assert report["sim"] == str(folders["sim"]) and report["real"] == str(folders["real"])
    assert report["yardstick"] == f"{folders['real']} vs {folders['other']}"
    assert (report["coins"], report["minutes"]) == (4, MINUTES)
    assert len(report["rows"]) == report["rows_total"] == 19
    lag1 = next(r for r in report["rows"] if r["statistic"] == "lag-1 ACF of 1m returns")
    assert lag1["gap"] == pytest.approx(abs(lag1["sim"] - lag1["real"]))
    assert lag1["limit"] == pytest.approx(max(1.5 * lag1["yardstick"], 0.05))
    assert len(report["series"]["abs_return_acf"]["sim"]) == 60
    assert len(report["series"]["hour_volume_profile"]["real"]) == 24


def test_the_real_data_against_itself_is_within_on_every_row(folders: dict[str, Path]) -> None:
    real = str(folders["real"])

    code, stdout = _report("--data", real, "--data", real, "--sim", real, "--json")

    assert code == 0
    rows = json.loads(stdout)["rows"]
    assert all(row["gap"] == 0.0 for row in rows if row["verdict"] != UNDEFINED)
    assert {row["verdict"] for row in rows} <= {WITHIN, UNDEFINED}


def test_the_generator_shaped_like_one_set_with_halves_as_yardstick_prints_a_table_and_a_chart(
        folders: dict[str, Path], tmp_path: Path) -> None:
    chart = tmp_path / "gap.png"

    code, stdout = _report("--data", str(folders["real"]), "--seed", "3", "--png", str(chart))

    assert code == 0
    assert "generator, seed 3" in stdout and "first half vs second half" in stdout
    for column in ("statistic", "sim", "real", "gap", "yardstick", "verdict"):
        assert column in stdout
    assert "Roll" in stdout and "statistics within max(1.5 x yardstick, floor)" in stdout
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_folder_without_1m_files_is_named_in_the_error(tmp_path: Path) -> None:
    folder = tmp_path / "only_5m"
    folder.mkdir()
    with gzip.open(folder / "ETH_BTC-5m.csv.gz", "wt") as handle:
        handle.write("timestamp_ms,open,high,low,close,volume\n1510000200000,1,1,1,1,1\n")

    code, stdout = _report("--data", str(folder), "--json")

    assert code == 2
    error = json.loads(stdout)
    assert error["ok"] is False
    assert str(folder) in error["error"] and "1m" in error["error"]


def test_less_than_a_day_of_bars_is_refused(tmp_path: Path) -> None:
    short = write_random_walk_market(tmp_path / "short", coins=2, minutes=600, gaps=0)

    code, stdout = _report("--data", str(short), "--json")

    assert code == 2
    assert "needs at least 1440" in json.loads(stdout)["error"]


def test_a_sim_folder_and_a_seed_together_are_refused(folders: dict[str, Path]) -> None:
    code, stdout = _report("--data", str(folders["real"]), "--sim", str(folders["sim"]),
                           "--seed", "1", "--json")

    assert code == 2
    assert "not both" in json.loads(stdout)["error"]


def test_seeds_reads_the_model_as_the_mean_over_that_many_simulated_panels(
        folders: dict[str, Path]) -> None:
    real = ("--data", str(folders["real"]), "--json")
    single = [json.loads(_report(*real, "--seed", str(seed))[1]) for seed in (3, 4, 5)]

    code, stdout = _report(*real, "--seed", "3", "--seeds", "3")

    assert code == 0
    mean = json.loads(stdout)
    assert "mean of seeds 3-5" in mean["sim"]
    for index, row in enumerate(mean["rows"]):
        sims = [report["rows"][index]["sim"] for report in single]
        if row["sim"] is not None and None not in sims:  # scalar rows: the plain mean
            assert row["sim"] == pytest.approx(sum(sims) / 3, rel=1e-9, abs=1e-12), row
    acf = [report["series"]["abs_return_acf"]["sim"] for report in single]
    assert mean["series"]["abs_return_acf"]["sim"] == pytest.approx(
        [sum(lags) / 3 for lags in zip(*acf, strict=True)])


@pytest.mark.parametrize("extra", [("--seeds", "0"), ("--seeds", "2", "--sim", "SIM")])
def test_seeds_below_one_or_with_a_sim_folder_is_refused(
        folders: dict[str, Path], extra: tuple[str, ...]) -> None:
    args = [str(folders["sim"]) if arg == "SIM" else arg for arg in extra]

    code, stdout = _report("--data", str(folders["real"]), *args, "--json")

    assert code == 2
    assert "--seeds" in json.loads(stdout)["error"]


@pytest.mark.skipif(not os.environ.get("ENTASIS_SIM_REPORT_DATA"),
                    reason="set ENTASIS_SIM_REPORT_DATA to a folder of real 1m bars to run "
                           "the report on it")
def test_the_report_runs_on_real_data_when_given() -> None:
    code, stdout = _report("--data", os.environ["ENTASIS_SIM_REPORT_DATA"], "--json")

    assert code == 0
    assert json.loads(stdout)["ok"] is True
