"""Compile the numba kernels (fill model, RL env step, portfolio env step, feed, decision step)
ahead of use.

The first call of a numba function compiles it (seconds on a busy 2-core machine) and
writes the result to numba's on-disk cache, which later processes load in well under a
second. Calling this once early (the test session does; `python -m rl.warmup` does it by
hand, e.g. after installing a service) keeps that cost out of start-up deadlines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model import fills
from model.fills import FillParams


def compile_kernels() -> None:
    """Run the fill model, tiny single-coin and portfolio envs, the fast backtester's row
    matching and the feed's kernels for one step each (compiles or loads the cache)."""
    from rl.env import BatchedEnv, EnvConfig
    from rl.episodes import MarketData

    params = FillParams()
    market = fills.market_from_bars([0], [1.0], [1.0], [1.0], [1.0], [1.0], [0.01], params)
    fills.match(fills.orders([0], [fills.BUY], [1.0], [1.0], 0.01, 1.0), market, params)
    data = MarketData.from_generator(1, 1, 120, warmup_minutes=10)
    env = BatchedEnv(data, 2, EnvConfig(horizon_minutes=5, warmup_minutes=10), seed=0)
    env.reset()
    env.step(np.zeros(2, np.int64))
    _portfolio_step()
    _fast_row()
    _feed_step()
    _replay_minute()
    _decision_step()


def _portfolio_step() -> None:
    """One step of a two-coin portfolio env with a BUY (the gate's VaR path included)."""
    from risk.limits import RiskLimits
    from rl.portfolio_env import PortfolioConfig, PortfolioEnv
    from strategies.features_batch import BarGrid
    from trading.fast_market import FastMarket, FastSettings

    rows = 40
    close = np.linspace(10.0, 11.0, rows)[:, None] * np.array([[1.0, 2.0]])
    grid = BarGrid(symbols=("AAAUSDT", "BBBUSDT"), start_ms=0, open=close, high=close * 1.01,
                   low=close * 0.99, close=close, quote_volume=close * 1e4, bar_ms=3_600_000)
    settings = FastSettings(FillParams(), RiskLimits(min_return_observations=10),
                            bar_ms=3_600_000, return_history_bars=20)
    env = PortfolioEnv(grid, FastMarket.from_grid(grid), settings, 1,
                       PortfolioConfig(horizon_steps=5, warmup_rows=20), seed=0)
    env.reset()
    env.step(np.full((1, 2), env.action_names.index("BUY+1")))


def _fast_row() -> None:
    """The fast backtester's row matching (trading/fast_match_kernel.py), with the types
    FastAccount.match_bars passes: one resting buy against one bar."""
    from model import fill_kernel
    from trading import fast_match_kernel

    params = FillParams()
    bar = np.ones(1)
    orders = np.zeros((1, fast_match_kernel.ORDER_COLUMNS))
    orders[0, fast_match_kernel.PRICE] = orders[0, fast_match_kernel.REMAINING] = 1.0
    fast_match_kernel.match_row(
        orders, 0, bar, bar, bar, bar, bar, np.zeros(0), False, float(params.bar_spread_ticks),
        float(params.bar_book_share), float(params.max_volume_share),
        float(params.through_volume_share), float(params.maker_fee_bps),
        float(params.taker_fee_bps), int(params.book_levels), float(params.book_level_growth),
        fill_kernel.level_growth(params.book_level_growth, params.book_levels),
        int(params.book_level_spacing_ticks), fills.NO_CANCEL_MS)


def _feed_step() -> None:
    """The feed's per-frame kernels (parser checks, feed-edge sanity, the simulated
    exchange's wire floats and window sums, the engine's tick stores, bad-print windows
    and bar rows): a daemon runs them within its first seconds, so they compile here too."""
    from exchange.feeds.binance_event_parse import kline_values_valid
    from exchange.feeds.binance_parse import ticker_rows_valid
    from exchange.feeds.sanity import FrameValidator
    from exchange.sim.protocol import num_parsed
    from exchange.sim.window_kernel import column_sums, grid_column_sums
    from model.market import BarBatch, TickArrays, TickBatch
    from strategies.bad_prints import PrintFilter
    from strategies.features import FeatureBook
    from strategies.rolling import BarRings

    ones, times = np.ones(2), np.zeros(2, np.int64)
    ticker_rows_valid(times, np.ones((7, 2)))
    kline_values_valid(np.ones((4, 2)), np.ones((2, 2)))
    num_parsed(ones)
    grid_column_sums(np.ones((2, 2), np.int32), ones)
    column_sums(np.ones((2, 2)))
    batch = TickBatch(("A", "B"), times, 0, ones, ones, ones, ones, ones, ones, ones)
    FrameValidator().admit_batch(batch, 0)
    prints = PrintFilter(("A", "B"))
    prints.admit_batch(batch)
    bars = BarBatch(("A", "B"), 0, ones, ones, ones, ones, ones, ones, times)
    prints.admit_bar_batch(bars)
    book = FeatureBook(("A", "B"))
    book.on_tick_batch(batch)
    book.on_bars(bars)
    # a replay's minute of ticker arrays, judged and stored in one call each
    arrays = TickArrays(("A", "B"), np.zeros(2, np.int64), np.ones((2, 7, 2)))
    FrameValidator().admit_arrays(arrays)
    prints.arrays_inside(arrays)
    book.on_tick_arrays(arrays)
    book.advance_to(0)  # which coins lag the minute: one compiled pass
    # a decision minute's bars in and its feature matrix out, one compiled call (fresh book)
    FeatureBook(("A", "B")).close_minute_matrix(bars, 0)
    BarRings(1).recompute_sums(0)  # every EXACT_EVERY appends of a row, not every minute
    BarRings(1).append_one(0, 0, 1.0, 1.0, 1.0, 1.0)  # the bar-at-a-time path (a daemon's)
    _libm_loops()


def _libm_loops() -> None:
    """model.libm's ufunc loops: each is built from numba's on-disk cache on first use;
    touching them here writes that cache before parallel runs read it."""
    from model import libm

    one = np.ones(2)
    for name in ("exp", "log", "log1p", "expm1", "log10", "tanh"):
        getattr(libm, name)(one)
    libm.power(one, one)


def _replay_minute() -> None:
    """A replay's block of ticks (seed hash, noise draws, tick table) and the feed's usual
    minute (its one compiled call): a two-coin, four-minute recording played one minute.
    Backtests run them from their first minute (a test's `entasis backtest` too)."""
    import pandas as pd

    from exchange.feeds.replay import ReplayFeed
    from exchange.sim.replay import ReplaySource

    frame = pd.DataFrame({"timestamp_ms": np.arange(4) * 60_000, "open": 1.0, "high": 1.0,
                          "low": 1.0, "close": 1.0, "volume": 1.0})
    source = ReplaySource({("A", "USDT"): frame, ("B", "USDT"): frame}, warmup_minutes=2)

    def skip(_: object) -> None:
        return None

    feed = ReplayFeed(source, direct=True, all_tickers=True, forming_klines=False,
                      on_tick=skip, on_bar=skip, on_history=skip, on_tick_batch=skip,
                      on_bar_batch=skip, on_tick_arrays=skip)
    feed.play_minute()


@dataclass(frozen=True, slots=True)
class _Ranking:
    """The ranking settings a decision step reads (strategies.ranking.RankingSettings)."""

    top_k: int = 2
    target_return_pct: float = 1.0
    stop_return_pct: float = 1.0
    horizon_minutes: int = 60
    min_quote_volume_24h: float = 0.0
    max_spread_bps: float = 100.0


def _decision_step() -> None:
    """The decision step's kernels (the feature row, the ranking with its barrier series,
    the baseline's stop-first check), through the engine's own calls: a daemon runs them at
    its first decision."""
    from risk.var_tail_kernel import loss_tail
    from strategies.edge import entry_settings, entry_step, entry_step_settings
    from strategies.features import FeatureBook
    from strategies.ranking import rank
    from strategies.sma_cross_kernel import sma_minute_kernel

    book = FeatureBook(("A", "B"))
    rank(book.matrix(), book.feature_names, ("A", "B"), _Ranking())
    book.quote_columns()  # the decision view's last prices
    # the baseline's entry step over a step's ranked coins (strategies/entry_kernel.py)
    entry_step([0.5, 1e-4, 1e-3, 1.0, 99.9, 100.1, 0.0], 1,
               entry_step_settings(entry_settings(1.0, 1.0, 60, 10.0, 10.0, 5.0, 0.5), 0.2, 3))
    loss_tail(np.linspace(-1.0, 1.0, 20), 2)  # the risk gate's sure pass (fast backtester)
    # the SMA cross policy's minute (what `auto` may trade)
    sma_minute_kernel(np.zeros((1, 2)), np.zeros(1, np.int64), np.full(1, -1, np.int8),
                      np.zeros(1, np.int64), np.ones(1), 1, 2, np.zeros(2, np.int64))

if __name__ == "__main__":
    compile_kernels()
