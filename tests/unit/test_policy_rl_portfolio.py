"""`[trading] policy = "rl_portfolio"`: the daemon trades the portfolio league's promoted
model, never its untrained v0000, and `auto` weighs the market's `rl_portfolio` verdict
once such a model exists (bot/app/assembly.py, bot/app/policy_choice.py)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from bot.app.assembly import PolicyUnavailable, make_policy, make_trader
from bot.app.policy_choice import StayFlat, choose_policy
from bot.config import Config
from bot.data_dir import DataDir
from model.instruments import Instrument
from rl.errors import ModelMismatchError
from rl.portfolio_env import PORTFOLIO_STATE, PortfolioConfig, PortfolioEnvFactory
from rl.portfolio_league import LeagueConfig, ensure_best, trained_on
from rl.portfolio_live_policy import COIN_NAMES, PortfolioLivePolicy
from rl.portfolio_network import PortfolioPlayer
from rl.registry import ModelRegistry
from state.ledger import Ledger
from strategies.baselines import BaselinePolicy
from strategies.feature_columns import FEATURE_NAMES
from strategies.policy import DecisionView
from tests.integration.test_portfolio_parity import instruments, random_walk_grid, settings
from tests.unit.test_policy_choice import config_in, record
from trading.fast_market import FastMarket

HOUR_MS = 3_600_000
TRAINED_ON = {"bar_ms": HOUR_MS, "decision_every": 1, "offsets_ticks": [-1, 0, 1],
              "stop_pct": 1.0}


def player(trained_on: dict | None = None) -> PortfolioPlayer:
    made = PortfolioPlayer.create(len(COIN_NAMES), len(PORTFOLIO_STATE), 9, (8, 8), COIN_NAMES,
                                  PORTFOLIO_STATE)
    made.trained_on = dict(TRAINED_ON if trained_on is None else trained_on)
    return made


def install(config: Config, *, promoted: bool) -> None:
    """A league's registry: the untrained v0000 as best, then (`promoted`) a v0001 that won
    its league."""
    data_dir = DataDir(config.data_dir)
    with ModelRegistry.open(data_dir.portfolio_models) as registry:
        registry.register("v0000", player().save(Path(config.data_dir) / "v0000.pt"))
        registry.promote("v0000", {"promote": False, "reason": "initial network"})
        if promoted:
            registry.register("v0001", player().save(Path(config.data_dir) / "v0001.pt"),
                              parent="v0000")
            registry.promote("v0001", {"promote": True})


def test_without_a_registry_it_refuses_saying_to_run_the_league(tmp_path: Path) -> None:
    with pytest.raises(PolicyUnavailable, match="entasis league --data FOLDER --timeframe 1h"):
        make_policy("rl_portfolio", config_in(tmp_path, interval="1h"))


def test_the_untrained_v0000_never_trades(tmp_path: Path) -> None:
    config = config_in(tmp_path, interval="1h")
    install(config, promoted=False)
    with pytest.raises(PolicyUnavailable, match=r"no model promoted by a league.*v0000"):
        make_policy("rl_portfolio", config)


def test_the_promoted_model_trades(tmp_path: Path) -> None:
    config = config_in(tmp_path, interval="1h")
    install(config, promoted=True)
    policy = make_policy("rl_portfolio", config)
    assert isinstance(policy, PortfolioLivePolicy)
    assert (policy.version, policy.cadence_ms, policy.name) == ("v0001", HOUR_MS, "rl_portfolio")


def test_a_daemon_deciding_off_the_model_cadence_is_told_the_interval_to_set(
        tmp_path: Path) -> None:
    config = config_in(tmp_path, interval="2h")  # would skip every other decision
    install(config, promoted=True)
    with pytest.raises(PolicyUnavailable, match='decision_interval = "1h"'):
        make_policy("rl_portfolio", config)
    every_5m = config_in(tmp_path, interval="5m")  # 5m divides 1h: it decides on the hour
    assert isinstance(make_policy("rl_portfolio", every_5m), PortfolioLivePolicy)


def test_a_model_that_does_not_say_what_it_was_trained_on_is_refused() -> None:
    with pytest.raises(ModelMismatchError, match="entasis league"):
        PortfolioLivePolicy(player({}), "v0003")


def test_between_its_decisions_the_model_holds() -> None:
    policy = PortfolioLivePolicy(player(), "v0001")
    view = DecisionView(HOUR_MS + 5 * 60_000, ("AAAUSDT",), np.zeros((1, len(FEATURE_NAMES))),
                        FEATURE_NAMES, (), {}, {}, (), 10_000.0)
    assert policy.decide(view) == []  # 01:05: not an hour close, no bars read at all


def test_auto_weighs_the_portfolio_verdict_once_a_model_is_promoted(tmp_path: Path) -> None:
    config = config_in(tmp_path, interval="1h")
    record(config, ("baseline", 0.4, 0.05))
    record(config, ("rl_portfolio", 1.6, 0.30), params={"generations": 4, "every": 1},
           deflated=0.97)
    install(config, promoted=False)
    assert choose_policy(config).policy == "baseline"  # v0000 only: the verdict is ignored
    with ModelRegistry.open(DataDir(config.data_dir).portfolio_models) as registry:
        registry.register("v0001", player().save(tmp_path / "v0001.pt"), parent="v0000")
        registry.promote("v0001", {"promote": True})
    choice = choose_policy(config, portfolio_model=True)
    assert (choice.policy, choice.proven, choice.stay_flat) == ("rl_portfolio", True, False)
    assert isinstance(make_policy("auto", config), PortfolioLivePolicy)


def test_live_auto_stays_flat_on_a_portfolio_model_that_lost_to_flat(tmp_path: Path) -> None:
    config = config_in(tmp_path, mode="live", interval="1h")
    record(config, ("rl_portfolio", -0.8, -0.10), params={"generations": 4})
    install(config, promoted=True)
    choice = choose_policy(config, portfolio_model=True)
    assert (choice.policy, choice.stay_flat) == ("rl_portfolio", True)
    assert "lost to flat" in choice.reason
    instrument = Instrument(symbol="AAAUSDT", base="AAA", quote="USDT", tick=Decimal("0.01"),
                            lot=Decimal("0.001"), min_notional=Decimal(5),
                            min_qty=Decimal("0.001"), max_qty=Decimal(1_000_000))
    with Ledger.open(tmp_path / "ledger.sqlite") as ledger:
        trader = make_trader(config, [instrument], ledger, policy="auto", quote_asset="USDT",
                             balance=Decimal(1000))
        assert isinstance(trader.policy, StayFlat)
        assert isinstance(trader.policy.inner, PortfolioLivePolicy)


def test_paper_auto_without_a_promoted_model_keeps_its_old_choice(tmp_path: Path) -> None:
    config = config_in(tmp_path, interval="1h")
    record(config, ("rl_portfolio", 1.6, 0.30), params={"generations": 4})
    assert isinstance(make_policy("auto", config), BaselinePolicy)


def test_a_new_promotion_is_swapped_in_and_a_misfit_one_refused(tmp_path: Path) -> None:
    config = config_in(tmp_path, interval="1h")
    install(config, promoted=True)
    policy = make_policy("rl_portfolio", config)
    assert isinstance(policy, PortfolioLivePolicy) and policy.registry is not None
    policy.registry.register("v0002", player().save(tmp_path / "v0002.pt"), parent="v0001")
    policy.registry.promote("v0002", {"promote": True})
    assert policy.maybe_reload(force=True) and policy.version == "v0002"
    policy.registry.register("v0003", player({}).save(tmp_path / "v0003.pt"), parent="v0002")
    policy.registry.promote("v0003", {"promote": True})
    assert not policy.maybe_reload(force=True) and policy.version == "v0002"


def test_the_league_saves_what_a_model_was_trained_on(tmp_path: Path) -> None:
    grid = random_walk_grid(1)
    factory = PortfolioEnvFactory(grid, FastMarket.from_grid(grid, instruments()), settings(),
                                  PortfolioConfig(horizon_steps=24, warmup_rows=200,
                                                  decision_every=4, offsets_ticks=(0, 1)))
    assert trained_on(factory) == {"bar_ms": HOUR_MS, "decision_every": 4,
                                   "offsets_ticks": [0, 1], "stop_pct": 1.0}
    with ModelRegistry.open(tmp_path / "registry.sqlite") as registry:
        first, version = ensure_best(registry, tmp_path, factory, replace(LeagueConfig(),
                                                                          hidden=(8, 8)), 0)
        record = registry.best()
        assert record is not None and version == "v0000"
        assert PortfolioPlayer.load(record.path).trained_on == trained_on(factory)
    assert first.clone().trained_on == trained_on(factory)
