"""`entasis sim generate` writes bar files any tool reads; `entasis sim calibrate` fits them
back; bad input is one clear error line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from bot.cli import app
from exchange.sim.bar_files import load_bar_grid
from exchange.sim.market_params import MarketParams
from tests.market_params_example import example_params


def _generate(tmp_path: Path, minutes: int = 2880, coins: int = 4) -> Path:
    params = tmp_path / "params.json"
    example_params(coins=3).save(params)
    out = tmp_path / "market"
    result = CliRunner().invoke(app, ["sim", "generate", "--params", str(params), "--coins",
                                      str(coins), "--minutes", str(minutes), "--seed", "5",
                                      "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert len(summary["files"]) == coins
    return out


def test_generate_writes_shared_format_files_the_loaders_read(tmp_path: Path) -> None:
    out = _generate(tmp_path, minutes=600)
    names = sorted(p.name for p in out.iterdir())
    assert all(name.endswith("-1m.csv.gz") for name in names)  # no temp file left behind
    grid = load_bar_grid(out, "1m")
    assert grid.close.shape[1] == 4 and grid.close.shape[0] <= 600
    quiet = np.isnan(grid.close)
    assert 0 < quiet.mean() < 0.4  # no-trade minutes are absent rows, as in real files
    assert np.all(grid.low[~quiet] <= grid.close[~quiet])


def test_same_seed_writes_the_same_bars(tmp_path: Path) -> None:
    first = load_bar_grid(_generate(tmp_path / "a", minutes=300), "1m")
    second = load_bar_grid(_generate(tmp_path / "b", minutes=300), "1m")
    assert first.symbols == second.symbols
    for field in ("open", "high", "low", "close", "quote_volume"):
        assert np.array_equal(getattr(first, field), getattr(second, field), equal_nan=True)


def test_calibrate_writes_a_parameter_file_fitted_on_the_folder(tmp_path: Path) -> None:
    market = _generate(tmp_path)
    out = tmp_path / "fitted.json"
    result = CliRunner().invoke(app, ["sim", "calibrate", "--data", str(market), "--out",
                                      str(out), "--json"])
    assert result.exit_code == 0, result.output
    fitted = MarketParams.load(out)
    assert fitted.coins == 4
    assert "entasis sim calibrate --data" in fitted.source
    assert json.loads(result.stdout)["refine"] is None  # 1m bars: no refinement by default
    assert fitted.market_vol_var == 0.0


def test_calibrate_on_too_little_data_fails_with_one_line(tmp_path: Path) -> None:
    market = _generate(tmp_path, minutes=300)
    result = CliRunner().invoke(app, ["sim", "calibrate", "--data", str(market), "--out",
                                      str(tmp_path / "p.json")])
    assert result.exit_code == 2
    assert "two days" in result.output
    assert not (tmp_path / "p.json").exists()


def test_generate_refuses_a_bad_parameter_file_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    values = example_params().as_dict()
    values["half_spread_bps"][0] = -3.0
    bad.write_text(json.dumps(values))
    result = CliRunner().invoke(app, ["sim", "generate", "--params", str(bad), "--out",
                                      str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "half_spread_bps[0] is negative" in result.output
    assert not (tmp_path / "m").exists()


def test_sim_server_refuses_a_bad_parameter_file_before_it_starts(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sim-server", "--params", str(tmp_path / "none.json")])
    assert result.exit_code == 2
    assert "not found" in result.output and "entasis sim calibrate" in result.output
