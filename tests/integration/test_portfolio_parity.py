"""Parity: the same per-coin actions through the portfolio env and through the fast
backtester give the same fills, fees and equity.

The portfolio env (rl/portfolio_env.py) runs the trader's rules in compiled floats; the fast
backtester (trading/fast_backtest.py) runs the real `RiskGate` (Decimal), the paper
account's reservations and booking, and is itself held to the event engine. A seeded random
action script over six coins is played through both: the env steps it; the backtester
plays it through a batch policy that prices each order as the env does (bid = the close on
the tick grid, the ask a spread above it) and leaves sizing and every check to the gate.
The limits are set so that the script meets the position count, the VaR limit and the
breaker (the test asserts the backtester's gate denied entries for each), so those rules
are compared too, not only the fills.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import numpy as np
import pytest

from model import costs
from model.fills import FillParams
from model.instruments import Instrument
from risk.limits import RiskLimits
from rl.portfolio_env import PortfolioConfig, PortfolioEnv
from rl.spaces import grid_price
from strategies.features_batch import BarGrid, MinuteGrid
from strategies.policy import Action, PolicyAction
from trading.fast_backtest import FastRun, run_fast
from trading.fast_market import FastMarket, FastSettings, spreads_before
from trading.fast_policies import BatchView, StepQuotes

HOUR_MS = 3_600_000
START_MS = 1_600_000_000_000 - 1_600_000_000_000 % 86_400_000  # a UTC midnight
COINS = ("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT", "EEEUSDT", "FFFUSDT")
HISTORY_BARS = 120
WARMUP = 200
HORIZON = 150
CAPITAL = 10_000.0


def random_walk_grid(seed: int, rows: int = WARMUP + HORIZON + 2) -> BarGrid:
    """Hourly bars of six coins with a common factor (so VaR of several positions adds up),
    a bounce-y path inside each bar and volume thin enough for partial fills."""
    rng = np.random.default_rng(seed)
    n = len(COINS)
    market = rng.normal(0, 0.01, rows)[:, None]
    log_close = np.cumsum(market + rng.normal(0, 0.012, (rows, n)), axis=0)
    close = 20.0 * np.exp(log_close) * np.linspace(1, 3, n)[None, :]
    open_ = np.vstack([close[:1], close[:-1]]) * (1 + rng.normal(0, 0.001, (rows, n)))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, (rows, n))))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, (rows, n))))
    volume = rng.lognormal(3.0, 0.8, (rows, n))
    close[:30, 5] = np.nan  # one coin lists late: no bar, no history, no orders
    for column in (open_, high, low):
        column[:30, 5] = np.nan
    rounded = [np.round(x, 4) for x in (open_, high, low, close)]
    return BarGrid(symbols=COINS, start_ms=START_MS, open=rounded[0], high=rounded[1],
                   low=rounded[2], close=rounded[3],
                   quote_volume=volume * rounded[3], bar_ms=HOUR_MS)


def instruments() -> tuple[Instrument, ...]:
    """Exchange rules like a Binance USDT pair's: a 0.0001 tick, a 0.001 lot, a 5 USDT
    minimum order (on an 8-decimal lot the float sizing would differ from the Decimal one
    by a lot now and then, from float noise in the equity alone)."""
    return tuple(Instrument(symbol=s, base=s.removesuffix("USDT"), quote="USDT",
                            tick=Decimal("0.0001"), lot=Decimal("0.001"),
                            min_notional=Decimal(5), min_qty=Decimal("0.001"),
                            max_qty=Decimal(9_000_000)) for s in COINS)


def settings(**limits: object) -> FastSettings:
    chosen = {"max_open_positions": 3, "var_limit_pct": "1.2", "es_limit_pct": "3",
              "min_return_observations": 60, "daily_loss_reduce_pct": "0.4",
              "daily_loss_halt_pct": "50", "drawdown_reduce_pct": "0.8",
              "drawdown_halt_pct": "50", **limits}
    return FastSettings(fill_params=FillParams(), limits=RiskLimits.from_mapping(chosen),
                        bar_ms=HOUR_MS, return_history_bars=HISTORY_BARS, spread="estimated")


def script(seed: int, n_actions: int) -> np.ndarray:
    """[HORIZON, N] actions: mostly HOLD, else any action; buys more often than sells."""
    rng = np.random.default_rng(seed)
    weights = np.array([14, 2, 2, 3, 3, 3, 1.5, 1.5, 1.5])[:n_actions]
    return rng.choice(n_actions, size=(HORIZON, len(COINS)), p=weights / weights.sum())


class ScriptedBatchPolicy:
    """The env's actions as the engine's `PolicyAction`s: a cancel of the coin's resting
    order before any new one (the env's replacement), prices on the tick grid as the env's
    kernel sets them, sizing left to the gate."""

    name = "portfolio-parity-script"

    def __init__(self, actions: np.ndarray, names: tuple[str, ...], market: FastMarket):
        self.actions, self.names, self.market = actions, names, market

    def fit(self, grid: MinuteGrid, train_stop_row: int) -> None:
        """Nothing to learn."""

    def prepare(self, grid: MinuteGrid, quotes: StepQuotes) -> None:
        self.quotes = quotes

    def next_step(self, after: int) -> int:
        return after if after < len(self.actions) else np.iinfo(np.int64).max

    def decide(self, view: BatchView) -> list[PolicyAction]:
        out: list[PolicyAction] = []
        for j, symbol in enumerate(view.symbols):
            name = self.names[int(self.actions[view.step, j])]
            close = float(view.last[j])
            if name == "HOLD" or not np.isfinite(close):
                continue
            instrument = self.market.instruments[j]
            resting = [o for o in view.open_orders if o.symbol == symbol]
            if name.startswith("CANCEL_"):
                side = name.removeprefix("CANCEL_")
                out += [PolicyAction(symbol, Action[name], client_order_id=o.client_order_id)
                        for o in resting if o.side == side]
                continue
            side = "BUY" if name.startswith("BUY") else "SELL"
            if side == "SELL" and symbol not in view.holdings:
                continue  # the env's SELL with nothing held is a HOLD
            out += [PolicyAction(symbol, Action.CANCEL_BUY if o.side == "BUY"
                                 else Action.CANCEL_SELL, client_order_id=o.client_order_id)
                    for o in resting]
            tick = float(instrument.tick)
            offset, bid_ticks = int(name[len(side):]), round(close / tick)
            if side == "BUY":
                price = grid_price(bid_ticks + offset, tick)
                out.append(PolicyAction(symbol, Action.BUY, limit_price=price,
                                        stop_price=price * (1 - 0.01), confidence=1.0))
            else:
                spread = 0.0 if self.market.spread is None else float(self.market.spread[j])
                width = int(costs.spread_ticks(spread, close, tick))
                out.append(PolicyAction(symbol, Action.SELL, exit=True,
                                        limit_price=grid_price(bid_ticks + width - offset, tick)))
        return out


def run_env(grid: BarGrid, market: FastMarket, chosen: FastSettings, actions: np.ndarray
            ) -> tuple[dict[tuple[int, int], tuple[float, float, float]], list[float]]:
    env = PortfolioEnv(grid, market, chosen, 1, PortfolioConfig(
        horizon_steps=HORIZON, capital=CAPITAL, warmup_rows=WARMUP, auto_reset=False), seed=0)
    env.reset(starts=np.array([WARMUP]))
    fills: dict[tuple[int, int], tuple[float, float, float]] = {}
    equity = []
    for k in range(HORIZON):
        _, _, done, info = env.step(actions[k][None, :])
        for j in np.flatnonzero(info["fills"][0]):
            fills[(k, int(j))] = (float(info["fills"][0, j]), float(info["fill_notional"][0, j]),
                                  float(info["fill_fees"][0, j]))
        equity.append(float(info["equity"][0]))
        if done[0]:
            break
    return fills, equity


def run_backtester(grid: BarGrid, market: FastMarket, chosen: FastSettings,
                   actions: np.ndarray, names: tuple[str, ...]) -> FastRun:
    return run_fast(grid, ScriptedBatchPolicy(actions, names, market), chosen,
                    start_row=WARMUP, stop_row=WARMUP + HORIZON + 1,
                    balance=Decimal(repr(CAPITAL)), market=market)


def backtest_fills(run: FastRun) -> dict[tuple[int, int], tuple[float, float, float]]:
    """Fills summed per (env step, coin): a fill at the close of row r is env step
    r - WARMUP - 1's."""
    summed: dict[tuple[int, int], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for ts, column, side, price, amount, fee in zip(
            run.fill_ts_ms, run.fill_symbol, run.fill_side, run.fill_price, run.fill_amount,
            run.fill_fee):
        row = (int(ts) + 1 - START_MS) // HOUR_MS - 1
        entry = summed[(row - WARMUP - 1, int(column))]
        sign = 1.0 if side == 1 else -1.0
        entry[0] += sign * amount
        entry[1] += price * amount
        entry[2] += fee
    return {key: (a, b, c) for key, (a, b, c) in summed.items()}


@pytest.mark.parametrize("seed", [5, 11])
def test_scripted_actions_give_the_same_fills_fees_and_equity(seed: int) -> None:
    grid = random_walk_grid(seed)
    market = FastMarket.from_grid(grid, instruments(), spread=spreads_before(grid, WARMUP))
    chosen = settings()
    probe = PortfolioEnv(grid, market, chosen, 1, PortfolioConfig(
        horizon_steps=HORIZON, warmup_rows=WARMUP), seed=0)
    actions = script(seed, len(probe.action_names))
    env_fills, env_equity = run_env(grid, market, chosen, actions)
    run = run_backtester(grid, market, chosen, actions, probe.action_names)
    fast_fills = backtest_fills(run)

    denied = {verdict for _, _, _, verdict, _, _ in run.decisions if verdict != "APPROVED"}
    # The script reaches the rules under test, else the comparison would prove little.
    assert {"DENIED:MAX_POSITIONS", "DENIED:POSITION_LIMIT", "DENIED:TRADING_STATE",
            "DENIED:VAR_LIMIT"} <= denied
    assert len({coin for _, coin in fast_fills}) >= 3 and len(fast_fills) >= 20

    assert sorted(env_fills) == sorted(fast_fills), "fills in different bars or coins"
    for key, (amount, notional, fee) in env_fills.items():
        expected = fast_fills[key]
        assert amount == pytest.approx(expected[0], abs=1e-12), f"{key} amount"
        assert notional == pytest.approx(expected[1], rel=1e-12), f"{key} notional"
        assert fee == pytest.approx(expected[2], rel=1e-12, abs=1e-12), f"{key} fee"
    # Equity after env step k is the backtester's mark at step k + 1, to float noise (the
    # env sums floats where the account sums Decimals: ~3e-12 of the equity measured).
    assert len(env_equity) == HORIZON
    np.testing.assert_allclose(env_equity, run.equity[1:], rtol=1e-11, atol=0)


def test_an_action_on_a_coin_without_a_bar_is_a_hold() -> None:
    grid = random_walk_grid(5, rows=60)
    market = FastMarket.from_grid(grid, instruments())
    env = PortfolioEnv(grid, market, settings(min_return_observations=10), 1,
                       PortfolioConfig(horizon_steps=10, warmup_rows=12), seed=0)
    observation = env.reset(starts=np.array([12]))
    assert not observation.mask[0, 5] and observation.mask[0, :5].all()
    buy = env.action_names.index("BUY+1")
    _, _, _, info = env.step(np.full((1, len(COINS)), buy))
    assert info["fills"][0, 5] == 0.0
