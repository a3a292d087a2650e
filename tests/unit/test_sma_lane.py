"""The compiled SMA lane (trading/sma_lane.py) trades exactly as the Python loop, its
reference: the same fills, cash, holdings, marks and round trips, on markets that make it
cancel, partly fill, run out of slots, hit the VaR limit and trip the breakers; where it
cannot be exact it gives way to the loop, and a ledger's rows come from the loop with its
fills checked against the lane's."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from model.fills import FillParams
from model.instruments import Instrument
from model.market import MINUTE_MS
from risk.limits import RiskLimits
from strategies.features_batch import BarGrid
from tests.unit.test_fast_backtest import START_MS, WARMUP, later_rows_changed, random_walk_grid
from trading.batch_policies import make_batch_policy
from trading.fast_backtest import FastMarket, FastRun, FastSettings, run_fast
from trading.sma_lane import check_same_fills

NUMBERS = ("equity_ms", "equity", "cash", "fill_ts_ms", "fill_symbol", "fill_side",
           "fill_price", "fill_amount", "fill_fee", "fill_liquidity")


def spot_market(grid: BarGrid) -> FastMarket:
    """The grid's coins as a spot exchange lists them: a 0.01 tick, a 0.001 lot, a 5 USDT
    minimum order (the lane's integers; the generic 1e-8 x 1e-8 grids are past them)."""
    return FastMarket.from_grid(grid, tuple(
        Instrument(symbol=s, base=s[:-4], quote="USDT", tick=Decimal("0.01"),
                   lot=Decimal("0.001"), min_notional=Decimal(5), min_qty=Decimal("0.001"))
        for s in grid.symbols))


def sma(grid: BarGrid, settings: FastSettings, compiled: bool,
        balance: Decimal = Decimal(10_000), **params: object) -> FastRun:
    return run_fast(grid, make_batch_policy("sma", **params), settings, start_row=WARMUP,
                    balance=balance, market=spot_market(grid), compiled=compiled)


def both(grid: BarGrid, settings: FastSettings, balance: Decimal = Decimal(10_000),
         **params: object) -> tuple[FastRun, FastRun]:
    """The same run through the lane and through the Python loop."""
    return (sma(grid, settings, True, balance, **params),
            sma(grid, settings, False, balance, **params))


def assert_same_run(lane: FastRun, loop: FastRun) -> None:
    assert (lane.lane, loop.lane) == ("compiled", "python")
    for name in NUMBERS:
        ours, theirs = getattr(lane, name), getattr(loop, name)
        assert ours.dtype == theirs.dtype, name
        assert np.array_equal(ours, theirs), name
    assert (lane.fees, lane.traded_notional, lane.exposed_steps) == \
        (loop.fees, loop.traded_notional, loop.exposed_steps)
    assert lane.round_trips == loop.round_trips
    assert lane.performance() == loop.performance()


def verdicts(run: FastRun) -> set[str]:
    return {verdict for _, _, _, verdict, _, _ in run.decisions}


LIMITS = RiskLimits()
CASES = {
    # an SMA(3/8) that crosses every few minutes: partial fills, the 5 % cap, breakers
    "busy": (dict(seed=3), LIMITS, dict(fast=3, slow=8)),
    # the same on a hundredth of the volume: orders work over many bars, crosses come
    # while they do (cancels), and what is left of a holding is too small to sell
    "thin": (dict(seed=3, volume=0.01), LIMITS, dict(fast=3, slow=8)),
    # a falling market: the daily loss and drawdown breakers reduce, then halt
    "falling": (dict(seed=5, drift=-0.0004), replace(
        LIMITS, daily_loss_reduce_pct=Decimal("0.5"), daily_loss_halt_pct=Decimal("30"),
        drawdown_reduce_pct=Decimal("0.8"), drawdown_halt_pct=Decimal("1.5")),
        dict(fast=3, slow=8)),
    # one slot for six coins, and a VaR limit that some entries break
    "crowded": (dict(seed=11, coins=6), replace(
        LIMITS, max_open_positions=2, var_limit_pct=Decimal("0.9")), dict(fast=5, slow=12)),
    # the engine's own SMA(20/50) on a rising market
    "default": (dict(seed=7, drift=0.0002), LIMITS, {}),
}


def case_grid(args: dict[str, float]) -> BarGrid:
    """`random_walk_grid(seed, coins, drift)` with its volume scaled by `volume`."""
    grid = random_walk_grid(**{k: v for k, v in args.items() if k != "volume"})  # type: ignore[arg-type]
    return replace(grid, quote_volume=grid.quote_volume * args.get("volume", 1.0))


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_lane_trades_as_the_python_loop(case: str) -> None:
    grid_args, limits, params = CASES[case]
    lane, loop = both(case_grid(grid_args), FastSettings(FillParams(), limits), **params)
    assert_same_run(lane, loop)
    assert len(loop.fill_ts_ms) > 0, "the case must trade for the comparison to mean anything"
    assert lane.decisions == loop.decisions and lane.events == loop.events


def test_the_cases_reach_the_paths_they_are_named_for() -> None:
    """Each case's reason to be: what its Python run decided (so the lane is held to it)."""
    seen = {}
    for case, (grid_args, limits, params) in CASES.items():
        run = sma(case_grid(grid_args), FastSettings(FillParams(), limits), False, **params)
        seen[case] = verdicts(run) | {type(e).__name__ for e in run.events}
    assert {"PartiallyFilled", "DENIED:TRADING_STATE"} <= seen["busy"]
    assert {"Canceled", "DENIED:MIN_NOTIONAL"} <= seen["thin"]
    assert "DENIED:TRADING_STATE" in seen["falling"]
    assert {"DENIED:MAX_POSITIONS", "DENIED:VAR_LIMIT"} <= seen["crowded"]


def test_fees_of_zero_and_a_larger_account_take_the_same_path() -> None:
    params = FillParams(maker_fee_bps=0.0, taker_fee_bps=0.0)
    lane, loop = both(random_walk_grid(seed=13, coins=5), FastSettings(params, LIMITS),
                      balance=Decimal("250000.5"), fast=4, slow=9)
    assert_same_run(lane, loop)


def test_the_lane_gives_way_to_the_loop_where_it_cannot_be_exact() -> None:
    """Quote amounts of 1e-8 ticks times 1e-8 lots (the generic grid) need 16 decimals:
    past the lane's integers, so the Python loop trades, and says why."""
    grid = random_walk_grid(seed=3)
    settings = FastSettings(FillParams(), LIMITS)
    run = run_fast(grid, make_batch_policy("sma", fast=3, slow=8), settings, start_row=WARMUP,
                   balance=Decimal(10_000))
    assert run.lane == "python (quote amounts need 16 decimals)"
    assert len(run.fill_ts_ms) > 0
    other = run_fast(grid, make_batch_policy("buyhold"), settings, start_row=WARMUP,
                     balance=Decimal(10_000), market=spot_market(grid))
    assert other.lane == "python"  # only the SMA policy has a lane


def test_a_ledger_never_holds_fills_the_lane_did_not_make() -> None:
    lane, loop = both(random_walk_grid(seed=3), FastSettings(FillParams(), LIMITS),
                      fast=3, slow=8)
    moved = loop.fill_price.copy()
    moved[len(moved) // 2] += 0.01
    with pytest.raises(RuntimeError, match="disagree on the fills' price"):
        check_same_fills(_lane_of(lane), replace(loop, fill_price=moved))


def _lane_of(run: FastRun):  # type: ignore[no-untyped-def]
    """The LaneRun behind a compiled run, rebuilt from its arrays (what check reads)."""
    from trading import lane_book
    from trading.sma_lane import LaneRun

    fills = np.zeros((len(run.fill_ts_ms), lane_book.FILL_FIELDS), np.int64)
    fills[:, lane_book.F_TS] = run.fill_ts_ms
    fills[:, lane_book.F_COLUMN] = run.fill_symbol
    fills[:, lane_book.F_SIDE] = run.fill_side
    fills[:, lane_book.F_LIQUIDITY] = run.fill_liquidity
    return LaneRun(fills, run.cash, run.equity, 0, Decimal(0), Decimal(0), run.fill_price,
                   run.fill_amount, run.fill_fee, (), (), ())


def test_a_compiled_runs_ledger_is_the_python_loops_to_the_digest(tmp_path: Path) -> None:
    """On a replayed market (the bench's, 4 coins x 2 days after a day of warm-up), the
    ledger written from a compiled run is the Python loop's, table for table."""
    from bench._market_csv import START_MS, write_market
    from bot.config import load_config
    from bot.research.fast_backtest import replay_inputs, window_rows, write_ledger

    write_market(tmp_path / "market", coins=4, minutes=1440 + 2880, seed=7, quote="USDT")
    config = load_config(None, environ={})
    inputs = replay_inputs(config, tmp_path / "market", warmup_minutes=1440)
    start, stop = window_rows(inputs.grid, inputs.warmup_rows, START_MS - 2880 * 60_000,
                              START_MS)
    settings = FastSettings.from_config(config, inputs.grid.bar_ms)
    digests = {}
    for compiled in (True, False):
        run = run_fast(inputs.grid, make_batch_policy("sma"), settings, start_row=start,
                       stop_row=stop, balance=Decimal(10_000), market=inputs.market,
                       compiled=compiled)
        assert run.lane == ("compiled" if compiled else "python")
        assert len(run.fill_ts_ms) > 0
        digests[compiled] = write_ledger(tmp_path / f"{compiled}.sqlite", run,
                                         inputs.market.instruments, Decimal(10_000),
                                         inputs.grid.start_ms + start * inputs.grid.bar_ms)
    assert digests[True] == digests[False]


def test_the_lane_decides_at_t_on_nothing_after_t() -> None:
    """Bars moved after row t change no fill and no mark of the lane's up to t's close."""
    grid, cut = random_walk_grid(seed=3), WARMUP + 900
    settings = FastSettings(FillParams(), LIMITS)
    before = sma(grid, settings, True, fast=3, slow=8)
    after = sma(later_rows_changed(grid, cut), settings, True, fast=3, slow=8)
    assert (before.lane, after.lane) == ("compiled", "compiled")
    decided_by = START_MS + (cut + 1) * MINUTE_MS
    early, same = before.fill_ts_ms < decided_by, after.fill_ts_ms < decided_by
    assert early.any()
    for name in NUMBERS[3:]:
        np.testing.assert_array_equal(getattr(after, name)[same], getattr(before, name)[early])
    marked = before.equity_ms <= decided_by
    np.testing.assert_array_equal(after.equity[marked], before.equity[marked])
    assert not np.array_equal(after.equity, before.equity), "later bars must matter later"
