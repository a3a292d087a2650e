"""`entasis selfplay --data DIR --extra` trains policies that read the forecast and anomaly
columns: it builds them out of fold over DIR, runs the usual generations, arena and registry,
and every model it registers carries the extra-column layout the live policy serves.

Run as the daemon's scheduler runs it: a subprocess without a terminal, `--json`, exit code
checked. Real components throughout (tiny forecast and detector via `--extra-tiny`, a
seeded synthetic replay folder, a real SQLite registry); torch at one thread in the child.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from rl.extra_folds import ExtraSettings, FoldPlan
from rl.extra_inputs import EXTRA_NAMES, OBSERVATION_NAMES
from rl.extra_training import ExtraEnvFactory
from rl.live_policy import RLPolicy
from rl.networks import Player, feature_names_hash
from rl.registry import REGISTRY_FILE, ModelRegistry
from strategies.forecast.synthetic import synthetic_grid, write_csv_dir
from tests.conftest import REPO_ROOT

SMALL_RUN = ("--envs", "8", "--updates", "1", "--episodes", "10", "--horizon", "60",
             "--embargo-minutes", "60")
SMALL_COLUMNS = ("--extra", "--extra-tiny", "--extra-min-train-minutes", "2200",
                 "--extra-refit-minutes", "600", "--extra-embargo-minutes", "30")


def entasis(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args, "--config",
                           str(cwd / "config.toml")], check=False, capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=240, env=env)


def one_json_object(done: subprocess.CompletedProcess) -> dict:
    [line] = done.stdout.strip().splitlines()  # stdout is the one JSON object, nothing else
    return json.loads(line)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A config whose data_dir is tmp_path/var, and a 3-coin, 3300-minute replay folder."""
    (tmp_path / "config.toml").write_text(f'[app]\ndata_dir = "{tmp_path / "var"}"\n')
    write_csv_dir(synthetic_grid(seed=3, n_symbols=3, minutes=3300), tmp_path / "csv")
    return tmp_path


@pytest.mark.slow
def test_selfplay_with_extra_registers_models_that_read_the_forecast_and_anomaly_columns(
        workspace: Path) -> None:
    """Given a replay folder, when `entasis selfplay --data DIR --extra` runs one generation,
    then the JSON says how the columns were built (out-of-fold blocks), every registered
    model has the named extra-column layout, the live policy reads the columns for the best,
    and each candidate's training record says which columns it read and how they were made."""
    done = entasis("selfplay", "--data", str(workspace / "csv"), *SMALL_COLUMNS, *SMALL_RUN,
                   "--json", cwd=workspace)
    assert done.returncode == 0, done.stderr
    summary = one_json_object(done)
    assert summary["ok"] and "\x1b[" not in done.stderr  # no progress bars without a tty
    extra = summary["extra"]
    assert extra["names"] == list(EXTRA_NAMES) and extra["horizon"] == 60  # [forecast] horizon
    assert [b["serves"] for b in extra["blocks"]] == [[2200, 2800], [2800, 3300]]
    assert [b["train_rows"] for b in extra["blocks"]] == [[0, 2170], [0, 2770]]
    assert all(b["forecast_share"] > 0.5 and b["anomaly_share"] > 0.5 for b in extra["blocks"])
    [generation] = summary["generations"]
    assert generation["version"] == "v0001"

    with ModelRegistry.open(workspace / "var" / REGISTRY_FILE) as registry:
        records = {r.version: r for r in registry.list()}
        best = registry.best()
        training = registry.get("v0001").arena_stats["training"]
    assert set(records) == {"v0000", "v0001"} and best is not None
    for record in records.values():
        spec = Player.load(record.path).spec
        assert spec.obs_size == len(OBSERVATION_NAMES)
        assert spec.feature_hash == feature_names_hash(OBSERVATION_NAMES)
    assert RLPolicy(Player.load(best.path), best.version).wants_extras
    factory = training["env_factory"]
    assert factory["names"] == list(EXTRA_NAMES)
    assert factory["plan"] == {"min_train_minutes": 2200, "refit_minutes": 600,
                               "embargo_minutes": 30}
    assert factory["settings"]["horizon"] == 60 and factory["settings"]["anomaly_kind"] == "ae"

    # The same registry cannot be continued without the columns: its best reads them.
    plain = entasis("selfplay", "--data", str(workspace / "csv"), *SMALL_RUN, "--json",
                    cwd=workspace)
    assert plain.returncode == 1, plain.stderr
    assert "add --extra to continue it" in one_json_object(plain)["error"]


def test_extra_on_a_generated_market_is_refused_with_what_to_do(workspace: Path) -> None:
    done = entasis("selfplay", "--sim", "--extra", "--json", cwd=workspace)
    assert done.returncode == 2, done.stderr
    error = one_json_object(done)["error"]
    assert "--extra needs --data DIR" in error and "drop --extra" in error
    assert not (workspace / "var" / REGISTRY_FILE).exists()  # refused before anything ran


def test_a_fold_plan_whose_embargo_swallows_the_history_is_refused_before_loading(
        workspace: Path) -> None:
    done = entasis("selfplay", "--data", str(workspace / "csv"), "--extra",
                   "--extra-min-train-minutes", "30", "--extra-embargo-minutes", "60", "--json",
                   cwd=workspace)
    assert done.returncode == 2, done.stderr
    assert "must exceed the embargo" in one_json_object(done)["error"]


def test_the_env_factory_pickles_to_pool_workers_unchanged() -> None:
    """`--workers N` ships the factory to other processes with every episode task."""
    factory = ExtraEnvFactory(ExtraSettings(), FoldPlan())
    assert pickle.loads(pickle.dumps(factory)) == factory
