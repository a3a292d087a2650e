"""Stretches where the breakers deny every action on the mode alone and no order is open
(REDUCING with nothing held, HALTED): the fast loop records the policy's actions there as
denials in bulk (trading/fast_breakers.py `_denied_until`, SmaBatch.actions_when_idle)
instead of playing each step. The run must be the one the step-by-step loop gives: same
decisions, fills and equity."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from model.fills import FillParams
from risk.limits import RiskLimits
from strategies.features_batch import BarGrid
from tests.unit.test_fast_backtest import WARMUP, crashed_grid, random_walk_grid
from trading.fast_backtest import FastRun, FastSettings, run_fast
from trading.fast_policies import BatchView, SmaBatch, StepQuotes


class StepwiseSma(SmaBatch):
    """SmaBatch without `actions_when_idle`: the loop plays every acting step."""

    def __getattribute__(self, name: str) -> Any:
        if name == "actions_when_idle":
            raise AttributeError(name)
        return super().__getattribute__(name)


class CountingSma(SmaBatch):
    """SmaBatch counting its `decide` calls."""

    calls: int = 0

    def decide(self, view: BatchView) -> list[Any]:
        self.calls += 1
        return super().decide(view)


def runs(grid: BarGrid, limits: RiskLimits) -> tuple[FastRun, FastRun, int, int]:
    settings = FastSettings(FillParams(), limits)
    bulk_policy, stepwise_policy = CountingSma(), type("S", (StepwiseSma, CountingSma), {})()
    bulk = run_fast(grid, bulk_policy, settings, start_row=WARMUP, balance=Decimal(10_000))
    stepwise = run_fast(grid, stepwise_policy, settings, start_row=WARMUP,
                        balance=Decimal(10_000))
    return bulk, stepwise, bulk_policy.calls, stepwise_policy.calls


@pytest.mark.parametrize(("seed", "drawdown_pct", "daily_pct", "crash", "mode"), [
    (5, 2, 1, False, "REDUCING"),  # REDUCING by daily loss, then by drawdown; lifted
    (3, 1, 1, False, "REDUCING"),  # REDUCING by drawdown, held across UTC days to the end
    (3, 5, 3, True, "HALTED"),  # a crash: HALTED for good
])
def test_denied_stretches_in_bulk_give_the_stepwise_run(seed: int, drawdown_pct: int,
                                                        daily_pct: int, crash: bool,
                                                        mode: str) -> None:
    grid = random_walk_grid(rows=WARMUP + 4 * 1440, seed=seed)
    if crash:
        grid = crashed_grid(grid, WARMUP + 2000, 0.05)
    limits = replace(RiskLimits(), drawdown_reduce_pct=Decimal(drawdown_pct),
                     drawdown_halt_pct=Decimal(drawdown_pct * 2),
                     daily_loss_reduce_pct=Decimal(daily_pct))
    bulk, stepwise, bulk_calls, stepwise_calls = runs(grid, limits)
    assert bulk.decisions == stepwise.decisions
    np.testing.assert_array_equal(bulk.equity, stepwise.equity)
    np.testing.assert_array_equal(bulk.cash, stepwise.cash)
    np.testing.assert_array_equal(bulk.fill_ts_ms, stepwise.fill_ts_ms)
    np.testing.assert_array_equal(bulk.fill_amount, stepwise.fill_amount)
    assert bulk.events == stepwise.events
    denied = [d for d in bulk.decisions if d[3] == "DENIED:TRADING_STATE"]
    assert any(d[4].startswith(mode) for d in denied)
    assert bulk_calls < stepwise_calls, "the denied stretches were not taken in bulk"


@pytest.mark.parametrize("held", [(False, False, False, False), (True, False, True, True)])
def test_actions_when_idle_are_what_decide_returns(held: tuple[bool, ...]) -> None:
    """At every acting step, with these holdings and no order open, `decide` returns BUYs
    and SELLs at exactly the steps and columns `actions_when_idle` lists, in order."""
    grid = random_walk_grid(rows=WARMUP + 1440, seed=4)
    rows = np.arange(WARMUP, grid.close.shape[0])
    close = np.where(np.isfinite(grid.close[rows]), grid.close[rows], np.nan)
    ask, bid = close * 1.001, close * 0.999
    ask[::7, 1] = np.nan  # no usable quote now and then
    ask[::11, 2] = 0.0
    bid[::5, 0] = np.nan
    bid[::13, 2] = -1.0
    quotes = StepQuotes(rows, grid.start_ms + (rows + 1) * grid.bar_ms, close, bid, ask)
    tradable = np.array([True, True, True, False])
    held_mask = np.array(held)
    policy = SmaBatch()
    policy.prepare(grid, quotes)
    listed = policy.actions_when_idle(0, len(rows), tradable, held_mask)
    assert listed is not None and len(listed[0]) > 20

    class Idle:
        def held(self) -> np.ndarray:
            return held_mask

        def open_orders(self) -> tuple[()]:
            return ()

        def open_slots(self) -> int:
            return 5

        def holdings(self) -> dict[str, Any]:
            return {}

    decided: tuple[list[int], list[int], list[bool]] = ([], [], [])
    for k in range(len(rows)):
        if policy.next_step(k) != k:
            continue
        view = BatchView(k, int(quotes.ts_ms[k]), grid.symbols, tradable, quotes.last[k],
                         quotes.bid[k], quotes.ask[k], Idle())
        for action in policy.decide(view):
            assert action.action.value in ("BUY", "SELL")
            decided[0].append(k)
            decided[1].append(grid.symbols.index(action.symbol))
            decided[2].append(action.action.value == "BUY")
    assert listed == decided
    assert any(decided[2]) and (any(held) is not all(decided[2]))
    # a window of the run lists the actions of its steps only
    middle = policy.actions_when_idle(300, 900, tradable, held_mask)
    assert middle is not None
    assert middle[0] == [k for k in decided[0] if 300 <= k < 900]
