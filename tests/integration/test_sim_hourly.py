"""Issue 16 "the same at 1h": a folder of 1h bars is calibrated on, generated at 1h and
reported with the statistics at the bar's length (variance ratio 1d / 24 x 1h, cross-coin
1h / 1d, daily reversal); the embedded exchange (1m) refuses a fit on 1h bars."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bot.cli import app
from exchange.sim.calibrate import simulate_panel
from exchange.sim.generator import GeneratorSource
from exchange.sim.market_params import MarketParams, MarketParamsError
from tests.market_params_example import example_params

START_MS = 1_700_006_400_000  # 2023-11-15 00:00 UTC
HOURS = 120 * 24  # 120 days of 1h bars


def _write_hourly_market(folder: Path, seed: int) -> Path:
    """1h bars of a known market in the shared format: an hour without a trade has no row."""
    params = example_params(coins=3, bar_minutes=60.0, vol_per_min=(0.01,) * 3)
    panel = simulate_panel(params, minutes=HOURS, start_ms=START_MS, seed=seed)
    folder.mkdir(parents=True)
    stamps = START_MS + panel.bar_ms * np.arange(panel.minutes)
    for i, symbol in enumerate(("AAA", "BBB", "CCC")):
        frame = pd.DataFrame({"timestamp_ms": stamps, "open": panel.open[:, i],
                              "high": panel.high[:, i], "low": panel.low[:, i],
                              "close": panel.close[:, i],
                              "volume": panel.volume[:, i] / panel.close[:, i]}).dropna()
        frame.to_csv(folder / f"{symbol}_USDT-1h.csv.gz", index=False, compression="gzip")
    return folder


@pytest.fixture(scope="module")
def hourly(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hourly")
    real, other = _write_hourly_market(root / "real", 1), _write_hourly_market(root / "other", 2)
    params = root / "fit.json"
    result = CliRunner().invoke(app, ["sim", "calibrate", "--data", str(real), "--out",
                                      str(params), "--refine", "0", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["refine"] is None
    return {"real": real, "other": other, "params": params}


def test_a_folder_of_1h_bars_is_fitted_with_a_model_that_steps_hours(hourly) -> None:  # type: ignore[no-untyped-def]
    params = MarketParams.load(hourly["params"])
    assert params.bar_minutes == 60.0 and params.coins == 3
    assert params.range_bridge == 1.0  # an hour's range is a diffusion's (ADR-109)
    # known: 1 % per hour; the fit reads it from daily returns, within a factor 1.5
    assert 0.01 / 1.5 < float(np.median(params.vol_per_min)) < 0.01 * 1.5


def test_a_fit_on_1h_bars_is_refined_within_its_budget_and_says_so(hourly, tmp_path: Path  # type: ignore[no-untyped-def]
                                                                   ) -> None:
    """`--refine N`: the simulated-method-of-moments search runs N simulations at most, ends
    no farther from the data than the fit, and the file names the command with it."""
    out = tmp_path / "refined.json"
    done = CliRunner().invoke(app, ["sim", "calibrate", "--data", str(hourly["real"]), "--out",
                                    str(out), "--refine", "6", "--json"])
    assert done.exit_code == 0, done.output
    refined = json.loads(done.stdout)["refine"]
    assert refined["evaluations"] == 6 and refined["score"] <= refined["score_before"]
    params = MarketParams.load(out)
    assert params.source.endswith("--refine 6") and params.market_vol_var > 0


def test_the_report_on_1h_bars_names_the_statistics_at_the_bars_length(hourly) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, ["sim", "report", "--params", str(hourly["params"]),
                                      "--data", str(hourly["real"]), "--data",
                                      str(hourly["other"]), "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["statistic"]: row for row in json.loads(result.stdout)["rows"]}
    for name in ("lag-1 ACF of 1h returns", "variance ratio 1d / (24 x 1h)",
                 "cross-coin correlation 1d", "lag-1 ACF of 1d returns", "zero-return hours",
                 "KS distance, standardized 1d returns", "max ACF |r| difference, lags 1-60"):
        assert name in rows, sorted(rows)
    # the same model on both sides: a random walk's daily variance is 24 hours' (bounce aside)
    assert 0.6 < rows["variance ratio 1d / (24 x 1h)"]["sim"] < 1.4


def test_the_1m_generator_is_refused_against_1h_data_saying_what_to_pass(hourly) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, ["sim", "report", "--data", str(hourly["real"]), "--json"])
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert "60-minute bars" in error and "--params" in error


def test_the_embedded_exchange_refuses_a_fit_on_1h_bars(hourly) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MarketParamsError, match="1m bars"):
        GeneratorSource(seed=1, coins=2, history_minutes=60, start_ms=START_MS,
                        params=MarketParams.load(hourly["params"]))


def test_generate_refuses_a_fit_on_1h_bars_with_one_line(hourly, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, ["sim", "generate", "--params", str(hourly["params"]),
                                      "--coins", "2", "--minutes", "60", "--out",
                                      str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "60-minute bars" in result.output and not (tmp_path / "out").exists()


def test_a_time_window_of_the_folder_is_fitted_and_judged_apart(hourly, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Given 120 days of 1h bars, when the fit reads the first 60 days and the report judges
    it on the last 60 with the first as the yardstick (binance_1h's 2018-19 vs 2020-22 done
    small), then each side holds its own window's hours and the fit names its window."""
    real = str(hourly["real"])
    first, last = f"{real}@..2024-01-14", f"{real}@2024-01-14.."  # 2023-11-15 + 60 days
    fit = tmp_path / "first.json"
    done = CliRunner().invoke(app, ["sim", "calibrate", "--data", first, "--out", str(fit),
                                    "--refine", "0", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["minutes"] == 60 * 24
    assert MarketParams.load(fit).source.startswith(f"entasis sim calibrate --data {first}")
    result = CliRunner().invoke(app, ["sim", "report", "--params", str(fit), "--data", last,
                                      "--data", first, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["minutes"] == 60 * 24 and report["real"] == last and report["coins"] >= 1
    # a coin with quiet hours may have < 1000 bars in 60 days: left out, by name, per window
    assert all(note.startswith((last, first)) and "left out" in note
               for note in report["notes"])


def test_a_window_too_short_for_any_coin_is_refused_naming_it(hourly) -> None:  # type: ignore[no-untyped-def]
    spec = f"{hourly['real']}@2023-11-15..2023-11-20"
    result = CliRunner().invoke(app, ["sim", "report", "--params", str(hourly["params"]),
                                      "--data", spec, "--json"])
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert spec in error and "widen it" in error
