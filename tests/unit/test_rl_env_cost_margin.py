"""The single-coin env's cost margin: the training reward pays each step's trading cost
(fee, half the bar book's spread, the walk beyond the touch) `cost_margin` times more, as a
share of the equity before the step; equity, fills and fees are the same at any margin
(rl/trading_cost.py; the portfolio env's twin is tests/unit/test_portfolio_cost_margin.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rl.env import BatchedEnv, EnvConfig
from rl.episodes import MarketData

SPREAD = 0.003  # relative: several ticks, so half a spread is not half a tick
# +-1 ticks rest inside the spread (up to thousands of ticks wide here); 20,000 crosses it
# and, on bars thinned to 1 % of their volume, walks the book.
CONFIG = EnvConfig(horizon_minutes=30, warmup_minutes=60, auto_reset=False,
                   reward_scale=1000.0, offsets_ticks=(-1, 1, 20_000))
SCRIPT = ("BUY+20000", "HOLD", "SELL+20000", "BUY+1", "HOLD", "SELL+1", "BUY-1", "HOLD", "SELL-1",
          "CANCEL_BUY")


@pytest.fixture(scope="module")
def data() -> MarketData:
    generated = MarketData.from_generator(5, 4, 600, warmup_minutes=60)
    return replace(generated, spread=np.full(len(generated.symbols), SPREAD),
                   volume=generated.volume * 0.01)


def play(data: MarketData, cost_margin: float, script: tuple[str, ...]
         ) -> list[tuple[np.ndarray, ...]]:
    """(rows, symbols, equity before, reward, info) of each step, cycling `script`."""
    env = BatchedEnv(data, 64, replace(CONFIG, cost_margin=cost_margin), seed=3)
    env.reset()
    steps = []
    for step in range(CONFIG.horizon_minutes):
        rows, symbols, equity = env._t.copy(), env._sym.copy(), env._equity.copy()
        action = env.action_names.index(script[step % len(script)])
        _, reward, _, info = env.step(np.full(env.n_envs, action))
        steps.append((rows, symbols, equity, reward, info))
    return steps


def expected_cost(data: MarketData, rows: np.ndarray, symbols: np.ndarray,
                  info: dict[str, np.ndarray]) -> tuple[np.ndarray, int]:
    """Each env's cost from its fill: fee + (half spread + slippage beyond the touch) x
    amount, the book being bid = the next bar's open, ask = bid + the spread in whole ticks
    (at least one); and how many fills walked beyond the touch."""
    tick, open_ = data.tick[symbols], data.open[rows + 1, symbols]
    width = np.maximum(np.rint(SPREAD * open_ / tick), 1.0) * tick
    amount = np.abs(info["fills"])
    with np.errstate(invalid="ignore", divide="ignore"):
        average = info["fill_notional"] / amount
    beyond = np.where(info["fills"] > 0, average - (open_ + width), open_ - average)
    slippage = np.where(amount > 0, np.maximum(beyond, 0.0), 0.0)
    cost = np.where(amount > 0, info["fees"] + (width / 2 + slippage) * amount, 0.0)
    return cost, int((slippage > 0).sum())


def test_the_margin_lowers_the_reward_by_margin_times_the_steps_cost_share(
        data: MarketData) -> None:
    margin = 2.0
    traded = {"buy": 0, "sell": 0, "beyond the touch": 0}
    for (rows, symbols, equity, reward, info), (*_, shaped, _) in zip(
            play(data, 0.0, SCRIPT), play(data, margin, SCRIPT)):
        cost, walked = expected_cost(data, rows, symbols, info)
        np.testing.assert_allclose(shaped, reward - margin * cost / equity * CONFIG.reward_scale,
                                   rtol=1e-6, atol=1e-5)
        traded["buy"] += int((info["fills"] > 0).sum())
        traded["sell"] += int((info["fills"] < 0).sum())
        traded["beyond the touch"] += walked
    assert min(traded.values()) > 0, traded  # the script met both sides and the slippage


def test_equity_fills_and_fees_are_the_same_at_any_margin(data: MarketData) -> None:
    for (*_, info), (*_, shaped_info) in zip(play(data, 0.0, SCRIPT), play(data, 5.0, SCRIPT)):
        for name in ("equity", "fills", "fill_notional", "fees", "episode_log_return"):
            np.testing.assert_array_equal(info[name], shaped_info[name])


def test_hold_only_rewards_are_the_same_at_any_margin(data: MarketData) -> None:
    plain = [step[3] for step in play(data, 0.0, ("HOLD",))]
    shaped = [step[3] for step in play(data, 3.0, ("HOLD",))]
    np.testing.assert_array_equal(np.array(plain), np.array(shaped))


def test_a_negative_margin_is_refused(data: MarketData) -> None:
    with pytest.raises(ValueError, match="cost_margin must be >= 0"):
        BatchedEnv(data, 4, replace(CONFIG, cost_margin=-1.0), seed=0)
