"""Pre-training the first best_player on randomized simulated markets (rl/sim_pretrain.py).

Real parts throughout: the calibrated market model generates the bars, the env, PPO and the
registry are the product's, the walk-forward reads replay folders written to disk. Budgets
are tiny (seconds); what is checked is the contract, not whether pre-training helps (that
is measured on real data in docs/results.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rl.env import EnvConfig
from rl.episodes import MarketData
from rl.networks import Player
from rl.ppo import PPOConfig
from rl.registry import ModelRegistry
from rl.selfplay import SelfPlayConfig
from rl.sim_pretrain import SimPretraining, install_pretrained, pretraining_market
from rl.walkforward import main as walkforward_main
from rl.walkforward import walk_forward
from strategies.forecast.synthetic import synthetic_grid, write_csv_dir
from tests.market_params_example import example_params

ENV = EnvConfig(horizon_minutes=60, reward_scale=1000.0)
TINY = SelfPlayConfig(n_envs=8, memory_steps=8, updates=1, rollout_steps=8, env_config=ENV,
                      ppo=PPOConfig(minibatch_size=64))
SETTINGS = SimPretraining(example_params(), markets=2, coins=2, minutes=3 * 1440, scale=0.3,
                          generations=1)


def weights(player: Player) -> list[np.ndarray]:
    return [t.detach().numpy().copy() for t in player.net.state_dict().values()]


def test_a_generated_market_with_quiet_minutes_has_gaps_and_an_estimated_spread() -> None:
    """Given the calibrated model (a 15 bps half-spread bounce, quiet minutes), when its bars
    become training data, then a quiet minute is a flat zero-volume bar at the last close (as a
    recorded gap is) and each symbol's book is priced at the spread its warm-up bars imply."""
    data = MarketData.from_generator(1, 3, 3 * 1440, params=example_params(), spread="estimated")
    quiet = data.volume == 0
    assert 0.02 < quiet.mean() < 0.6
    rows, cols = np.nonzero(quiet[1:])
    rows = rows + 1
    for field in (data.open, data.high, data.low, data.close):
        assert np.array_equal(field[rows, cols], data.close[rows - 1, cols])
    assert data.spread is not None and np.all((data.spread > 15e-4) & (data.spread < 45e-4))
    assert MarketData.from_generator(1, 3, 3 * 1440, params=example_params()).spread is None


def test_the_pretraining_market_is_one_seeds_markets_side_by_side() -> None:
    first = pretraining_market(SETTINGS, seed=4)
    assert len(first.symbols) == SETTINGS.markets * SETTINGS.coins
    assert first.symbols[0].endswith("#0") and first.symbols[-1].endswith("#1")
    again = pretraining_market(SETTINGS, seed=4)
    assert np.array_equal(first.close, again.close, equal_nan=True)
    other = pretraining_market(SETTINGS, seed=5)
    assert not np.array_equal(first.close, other.close, equal_nan=True)


@pytest.mark.slow
def test_the_pretrained_network_is_installed_as_the_first_best_and_is_reproducible(
        tmp_path: Path, one_torch_thread: None) -> None:
    """Given a registry with no best, when pre-training runs, then v0000 is the pre-trained
    network (not the seeded random init), the registry says how it was made, the same seed
    gives the same weights, and a registry that already has a best is left alone."""
    from rl.loop import ensure_best

    train = MarketData.from_generator(9, 2, 3 * 1440)
    runs = []
    for name in ("a", "b", "random"):
        (tmp_path / name / "models").mkdir(parents=True)
    for name in ("a", "b"):
        with ModelRegistry.open(tmp_path / name / "registry.db") as registry:
            done = install_pretrained(registry, tmp_path / name, train, SETTINGS, TINY, ENV, 0)
            best = registry.best()
            assert best is not None and best.version == "v0000" and done is not None
            assert best.arena_stats is not None
            assert best.arena_stats["pretraining"]["markets"] == 2
            assert best.arena_stats["pretraining"]["params_source"] == SETTINGS.params.source
            runs.append(weights(Player.load(best.path)))
            assert install_pretrained(registry, tmp_path / name, train, SETTINGS, TINY, ENV,
                                      0) is None  # resumed: the best stays
    assert all(np.array_equal(x, y) for x, y in zip(*runs, strict=True))
    with ModelRegistry.open(tmp_path / "random" / "registry.db") as registry:
        random_init, _ = ensure_best(registry, tmp_path / "random" / "models", train, ENV, 0)
    assert not all(np.array_equal(x, y) for x, y in zip(runs[0], weights(random_init),
                                                        strict=True))


@pytest.mark.slow
def test_the_walk_forward_pretrains_without_reading_the_test_folder(
        tmp_path: Path, one_torch_thread: None) -> None:
    """Given two different test folders, when the walk-forward pre-trains with one seed, then
    the pre-trained v0000 is bit-identical for both (nothing of the test period reaches it),
    and each row reports the pre-training beside the untouched test evaluation."""
    write_csv_dir(synthetic_grid(seed=3, n_symbols=2, minutes=3300), tmp_path / "train")
    for k, seed in enumerate((4, 5)):
        write_csv_dir(synthetic_grid(seed=seed, n_symbols=2, minutes=1800), tmp_path / f"t{k}")
    pretrained = []
    for k in (0, 1):
        rows = walk_forward(tmp_path / "train", tmp_path / f"t{k}", seeds=(0,), generations=1,
                            config=TINY, arena_episodes=10, embargo_minutes=60,
                            workdir=tmp_path / f"wd{k}", pretrain=SETTINGS)
        assert rows[0]["pretraining"]["scale"] == 0.3
        assert rows[0]["test"]["rl"]["episodes"] == rows[0]["test"]["flat"]["episodes"] > 0
        with ModelRegistry.open(tmp_path / f"wd{k}" / "seed0" / "registry.db") as registry:
            v0000 = registry.get("v0000")
            assert v0000 is not None
            pretrained.append(weights(Player.load(v0000.path)))
    assert all(np.array_equal(x, y) for x, y in zip(*pretrained, strict=True))


def test_pretraining_and_the_extra_columns_do_not_combine(tmp_path: Path) -> None:
    from rl.extra_folds import ExtraSettings, FoldPlan

    with pytest.raises(ValueError, match="do not combine"):
        walk_forward(tmp_path, tmp_path, seeds=(0,), generations=1, config=TINY,
                     extra=(ExtraSettings(), FoldPlan()), pretrain=SETTINGS)


def test_hourly_parameters_or_a_short_market_are_refused_saying_what_to_do() -> None:
    with pytest.raises(ValueError, match="calibrate on a folder of 1m bars"):
        SimPretraining(example_params(bar_minutes=60.0))
    with pytest.raises(ValueError, match=">= 2 days"):
        SimPretraining(example_params(), minutes=1440)


def test_the_command_line_names_an_unknown_parameter_set(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        walkforward_main(["--train", str(tmp_path), "--test", str(tmp_path),
                          "--pretrain-sim", "no_such_market"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--pretrain-sim 'no_such_market'" in err and "bittrex_2017-11" in err
