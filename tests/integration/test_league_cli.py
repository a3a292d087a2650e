"""`entasis league`: portfolio self-play generations on a folder of bars, from the command line.

A small hourly random walk in the shared CSV format; in-process (`--no-ray`: the Ray path of
the same code is held to in-process results by tests/integration/test_portfolio_league.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from rl.registry import PORTFOLIO_REGISTRY_FILE, ModelRegistry
from tests.integration.test_walkforward import write_bar_files
from tests.integration.test_walkforward_league import random_walk

# A guard for a loaded machine (whole generations of training and a league per test;
# ~15 s per test on an idle 2-core machine).
pytestmark = pytest.mark.timeout(300)

SMALL = ["--generations", "1", "--envs", "4", "--horizon", "24", "--episodes", "10",
         "--hidden", "8", "--no-ray"]


def invoke(tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    data = tmp_path / "bars"
    if not data.exists():
        write_bar_files(data, random_walk())
    config = tmp_path / "config.toml"
    config.write_text(f'[app]\ndata_dir = "{tmp_path / "var"}"\n')
    result = CliRunner().invoke(app, ["league", "--data", str(data), "--timeframe", "1h",
                                      "--config", str(config), *extra])
    return result.exit_code, result.stdout, result.stderr


def test_a_generation_is_judged_and_recorded_in_the_portfolio_registry(tmp_path: Path) -> None:
    code, stdout, stderr = invoke(tmp_path, *SMALL, "--json")
    assert code == 0, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    [generation] = summary["generations"]
    assert generation["version"] == "v0001"
    assert set(generation["players"]) == {"candidate", "best", "flat", "equal_weight",
                                          "momentum", "rank", "forecast_topk"}
    assert generation["baselines_omitted"] == {}
    assert "league: memory" in stderr and "league: league" in stderr
    with ModelRegistry.open(tmp_path / "var" / PORTFOLIO_REGISTRY_FILE) as registry:
        record = registry.get("v0001")
        assert record is not None and record.status.value in ("best", "rejected")
        assert summary["best"] == registry.best().version  # type: ignore[union-attr]
    # a second run goes on from the registry: the next candidate is v0002
    code, stdout, _ = invoke(tmp_path, *SMALL, "--json")
    assert code == 0 and json.loads(stdout.strip().splitlines()[-1])["generations"][0][
        "version"] == "v0002"


def test_the_league_can_be_judged_on_growth_alone(tmp_path: Path) -> None:
    code, stdout, stderr = invoke(tmp_path, *SMALL, "--arena-penalty", "0", "--json")
    assert code == 0, stderr
    [generation] = json.loads(stdout.strip().splitlines()[-1])["generations"]
    assert generation["drawdown_penalty"] == 0
    for figures in generation["players"].values():
        assert figures["mean_score"] == figures["mean_log_growth"]


def test_a_cost_margin_shapes_training_and_is_reported(tmp_path: Path) -> None:
    code, stdout, stderr = invoke(tmp_path, *SMALL, "--cost-margin", "0.5", "--json")
    assert code == 0, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["cost_margin"] == 0.5 and summary["generations"][0]["version"] == "v0001"
    code, _, stderr = invoke(tmp_path, *SMALL, "--cost-margin", "-1")
    assert code == 2 and "--cost-margin" in stderr


def test_too_few_bars_for_the_episodes_say_what_to_change(tmp_path: Path) -> None:
    code, _, stderr = invoke(tmp_path, "--generations", "1", "--horizon", "2000", "--no-ray")
    assert code == 2
    assert "shorter --horizon" in stderr
