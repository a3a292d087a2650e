"""`entasis selfplay` runs a whole generation (memory, PPO, arena, registry) and
`entasis models` shows the outcome; a test-sized budget on the simulated market."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT


def entasis(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args, "--config", str(cwd / "config.toml")],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=240)


def test_a_generation_is_judged_by_the_arena_and_recorded_in_the_registry(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("")
    done = entasis("selfplay", "--sim", "--minutes", "12000", "--coins", "4", "--envs", "32",
                   "--updates", "2", "--episodes", "200", "--horizon", "120", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [generation] = json.loads(done.stdout.strip().splitlines()[-1])["generations"]
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


def test_selfplay_needs_exactly_one_data_source(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("")
    done = entasis("selfplay", cwd=tmp_path)
    assert done.returncode == 2 and "exactly one of --data DIR or --sim" in done.stderr
