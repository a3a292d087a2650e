"""`rl_portfolio:cost_margin=M`: the margin shapes the league's training reward only; the
league's judging env and the fold's test window stay unshaped (they judge real growth after
real costs), and a negative margin is refused before any data is read."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.config import load_config
from bot.research import walkforward as runner
from bot.research.walkforward import PolicySpec
from bot.research.walkforward_league import (
    LeagueSettings,
    LeagueSettingsError,
    league_factories,
    traded_window_factory,
)
from tests.integration.test_walkforward_league import TEST_DAYS, TRAIN_DAYS, random_walk
from trading.folds import grid_folds


def test_cost_margin_is_a_league_parameter_and_defaults_to_no_margin() -> None:
    assert LeagueSettings.parse({}).cost_margin == 0.0
    assert LeagueSettings.parse({"cost_margin": "0.5"}).cost_margin == 0.5
    with pytest.raises(LeagueSettingsError, match="cost_margin=N"):
        LeagueSettings.parse({"margin": "0.5"})  # the message lists every parameter


def test_a_negative_cost_margin_is_refused_with_what_to_write() -> None:
    with pytest.raises(LeagueSettingsError, match=r"cost_margin=-1: write a margin >= 0"):
        runner.check_policies([PolicySpec("rl", "rl_portfolio", (("cost_margin", -1),))])


def test_only_the_training_env_pays_the_margin_the_league_and_test_window_do_not() -> None:
    grid = random_walk()
    settings = runner.fast_settings(load_config(None, environ={}), grid.bar_ms)
    chosen = LeagueSettings.parse({"cost_margin": "0.5", "horizon": "24", "penalty": "0.1"})
    train, judge = league_factories(grid, settings, (0, 500, 700), 100, chosen)
    assert train.config.cost_margin == 0.5
    assert judge.config.cost_margin == 0.0
    # Everything else about the two envs is the same.
    assert train.config.drawdown_penalty == judge.config.drawdown_penalty == 0.1
    assert train.config.horizon_steps == judge.config.horizon_steps == 24
    fold = grid_folds(grid, train_days=TRAIN_DAYS, test_days=TEST_DAYS)[0]
    window = traded_window_factory(grid, SimpleNamespace(fold=fold, settings=settings),
                                   chosen.offsets_ticks())
    assert window.config.cost_margin == 0.0 and window.config.drawdown_penalty == 0.0
