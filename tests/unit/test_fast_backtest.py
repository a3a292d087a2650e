"""The fast backtester's rules on small synthetic grids: causality, accounting, breakers."""

from __future__ import annotations

import contextlib
import gc
from dataclasses import replace
from decimal import Decimal

import numpy as np
import pytest

from model import fills
from model.fills import FillParams
from model.market import MINUTE_MS
from risk.limits import RiskLimits
from strategies.features_batch import BarGrid
from trading import fast_backtest
from trading.batch_policies import BATCH_POLICIES, make_batch_policy
from trading.fast_backtest import FastMarket, FastSettings, run_fast

START_MS = 1_700_000_000_000 - 1_700_000_000_000 % MINUTE_MS
WARMUP = 1500


def random_walk_grid(rows: int = 3000, coins: int = 4, seed: int = 3,
                     drift: float = 0.0) -> BarGrid:
    """Closes on a 0.01 tick, a missing minute now and then (no trade)."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(drift, 0.002, (rows, coins))
    close = np.round(np.exp(np.log(50.0) + np.cumsum(steps, axis=0)), 2)
    open_ = np.vstack([close[:1], close[:-1]])
    spread = np.abs(rng.normal(0, 0.001, (rows, coins))) * close
    high = np.round(np.maximum(open_, close) + spread, 2)
    low = np.round(np.minimum(open_, close) - spread, 2)
    volume = rng.lognormal(3, 0.5, (rows, coins))
    gone = rng.random((rows, coins)) < 0.02
    columns = {name: np.where(gone, np.nan, values) for name, values in
               (("open", open_), ("high", high), ("low", low), ("close", close),
                ("quote_volume", volume * close))}
    return BarGrid(symbols=tuple(f"C{i}USDT" for i in range(coins)), start_ms=START_MS,
                   bar_ms=MINUTE_MS, **columns)


def settings() -> FastSettings:
    return FastSettings(FillParams(), RiskLimits())


def run(grid: BarGrid, policy: str, **params: object):  # type: ignore[no-untyped-def]
    return run_fast(grid, make_batch_policy(policy, **params), settings(), start_row=WARMUP,
                    balance=Decimal(10_000))


def later_rows_changed(grid: BarGrid, after_row: int) -> BarGrid:
    """The same grid with every bar after `after_row` moved (prices x 1.07, volume x 3)."""
    changed = {name: getattr(grid, name).copy() for name in
               ("open", "high", "low", "close", "quote_volume")}
    for name in ("open", "high", "low", "close"):
        changed[name][after_row + 1:] *= 1.07
    changed["quote_volume"][after_row + 1:] *= 3
    return replace(grid, **changed)


@pytest.mark.parametrize("policy", ["buyhold", "sma", "topk", "baseline"])
def test_changing_bars_after_row_t_changes_no_fill_or_mark_up_to_t(policy: str) -> None:
    grid = random_walk_grid()
    cut = WARMUP + 900
    # the baseline weighing no cost (strategies/edge.py): a random walk's edges rarely clear it
    params: dict[str, object] = {"edge_cost_margin": -1} if policy == "baseline" else {}
    before = run(grid, policy, **params)
    after = run(later_rows_changed(grid, cut), policy, **params)
    decided_by = START_MS + (cut + 1) * MINUTE_MS  # the decision at row t's close
    assert len(before.fill_ts_ms) > 0, "the policy must trade before the cut to mean anything"
    early = before.fill_ts_ms < decided_by
    assert early.any()
    same = after.fill_ts_ms < decided_by
    for column in ("fill_ts_ms", "fill_symbol", "fill_side", "fill_price", "fill_amount",
                   "fill_fee"):
        np.testing.assert_array_equal(getattr(after, column)[same], getattr(before, column)[early])
    marked = before.equity_ms <= decided_by
    np.testing.assert_array_equal(after.equity[marked], before.equity[marked])
    assert not np.array_equal(after.equity, before.equity), "later bars must matter later"


def test_flat_never_trades_and_marks_the_balance_at_every_decision_step() -> None:
    grid = random_walk_grid()
    result = run(grid, "flat")
    traded_rows = np.isfinite(grid.close[WARMUP:]).any(axis=1).sum()
    assert len(result.fill_ts_ms) == 0 and result.fees == 0.0
    assert len(result.equity) == traded_rows
    assert np.all(result.equity == 10_000.0)
    assert result.performance().total_return == 0.0


def test_buyhold_equity_is_cash_plus_holdings_at_each_close() -> None:
    grid = random_walk_grid()
    result = run(grid, "buyhold")
    held = np.zeros(len(grid.symbols))
    for column, side, amount in zip(result.fill_symbol, result.fill_side, result.fill_amount):
        held[column] += amount if side == fills.BUY else -amount
    last = result.equity_ms[-1]
    row = (last - START_MS) // MINUTE_MS - 1
    closes = np.array([grid.close[: row + 1, i][np.isfinite(grid.close[: row + 1, i])][-1]
                       for i in range(len(grid.symbols))])
    assert result.equity[-1] == pytest.approx(result.cash[-1] + held @ closes, rel=1e-12)
    assert result.cash[-1] == pytest.approx(
        10_000 - float(np.sum(result.fill_price * result.fill_amount)) - result.fees, rel=1e-12)
    assert set(result.fill_symbol.tolist()) == set(range(len(grid.symbols)))  # every coin bought


def test_entries_are_sized_by_the_2_percent_risk_rule() -> None:
    """buyhold's stop is 50 % below the ask and its limit 0.5 % above: 2 % risk over a
    ~50 % stop is ~4 % of equity at the limit price, ~1 % less at the ask it fills at."""
    result = run(random_walk_grid(), "buyhold")
    bought = np.zeros(len(result.symbols))
    np.add.at(bought, result.fill_symbol, result.fill_price * result.fill_amount)
    assert np.all(bought <= 400.0)
    assert np.all(bought >= 390.0)


def test_a_crash_trips_the_drawdown_breaker_and_entries_stop() -> None:
    grid = random_walk_grid(drift=0.0)
    crash = {name: getattr(grid, name).copy() for name in ("open", "high", "low", "close")}
    for name in crash:
        crash[name][WARMUP + 400:] *= 0.05  # every coin loses 95 %: equity down ~ 19 %
    crashed = replace(grid, **crash)
    limits = replace(RiskLimits(), drawdown_reduce_pct=Decimal(5), drawdown_halt_pct=Decimal(10))
    result = run_fast(crashed, make_batch_policy("sma"), FastSettings(FillParams(), limits),
                      start_row=WARMUP, balance=Decimal(10_000))
    after_crash = START_MS + (WARMUP + 402) * MINUTE_MS
    buys_after = (result.fill_ts_ms > after_crash + MINUTE_MS) & (result.fill_side == fills.BUY)
    assert not buys_after.any(), "HALTED: no entry may fill after the drawdown breaker"
    denied = [d for d in result.decisions if d[0] > after_crash and d[3].startswith("DENIED")]
    assert denied and all(d[3] == "DENIED:TRADING_STATE" for d in denied)


def crashed_grid(grid: BarGrid, from_row: int, factor: float) -> BarGrid:
    """The same grid with every price from `from_row` on multiplied by `factor`."""
    crash = {name: getattr(grid, name).copy() for name in ("open", "high", "low", "close")}
    for name in crash:
        crash[name][from_row:] *= factor
    return replace(grid, **crash)


@pytest.mark.parametrize(("seed", "drift", "drawdown_pct", "daily_pct", "crash", "seen"), [
    (5, 0.0, 2, 1, False, "lifted"),  # REDUCING by daily loss, then by drawdown; lifted
    (3, 0.0, 1, 1, False, "held"),  # REDUCING by drawdown, held across UTC days to the end
    (3, 0.0, 5, 3, True, "halted"),  # a crash: HALTED for good
    (3, 0.0003, 5, 3, False, "peaks"),  # a rising market: ACTIVE, new peaks all along
])
def test_breaker_carried_over_skipped_steps_equals_evaluate_at_every_step(
        seed: int, drift: float, drawdown_pct: int, daily_pct: int, crash: bool, seen: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps the loop jumps over move the breaker state in bulk in every mode, and a step
    it plays moves it in scalars where no mode can change; the run must be what `evaluate`
    called at every step gives: same decisions, fills and equity."""
    grid = random_walk_grid(rows=WARMUP + 4 * 1440, seed=seed, drift=drift)
    if crash:
        grid = crashed_grid(grid, WARMUP + 2000, 0.05)
    limits = replace(RiskLimits(), drawdown_reduce_pct=Decimal(drawdown_pct),
                     drawdown_halt_pct=Decimal(drawdown_pct * 2),
                     daily_loss_reduce_pct=Decimal(daily_pct))
    fast_settings = FastSettings(FillParams(), limits)

    loop = fast_backtest._Loop
    states: dict[str, list[tuple[str, float]]] = {"bulk": [], "stepwise": []}

    def played(way: str, carry_step):  # type: ignore[no-untyped-def]
        def recorded(self, k, quotes, acting_row):  # type: ignore[no-untyped-def]
            carry_step(self, k, quotes, acting_row)
            # The breaker state after each played step, the peak apart: where the float
            # mark of a played step is a hair above its exact Decimal equity, the bulk keeps
            # the float's digits as the new peak and `evaluate` the exact ones (an ulp apart).
            state = self.state
            states[way].append((repr(replace(state, peak_equity=Decimal(0))),
                                float(state.peak_equity)))

        monkeypatch.setattr(loop, "_carry_step", recorded)
        return run_fast(grid, make_batch_policy("sma"), fast_settings, start_row=WARMUP,
                        balance=Decimal(10_000))

    bulk = played("bulk", loop._carry_step)
    monkeypatch.setattr(loop, "_bulk_safe", lambda *_: False)
    stepwise = played("stepwise", lambda self, k, quotes, acting_row: self._carry(
        np.array([k]), quotes, None if acting_row is None else self._equity(acting_row)))
    assert [s for s, _ in states["bulk"]] == [s for s, _ in states["stepwise"]]
    np.testing.assert_allclose([p for _, p in states["bulk"]],
                               [p for _, p in states["stepwise"]], rtol=1e-12)
    assert bulk.decisions == stepwise.decisions
    np.testing.assert_array_equal(bulk.equity, stepwise.equity)
    np.testing.assert_array_equal(bulk.fill_ts_ms, stepwise.fill_ts_ms)
    np.testing.assert_array_equal(bulk.fill_amount, stepwise.fill_amount)
    denials = [d for d in bulk.decisions if d[3] == "DENIED:TRADING_STATE"]
    if seen == "peaks":
        assert not denials and bulk.equity.max() > 1.3 * 10_000
        return
    assert any(d[4].startswith("HALTED" if crash else "REDUCING") for d in denials)
    entries_after = [d for d in bulk.decisions if d[0] > denials[0][0] and d[2] == "BUY"
                     and d[3] == "APPROVED"]
    assert bool(entries_after) is (seen == "lifted")


def test_topk_holds_the_best_scored_coins() -> None:
    grid = random_walk_grid()
    scores = np.tile(np.array([0.0, 3.0, 1.0, 2.0]), (grid.close.shape[0], 1))
    result = run(grid, "topk", k=2, scores=scores)
    assert set(result.fill_symbol.tolist()) == {1, 3}


def test_an_unknown_batch_policy_is_refused_with_the_known_names() -> None:
    with pytest.raises(ValueError, match=r"baseline, buyhold, flat, forecast, sma, topk"):
        make_batch_policy("rl")
    assert {"baseline", "flat", "buyhold", "sma", "topk", "forecast"} <= set(BATCH_POLICIES)


def test_a_market_for_other_columns_is_refused() -> None:
    grid = random_walk_grid(coins=3)
    other = FastMarket.from_grid(random_walk_grid(coins=4))
    with pytest.raises(ValueError, match="4 instruments for 3 grid columns"):
        FastMarket.from_grid(grid, other.instruments)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_loop_runs_with_the_collector_off_and_leaves_it_as_it_found_it(
        enabled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its full passes walk the whole process and come due as the run's records pile up;
    the ledger does not depend on them, the caller's setting is restored."""
    seen: list[bool] = []
    original = fast_backtest._Loop.run

    def spying(loop: fast_backtest._Loop, *args: object) -> None:
        seen.append(gc.isenabled())
        original(loop, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(fast_backtest._Loop, "run", spying)
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with_collector = run(random_walk_grid(rows=1800), "sma")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
    assert seen == [False]
    monkeypatch.setattr(fast_backtest, "collector_paused", contextlib.nullcontext)
    plain = run(random_walk_grid(rows=1800), "sma")
    np.testing.assert_array_equal(with_collector.equity, plain.equity)
    assert with_collector.decisions == plain.decisions
