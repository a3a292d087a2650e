"""policy = "auto" (the default): the learned policy trades only once it has won an arena.

"rl" becomes the default once a best_player exists, else the baseline. The v0000
that seeds self-play is registered as best without any comparison; it must not trade.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app.assembly import make_policy, with_policy_sources
from bot.config import Config, load_config
from rl import extra_inputs
from rl.env import ACTIONS
from rl.live_policy import OBSERVATION_NAMES, REGISTRY_FILE, RLPolicy
from rl.networks import ModelMismatchError, Player
from rl.registry import ModelRegistry


def config_in(data_dir: Path) -> Config:
    config = load_config(None, environ={})
    return config.model_copy(update={"app": config.app.model_copy(update={"data_dir": data_dir})})


def promote(data_dir: Path, version: str, arena_stats: dict | None,
            names: tuple[str, ...] = OBSERVATION_NAMES) -> None:
    player = Player.create(len(names), len(ACTIONS), hidden=(16,), feature_names=names, seed=0)
    path = player.save(data_dir / "models" / f"{version}.pt")
    with ModelRegistry.open(data_dir / REGISTRY_FILE) as registry:
        registry.register(version, path)
        registry.promote(version, arena_stats)


def test_auto_is_the_default_policy() -> None:
    assert load_config(None, environ={}).trading.policy == "auto"


def test_auto_trades_the_baseline_without_a_registry(tmp_path: Path) -> None:
    policy = make_policy("auto", config_in(tmp_path))
    assert not isinstance(policy, RLPolicy)
    assert not (tmp_path / REGISTRY_FILE).exists()  # looking never creates one


def test_auto_trades_the_baseline_while_the_best_never_won_an_arena(tmp_path: Path) -> None:
    promote(tmp_path, "v0000", None)  # installed as the first best, no comparison
    assert not isinstance(make_policy("auto", config_in(tmp_path)), RLPolicy)


def test_auto_trades_the_baseline_when_the_recorded_arena_said_no(tmp_path: Path) -> None:
    promote(tmp_path, "v0001", {"promote": False, "failed": ["sprt"]})
    assert not isinstance(make_policy("auto", config_in(tmp_path)), RLPolicy)


def test_auto_trades_rl_once_an_arena_promoted_the_best(tmp_path: Path) -> None:
    promote(tmp_path, "v0000", None)
    promote(tmp_path, "v0001", {"promote": True, "failed": []})
    policy = make_policy("auto", config_in(tmp_path))
    assert isinstance(policy, RLPolicy) and policy.version == "v0001"


def test_auto_falls_back_to_the_baseline_when_the_winner_needs_unserved_inputs(
        tmp_path: Path) -> None:
    """A promoted model that reads the forecast and anomaly columns, a daemon serving
    neither: "auto" trades the baseline; an explicit "rl" refuses, saying what to turn on."""
    promote(tmp_path, "v0001", {"promote": True}, names=extra_inputs.OBSERVATION_NAMES)
    config = config_in(tmp_path)
    policy = make_policy("auto", config)
    assert isinstance(policy, RLPolicy) and policy.wants_extras
    assert not isinstance(with_policy_sources(config, policy, None, None, []), RLPolicy)
    explicit = config.model_copy(update={"trading": config.trading.model_copy(
        update={"policy": "rl"})})
    with pytest.raises(ModelMismatchError, match="forecast"):
        with_policy_sources(explicit, make_policy("rl", explicit), None, None, [])
