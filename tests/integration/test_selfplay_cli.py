"""`entasis selfplay` runs a whole generation (memory, PPO, arena, registry) and
`entasis models` shows the outcome; a test-sized budget on the simulated market.

It runs the way the daemon's scheduler runs it: a subprocess without a terminal, `--json`,
its exit code checked, while another connection (the daemon's hot-swap reader) holds the
registry file open."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.models import selfplay_lock
from rl.registry import REGISTRY_FILE, ModelRegistry
from tests.conftest import REPO_ROOT


def entasis(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args, "--config", str(cwd / "config.toml")],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=240)


@pytest.mark.slow
def test_a_generation_is_judged_by_the_arena_and_recorded_in_the_registry(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("")
    # The daemon's reader: opened before the run (creating the file) and kept open across it.
    (tmp_path / "var").mkdir()
    with ModelRegistry.open(tmp_path / "var" / REGISTRY_FILE) as daemon_view:
        assert daemon_view.best() is None
        done = entasis("selfplay", "--sim", "--minutes", "12000", "--coins", "4", "--envs",
                       "32", "--updates", "2", "--episodes", "200", "--horizon", "120",
                       "--json", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        [line] = done.stdout.strip().splitlines()  # stdout is the one JSON object, nothing else
        summary = json.loads(line)
        best = daemon_view.best()
        assert best is not None and best.version == summary["best_version"] == "v0000"
    assert summary["ok"] and "\x1b[" not in done.stderr  # no progress bars without a tty
    [generation] = summary["generations"]
    assert generation["version"] == "v0001"
    # A 2-update candidate does not beat every baseline (here: flat) so it is not promoted,
    # and the reason is recorded.
    assert not generation["promoted"] and generation["failed_checks"]

    listed = entasis("models", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    models = {m["version"]: m for m in json.loads(listed.stdout)["models"]}
    assert models["v0000"]["status"] == "best" and models["v0001"]["status"] == "rejected"
    assert models["v0001"]["parent"] == "v0000"
    assert set(models["v0001"]["checks"]) >= {"sprt", "bootstrap", "drawdown", "cvar",
                                              "baseline:buy_and_hold", "baseline:flat",
                                              "baseline:sma_cross"}
    assert Path(models["v0001"]["path"]).is_file()
    with ModelRegistry.open(tmp_path / "var" / REGISTRY_FILE) as registry:
        training = registry.get("v0001").arena_stats["training"]
    assert training["env_config"]["reward_scale"] == 1000.0  # how it was trained, recorded


def test_selfplay_needs_exactly_one_data_source(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("")
    done = entasis("selfplay", cwd=tmp_path)
    assert done.returncode == 2 and "exactly one of --data DIR or --sim" in done.stderr


@pytest.mark.slow
def test_a_failed_run_exits_non_zero_with_one_json_object(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("")
    empty = tmp_path / "empty"
    empty.mkdir()
    done = entasis("selfplay", "--data", str(empty), "--json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    [line] = done.stdout.strip().splitlines()
    answer = json.loads(line)
    assert answer["ok"] is False and "no <BASE>_<QUOTE>-1m.csv" in answer["error"]


def test_a_second_run_on_the_same_data_dir_is_refused_while_one_runs(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("")
    (tmp_path / "var").mkdir()
    with selfplay_lock(tmp_path / "var"):  # as a running `entasis selfplay` holds it
        done = entasis("selfplay", "--sim", "--json", cwd=tmp_path)
    assert done.returncode == 75, done.stderr
    assert "another `entasis selfplay` is running" in json.loads(done.stdout)["error"]


@pytest.mark.slow
def test_pretraining_makes_the_first_best_and_only_the_first(tmp_path: Path) -> None:
    """Given an empty registry and a calibrated parameter file, when self-play runs with
    --pretrain-sim, then v0000 is the network pre-trained on the randomized markets (the
    registry says how); a second run keeps the best it finds and says it did not pre-train."""
    from tests.market_params_example import example_params

    (tmp_path / "config.toml").write_text("")
    example_params().save(tmp_path / "params.json")
    args = ("selfplay", "--sim", "--minutes", "4000", "--embargo-minutes", "60", "--coins", "2",
            "--envs", "16", "--updates", "1", "--episodes", "20", "--horizon", "60",
            "--pretrain-sim", str(tmp_path / "params.json"), "--pretrain-markets", "2",
            "--pretrain-days", "2", "--pretrain-generations", "1")
    first = entasis(*args, "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    done = json.loads(first.stdout)["pretraining"]
    assert done["markets"] == 2 and done["symbols"] == 4 and done["scale"] == 0.25
    with ModelRegistry.open(tmp_path / "var" / REGISTRY_FILE) as registry:
        stats = registry.get("v0000").arena_stats
    assert stats["pretraining"]["params_source"] == "tests/market_params_example.py"
    again = entasis(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "not pre-trained: the registry already has a best player" in again.stdout


@pytest.mark.slow
def test_pretraining_from_an_unknown_parameter_set_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("")
    done = entasis("selfplay", "--sim", "--pretrain-sim", "no_such_market", "--json", cwd=tmp_path)
    assert done.returncode == 2
    message = json.loads(done.stdout)["error"]
    assert "--pretrain-sim 'no_such_market'" in message and "bittrex_2017-11" in message
    assert not (tmp_path / "var" / REGISTRY_FILE).exists()  # nothing half-made
