"""The portfolio env: what it observes, what it rewards, and that it is reproducible and
causal. (Its trading rules are held to the fast backtester by
tests/integration/test_portfolio_parity.py.)"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rl.portfolio_env import COIN_STATE, PORTFOLIO_STATE, PortfolioConfig, PortfolioEnv
from rl.spaces import OBS_FEATURES
from tests.integration.test_portfolio_parity import (
    COINS,
    WARMUP,
    instruments,
    random_walk_grid,
    settings,
)
from trading.fast_market import FastMarket

CONFIG = PortfolioConfig(horizon_steps=40, warmup_rows=WARMUP, auto_reset=False)


def make_env(n_envs: int = 4, seed: int = 0, grid_seed: int = 5,
             config: PortfolioConfig = CONFIG) -> PortfolioEnv:
    grid = random_walk_grid(grid_seed)
    return PortfolioEnv(grid, FastMarket.from_grid(grid, instruments()), settings(), n_envs,
                        config, seed=seed)


def random_actions(env: PortfolioEnv, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, len(env.action_names), (env.n_envs, env.n_coins))


def play(env: PortfolioEnv, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    env.reset()
    rewards, equity = [], []
    for _ in range(steps):
        _, reward, _, info = env.step(random_actions(env, rng))
        rewards.append(reward)
        equity.append(info["equity"])
    return np.array(rewards), np.array(equity)


def test_observation_has_a_row_per_coin_and_names_for_every_column() -> None:
    env = make_env()
    observation = env.reset()
    assert observation.coins.shape == (4, len(COINS), len(env.coin_feature_names))
    assert observation.portfolio.shape == (4, len(PORTFOLIO_STATE))
    assert observation.mask.shape == (4, len(COINS))
    assert env.coin_feature_names[:len(OBS_FEATURES)] == OBS_FEATURES
    assert env.coin_feature_names[-len(COIN_STATE):] == COIN_STATE
    assert observation.coins.dtype == np.float32 and np.isfinite(observation.coins).all()
    # A fresh account: all cash, nothing held, the whole episode ahead.
    names = list(PORTFOLIO_STATE)
    assert observation.portfolio[:, names.index("cash_share")] == pytest.approx(1.0)
    assert observation.portfolio[:, names.index("exposure")] == pytest.approx(0.0)
    assert observation.portfolio[:, names.index("time_left")] == pytest.approx(1.0)


def test_cross_sectional_z_scores_sum_to_zero_over_the_coins_with_a_bar() -> None:
    env = make_env()
    observation = env.reset()
    width = len(OBS_FEATURES)
    z = observation.coins[:, :, width: 2 * width]
    mask = observation.mask[:, :, None]
    assert np.abs(np.where(mask, z, 0.0).sum(axis=1)).max() < 1e-3


def test_reward_is_the_log_growth_of_equity_after_costs() -> None:
    env = make_env()
    rng = np.random.default_rng(1)
    env.reset()
    before = env.capital.copy()
    for _ in range(20):
        _, reward, _, info = env.step(random_actions(env, rng))
        np.testing.assert_allclose(reward, np.log(info["equity"] / before), rtol=1e-6,
                                   atol=1e-9)
        before = info["equity"]


def test_a_drawdown_penalty_only_lowers_the_reward_of_steps_that_deepen_the_drawdown() -> None:
    plain, _ = play(make_env(), 30, seed=2)
    penalized, _ = play(make_env(config=replace(CONFIG, drawdown_penalty=5.0)), 30, seed=2)
    assert (penalized <= plain + 1e-7).all()
    assert (penalized < plain - 1e-7).any()


def test_same_seed_same_episodes_and_rewards_different_seed_different_starts() -> None:
    first, first_equity = play(make_env(seed=3), 25, seed=9)
    again, again_equity = play(make_env(seed=3), 25, seed=9)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first_equity, again_equity)
    other = make_env(seed=4)
    other.reset()
    fresh = make_env(seed=3)
    fresh.reset()
    assert not np.array_equal(other._t, fresh._t)


def test_no_lookahead_the_observation_at_a_row_ignores_every_later_bar() -> None:
    grid = random_walk_grid(5)
    start = WARMUP + 10
    future = slice(start + 1, None)
    shocked = replace(grid, close=grid.close.copy(), high=grid.high.copy())
    shocked.close[future] *= 1.5
    shocked.high[future] *= 1.5
    views = []
    for candidate in (grid, shocked):
        env = PortfolioEnv(candidate, FastMarket.from_grid(candidate, instruments()),
                           settings(), 1, CONFIG, seed=0)
        views.append(env.reset(starts=np.array([start])))
    np.testing.assert_array_equal(views[0].coins, views[1].coins)
    np.testing.assert_array_equal(views[0].portfolio, views[1].portfolio)


def test_done_envs_restart_when_auto_reset_and_stay_put_otherwise() -> None:
    short = replace(CONFIG, horizon_steps=3)
    env = make_env(config=short)
    env.reset()
    hold = np.zeros((env.n_envs, env.n_coins), np.int64)
    for _ in range(3):
        _, reward, done, _ = env.step(hold)
    assert done.all()
    _, reward, done, _ = env.step(hold)
    assert done.all() and (reward == 0).all()
    restarting = make_env(config=replace(short, auto_reset=True))
    restarting.reset()
    for _ in range(3):
        restarting.step(hold)
    assert not restarting._finished.any()


def test_bad_actions_and_starts_are_refused_with_the_expected_shape() -> None:
    env = make_env()
    env.reset()
    with pytest.raises(ValueError, match=r"shape \(4, 6\)"):
        env.step(np.zeros((4, 5), np.int64))
    with pytest.raises(ValueError, match="out of range"):
        env.step(np.full((4, 6), 99))
    with pytest.raises(ValueError, match="start rows must lie in"):
        env.reset(starts=np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="warm-up rows"):
        make_env(config=replace(CONFIG, horizon_steps=10_000))


def test_a_slower_cadence_is_the_same_bars_with_holds_between_decisions() -> None:
    every = 4
    slow = make_env(config=replace(CONFIG, decision_every=every))
    fast = make_env()
    start = np.full(4, WARMUP + 3)
    slow.reset(starts=start)
    fast.reset(starts=start)
    rng = np.random.default_rng(6)
    hold = np.zeros((4, len(COINS)), np.int64)
    for _ in range(5):
        actions = random_actions(slow, rng)
        _, reward, _, info = slow.step(actions)
        total, fees = np.zeros(4), np.zeros(4)
        for k in range(every):
            _, bar_reward, _, bar_info = fast.step(actions if k == 0 else hold)
            total += bar_reward
            fees += bar_info["fees"]
        np.testing.assert_allclose(reward, total, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(info["fees"], fees)
        np.testing.assert_array_equal(info["equity"], bar_info["equity"])
