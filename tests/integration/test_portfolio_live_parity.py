"""Parity: the live portfolio adapter (rl/portfolio_live_policy.py) sees what the portfolio
env sees and chooses what the network chose there.

`PortfolioEnv` plays an episode on hourly bars with the model's own greedy actions; at every
decision row the adapter is given only the bars that closed before the decision (through a
`BarSource`, as the engine's book gives them) and the env's account as the trader would
report it (holdings, resting orders, equity, free cash, risk mode), and must produce the
same observation to 1e-6 and the same action for every coin. A second test corrupts every
bar from the decision on and requires the same decision (no lookahead).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from rl.portfolio_env import PortfolioConfig, PortfolioEnv, PortfolioEnvFactory
from rl.portfolio_league import trained_on
from rl.portfolio_live_policy import PortfolioLivePolicy
from rl.portfolio_network import PortfolioPlayer
from rl.portfolio_risk import HALTED, REDUCING
from strategies.feature_columns import FEATURE_NAMES
from strategies.features_batch import BarGrid
from strategies.policy import Action, DecisionView, Holding, Quote, RestingOrder
from strategies.recent_bars import GridBars
from tests.integration.test_portfolio_parity import (
    COINS,
    HORIZON,
    WARMUP,
    instruments,
    random_walk_grid,
    settings,
)
from trading.fast_market import FastMarket

MODES = {0: "ACTIVE", REDUCING: "REDUCING", HALTED: "HALTED"}


def gappy_grid(seed: int = 3) -> BarGrid:
    """The parity grid with hours in which a coin did not trade (masked, flat-filled)."""
    grid = random_walk_grid(seed)
    rng = np.random.default_rng(seed)
    close, high, low = grid.close.copy(), grid.high.copy(), grid.low.copy()
    rows = rng.integers(WARMUP - 100, WARMUP + HORIZON, 40)
    coins = rng.integers(0, len(COINS) - 1, 40)
    for column in (close, high, low):
        column[rows, coins] = np.nan
    return replace(grid, close=close, high=high, low=low)


def decisive_player(env: PortfolioEnv, factory: PortfolioEnvFactory) -> PortfolioPlayer:
    """A random network whose policy head is scaled up: varied, clear-cut greedy choices
    (the fresh head is near uniform, where an arg-max is a coin toss on rounding)."""
    player = PortfolioPlayer.create(len(env.coin_feature_names), len(env.portfolio_feature_names),
                                    len(env.action_names), (32, 32), env.coin_feature_names,
                                    env.portfolio_feature_names, seed=11)
    with torch.no_grad():
        player.net.policy_head.weight.mul_(300.0)
        player.net.policy_head.bias.copy_(torch.tensor([0.0, 0, 0, 1.0, 0, 0, 1.0, 0, 0]))
    player.trained_on = trained_on(factory)
    return player


def account_view(env: PortfolioEnv, grid: BarGrid, bars: GridBars) -> DecisionView:
    """The env's account as the trader reports it, at the decision after env 0's row."""
    row = int(env._t[0])
    ts_ms = grid.start_ms + (row + 1) * grid.bar_ms
    close = env._close_ff[row]
    holdings = {s: Holding(float(env._pos[0, j]), float(close[j]), 0)
                for j, s in enumerate(COINS) if env._pos[0, j] > 0}
    orders = tuple(
        RestingOrder(f"o{j}", s, "BUY" if env._side[0, j] == 1 else "SELL",
                     float(env._price[0, j]), float(env._remaining[0, j]), row,
                     amount=float(env._amount[0, j]))
        for j, s in enumerate(COINS) if env._has_order[0, j])
    buying = env._has_order[0] & (env._side[0] == 1)
    cash = env._cash[0] - np.where(buying, env._reserved[0], 0.0).sum()
    return DecisionView(
        ts_ms=ts_ms, symbols=COINS, features=np.zeros((len(COINS), len(FEATURE_NAMES))),
        feature_names=FEATURE_NAMES, ranking=(),
        quotes={s: Quote(float(close[j]), np.nan, np.nan) for j, s in enumerate(COINS)},
        holdings=holdings, open_orders=orders, equity=float(env._equity[0]), bars=bars,
        cash=float(cash), mode=MODES[int(env._mode[0])])


def setup(grid: BarGrid) -> tuple[PortfolioEnv, PortfolioPlayer, PortfolioLivePolicy]:
    # A deep passive offset too, so that orders rest across bars and partly fill.
    config = PortfolioConfig(horizon_steps=HORIZON, warmup_rows=WARMUP, auto_reset=False,
                             offsets_ticks=(-3000, 0, 1))
    factory = PortfolioEnvFactory(grid, FastMarket.from_grid(grid, instruments()), settings(),
                                  config)
    env = factory(1, 0)
    player = decisive_player(env, factory)
    policy = PortfolioLivePolicy(player, "v0001", instruments={i.symbol: i for i in instruments()},
                                 max_open_positions=settings().limits.max_open_positions)
    return env, player, policy


def live_decision(policy: PortfolioLivePolicy, view: DecisionView, time_left: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What `decide` computes before mapping: (coins, portfolio, mask, actions)."""
    policy.time_left = time_left  # live has no horizon; the env's, to compare the rest
    policy.mark(view.equity)
    coins, portfolio, mask = policy.observe(view, COINS)
    _, actions, _ = policy.infer(coins, portfolio, mask)
    return coins, portfolio, mask, actions


def test_the_adapter_observes_and_chooses_what_the_env_did_at_every_decision() -> None:
    grid = gappy_grid()
    env, player, policy = setup(grid)
    bars = GridBars(grid)
    observation = env.reset(np.array([WARMUP]))
    exercised = {"held": 0, "resting": 0, "masked": 0, "buy": 0, "sell": 0}
    for _ in range(HORIZON - 1):
        actions, _, _ = player.act(observation.coins, observation.portfolio, observation.mask,
                                   greedy=True)
        view = account_view(env, grid, bars)
        coins, portfolio, mask, live = live_decision(
            policy, view, float((env._t_end[0] - env._t[0]) / HORIZON))
        np.testing.assert_allclose(coins[0], observation.coins[0], rtol=0, atol=1e-6)
        np.testing.assert_allclose(portfolio[0], observation.portfolio[0], rtol=0, atol=1e-6)
        assert (mask[0] == observation.mask[0]).all()
        assert (live == actions[0]).all()
        names = [env.action_names[a] for a in actions[0][observation.mask[0]]]
        exercised["held"] += bool(view.holdings)
        exercised["resting"] += bool(view.open_orders)
        exercised["masked"] += int((~observation.mask[0]).sum())
        exercised["buy"] += sum(n.startswith("BUY") for n in names)
        exercised["sell"] += sum(n.startswith("SELL") for n in names)
        observation, _, done, _ = env.step(actions)
        if done[0]:
            break
    # The comparison covered positions, resting orders, missing bars and both sides.
    assert min(exercised.values()) > 0, exercised


def test_decide_maps_the_chosen_actions_to_orders_on_the_tick_grid() -> None:
    grid = gappy_grid()
    env, player, policy = setup(grid)
    observation = env.reset(np.array([WARMUP]))
    actions, _, _ = player.act(observation.coins, observation.portfolio, observation.mask,
                               greedy=True)
    view = account_view(env, grid, GridBars(grid))
    policy.time_left = 1.0  # the env's at the episode's first decision
    decided = policy.decide(view)
    buys = {a.symbol for a in decided if a.action is Action.BUY}
    expected = {s for j, s in enumerate(COINS) if observation.mask[0, j]
                and env.action_names[actions[0, j]].startswith("BUY")}
    assert buys == expected and buys
    for action in decided:
        if action.action is Action.BUY:
            tick = 1e-4
            assert action.limit_price is not None and action.stop_price is not None
            assert abs(action.limit_price / tick - round(action.limit_price / tick)) < 1e-6
            assert action.stop_price == pytest.approx(action.limit_price * 0.99)


def test_bars_from_the_decision_on_do_not_change_the_decision() -> None:
    grid = gappy_grid()
    env, player, policy = setup(grid)
    observation = env.reset(np.array([WARMUP]))
    for _ in range(40):  # an account with positions and orders
        observation, _, _, _ = env.step(player.act(observation.coins, observation.portfolio,
                                                   observation.mask, greedy=True)[0])
    decision_row = int(env._t[0])  # decided at the close of this row
    ts_ms = grid.start_ms + (decision_row + 1) * grid.bar_ms
    later = np.arange(grid.close.shape[0]) > decision_row
    rng = np.random.default_rng(0)
    noise = np.where(later[:, None], rng.uniform(0.5, 2.0, grid.close.shape), 1.0)
    tampered = replace(grid, close=grid.close * noise, high=grid.high * noise ** 2,
                       low=grid.low / noise ** 2, quote_volume=grid.quote_volume * noise)
    decisions = []
    for source in (grid, tampered):
        view = replace(account_view(env, grid, GridBars(source)), ts_ms=ts_ms)
        policy.capital = policy.peak = None
        decisions.append(live_decision(policy, view, 0.5))
    for before, after in zip(*decisions, strict=True):
        assert np.array_equal(before, after)
