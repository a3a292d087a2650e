"""Arena: identical episodes for every player, baselines in the env's action space, and a
gate that promotes a planted edge and rejects a worse or identical player."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rl import arena
from rl.env import EnvConfig
from rl.episodes import MarketData

CONFIG = EnvConfig(horizon_minutes=120)


@pytest.fixture(scope="module")
def data() -> MarketData:
    return MarketData.from_generator(3, coins=4, minutes=4000)


@pytest.fixture(scope="module")
def episodes(data: MarketData) -> tuple[arena.EnvFactory, np.ndarray, np.ndarray]:
    factory = arena.arena_env_factory(data, CONFIG)
    starts, symbols = factory(1, 0).sample_starts(64, np.random.default_rng(0))
    return factory, starts, symbols


def peeking_oracle(obs: np.ndarray, view: arena.EpisodeView) -> np.ndarray:
    """Cheats on purpose (reads closes 15 minutes ahead): a planted, certain edge."""
    close = view.env.data.close
    now = close[view.minute, view.symbols]
    later = close[np.minimum(view.minute + 15, len(close) - 1), view.symbols]
    actions = np.full(view.starts.size, view.env.action_names.index("HOLD"))
    actions[(later > now * 1.004) & (view.position <= 0)] = view.env.action_names.index("BUY+1")
    actions[(later < now) & (view.position > 0)] = view.env.action_names.index("SELL+1")
    return actions


def churner(obs: np.ndarray, view: arena.EpisodeView) -> np.ndarray:
    """Uniformly random actions: pays fees for nothing."""
    rng = np.random.default_rng(view.step)
    return rng.integers(0, view.env.n_actions, view.starts.size)


class FixedActionPlayer:
    """Stands in for `rl.networks.Player`: same `act` signature, one action for everyone."""

    def __init__(self, action: int) -> None:
        self.action = action
        self.greedy_calls: list[bool] = []

    def act(self, obs: np.ndarray, *, greedy: bool, generator: object = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.greedy_calls.append(greedy)
        n = obs.shape[0]
        return np.full(n, self.action), np.zeros(n, np.float32), np.zeros(n, np.float32)


@pytest.mark.slow
def test_same_player_on_the_same_episodes_gets_identical_results(episodes) -> None:
    factory, starts, symbols = episodes
    first = arena.play_episodes(churner, factory, starts, symbols, seed=1)
    second = arena.play_episodes(churner, factory, starts, symbols, seed=1)
    for field in ("log_growth", "max_drawdown", "returns", "steps", "fees", "turnover"):
        assert np.array_equal(getattr(first, field), getattr(second, field)), field
    assert (first.steps == CONFIG.horizon_minutes).all()


def test_flat_baseline_scores_exactly_zero(episodes) -> None:
    factory, starts, symbols = episodes
    results = arena.play_episodes(arena.flat, factory, starts, symbols, seed=0)
    assert not results.log_growth.any() and not results.max_drawdown.any()
    assert not results.turnover.any()


def test_baselines_trade_through_the_env_action_space(data: MarketData) -> None:
    factory = arena.arena_env_factory(data, CONFIG)
    tradeable = data.symbols.index("ETHBTC")  # its lot is small enough for capital 1.0
    starts, symbols = factory(1, 0).sample_starts(400, np.random.default_rng(3))
    starts, symbols = starts[symbols == tradeable][:32], symbols[symbols == tradeable][:32]
    held = arena.play_episodes(arena.buy_and_hold, factory, starts, symbols, seed=0)
    crossed = arena.play_episodes(arena.sma_cross, factory, starts, symbols, seed=0)
    assert (held.turnover > 0).all()  # bought once, at the start
    assert (crossed.turnover > 0).any()
    assert (crossed.turnover >= held.turnover).mean() > 0.5  # crossing trades more often


def test_a_network_plays_greedily(episodes) -> None:
    factory, starts, symbols = episodes
    player = FixedActionPlayer(action=0)  # HOLD
    results = arena.play_episodes(player, factory, starts, symbols, seed=0)
    assert set(player.greedy_calls) == {True}
    assert not results.turnover.any()


def test_arena_promotes_a_planted_edge_and_records_every_statistic(data: MarketData) -> None:
    report = arena.run_arena(peeking_oracle, churner, data, 200, config=CONFIG, n_boot=2000,
                             n_trials=3, trial_sharpes=[0.05, -0.02])
    assert report.promote, report.failed
    assert set(report.checks) == {"sprt", "bootstrap", "drawdown", "cvar", "baseline:flat",
                                  "baseline:buy_and_hold", "baseline:sma_cross"}
    stats = report.as_dict()
    json.dumps(stats, allow_nan=False)
    assert set(stats["info"]["players"]) == {"candidate", "best", "flat", "buy_and_hold",
                                             "sma_cross"}
    assert 0 <= stats["info"]["deflated_sharpe_ratio"] <= 1


def test_arena_rejects_a_worse_candidate(data: MarketData) -> None:
    report = arena.run_arena(churner, peeking_oracle, data, 200, config=CONFIG, n_boot=2000)
    assert not report.promote
    assert {"sprt", "bootstrap", "baseline:flat"} <= set(report.failed)


def test_an_identical_candidate_is_all_ties_and_not_promoted(data: MarketData) -> None:
    report = arena.run_arena(arena.flat, arena.flat, data, 200, config=CONFIG, n_boot=500)
    assert not report.promote
    assert report.checks["sprt"].stats["ties"] == 200
    assert report.checks["sprt"].stats["decision"] == "continue"
