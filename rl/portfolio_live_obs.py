"""The portfolio env's observation rebuilt from live data (rl/portfolio_live_policy.py).

`PortfolioEnv.observe` reads its grid and its own account arrays; live, the same columns
come from the engine's bars (`strategies.policy.RecentBars`, aggregated to the model's bar
length) and the trader's account (`DecisionView`). Each function here mirrors one part of
`observe`, with the same arithmetic in the same dtypes, so the parity test
(tests/integration/test_portfolio_live_parity.py) can hold the two to float32 equality.

Features from a window of bars. The env computes `features_from_history` over its whole
grid; live keeps only the last `bars_needed(bar_ms)` bars (the longest feature window). Two
things would then differ, and are put back: a symbol whose oldest kept bar had no trade
would start its windows late (its forward-filled close seeds that bar), and the bars seen
(`warm_minutes`, the averages' counts) are the symbol's own since its first bar, not since
the window's start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from model import libm
from model.market import MINUTE_MS
from rl.portfolio_env import PORTFOLIO_STATE
from rl.portfolio_tables import cross_section_z
from rl.spaces import OBS_CLIP, OBS_FEATURES, feature_observation
from strategies.feature_columns import Primitives, assemble
from strategies.features_batch import filled_bars
from strategies.policy import DecisionView, RecentBars, RestingOrder
from strategies.windows import (
    AVERAGE_WINDOWS,
    PRICE_CAPACITY,
    RANGE_WINDOWS,
    RETURN_WINDOWS,
    SQUARE_SLOTS,
    window_rows,
)

_REGIME = OBS_FEATURES.index("regime_1d")


def bars_needed(bar_ms: int) -> int:
    """Bars behind a decision that every feature window reads: the longest window at this
    bar length plus the bar before it, capped to the 30 days the live rings keep."""
    longest = max((rows for w in (*AVERAGE_WINDOWS, *RETURN_WINDOWS, *RANGE_WINDOWS)
                   if (rows := window_rows(w, bar_ms)) is not None), default=1)
    return max(2, min(longest + 1, PRICE_CAPACITY * MINUTE_MS // bar_ms))


@dataclass(frozen=True, slots=True)
class CoinTable:
    """The market half of the per-coin rows at the decision: feature and z-score columns,
    which coins have a bar (the env's mask), their closes and the market regime."""

    columns: np.ndarray  # float32 [N, 2F]: features, then their cross-sectional z-scores
    mask: np.ndarray  # bool [N]: a trade in the newest bar
    close: np.ndarray  # float64 [N]: forward-filled close of the newest bar
    regime: float  # mean regime_1d over the masked-in coins


def coin_table(recent: RecentBars, symbols: Sequence[str]) -> CoinTable:
    """`CoinTable` of `symbols` (all of them tradable, in this order) from `recent`."""
    where = {s: i for i, s in enumerate(recent.symbols)}
    missing = [s for s in symbols if s not in where]
    if missing:
        raise ValueError(f"no bars for {', '.join(missing[:5])}: the bar source must hold "
                         "every tradable symbol")
    index = np.array([where[s] for s in symbols], np.int64)
    close, traded = recent.close[:, index], recent.traded[:, index]
    grid_close = np.where(traded, close, np.nan)
    seed = ~traded[0] & np.isfinite(close[0])  # history before the window: its close
    grid_close[0] = np.where(seed, close[0], grid_close[0])
    high = np.where(traded, recent.high[:, index], grid_close)
    low = np.where(traded, recent.low[:, index], grid_close)
    volume = np.where(traded, recent.quote_volume[:, index], 0.0)
    newest = newest_primitives(grid_close, high, low, volume, recent.bar_ms,
                               _minutes_seen(recent, index))
    features = assemble(newest, bar_ms=recent.bar_ms)
    columns = feature_observation(features)  # [1, N, F]
    mask = traded[-1] & (close[-1] > 0)
    z = cross_section_z(columns, mask[None, :])
    regime = np.where(mask[None, :], columns[:, :, _REGIME], np.nan)
    known = np.isfinite(regime)
    mean_regime = (np.where(known, regime, 0.0).sum(axis=1) / np.maximum(known.sum(axis=1), 1))
    return CoinTable(np.concatenate([columns, z], axis=-1)[0], mask, close[-1],
                     float(mean_regime[0]))


def newest_primitives(close: np.ndarray, high: np.ndarray, low: np.ndarray,
                      quote_volume: np.ndarray, bar_ms: int, n_seen: np.ndarray) -> Primitives:
    """`strategies.features_batch.grid_primitives` of the newest row only ([1, n, ...]), for
    bars [T, n] (NaN close = no bar) and the given minutes seen: each window's statistic is
    one sum or extreme over its last rows, O(T x n) instead of every row's windows (at 5m
    bars, a month is 8,640 rows). The same rules: flat bars for missing ones, exact zeros
    for windows without volume or without a price change; equal to the grid's to rounding."""
    n = close.shape[1]
    _, _, close, close0, volume, highs, lows, ret = filled_bars(close, high, low, quote_volume)

    def tail(x: np.ndarray, windows: Sequence[int], reduce: np.ufunc = np.add,
             nonzero: np.ndarray | None = None) -> np.ndarray:
        """[1, n, len(windows)]: `reduce` over each window's last rows; NaN if absent."""
        columns = []
        for minutes in windows:
            rows = window_rows(minutes, bar_ms)
            if rows is None:
                columns.append(np.full(n, np.nan))
                continue
            value = reduce.reduce(x[-rows:], axis=0)
            if nonzero is not None:
                value = np.where(np.count_nonzero(nonzero[-rows:], axis=0) == 0, 0.0, value)
            columns.append(value)
        return np.stack(columns, axis=-1)[None]

    square_windows = [RETURN_WINDOWS[k] for k in SQUARE_SLOTS]
    nan = np.full((1, n), np.nan)
    return Primitives(
        n_seen=n_seen[None, :], close=close[-1:], last=close[-1:],
        sum_close=tail(close0, AVERAGE_WINDOWS),
        sum_qv=tail(volume, AVERAGE_WINDOWS, nonzero=volume != 0),
        sum_ret=tail(ret, RETURN_WINDOWS, nonzero=ret != 0),
        sum_ret2=tail(ret * ret, square_windows, nonzero=ret != 0),
        high=tail(highs, RANGE_WINDOWS, np.maximum), low=tail(lows, RANGE_WINDOWS, np.minimum),
        bid=nan, ask=nan, bid_qty=nan, ask_qty=nan, tick_quote_volume=nan)


def _minutes_seen(recent: RecentBars, index: np.ndarray) -> np.ndarray:
    """Minutes of each symbol's bars up to the newest, counted in whole bars from the bar
    holding its first minute (the env counts `(t - first bar + 1) x bar minutes`)."""
    first = recent.first_open_ms[index]
    bar_ms = recent.bar_ms
    newest_open = recent.start_ms + (recent.close.shape[0] - 1) * bar_ms
    first_bar = first - np.mod(first - recent.start_ms, bar_ms)
    bars = np.where(first >= 0, (newest_open - first_bar) // bar_ms + 1, 0)
    return (np.maximum(bars, 0) * (bar_ms // MINUTE_MS)).astype(np.float64)


@dataclass(frozen=True, slots=True)
class Account:
    """The live account the env's state columns read: equity and free cash from the view,
    the episode's capital and peak from the policy (live, the "episode" starts at the
    policy's first decision)."""

    equity: float
    cash: float  # free: not locked by resting buys
    capital: float
    peak: float
    mode: str  # risk.state.TradingMode value
    max_open_positions: int
    time_left: float


@dataclass(frozen=True, slots=True)
class CoinState:
    """The env's COIN_STATE rows and what the portfolio columns sum from them."""

    rows: np.ndarray  # float32 [N, 6]: NaN -> 0, clipped to +-OBS_CLIP
    held: np.ndarray  # float64 [N]: amount x close of the newest bar
    buying: np.ndarray  # bool [N]: a buy rests


def coin_state(view: DecisionView, symbols: Sequence[str], close: np.ndarray) -> CoinState:
    """COIN_STATE of `symbols` from the view's holdings and each symbol's newest resting
    order, marked at the newest bar's close (module docstring of portfolio_live_policy)."""
    equity = view.equity
    state = np.zeros((len(symbols), 6))
    held, buying = np.zeros(len(symbols)), np.zeros(len(symbols), bool)
    newest = _newest_orders(view.open_orders)
    with np.errstate(invalid="ignore", divide="ignore"):
        for i, symbol in enumerate(symbols):
            holding = view.holdings.get(symbol)
            if holding is not None and holding.amount > 0:
                held[i] = holding.amount * np.nan_to_num(close[i])
            order = newest.get(symbol)
            if order is None:
                continue
            buying[i] = order.side == "BUY"
            state[i, 1] = order.remaining * order.price if buying[i] else 0.0
            state[i, 2], state[i, 3] = float(buying[i]), float(order.side == "SELL")
            state[i, 4] = (np.float64(order.price) / close[i] - 1.0) * 100.0
            state[i, 5] = 1.0 - order.remaining / order.amount if order.amount > 0 else 0.0
        state[:, 0] = held / equity
        state[:, 1] = state[:, 1] / equity
    rows = np.clip(np.nan_to_num(state, nan=0.0), -OBS_CLIP, OBS_CLIP).astype(np.float32)
    return CoinState(rows, held, buying)


def portfolio_state(account: Account, coins: CoinState, regime: float) -> np.ndarray:
    """PORTFOLIO_STATE [P] (float32), each column as `PortfolioEnv.observe` computes it."""
    equity, slots = account.equity, account.max_open_positions
    opened = int(((coins.held > 0) | coins.buying).sum())
    values = np.array([
        account.cash / equity, coins.held.sum() / equity, 1.0 - equity / account.peak,
        float(libm.log(np.array([equity / account.capital]))[0]),
        float(account.mode == "REDUCING"), float(account.mode == "HALTED"),
        max(slots - opened, 0) / slots, account.time_left, regime])
    assert values.shape == (len(PORTFOLIO_STATE),)
    return values.astype(np.float32)


def _newest_orders(orders: Sequence[RestingOrder]) -> dict[str, RestingOrder]:
    """Each symbol's newest resting order (the env holds at most one per coin)."""
    newest: dict[str, RestingOrder] = {}
    for order in orders:
        known = newest.get(order.symbol)
        if known is None or order.placed_ms >= known.placed_ms:
            newest[order.symbol] = order
    return newest


__all__ = ["Account", "CoinState", "CoinTable", "bars_needed", "coin_state", "coin_table",
           "portfolio_state"]
