"""Parity: one scripted action sequence through the RL environment and
through the replay backtester gives the same fills, fees and equity.

The two paths share `model/fills.py` and nothing else: the env steps float arrays; the
backtester replays the simulator's Binance frames through the engine, a policy, the risk
gate, the paper broker (Decimal) and the SQLite ledger. The script is written once, as env
action names per step; the backtester plays it through a policy that prices each order
exactly as the env does (bid = last close on the tick grid, ask = bid + 1 tick) and leaves
sizing to the risk gate, which must then agree with the env's vectorized sizing.

Equal to float precision: the bars each fill happens in, amounts (exact lots), VWAPs, fees
(the env rounds each level's fee up to 1e-8 quote as the ledger does) and the equity path.
What the test found and fixed is in ADR-011, including the last difference: a new order in
the same step as the cancel of a resting one (the paper broker now ends a cancel at a decision
step at once, freeing its funds, as the env and a real exchange's synchronous cancel do).
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

import exchange.brokers.sim as broker_module
import rl.account as account_module
from bot.config import load_config
from bot.research.backtest import run_backtest
from model import costs
from model.orders import Liquidity
from rl.env import BatchedEnv, EnvConfig
from rl.episodes import MarketData
from rl.spaces import grid_price
from rl.walkforward import sequential_episodes
from state.ledger import Ledger
from strategies.baselines import POLICIES
from strategies.policy import Action, DecisionView, Policy, PolicyAction
from tests.replay_data import write_random_walk_market

HORIZON = 100
#: The random walks' volume, scaled so the script's orders (~4 units) are not small beside
#: what a bar trades at or through their price: a trade through a price fills an order whole
#: up to that volume (model/fills.py), so on full-volume bars they would fill at once, and
#: the script would no longer cover fills in parts, cancels of a remainder and the gate's
#: position limit.
THIN = 0.2

# Step -> env action. Every new order is placed while none of ours rests (a cancel the step
# before), which is the case both paths model alike; it covers resting below the bid and
# above the ask (partial maker fills over several bars, queue carried), joining the touch,
# lifting the ask / hitting the bid (taker, walking the synthesized book), a top-up buy
# sized by the 5% cap, a cancel with an unfilled remainder and a SELL while flat (no-op).
# Its offsets are ticks around a one-tick book, so the random-walk markets run with the
# fixed spread; the real Bittrex symbol runs with its estimated spread (both paths alike).
SCRIPT: dict[int, str] = {
    0: "BUY-1", 3: "CANCEL_BUY", 5: "BUY+0", 12: "CANCEL_BUY", 13: "BUY+1", 15: "CANCEL_BUY",
    16: "BUY+1", 20: "SELL-1", 25: "CANCEL_SELL", 26: "SELL+0", 30: "CANCEL_SELL",
    31: "SELL+1", 34: "CANCEL_SELL", 35: "BUY+1", 37: "CANCEL_BUY", 38: "BUY+1",
    45: "SELL+1", 60: "SELL+1", 61: "CANCEL_SELL", 62: "SELL-1", 70: "BUY-1", 80: "CANCEL_BUY",
    81: "BUY+1", 84: "BUY+1", 90: "SELL+1",
}
# Same-step replacements: a cancel and a new order of either side in one decision step.
REPLACING: dict[int, str] = {0: "BUY-1", 5: "BUY+1", 20: "SELL-1", 25: "SELL+0", 40: "SELL+1"}


@dataclass
class StepFills:
    """What one step (one bar) filled: signed base amount, quote notional, fees, fill count."""

    amount: float = 0.0
    notional: float = 0.0
    fee: float = 0.0
    count: int = 0


@dataclass
class Run:
    fills: dict[int, StepFills] = field(default_factory=dict)
    equity: list[float] = field(default_factory=list)  # after each step
    capital: float = 0.0
    liquidity: set[Liquidity] = field(default_factory=set)
    canceled_with_remainder: int = 0
    rejected_orders: int = 0
    verdicts: list[str] = field(default_factory=list)


def run_env(data: MarketData, start: int, script: dict[int, str]) -> Run:
    """One pinned episode of symbol 0 from `start`, acting by `script`."""
    env = BatchedEnv(data, 1, EnvConfig(horizon_minutes=HORIZON, auto_reset=False), seed=0)
    env.reset(starts=np.array([start]), symbols=np.array([0]))
    run = Run(capital=float(env.capital[0]))
    for step in range(HORIZON):
        action = env.action_names.index(script.get(step, "HOLD"))
        _, _, done, info = env.step(np.array([action]))
        if info["fills"][0] != 0:
            run.fills[step] = StepFills(float(info["fills"][0]), float(info["fill_notional"][0]),
                                        float(info["fees"][0]))
        run.equity.append(float(info["equity"][0]))
        if done[0]:
            break
    return run


class ScriptedPolicy(Policy):
    """The script as a live `Policy`: env prices on the tick grid, sizing left to the gate."""

    name = "rl-parity-script"

    def __init__(self, data: MarketData, start: int, script: dict[int, str]) -> None:
        self.data, self.start, self.script = data, start, script

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        """Actions for the step whose decision time is `view.ts_ms` (a minute boundary)."""
        minute = int(np.searchsorted(self.data.open_ms, view.ts_ms)) - 1  # bar just closed
        name = self.script.get(minute - self.start, "HOLD")
        symbol = view.symbols[0]
        close, tick = float(self.data.close[minute, 0]), float(self.data.tick[0])
        assert view.quotes[symbol].last == pytest.approx(close, rel=1e-12)  # same bar seen
        resting = [o for o in view.open_orders if o.symbol == symbol]
        if name == "HOLD":
            return []
        if name.startswith("CANCEL_"):
            side = name.removeprefix("CANCEL_")
            return [PolicyAction(symbol, Action[name], client_order_id=o.client_order_id)
                    for o in resting if o.side == side]
        side = "BUY" if name.startswith("BUY") else "SELL"
        offset = int(name[len(side):])
        if side == "SELL" and symbol not in view.holdings:
            return []  # the env's SELL with nothing held is a HOLD
        cancels = [PolicyAction(symbol, Action.CANCEL_BUY if o.side == "BUY"
                                else Action.CANCEL_SELL, client_order_id=o.client_order_id)
                   for o in resting]
        bid_ticks = round(close / tick)
        if side == "BUY":
            price = grid_price(bid_ticks + offset, tick)
            return [*cancels, PolicyAction(symbol, Action.BUY, limit_price=price,
                                           stop_price=price * (1 - 0.01), confidence=1.0)]
        # The env's reference ask: the close plus the symbol's spread (one tick at least).
        relative = 0.0 if self.data.spread is None else float(self.data.spread[0])
        width = int(costs.spread_ticks(relative, close, tick))
        price = grid_price(bid_ticks + width - offset, tick)
        return [*cancels, PolicyAction(symbol, Action.SELL, limit_price=price, exit=True)]


@pytest.fixture
def scripted_policy() -> Iterator[list[ScriptedPolicy]]:
    """Registers the name `rl-parity-script` for `run_backtest`; removed afterwards."""
    holder: list[ScriptedPolicy] = []
    POLICIES.register(ScriptedPolicy.name, lambda **_: holder[0])
    yield holder
    POLICIES.factories.pop(ScriptedPolicy.name, None)


def run_backtester(market_dir: Path, data: MarketData, start: int, script: dict[int, str],
                   capital: float, db: Path, holder: list[ScriptedPolicy], *,
                   allow_missing_equity: bool = False) -> Run:
    """The same episode through `run_backtest` (engine, risk gate, paper broker, ledger)."""
    holder[:] = [ScriptedPolicy(data, start, script)]
    # The same spread costs as the env's data: estimated from the warm-up bars, or one tick.
    spread = "fixed" if data.spread is None else "estimated"
    config = load_config(None, environ={"ENTASIS__FILLS__SPREAD": spread})
    quote = "USDT" if data.symbols[0].endswith("USDT") else "BTC"
    run_backtest(config, market_dir, db, policy=ScriptedPolicy.name,
                 from_ms=int(data.open_ms[start]), to_ms=int(data.open_ms[start + HORIZON + 1]),
                 quote_asset=quote, balance=Decimal(repr(capital)))
    run = Run(capital=capital)
    with Ledger.open(db) as ledger:
        for fill in ledger.fills():
            # A fill happens at the close of the bar it met: step k meets bar start + k + 1.
            bar = int(np.searchsorted(data.open_ms, fill.ts_event - 59_999))
            step = run.fills.setdefault(bar - start - 1, StepFills())
            sign = 1.0 if fill.side.value == "BUY" else -1.0
            step.amount += sign * float(fill.amount)
            step.notional += float(fill.price * fill.amount)
            step.fee += float(fill.fee)
            step.count += 1
            run.liquidity.add(fill.liquidity)
        curve = {p.ts: float(p.equity) for p in ledger.equity_curve()}
        # Equity after step k is marked at the decision after bar start + k + 1 (NaN: no
        # decision that minute, which only a minute without any trade may cause).
        run.equity = [curve.get(int(data.open_ms[start + k + 2]), math.nan)
                      for k in range(HORIZON)]
        assert allow_missing_equity or not any(map(math.isnan, run.equity))
        run.canceled_with_remainder = int(ledger.db.execute(
            "SELECT COUNT(*) FROM orders WHERE status = 'CANCELED' AND CAST(filled AS REAL) > 0"
        ).fetchone()[0])
        run.rejected_orders = int(ledger.db.execute(
            "SELECT COUNT(*) FROM orders WHERE status = 'REJECTED'").fetchone()[0])
        run.verdicts = [r["verdict"] for r in ledger.db.query(
            "SELECT verdict FROM decisions WHERE action != 'HOLD'")]
    return run


def assert_same(env: Run, backtest: Run) -> None:
    """Fills per bar (time, amount, VWAP), fees and the equity path, to float precision."""
    assert sorted(env.fills) == sorted(backtest.fills), "fills in different bars"
    for step in range(len(env.equity)):
        if step in env.fills:
            e, b = env.fills[step], backtest.fills[step]
            assert e.amount == pytest.approx(b.amount, abs=1e-12), f"step {step} amount"
            assert e.notional == pytest.approx(b.notional, rel=1e-12), f"step {step} notional"
            assert e.fee == pytest.approx(b.fee, rel=1e-12), f"step {step} fee"
        if not math.isnan(backtest.equity[step]):
            assert env.equity[step] == pytest.approx(backtest.equity[step], rel=1e-12), \
                f"step {step} equity"


def test_env_fee_quantum_is_the_ledgers() -> None:
    assert float(broker_module.FEE_QUANTUM) == account_module.FEE_QUANTUM


def test_scripted_actions_give_the_same_fills_fees_and_equity(
        tmp_path: Path, scripted_policy: list[ScriptedPolicy]) -> None:
    market = write_random_walk_market(tmp_path / "market", coins=1, minutes=1_600, gaps=0,
                                      volume_scale=THIN)
    data = MarketData.from_csv_dir(market, spread="fixed")  # see SCRIPT: a one-tick book
    start = int(sequential_episodes(data, EnvConfig(horizon_minutes=HORIZON))[0][0])
    env = run_env(data, start, SCRIPT)
    backtest = run_backtester(market, data, start, SCRIPT, env.capital, tmp_path / "bt.sqlite",
                              scripted_policy)
    assert_same(env, backtest)
    # The script exercised what it claims: both liquidity kinds, partial fills carried over
    # bars, a cancel with a remainder, and an entry the risk gate refused (so did the env).
    assert backtest.liquidity == {Liquidity.MAKER, Liquidity.TAKER}
    assert sum(1 for s in backtest.fills.values() if s.amount > 0) >= 8
    assert backtest.canceled_with_remainder >= 3
    assert any(v.startswith("DENIED") for v in backtest.verdicts)
    assert env.equity[-1] != env.capital


@pytest.mark.shared_data
def test_parity_on_a_real_bittrex_symbol(tmp_path: Path, shared_data: Path,
                                         scripted_policy: list[ScriptedPolicy]) -> None:
    source = shared_data / "ohlcv" / "freqtrade_bittrex_2017-11" / "ETH_BTC-1m.csv.gz"
    market = tmp_path / "market"
    market.mkdir()
    with gzip.open(source, "rt") as handle:  # the last 2,000 minutes: warm-up + a window
        lines = handle.read().splitlines()
    with gzip.open(market / source.name, "wt") as handle:
        handle.write("\n".join([lines[0], *lines[-2_000:]]) + "\n")
    data = MarketData.from_csv_dir(market)
    traded = data.volume[:, 0] > 0
    starts = sequential_episodes(data, EnvConfig(horizon_minutes=HORIZON))[0]
    # A window with a bar every minute: the backtester decides only in minutes that traded.
    start = next(int(s) for s in range(int(starts[0]), len(data) - HORIZON - 2)
                 if traded[s:s + HORIZON + 2].all())
    env = run_env(data, start, SCRIPT)
    backtest = run_backtester(market, data, start, SCRIPT, env.capital, tmp_path / "bt.sqlite",
                              scripted_policy)
    assert_same(env, backtest)
    # At the symbol's real ~30 bps spread the script's few-tick offsets rest more than they
    # fill; the ones that cross still must be equal in both paths.
    assert len(backtest.fills) >= 3 and math.isfinite(env.equity[-1])


def test_same_step_replacement_gives_the_same_fills(
        tmp_path: Path, scripted_policy: list[ScriptedPolicy]) -> None:
    market = write_random_walk_market(tmp_path / "market", coins=1, minutes=1_600, gaps=0,
                                      volume_scale=THIN)
    data = MarketData.from_csv_dir(market, spread="fixed")  # see SCRIPT: a one-tick book
    start = int(sequential_episodes(data, EnvConfig(horizon_minutes=HORIZON))[0][0])
    env = run_env(data, start, REPLACING)
    backtest = run_backtester(market, data, start, REPLACING, env.capital,
                              tmp_path / "bt.sqlite", scripted_policy)
    assert_same(env, backtest)
    # Each replacement cancelled a partly filled order and the new one went through: the
    # BUY sized on the cap less what is held (not less the cancelled buy), the SELLs not
    # refused for base still locked by the order they replace.
    assert backtest.canceled_with_remainder == 3
    assert backtest.rejected_orders == 0
    assert backtest.verdicts.count("APPROVED") == len(backtest.verdicts) == 8


@pytest.mark.slow
def test_minutes_without_a_trade_leave_orders_waiting_in_both(
        tmp_path: Path, scripted_policy: list[ScriptedPolicy]) -> None:
    """A gap minute is no market event for either path: orders meet the next real bar. The
    backtester takes no decision in a minute nothing traded (ADR-003), so the script acts
    only in minutes with a bar, and equity is compared where the backtester marked it."""
    market = write_random_walk_market(tmp_path / "market", coins=1, minutes=1_600, gaps=12,
                                      volume_scale=THIN)
    data = MarketData.from_csv_dir(market, spread="fixed")  # see SCRIPT: a one-tick book
    start = int(sequential_episodes(data, EnvConfig(horizon_minutes=HORIZON))[0][0])
    gaps = np.flatnonzero(data.volume[start + 1:start + HORIZON + 1, 0] == 0)  # steps
    assert gaps.size >= 3, "the fixture should put gaps inside the episode"
    # Step k decides at the close of bar start + k (a gap when k - 1 is a gap step) and
    # meets bar start + k + 1 (a gap when k is): both must have traded.
    script = {step: name for step, name in SCRIPT.items()
              if step not in set(gaps) and step - 1 not in set(gaps)}
    env = run_env(data, start, script)
    backtest = run_backtester(market, data, start, script, env.capital, tmp_path / "bt.sqlite",
                              scripted_policy, allow_missing_equity=True)
    assert_same(env, backtest)
    assert any(step - 1 in gaps or step in gaps for step in env.fills)  # orders crossed a gap
