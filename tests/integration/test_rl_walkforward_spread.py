"""The RL walk-forward prices each symbol's bar book as asked (`--spread`): the spreads its
warm-up bars imply (the default since issue 16) or one tick (the book before it), so its
figures can be shown beside the one-tick ones; the forecast-column path keeps the estimate."""

from __future__ import annotations

from pathlib import Path

import pytest

from rl.env import EnvConfig
from rl.ppo import PPOConfig
from rl.selfplay import SelfPlayConfig
from rl.walkforward import main as walkforward_main
from rl.walkforward import walk_forward
from strategies.forecast.synthetic import synthetic_grid, write_csv_dir

TINY = SelfPlayConfig(n_envs=8, memory_steps=8, updates=1, rollout_steps=8,
                      env_config=EnvConfig(horizon_minutes=60, reward_scale=1000.0),
                      ppo=PPOConfig(minibatch_size=64))


@pytest.mark.slow
def test_the_same_seed_trades_differently_on_the_estimated_and_the_one_tick_book(
        tmp_path: Path, one_torch_thread: None) -> None:
    write_csv_dir(synthetic_grid(seed=3, n_symbols=2, minutes=3300), tmp_path / "train")
    write_csv_dir(synthetic_grid(seed=4, n_symbols=2, minutes=1800), tmp_path / "test")

    fees = {spread: walk_forward(tmp_path / "train", tmp_path / "test", seeds=(0,),
                                 generations=1, config=TINY, arena_episodes=10,
                                 embargo_minutes=60, workdir=tmp_path / spread,
                                 spread=spread)[0]["test"]["rl"]["fees"]
            for spread in ("estimated", "fixed")}

    assert fees["estimated"] > 0 and fees["fixed"] > 0
    assert fees["estimated"] != fees["fixed"]


def test_one_tick_with_the_forecast_columns_is_refused_saying_why(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        walkforward_main(["--train", str(tmp_path), "--test", str(tmp_path), "--extra",
                          "--spread", "fixed"])
    assert exit_info.value.code == 2
    assert "--spread fixed reprices the plain walk-forward only" in capsys.readouterr().err
