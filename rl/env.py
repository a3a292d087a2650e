"""Batched trading environment: thousands of single-symbol spot episodes stepped at once.

One env = one symbol over `horizon_minutes`, starting capital 1.0 (quote), long-only, at most
one resting order. A decision at minute t sees only `features[t]` (bars closed <= t) and the
account; the order it places meets bar t+1 through `model.fill_kernel.match_order` (the
per-order fill model that `model.fills.match` runs for the paper broker and the
backtester). The step's arithmetic runs one env at a time in `rl/env_kernel.py`, compiled
by numba (ADR-039); this class owns the state columns and the episode starts. Orders
are placed at bar t+1's open (`placed_ms = open_ms[t+1]`), so a new order may take at the
synthesized book (taker) or rest and fill on the bar's path (maker); a resting order keeps
its queue position from step to step. Equity is marked at bar t+1's close after fees, and
the reward is log(equity_{t+1} / equity_t), plus optional shaping (see `EnvConfig`; its
`cost_margin` charges each step's trading cost again, rl/trading_cost.py).

Sizing is the risk rule of `risk.sizing.size_entry` (confidence 1, stop `stop_pct` below the
entry), as `rl.account.size_entry` in floats; a unit test holds the two equal. The
exchange's filters refuse an order below one lot or the minimum notional, fees and buy
reservations are booked in whole 1e-8 quote units rounded up, and a minute without a trade
is no market event: the rules of the paper broker and the risk gate, which the parity test
(tests/integration/test_rl_parity.py, ADR-011) holds the env to, fill by fill. SELL always offers the
whole position. A new BUY/SELL replaces a resting order and CANCEL_* drops it at once: under
the fill model a cancel requested at a bar boundary stops the order before the next bar (the
bar starts at the cancel time, so the order never meets it), so dropping it here gives the
same result without a second order row.

No randomness except where episodes start (`sample_starts`, from the env's seeded rng), so
the same seed and actions give the same trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from model import fill_kernel
from model.fills import FillParams
from risk.limits import RiskLimits
from rl import env_kernel
from rl.episodes import MarketData
from rl.kernel_threads import run_sliced
from rl.spaces import (
    DEFAULT_OFFSETS_TICKS,
    OBS_FEATURES,
    STATE_FEATURES,
    action_names,
    feature_observation,
)
from rl.trading_cost import fill_costs, margin_penalty

ACTIONS: tuple[str, ...] = action_names(DEFAULT_OFFSETS_TICKS)
STARTING_CAPITAL = 1.0  # kept for callers that normalize; each env's capital is `env.capital`
#: The reward scale self-play, walk-forward and bench train with (EnvConfig.reward_scale).
TRAINING_REWARD_SCALE = 1000.0
LOTS_AT_FULL_POSITION = 1_000  # capital is sized so the max position holds this many lots
MIN_NOTIONALS_AT_FULL_POSITION = 100  # ... and is worth at least this many minimum orders
# Sizing and fill defaults are the trader's own (risk.limits, model.fills): RL trains under
# the rules it will trade by, and a default changed there reaches here.
_LIMITS, _FILLS = RiskLimits(), FillParams()


@dataclass(frozen=True)
class EnvConfig:
    """Episode, sizing, reward and fill-model knobs (percent fields in percent)."""

    horizon_minutes: int = 240
    offsets_ticks: tuple[int, ...] = DEFAULT_OFFSETS_TICKS
    risk_per_trade_pct: float = float(_LIMITS.risk_per_trade_pct)
    max_position_pct: float = float(_LIMITS.max_position_pct)
    stop_pct: float = 1.0  # assumed stop distance below the entry, for sizing
    target_return_pct: float = 1.0  # a closed trade earning this scores +1 shaping point
    shaping_weight: float = 0.0  # 0 = pure log-equity reward
    ruin_fraction: float = 0.5  # episode ends when equity <= this share of the start
    maker_fee_bps: float = _FILLS.maker_fee_bps
    taker_fee_bps: float = _FILLS.taker_fee_bps
    max_volume_share: float = _FILLS.max_volume_share
    through_volume_share: float = _FILLS.through_volume_share
    warmup_minutes: int = 1440  # minutes of history a symbol needs before an episode starts
    auto_reset: bool = True  # done envs restart at once (their obs is the new episode's)
    # Multiplies the reward (log-equity change + shaping) and nothing else: `info` (equity,
    # fills, fees, episode_log_return) stays in account units, so arena and evaluation, which
    # read only `info`, judge the same play whatever the scale. Training sets
    # TRAINING_REWARD_SCALE: a 5%-capped step's log return (~1e-4) is far below the value
    # head's initial error, and unscaled PPO learned nothing in a test-sized budget.
    reward_scale: float = 1.0
    # The reward also loses this x the step's trading cost (fees, half the bar book's spread,
    # slippage: rl/trading_cost.py) as a share of equity, so a trade is worth learning only
    # for a gain beyond cost x (1 + m). Shaping only; 0 = the plain reward, bit for bit.
    cost_margin: float = 0.0

    def fill_params(self) -> FillParams:
        """The fill model's knobs; everything not set here is the model's default."""
        return FillParams(max_volume_share=self.max_volume_share,
                          through_volume_share=self.through_volume_share,
                          maker_fee_bps=self.maker_fee_bps, taker_fee_bps=self.taker_fee_bps)


class BatchedEnv:
    """`n_envs` episodes over `data`, stepped together; see the module docstring."""

    def __init__(self, data: MarketData, n_envs: int, config: EnvConfig, seed: int) -> None:
        if not config.cost_margin >= 0:
            raise ValueError(f"cost_margin must be >= 0 (0: no margin), got {config.cost_margin}")
        self.data, self.n_envs, self.config = data, int(n_envs), config
        self.params = config.fill_params()
        self.action_names = action_names(config.offsets_ticks)
        self.n_actions = len(self.action_names)
        self._offsets = np.asarray(config.offsets_ticks, np.float64)
        self._rng = np.random.default_rng(seed)
        length, n_symbols = data.close.shape
        self._n_symbols = n_symbols
        self._symbol_min_notional = (np.zeros(n_symbols) if data.min_notional is None
                                     else np.asarray(data.min_notional, np.float64))
        # Each symbol's relative spread for the book of a bar and the sell's reference ask
        # (model/costs.py; zeros: `bar_spread_ticks` ticks), as the paper broker prices it.
        self._spread = np.ascontiguousarray(
            np.zeros(n_symbols) if data.spread is None else data.spread, np.float64)
        # Flat [T * n] layout: row t * n + s is symbol s at minute t (episode start prices).
        self._close = data.close.reshape(-1)
        self._length = length
        self._bars = env_kernel.bar_table(data.open_ms, data.open, data.high, data.low,
                                          data.close, data.volume)  # symbol-major
        self._growth_powers = fill_kernel.level_growth(self.params.book_level_growth,
                                                       self.params.book_levels)
        table = feature_observation(data.features)
        if data.extra is not None:
            extra = np.nan_to_num(data.extra.astype(np.float32), nan=0.0)
            table = np.concatenate([table, extra], axis=-1)
        self.observation_names = (*OBS_FEATURES, *(f"extra_{i}" for i in range(
            0 if data.extra is None else data.extra.shape[2])), *STATE_FEATURES)
        self.observation_size = len(self.observation_names)
        self._feature_width = table.shape[-1]
        self._obs_table = np.ascontiguousarray(  # symbol-major rows, as `self._bars`
            table.transpose(1, 0, 2).reshape(n_symbols * length, -1), np.float32)
        self._first_start, self._last_start = self._start_bounds()
        self._usable = np.flatnonzero(self._first_start <= self._last_start)
        if self._usable.size == 0:
            raise ValueError(
                f"no symbol has {config.warmup_minutes} warm minutes and a "
                f"{config.horizon_minutes}-minute horizon inside {length} rows")
        self._allocate()

    # -- episodes --------------------------------------------------------------------------
    def _start_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per symbol, the first and last minute an episode may start at: warm features
        (the `warm_minutes` column, which also counts history before a split), past the
        data's warm-up rows, a bar present, and room for the whole horizon plus one bar."""
        warm = self.data.features[:, :, -1]  # FEATURE_NAMES ends with warm_minutes
        ok = (warm >= self.config.warmup_minutes) & np.isfinite(self.data.close)
        ok[: self.data.warmup_minutes] = False
        length = ok.shape[0]
        first = np.where(ok.any(axis=0), ok.argmax(axis=0), length).astype(np.int64)
        return first, np.full_like(first, length - 1 - self.config.horizon_minutes)

    def sample_starts(self, n: int, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray]:
        """(start minute index, symbol index) of `n` episodes, uniform over usable symbols
        and then over that symbol's usable start minutes."""
        symbols = self._usable[rng.integers(0, self._usable.size, n)]
        lo, hi = self._first_start[symbols], self._last_start[symbols]
        starts = lo + np.floor(rng.random(n) * (hi - lo + 1)).astype(np.int64)
        return np.minimum(starts, hi), symbols

    def _allocate(self) -> None:
        n = self.n_envs
        self._t = np.zeros(n, np.int64)
        self._t_end = np.zeros(n, np.int64)
        self._sym = np.zeros(n, np.int64)
        self._tick = np.ones(n)
        self._lot = np.ones(n)
        self._min_notional = np.zeros(n)
        self._cash = np.zeros(n)
        self._pos = np.zeros(n)
        self._equity = np.ones(n)
        # Each episode's capital, in quote units, makes the 5% position cap worth 1,000 lots at
        # the start price: a fixed 1.0 would round every order of a high-priced coin to zero
        # lots, and a fixed large sum would dwarf thin BTC-quoted books. Returns are relative.
        self.capital = np.ones(n)
        self._finished = np.zeros(n, bool)
        self._entry_equity = np.ones(n)  # equity when the current position was opened
        self._trade_cost = np.zeros(n)  # quote spent on the current position, fees included
        self._trade_bought = np.zeros(n)  # base bought into the current position
        self._trade_proceeds = np.zeros(n)  # quote received from its sells, after fees
        self._has_order = np.zeros(n, bool)
        self._side = np.zeros(n, np.int8)
        self._price = np.zeros(n)
        self._amount = np.zeros(n)
        self._remaining = np.zeros(n)
        self._queue = np.full(n, np.nan)
        self._reserved = np.full(n, np.inf)  # quote a resting buy holds (the broker's reserve)
        self._fee_prepaid = np.zeros(n)  # fees booked minus their exact amount, this order

    def reset(self, starts: np.ndarray | None = None, symbols: np.ndarray | None = None
              ) -> np.ndarray:
        """Start every env afresh (capital 1.0, flat, no order) and return observations.
        `starts`/`symbols` pin the episodes (the arena replays the same ones for both
        players); otherwise they are drawn from the env's seeded rng."""
        if (starts is None) != (symbols is None):
            raise ValueError("pin both starts and symbols, or neither")
        if starts is None or symbols is None:
            starts, symbols = self.sample_starts(self.n_envs, self._rng)
        starts = np.asarray(starts, np.int64)
        symbols = np.asarray(symbols, np.int64)
        if starts.shape != (self.n_envs,) or symbols.shape != (self.n_envs,):
            raise ValueError(f"starts and symbols must have shape ({self.n_envs},)")
        if np.any((symbols < 0) | (symbols >= self._n_symbols)):
            raise ValueError("symbol index out of range")
        bad = (starts < self._first_start[symbols]) | (starts > self._last_start[symbols])
        if bad.any():
            raise ValueError(f"{int(bad.sum())} pinned starts are outside the usable range")
        self._begin(np.arange(self.n_envs), starts, symbols)
        return self._observe()

    def _begin(self, envs: np.ndarray, starts: np.ndarray, symbols: np.ndarray) -> None:
        self._t[envs], self._sym[envs] = starts, symbols
        self._t_end[envs] = starts + self.config.horizon_minutes
        self._tick[envs], self._lot[envs] = self.data.tick[symbols], self.data.lot[symbols]
        self._min_notional[envs] = self._symbol_min_notional[symbols]
        start_price = self._close[starts * self._n_symbols + symbols]
        full_position = np.maximum(LOTS_AT_FULL_POSITION * self._lot[envs] * start_price,
                                   MIN_NOTIONALS_AT_FULL_POSITION * self._min_notional[envs])
        self.capital[envs] = full_position / (self.config.max_position_pct / 100.0)
        self._cash[envs], self._pos[envs] = self.capital[envs], 0.0
        self._equity[envs] = self._entry_equity[envs] = self.capital[envs]
        for column in (self._trade_cost, self._trade_bought, self._trade_proceeds):
            column[envs] = 0.0
        self._finished[envs] = False
        self._has_order[envs] = False

    # -- stepping --------------------------------------------------------------------------
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """Apply one action per env, match all orders against the next bar, mark equity.

        Returns (obs, reward float32, done bool, info). info arrays: `equity` (after the
        step, before any auto-reset), `fills` (base, + bought / - sold), `fill_notional`,
        `fees`, `position`, `shaping`, `ruined`, `episode_log_return` (NaN unless done).
        Envs already done (when not auto-resetting) stay put: reward 0, done True.
        The arithmetic is `rl.env_kernel.step_envs`, one env at a time."""
        a = np.ascontiguousarray(np.asarray(actions).reshape(self.n_envs), np.int64)
        if a.size and (a.min() < 0 or a.max() >= self.n_actions):
            raise ValueError(f"action index out of range [0, {self.n_actions})")
        n, cfg, p = self.n_envs, self.config, self.params
        reward, done = np.empty(n), np.empty(n, bool)
        info = {name: np.empty(n) for name in ("fills", "fill_notional", "fees", "shaping",
                                                "episode_log_return")}
        info["ruined"] = np.empty(n, bool)
        # What the cost margin needs from before the step; nothing copied without one.
        before = ((self._t.copy(), self._sym.copy(), self._equity.copy())
                  if cfg.cost_margin else None)
        run_sliced(
            env_kernel.step_envs, self._chunks(), a, self._offsets, self._bars, self._length,
            p.max_volume_share, p.through_volume_share, p.maker_fee_bps, p.taker_fee_bps,
            p.book_levels,
            p.book_level_growth, self._growth_powers, p.book_level_spacing_ticks,
            float(p.bar_spread_ticks), self._spread, float(p.bar_book_share),
            cfg.risk_per_trade_pct, cfg.max_position_pct, cfg.stop_pct,
            cfg.target_return_pct / 100.0, cfg.shaping_weight, cfg.reward_scale,
            cfg.ruin_fraction,
            *self._state(),
            reward, done, info["fills"], info["fill_notional"], info["fees"], info["shaping"],
            info["ruined"], info["episode_log_return"])
        info["equity"], info["position"] = self._equity.copy(), self._pos.copy()
        if before is not None:
            rows, symbols, equity_before = before
            event = np.minimum(rows + 1, self._length - 1)  # done envs: no fills
            cost = fill_costs(info["fills"], info["fill_notional"], info["fees"],
                              self.data.open[event, symbols], self._spread[symbols], self._tick,
                              float(p.bar_spread_ticks))
            reward -= margin_penalty(cost, equity_before, cfg.cost_margin, cfg.reward_scale)
        if self.config.auto_reset and done.any():
            envs = np.flatnonzero(done)
            starts, symbols = self.sample_starts(envs.size, self._rng)
            self._begin(envs, starts, symbols)
        return self._observe(), reward.astype(np.float32), done, info

    def _chunks(self) -> int:
        """Slices of envs for numba's threads: one per thread, none under 512 envs (below
        that a thread's start costs more than it saves)."""
        return max(1, min(numba.get_num_threads(), self.n_envs // 512))

    def _state(self) -> tuple[np.ndarray, ...]:
        """The state columns in `env_kernel.step_envs`'s argument order."""
        return (self._t, self._t_end, self._sym, self._tick, self._lot,
                self._min_notional, self._cash, self._pos, self._equity, self.capital,
                self._finished, self._entry_equity, self._trade_cost, self._trade_bought,
                self._trade_proceeds, self._has_order, self._side, self._price, self._amount,
                self._remaining, self._queue, self._reserved, self._fee_prepaid)

    # -- observation -----------------------------------------------------------------------
    def _observe(self) -> np.ndarray:
        """Feature row of (t, symbol), extra columns, then the account state columns."""
        obs = np.empty((self.n_envs, self.observation_size), np.float32)
        run_sliced(env_kernel.observe, self._chunks(), obs, self._obs_table,
                   self._feature_width, self.config.horizon_minutes, self._bars, self._length,
                   self._sym, self._t, self._t_end, self._pos, self._equity, self.capital,
                   self._entry_equity, self._trade_cost, self._trade_bought, self._has_order,
                   self._side, self._price, self._amount, self._remaining)
        return obs
