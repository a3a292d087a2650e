"""Batched portfolio environment: each env trades a whole universe of coins from one account.

Why (issue 17): the one signal we have measured is cross-sectional, and the single-coin env
(rl/env.py) cannot express "hold the coins that will do best relative to the others". Here
an env is one account over all N coins of a `BarGrid` at the grid's bar length (the
decision cadence: load 5m, 1h ... bars to decide every 5m, 1h ...); `n_envs` accounts step
together, each from its own start row, for `horizon_steps` bars.

Actions: one per coin per step, in the product's own vocabulary (rl/spaces.py: HOLD,
CANCEL_BUY, CANCEL_SELL, BUY or SELL at a limit offset in ticks), so a trained policy drives
the daemon's trader without a translation layer, and every order is a limit price on the
tick grid (ADR-089 argues this against target-weight buckets). The rules are the trader's:
the risk gate's checks (position count, 2 % / 5 % sizing on the portfolio's equity, the
exchange's minimums, cash with the fee reserve, post-trade VaR/ES over the bar returns, the
drawdown breaker), the paper broker's reservations and booking, and the one fill model with
the calibrated spreads of `FastMarket.spread`; rl/portfolio_kernel.py is that step,
compiled. The parity test (tests/integration/test_portfolio_parity.py) drives the same
actions through the fast backtester (`trading.fast_backtest.run_fast`), which runs the real
gate and account, and requires the same fills, fees and equity.

Observation (`PortfolioObservation`): per coin, the live feature columns (rl.spaces), their
cross-sectional z-scores over the coins with a bar at that row (who is strong relative to
the others), optional extra columns (forecast, anomaly) and the coin's own position and
order; per portfolio, cash, exposure, drawdown, growth, trading mode, open slots, time left
and the cross-section's mean regime. Reward: log growth of equity after every cost, less
`drawdown_penalty` x each rise in drawdown from the episode's peak, less `cost_margin` x
each bar's trading cost as a share of equity (rl/trading_cost.py: the RL form of the
entries' edge-over-cost gate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from model import fill_kernel, libm
from model.fill_kernel import BUY, SELL
from rl import portfolio_kernel as kernel
from rl.env_kernel import bar_table
from rl.kernel_threads import run_sliced
from rl.portfolio_risk import HALTED, REDUCING
from rl.portfolio_tables import (
    cross_section_z,
    dominant_quote_mask,
    history_returns,
    kernel_counts,
    kernel_knobs,
)
from rl.spaces import DEFAULT_OFFSETS_TICKS, OBS_CLIP, OBS_FEATURES, action_names
from rl.spaces import feature_observation as live_feature_columns
from rl.trading_cost import fill_costs, margin_penalty
from strategies.features_batch import MinuteGrid, features_from_history
from trading.fast_market import FastMarket, FastSettings
from trading.fast_policies import forward_filled

COIN_STATE: tuple[str, ...] = (
    "position_share",  # held value / equity
    "pending_share",  # resting buy's remaining value / equity
    "has_buy", "has_sell",  # an order of that side rests
    "order_distance_pct",  # (limit / close - 1) x 100; 0 without an order
    "order_filled_share",  # share of the resting order already filled
)
PORTFOLIO_STATE: tuple[str, ...] = (
    "cash_share",  # free cash / equity
    "exposure",  # held value / equity
    "drawdown",  # 1 - equity / the episode's peak
    "log_growth",  # log(equity / capital)
    "reducing", "halted",  # the breaker's trading mode
    "open_slots_share",  # positions the gate would still open / max_open_positions
    "time_left",  # share of the episode still ahead, 1 -> 0
    "market_regime_1d",  # mean `regime_1d` over the coins with a bar
)
_REGIME = OBS_FEATURES.index("regime_1d")


@dataclass(frozen=True)
class PortfolioConfig:
    """Episode, sizing and reward knobs; fees, fills and risk limits come from the
    `FastSettings` the env is built with (the trader's own)."""

    horizon_steps: int = 240  # bars per episode
    # The policy decides every this many bars; between decisions every coin HOLDs (resting
    # orders keep working) and `step` returns the bars' summed reward: a slower cadence on
    # the same bars, with no resampling.
    decision_every: int = 1
    offsets_ticks: tuple[int, ...] = DEFAULT_OFFSETS_TICKS
    stop_pct: float = 1.0  # assumed stop distance below an entry, for the 2 % risk sizing
    capital: float = 10_000.0  # quote each episode starts with
    warmup_rows: int = 0  # rows before the first start (features and VaR history need them)
    drawdown_penalty: float = 0.0  # reward loses this x every rise in drawdown (a fraction)
    reward_scale: float = 1.0  # multiplies the reward only; `info` stays in account units
    # The reward also loses this x each bar's trading cost (fees, half spreads, slippage:
    # rl/trading_cost.py) as a share of equity: trade only for a gain beyond cost x (1 + m).
    # Shaping only (equity, fills and fees are untouched); 0 = the plain reward, bit for bit.
    cost_margin: float = 0.0
    ruin_fraction: float = 0.5  # an episode ends when equity <= this share of its capital
    auto_reset: bool = True  # done envs restart at once (their obs is the new episode's)


@dataclass(frozen=True, slots=True)
class PortfolioObservation:
    """What a portfolio policy sees: per-coin rows, per-portfolio state, and which coins
    it may act on (a coin without a bar yet, or quoted in another asset, only HOLDs)."""

    coins: np.ndarray  # float32 [B, N, C]
    portfolio: np.ndarray  # float32 [B, P]
    mask: np.ndarray  # bool [B, N]


class PortfolioEnv:
    """`n_envs` portfolios over every coin of `grid`, stepped together (module docstring)."""

    def __init__(self, grid: MinuteGrid, market: FastMarket, settings: FastSettings,
                 n_envs: int, config: PortfolioConfig, seed: int,
                 extra: np.ndarray | None = None, features: np.ndarray | None = None) -> None:
        if settings.bar_ms != grid.bar_ms:
            raise ValueError(f"settings are for {settings.bar_ms} ms bars, the grid has "
                             f"{grid.bar_ms} ms bars: FastSettings.from_config(config, bar_ms)")
        length, n_coins = grid.close.shape
        if config.decision_every < 1:
            raise ValueError(f"decision_every must be >= 1 bar, got {config.decision_every}")
        if not config.cost_margin >= 0:
            raise ValueError(f"cost_margin must be >= 0 (0: no margin), got {config.cost_margin}")
        if config.warmup_rows + config.horizon_steps + 1 > length:
            raise ValueError(f"{length} rows cannot hold {config.warmup_rows} warm-up rows and "
                             f"a {config.horizon_steps}-step episode: load more bars or "
                             "shorten horizon_steps")
        self.grid, self.market, self.settings, self.config = grid, market, settings, config
        self.n_envs, self.n_coins = int(n_envs), n_coins
        self.action_names = action_names(config.offsets_ticks)
        self._rng = np.random.default_rng(seed)
        self._tradable = dominant_quote_mask(market)
        self._static(grid, market, settings, extra,
                     features_from_history(grid) if features is None else features)
        self._allocate()

    # -- data the kernel reads ---------------------------------------------------------------
    def _static(self, grid: MinuteGrid, market: FastMarket, settings: FastSettings,
                extra: np.ndarray | None, features: np.ndarray) -> None:
        instruments = market.instruments
        self._tick = np.array([float(i.tick) for i in instruments])
        self._lot = np.array([float(i.lot) for i in instruments])
        self._min_qty = np.array([float(i.min_qty) for i in instruments])
        self._min_notional = np.array([float(i.min_notional) for i in instruments])
        self._spread = np.ascontiguousarray(
            np.zeros(self.n_coins) if market.spread is None else market.spread, np.float64)
        self._bars = bar_table(grid.open_ms, grid.open, grid.high, grid.low, grid.close,
                               market.volume)
        self._close_ff = np.ascontiguousarray(forward_filled(grid.close))
        self._returns = history_returns(self._close_ff, np.isfinite(grid.close),
                                        settings.return_history_bars)
        self._has_bar = np.isfinite(grid.close) & self._tradable[None, :]
        columns = live_feature_columns(features)
        self._obs_table = np.concatenate([columns, cross_section_z(columns, self._has_bar)],
                                         axis=-1)
        if extra is not None:
            if extra.shape[:2] != grid.close.shape:
                raise ValueError(f"extra has shape {extra.shape}, expected [T, N, E] with "
                                 f"[T, N] = {grid.close.shape}")
            self._obs_table = np.concatenate(
                [self._obs_table, np.nan_to_num(extra.astype(np.float32), nan=0.0)], axis=-1)
        extra_names = () if extra is None else tuple(f"extra_{i}" for i in range(extra.shape[2]))
        self.coin_feature_names = (*OBS_FEATURES, *(f"z_{f}" for f in OBS_FEATURES),
                                   *extra_names, *COIN_STATE)
        self.portfolio_feature_names = PORTFOLIO_STATE
        self._regime = np.where(self._has_bar, columns[:, :, _REGIME], np.nan)
        config = self.config
        self._knobs = kernel_knobs(settings, stop_pct=config.stop_pct,
                                   drawdown_penalty=config.drawdown_penalty,
                                   reward_scale=config.reward_scale,
                                   ruin_fraction=config.ruin_fraction)
        self._counts = kernel_counts(settings)
        params = settings.fill_params
        self._powers = fill_kernel.level_growth(params.book_level_growth, params.book_levels)

    def _allocate(self) -> None:
        b, n = self.n_envs, self.n_coins
        self._t, self._t_end = np.zeros(b, np.int64), np.zeros(b, np.int64)
        self._day_start_ms = np.zeros(b, np.int64)
        self._mode = np.zeros(b, np.int64)
        self.capital = np.full(b, self.config.capital)
        (self._cash, self._equity, self._peak, self._day_start_equity,
         self._episode_peak) = (np.zeros(b) for _ in range(5))
        self._finished = np.zeros(b, bool)
        self._pos, self._price, self._amount, self._remaining = (np.zeros((b, n)) for _ in range(4))
        self._reserved, self._fee_prepaid = np.zeros((b, n)), np.zeros((b, n))
        self._queue = np.full((b, n), np.nan)
        self._has_order = np.zeros((b, n), bool)
        self._side = np.zeros((b, n), np.int8)

    # -- episodes ----------------------------------------------------------------------------
    def start_bounds(self) -> tuple[int, int]:
        """The first and last row an episode may start at (its first decision is at that
        row's close): after the warm-up rows, with room for the whole horizon."""
        return self.config.warmup_rows, self.grid.close.shape[0] - 1 - self.config.horizon_steps

    @property
    def rows(self) -> np.ndarray:
        """Each env's current grid row [B], the row its observation was read at (a copy):
        where a policy reads a side array aligned to the grid (rl/portfolio_scores.py)."""
        return self._t.copy()

    def reset(self, starts: np.ndarray | None = None) -> PortfolioObservation:
        """Start every env afresh (capital, flat, no order, ACTIVE); `starts` pins the
        start rows (the arena replays the same ones for both players), else they are drawn
        from the env's seeded rng."""
        first, last = self.start_bounds()
        if starts is None:
            starts = self._rng.integers(first, last + 1, self.n_envs)
        starts = np.asarray(starts, np.int64)
        if starts.shape != (self.n_envs,):
            raise ValueError(f"starts must have shape ({self.n_envs},), got {starts.shape}")
        if np.any((starts < first) | (starts > last)):
            raise ValueError(f"start rows must lie in [{first}, {last}]")
        self._begin(np.arange(self.n_envs), starts)
        return self.observe()

    def _begin(self, envs: np.ndarray, starts: np.ndarray) -> None:
        self._t[envs], self._t_end[envs] = starts, starts + self.config.horizon_steps
        capital = self.capital[envs]
        for column in (self._cash, self._equity, self._peak, self._day_start_equity,
                       self._episode_peak):
            column[envs] = capital
        now = self.grid.start_ms + (starts + 1) * self.grid.bar_ms  # the first decision
        self._day_start_ms[envs] = now - now % 86_400_000
        self._mode[envs], self._finished[envs] = 0, False
        for column in (self._pos, self._reserved, self._fee_prepaid):
            column[envs] = 0.0
        self._has_order[envs] = False

    # -- stepping ----------------------------------------------------------------------------
    def step(self, actions: np.ndarray
             ) -> tuple[PortfolioObservation, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """One action per env and coin ([B, N], rl.spaces layout; masked coins HOLD), the
        orders meet the next bar, equity is marked (then `decision_every - 1` more bars of
        HOLD). Returns (observation, reward float32 [B], done [B], info): `equity`, `fees`,
        `turnover` [B] and `fills` (signed base), `fill_notional`, `fill_fees` [B, N], in
        account units, summed over the bars, before any auto-reset."""
        a = np.asarray(actions)
        if a.shape != (self.n_envs, self.n_coins):
            raise ValueError(f"actions must have shape ({self.n_envs}, {self.n_coins}), "
                             f"got {a.shape}")
        if a.size and (a.min() < 0 or a.max() >= len(self.action_names)):
            raise ValueError(f"action index out of range [0, {len(self.action_names)})")
        a = np.ascontiguousarray(np.where(self._has_bar[self._t], a, 0), np.int64)
        reward, done, info = self._bar(a)
        hold = np.zeros_like(a)
        for _ in range(self.config.decision_every - 1):
            if done.all():
                break
            more_reward, more_done, more = self._bar(hold)
            reward += more_reward
            done |= more_done
            for name in ("fees", "turnover", "fills", "fill_notional", "fill_fees"):
                info[name] += more[name]
            info["equity"] = more["equity"]
        if self.config.auto_reset and done.any():
            envs = np.flatnonzero(done)
            first, last = self.start_bounds()
            self._begin(envs, self._rng.integers(first, last + 1, envs.size))
        return self.observe(), reward.astype(np.float32), done, info

    def _bar(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """One bar of every env through the compiled step."""
        b, n = self.n_envs, self.n_coins
        # What the cost margin needs from before the step; nothing copied without one.
        before = (self._t.copy(), self._equity.copy()) if self.config.cost_margin else None
        reward, done = np.empty(b), np.empty(b, bool)
        info: dict[str, np.ndarray] = {name: np.empty(b) for name in ("fees", "turnover")}
        per_coin = {name: np.empty((b, n)) for name in ("fills", "fill_notional", "fill_fees")}
        run_sliced(
            kernel.step_portfolios, self._chunks(), a,
            np.asarray(self.config.offsets_ticks, np.float64), self._bars,
            self._close_ff, self._returns, self.grid.start_ms, self._knobs, self._counts,
            self._powers, self._tick, self._lot, self._min_qty, self._min_notional,
            self._spread, self._t, self._t_end, self._cash, self._equity, self.capital,
            self._peak, self._mode, self._day_start_ms, self._day_start_equity,
            self._episode_peak, self._finished, self._pos, self._has_order, self._side,
            self._price, self._amount, self._remaining, self._queue, self._reserved,
            self._fee_prepaid, reward, done, info["fees"], info["turnover"],
            per_coin["fills"], per_coin["fill_notional"], per_coin["fill_fees"])
        info.update(per_coin)
        info["equity"] = self._equity.copy()
        if before is not None:
            reward -= self._cost_margin_penalty(*before, info)
        return reward, done, info

    def _cost_margin_penalty(self, rows: np.ndarray, equity_before: np.ndarray,
                             info: dict[str, np.ndarray]) -> np.ndarray:
        """The reward's cost-margin term of one bar [B] (rl/trading_cost.py): the orders
        met the bar after each env's row, whose open is the book's bid."""
        event = np.minimum(rows + 1, self.grid.close.shape[0] - 1)  # done envs: no fills
        cost = fill_costs(info["fills"], info["fill_notional"], info["fill_fees"],
                          self.grid.open[event], self._spread[None, :], self._tick[None, :],
                          float(self.settings.fill_params.bar_spread_ticks)).sum(axis=1)
        return margin_penalty(cost, equity_before, self.config.cost_margin,
                              self.config.reward_scale)

    def _chunks(self) -> int:
        """Slices of portfolios for numba's threads (one per thread, none under 64)."""
        return max(1, min(numba.get_num_threads(), self.n_envs // 64))

    # -- observation -------------------------------------------------------------------------
    def observe(self) -> PortfolioObservation:
        """The observation at every env's current row (see the module docstring)."""
        rows = self._t
        close = self._close_ff[rows]  # [B, N]
        equity = self._equity[:, None]
        held = np.where(self._pos > 0, self._pos * np.nan_to_num(close), 0.0)
        buying = self._has_order & (self._side == BUY)
        pending = np.where(buying, self._remaining * self._price, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            distance = np.where(self._has_order, (self._price / close - 1.0) * 100.0, 0.0)
            filled = np.where(self._has_order & (self._amount > 0),
                              1.0 - self._remaining / self._amount, 0.0)
        state = np.stack([held / equity, pending / equity, buying.astype(float),
                          (self._has_order & (self._side == SELL)).astype(float),
                          distance, filled], axis=-1)
        coins = np.concatenate([self._obs_table[rows], np.clip(
            np.nan_to_num(state, nan=0.0), -OBS_CLIP, OBS_CLIP).astype(np.float32)], axis=-1)
        free = self._cash - np.where(buying, self._reserved, 0.0).sum(axis=1)
        opened = ((self._pos > 0) | buying).sum(axis=1)
        slots = self.settings.limits.max_open_positions
        known = np.isfinite(self._regime[rows])
        regime = (np.where(known, self._regime[rows], 0.0).sum(axis=1)
                  / np.maximum(known.sum(axis=1), 1))
        portfolio = np.stack([
            free / self._equity, held.sum(axis=1) / self._equity,
            1.0 - self._equity / self._episode_peak, libm.log(self._equity / self.capital),
            (self._mode == REDUCING).astype(float), (self._mode == HALTED).astype(float),
            np.maximum(slots - opened, 0) / slots,
            (self._t_end - self._t) / self.config.horizon_steps, regime],
            axis=-1)
        return PortfolioObservation(np.ascontiguousarray(coins, np.float32),
                                    portfolio.astype(np.float32), self._has_bar[rows].copy())


@dataclass(frozen=True)
class PortfolioEnvFactory:
    """Builds `PortfolioEnv`s on one market (`factory(n_envs, seed)`): what the arena and
    self-play hand to their workers (it pickles; the features are computed once per
    process, on first use, and shared by every env it builds)."""

    grid: MinuteGrid
    market: FastMarket
    settings: FastSettings
    config: PortfolioConfig
    extra: np.ndarray | None = None

    def __call__(self, n_envs: int, seed: int) -> PortfolioEnv:
        return PortfolioEnv(self.grid, self.market, self.settings, n_envs, self.config, seed,
                            extra=self.extra, features=self.features())

    def features(self) -> np.ndarray:
        """`features_from_history(grid)`, computed once."""
        cached = self.__dict__.get("_features")
        if cached is None:
            cached = features_from_history(self.grid)
            object.__setattr__(self, "_features", cached)
        return cached

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("_features", None)  # recomputed where it is used: smaller to ship
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)


__all__ = ["COIN_STATE", "PORTFOLIO_STATE", "PortfolioConfig", "PortfolioEnv",
           "PortfolioEnvFactory", "PortfolioObservation"]
