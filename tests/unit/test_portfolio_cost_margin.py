"""The portfolio env's cost margin: the training reward pays each bar's trading cost (fees,
half the synthesized book's spread, the walk beyond the touch) `cost_margin` times more,
as a share of the equity before the bar, and nothing else changes: equity, fills and fees
are the same at any margin (rl/trading_cost.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rl.portfolio_env import PortfolioConfig, PortfolioEnv
from tests.integration.test_portfolio_parity import (
    WARMUP,
    instruments,
    random_walk_grid,
    settings,
)
from trading.fast_market import FastMarket

# Offsets in ticks: +-1 rest inside the (hundreds of ticks wide) spread, 3000 crosses it and
# walks the synthesized book on these thin bars (slippage beyond the touch).
CONFIG = PortfolioConfig(horizon_steps=40, warmup_rows=WARMUP, auto_reset=False,
                         reward_scale=1000.0, offsets_ticks=(-1, 1, 3000))
SPREAD = 0.002  # relative: hundreds of ticks at these prices
STARTS = np.array([WARMUP + 5, WARMUP + 11, WARMUP + 17])
# Per step, every coin's action: marketable buys, holds, marketable sells, resting buys.
SCRIPT = ("BUY+3000", "HOLD", "SELL+3000", "BUY+1", "HOLD", "HOLD", "SELL+1", "HOLD",
          "BUY-1", "HOLD", "SELL-1", "HOLD", "BUY+3000", "SELL+1", "HOLD")


def make_env(cost_margin: float) -> PortfolioEnv:
    grid = random_walk_grid(5)
    market = FastMarket.from_grid(grid, instruments(), spread=np.full(len(grid.symbols), SPREAD))
    return PortfolioEnv(grid, market, settings(), len(STARTS),
                        replace(CONFIG, cost_margin=cost_margin), seed=0)


def expected_cost(open_: np.ndarray, info: dict[str, np.ndarray]) -> tuple[np.ndarray, int]:
    """The bar's trading cost per env, from its fills: fee + (half spread + slippage beyond
    the touch) x amount, the book being bid = the open of the bar the orders met, ask = bid
    + the spread in whole ticks (at least one); and how many fills walked beyond it."""
    tick = np.array([float(i.tick) for i in instruments()])
    width = np.maximum(np.rint(SPREAD * open_ / tick), 1.0) * tick
    cost, walked = np.zeros(len(open_)), 0
    for b, j in zip(*np.nonzero(info["fills"])):
        amount = abs(info["fills"][b, j])
        average = info["fill_notional"][b, j] / amount
        bid, ask = open_[b, j], open_[b, j] + width[b, j]
        slippage = max(average - ask, 0.0) if info["fills"][b, j] > 0 else max(bid - average, 0.0)
        cost[b] += info["fill_fees"][b, j] + (width[b, j] / 2 + slippage) * amount
        walked += slippage > 0
    return cost, walked


def play(env: PortfolioEnv, script: tuple[str, ...]) -> list[tuple[np.ndarray, ...]]:
    """(rows before, equity before, reward, info) of each step of `script`."""
    env.reset(starts=STARTS)
    steps = []
    for name in script:
        rows, equity = env.rows, env._equity.copy()
        actions = np.full((env.n_envs, env.n_coins), env.action_names.index(name))
        _, reward, _, info = env.step(actions)
        steps.append((rows, equity, reward, info))
    return steps


def test_the_margin_lowers_the_reward_by_margin_times_the_bars_cost_share() -> None:
    margin = 2.0
    plain, shaped = play(make_env(0.0), SCRIPT), play(make_env(margin), SCRIPT)
    grid = random_walk_grid(5)
    traded = {"buy": 0, "sell": 0, "beyond the touch": 0}
    for (rows, equity, reward, info), (_, _, shaped_reward, _) in zip(plain, shaped):
        cost, walked = expected_cost(grid.open[rows + 1], info)
        share = cost / equity
        np.testing.assert_allclose(shaped_reward,
                                   reward - margin * share * CONFIG.reward_scale,
                                   rtol=1e-6, atol=1e-5)
        traded["buy"] += int((info["fills"] > 0).sum())
        traded["sell"] += int((info["fills"] < 0).sum())
        traded["beyond the touch"] += walked
        assert (shaped_reward[cost > 0] < reward[cost > 0]).all()
    assert min(traded.values()) > 0, traded  # the script met both sides and the slippage


def test_equity_fills_and_fees_are_the_same_at_any_margin() -> None:
    plain, shaped = play(make_env(0.0), SCRIPT), play(make_env(5.0), SCRIPT)
    for (_, equity, _, info), (_, shaped_equity, _, shaped_info) in zip(plain, shaped):
        np.testing.assert_array_equal(equity, shaped_equity)
        for name in ("equity", "fees", "turnover", "fills", "fill_notional", "fill_fees"):
            np.testing.assert_array_equal(info[name], shaped_info[name])


def test_steps_without_fills_have_the_same_reward_at_any_margin() -> None:
    hold_only = ("HOLD",) * 8
    plain = [reward for _, _, reward, _ in play(make_env(0.0), hold_only)]
    for margin in (0.5, 3.0):
        shaped = [reward for _, _, reward, _ in play(make_env(margin), hold_only)]
        np.testing.assert_array_equal(np.array(plain), np.array(shaped))


def test_a_negative_margin_is_refused_with_what_to_write() -> None:
    with pytest.raises(ValueError, match="cost_margin must be >= 0"):
        make_env(-0.5)
