"""The registry of walk-forward configurations tried (bot/research/trials.py): the deflated
Sharpe ratio's trial count survives the process, per data folder and timeframe."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.data_dir import DataDir
from bot.research.trials import TrialRegistry, TrialRegistryError

SCOPE = "/data/binance_1h@1h"


def test_every_new_configuration_is_a_trial_and_a_rerun_is_not(tmp_path: Path) -> None:
    path = DataDir(tmp_path).walkforward_trials
    with TrialRegistry(path) as registry:
        registry.record(SCOPE, [("sma", {"policy": "sma", "fast": 20}, 0.01),
                                ("flat", {"policy": "flat"}, 0.0)])
    # when another process runs the same SMA again and a new window size
    with TrialRegistry(path) as registry:
        registry.record(SCOPE, [("sma", {"fast": 20, "policy": "sma"}, 0.02),
                                ("sma:fast=10", {"policy": "sma", "fast": 10}, -0.01)])
        # then three configurations were tried, each with its last Sharpe
        assert registry.trial_count(SCOPE) == 3
        assert sorted(registry.trial_sharpes(SCOPE)) == [-0.01, 0.0, 0.02]
        # and other data is another search
        assert registry.trial_count("/data/binance_5m@5m") == 0


def test_a_file_that_is_not_a_trials_registry_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "walkforward_trials.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(TrialRegistryError, match=str(path)):
        TrialRegistry(path)
