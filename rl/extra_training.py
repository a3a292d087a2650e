"""Self-play on data that carries the forecast and anomaly columns, for every caller alike.

Why a module of its own: `entasis selfplay --extra` (bot/cli/models.py) and
`python -m rl.walkforward --extra` must train the very same kind of player, so what they
share lives here rather than twice:

* `training_market`: a replay folder as `MarketData` with the five extra columns
  (rl/extra_inputs.py) built out of fold over all of it (rl/extra_folds.py), plus a report
  of how (blocks, shares of rows served, seconds);
* `ExtraEnvFactory` / `with_extra_columns`: the self-play env factory for that data; a
  frozen dataclass rather than a bare function so the registry's training record of every
  candidate says which columns it read and how they were made (`rl.loop.training_record`);
* `install_initial`: the random v0000 of the extra-column layout (`rl.loop.ensure_best`
  would build the plain one);
* `check_registry_layout`: refuse to continue a registry whose best reads the other layout
  (ADR-044) before minutes of column building are spent;
* `PLAN_KNOBS`: the `--extra-*` options of both command lines.

A generated market (`--sim`) has no replay folder to train a forecast on, so only `--data`
runs can use the columns.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rl.episodes import MarketData
from rl.extra_folds import ExtraSettings, describe, out_of_fold_grid
from rl.extra_inputs import EXTRA_NAMES, OBSERVATION_NAMES, check_aligned, make_extra_env
from rl.fold_plan import PLAN_KNOBS, FoldPlan, plan_option
from rl.spaces import OBS_FEATURES, STATE_FEATURES

if TYPE_CHECKING:  # torch-free at import
    from rl.env import EnvConfig
    from rl.registry import ModelRegistry
    from rl.selfplay import SelfPlayConfig

Progress = Callable[[str, int, int], None]

#: (FoldPlan field, help) of the `--extra-<field>` options, in both command lines.
PLAIN_OBSERVATION_NAMES: tuple[str, ...] = (*OBS_FEATURES, *STATE_FEATURES)


@dataclass(frozen=True)
class ExtraEnvFactory:
    """`SelfPlayConfig.env_factory` for data carrying the extra columns (`make_extra_env`),
    with how those columns were built as its fields, so the training record of each
    candidate carries them. Module-level and frozen, so it pickles to pool workers."""

    settings: ExtraSettings
    plan: FoldPlan
    names: tuple[str, ...] = EXTRA_NAMES

    def __call__(self, data: Any, n_envs: int, env_config: Any, seed: int) -> Any:
        """The named-layout env (refuses data without exactly these columns)."""
        return make_extra_env(data, n_envs, env_config, seed)


def with_extra_columns(config: SelfPlayConfig, settings: ExtraSettings,
                       plan: FoldPlan) -> SelfPlayConfig:
    """`config` with its players trained in the extra-column env."""
    return dataclasses.replace(config, env_factory=ExtraEnvFactory(settings, plan))


def tiny_settings(settings: ExtraSettings, seed: int = 0) -> ExtraSettings:
    """`settings` with seconds-to-train forecast models and detector (smoke tests and
    checks of the plumbing, like `entasis forecast train --tiny`): the columns are then
    nearly noise, so a policy trained on them means nothing."""
    from risk.anomaly_features import INPUT_FEATURES
    from risk.anomaly_models import NetShape, TrainSettings
    from strategies.forecast.models import ModelParams

    train = dataclasses.replace(settings.train, params=ModelParams.tiny(), row_stride=2,
                                seed=seed)
    return dataclasses.replace(settings, train=train,
                               anomaly_shape=NetShape(len(INPUT_FEATURES), hidden=8, latent=3),
                               anomaly_settings=TrainSettings(epochs=1, batch_size=128,
                                                              seed=seed))


def training_market(data_dir: str | Path, settings: ExtraSettings, plan: FoldPlan,
                    progress: Progress | None = None) -> tuple[MarketData, dict[str, Any]]:
    """A replay folder as MarketData carrying the extra columns, every served row out of
    fold (rl/extra_folds.py), and the report (`describe` + blocks + seconds)."""
    from exchange.sim.replay import load_grid
    from strategies.forecast.dataset import build_panel

    data = MarketData.from_csv_dir(data_dir)
    panel = build_panel(load_grid(data_dir))
    check_aligned(data, panel)
    began = time.perf_counter()
    grid, blocks = out_of_fold_grid(panel, data.features, settings, plan, progress)
    if not blocks:
        raise ValueError(f"{data_dir}: {len(data)} minutes leave no out-of-fold block after "
                         f"{plan_option('min_train_minutes')} {plan.min_train_minutes}; "
                         "lower it or give more history")
    report = {**describe(settings, plan), "blocks": blocks,
              "seconds": round(time.perf_counter() - began, 1)}
    return data.with_extra(grid), report


def check_registry_layout(registry: ModelRegistry, extra: bool) -> None:
    """Refuse a registry whose best player reads the other observation layout: its
    candidates would not fit the env, and a best that swapped layout mid-registry would
    leave the daemon without a servable model (ADR-044)."""
    from rl.networks import Player, feature_names_hash

    record = registry.best()
    if record is None:
        return
    spec = Player.load(record.path).spec
    names = OBSERVATION_NAMES if extra else PLAIN_OBSERVATION_NAMES
    same = spec.obs_size == len(names) and spec.feature_hash in ("", feature_names_hash(names))
    if same:
        return
    has = ("the forecast and anomaly columns" if spec.obs_size == len(OBSERVATION_NAMES)
           else "the plain observation" if spec.obs_size == len(PLAIN_OBSERVATION_NAMES)
           else f"{spec.obs_size} inputs")
    wanted = "with" if extra else "without"
    raise ValueError(f"the registry's best model {record.version} reads {has}, and this run "
                     f"trains {wanted} the forecast and anomaly columns; "
                     f"{'drop' if extra else 'add'} --extra to continue it, or set the "
                     "config's app.data_dir to another folder for a registry of the other "
                     "kind")


def install_initial(registry: ModelRegistry, models_dir: Path, train: MarketData,
                    env_config: EnvConfig, seed: int) -> None:
    """Install the random v0000 for the extra-column layout (what `rl.loop.ensure_best`
    does for the plain one): its spec must carry the named layout's hash, which the env's
    generic `extra_i` names would not give. No-op when a best exists (a resumed run)."""
    from rl.networks import Player
    from rl.selfplay import plain_config

    if registry.best() is not None:
        return
    probe = make_extra_env(train, 1, env_config, seed)
    player = Player.create(probe.observation_size, probe.n_actions,
                           feature_names=probe.observation_names, seed=seed)
    path = player.save(models_dir / "v0000.pt")
    if registry.get("v0000") is None:
        registry.register("v0000", path, data_start_ms=int(train.open_ms[0]),
                          data_end_ms=int(train.open_ms[-1]))
    registry.promote("v0000", {"note": "initial network: random weights, no arena; observation "
                               "with the forecast and anomaly columns (rl/extra_inputs.py)",
                               "training": {"env_config": plain_config(env_config)}})


__all__ = ["PLAIN_OBSERVATION_NAMES", "PLAN_KNOBS", "ExtraEnvFactory", "check_registry_layout",
           "describe", "install_initial", "plan_option", "tiny_settings", "training_market",
           "with_extra_columns"]
