"""Batched trading environment: thousands of single-symbol spot episodes stepped at once.

One env = one symbol over `horizon_minutes`, starting capital 1.0 (quote), long-only, at most
one resting order. A decision at minute t sees only `features[t]` (bars closed <= t) and the
account; the order it places meets bar t+1 through `exchange.fills.match` (the fill model of
the paper broker and the backtester), all envs' orders in ONE `match` call per step. Orders
are placed at bar t+1's open (`placed_ms = open_ms[t+1]`), so a new order may take at the
synthesized book (taker) or rest and fill on the bar's path (maker); a resting order keeps
its queue position from step to step. Equity is marked at bar t+1's close after fees, and
the reward is log(equity_{t+1} / equity_t), plus optional shaping (see `EnvConfig`).

Sizing is the risk rule of `risk.sizing.size_entry` (confidence 1, stop `stop_pct` below the
entry), vectorized in `size_entries`; a unit test holds the two equal. SELL always offers the
whole position. A new BUY/SELL replaces a resting order and CANCEL_* drops it at once: under
the fill model a cancel requested at a bar boundary stops the order before the next bar (the
bar starts at the cancel time, so the order never meets it), so dropping it here gives the
same result without a second order row.

No randomness except where episodes start (`sample_starts`, from the env's seeded rng), so
the same seed and actions give the same trajectories.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exchange import fills
from exchange.fills import FillParams
from rl.episodes import MarketData
from rl.spaces import (
    DEFAULT_OFFSETS_TICKS,
    OBS_FEATURES,
    STATE_FEATURES,
    action_names,
    decode_actions,
    feature_observation,
)

ACTIONS: tuple[str, ...] = action_names(DEFAULT_OFFSETS_TICKS)
STARTING_CAPITAL = 1.0  # kept for callers that normalize; each env's capital is `env.capital`
LOTS_AT_FULL_POSITION = 1_000  # capital is sized so the max position holds this many lots
_EPS = 1e-9


@dataclass(frozen=True)
class EnvConfig:
    """Episode, sizing, reward and fill-model knobs (percent fields in percent)."""

    horizon_minutes: int = 240
    offsets_ticks: tuple[int, ...] = DEFAULT_OFFSETS_TICKS
    risk_per_trade_pct: float = 2.0
    max_position_pct: float = 5.0
    stop_pct: float = 1.0  # assumed stop distance below the entry, for sizing
    target_return_pct: float = 1.0  # a closed trade earning this scores +1 shaping point
    shaping_weight: float = 0.0  # 0 = pure log-equity reward
    ruin_fraction: float = 0.5  # episode ends when equity <= this share of the start
    maker_fee_bps: float = 10.0
    taker_fee_bps: float = 10.0
    max_volume_share: float = 0.1
    warmup_minutes: int = 1440  # minutes of history a symbol needs before an episode starts
    auto_reset: bool = True  # done envs restart at once (their obs is the new episode's)

    def fill_params(self) -> FillParams:
        """The fill model's knobs; everything not set here is the model's default."""
        return FillParams(max_volume_share=self.max_volume_share,
                          maker_fee_bps=self.maker_fee_bps, taker_fee_bps=self.taker_fee_bps)


def size_entries(equity: np.ndarray, price: np.ndarray, held_value: np.ndarray,
                 tick: np.ndarray, lot: np.ndarray, *, risk_per_trade_pct: float,
                 max_position_pct: float, stop_pct: float,
                 confidence: np.ndarray | float = 1.0) -> np.ndarray:
    """`risk.sizing.size_entry` for many buys at once (float, not Decimal): amount =
    min(equity x risk x confidence / stop distance, max_position share of equity - held)
    / price, with the price floored to the tick and the amount floored to the lot."""
    price = np.floor(price / tick + _EPS) * tick
    risk_notional = equity * (risk_per_trade_pct / 100.0) * confidence / (stop_pct / 100.0)
    room = np.maximum(equity * (max_position_pct / 100.0) - held_value, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        amount = fills.floor_to_lot(np.minimum(risk_notional, room) / price, lot)
    return np.where(price > 0, np.maximum(amount, 0.0), 0.0)


class BatchedEnv:
    """`n_envs` episodes over `data`, stepped together; see the module docstring."""

    def __init__(self, data: MarketData, n_envs: int, config: EnvConfig, seed: int) -> None:
        self.data, self.n_envs, self.config = data, int(n_envs), config
        self.params = config.fill_params()
        self.action_names = action_names(config.offsets_ticks)
        self.n_actions = len(self.action_names)
        self._offsets = np.asarray(config.offsets_ticks, np.float64)
        self._rng = np.random.default_rng(seed)
        length, n_symbols = data.close.shape
        self._n_symbols = n_symbols
        # Flat [T * n] layout: row t * n + s is symbol s at minute t, for gathers and `match`.
        self._close = data.close.reshape(-1)
        self._market = fills.market_from_bars(
            np.repeat(data.open_ms, n_symbols), data.open.reshape(-1), data.high.reshape(-1),
            data.low.reshape(-1), self._close, data.volume.reshape(-1),
            np.tile(data.tick, length), self.params)
        table = feature_observation(data.features)
        if data.extra is not None:
            extra = np.nan_to_num(data.extra.astype(np.float32), nan=0.0)
            table = np.concatenate([table, extra], axis=-1)
        self.observation_names = (*OBS_FEATURES, *(f"extra_{i}" for i in range(
            0 if data.extra is None else data.extra.shape[2])), *STATE_FEATURES)
        self.observation_size = len(self.observation_names)
        # Padded to the full observation width: one contiguous gather per step, then the
        # account columns are written in place (a strided copy costs ~4x more).
        self._feature_width = table.shape[-1]
        self._obs_table = np.zeros((length * n_symbols, self.observation_size), np.float32)
        self._obs_table[:, : self._feature_width] = table.reshape(length * n_symbols, -1)
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
        self._budget = np.full(n, np.inf)

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
        start_price = self._close[starts * self._n_symbols + symbols]
        self.capital[envs] = (LOTS_AT_FULL_POSITION * self._lot[envs] * start_price
                              / (self.config.max_position_pct / 100.0))
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
        Envs already done (when not auto-resetting) stay put: reward 0, done True."""
        active = ~self._finished
        is_buy, is_sell, offset_index, cancel_side = decode_actions(
            np.asarray(actions).reshape(self.n_envs), self._offsets.size)
        is_buy &= active
        is_sell &= active
        self._place_orders(is_buy, is_sell, offset_index, cancel_side)
        signed_fill, notional, fee = self._match(active)

        before = self._equity.copy()
        self._t = np.where(active, self._t + 1, self._t)
        close = self._close[self._t * self._n_symbols + self._sym]
        equity = np.where(active, self._cash + self._pos * close, before)
        self._equity = equity
        reward = np.log(equity / before)
        shaping = self._shaping(active, close)
        reward = reward + self.config.shaping_weight * shaping
        ruined = active & (equity <= self.config.ruin_fraction * self.capital)
        done = (active & ((self._t >= self._t_end) | ruined)) | self._finished
        info = {
            "equity": equity.copy(), "fills": signed_fill, "fill_notional": notional,
            "fees": fee, "position": self._pos.copy(), "shaping": shaping, "ruined": ruined,
            "episode_log_return": np.where(done & active, np.log(equity / self.capital),
                                           np.nan),
        }
        self._finished |= done
        self._has_order &= ~done
        if self.config.auto_reset and done.any():
            envs = np.flatnonzero(done)
            starts, symbols = self.sample_starts(envs.size, self._rng)
            self._begin(envs, starts, symbols)
        return self._observe(), reward.astype(np.float32), done, info

    def _place_orders(self, is_buy: np.ndarray, is_sell: np.ndarray,
                      offset_index: np.ndarray, cancel_side: np.ndarray) -> None:
        """Cancels, then new orders (each replacing any resting one), priced from the last
        close on the tick grid and sized by the risk rule (buys) or the position (sells)."""
        cfg = self.config
        self._has_order &= ~((cancel_side != 0) & (cancel_side == self._side))
        tick, lot = self._tick, self._lot
        close = self._close[self._t * self._n_symbols + self._sym]
        bid_ticks = np.round(close / tick)
        offset = self._offsets[offset_index]
        buy_price = (bid_ticks + offset) * tick
        sell_price = (bid_ticks + self.params.bar_spread_ticks - offset) * tick
        worst_fee = max(cfg.maker_fee_bps, cfg.taker_fee_bps) * 1e-4
        amount = size_entries(self._equity, buy_price, self._pos * close, tick, lot,
                              risk_per_trade_pct=cfg.risk_per_trade_pct,
                              max_position_pct=cfg.max_position_pct, stop_pct=cfg.stop_pct)
        # Like the paper broker's reservation: limit cost plus the worse fee must be in cash.
        affordable = fills.floor_to_lot(self._cash / (buy_price * (1 + worst_fee)), lot)
        buy_amount = np.minimum(amount, np.maximum(affordable, 0.0))
        sell_amount = fills.floor_to_lot(self._pos, lot)
        buy = is_buy & (buy_amount >= lot * (1 - _EPS)) & (buy_price > 0)
        sell = is_sell & (sell_amount >= lot * (1 - _EPS)) & (sell_price > 0)
        new = buy | sell
        self._has_order |= new
        self._side = np.where(buy, fills.BUY, np.where(sell, fills.SELL, self._side)
                              ).astype(np.int8)
        self._price = np.where(buy, buy_price, np.where(sell, sell_price, self._price))
        self._amount = np.where(buy, buy_amount, np.where(sell, sell_amount, self._amount))
        self._remaining = np.where(new, self._amount, self._remaining)
        self._queue = np.where(new, np.nan, self._queue)
        budget = buy_amount * buy_price * (1 + worst_fee) * (1 - 1e-12)  # as _budget()
        self._budget = np.where(buy, budget, np.where(sell, np.inf, self._budget))

    def _match(self, active: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All resting orders against their next bar in one `fills.match` call; settle."""
        n = self.n_envs
        signed_fill, notional, fee = np.zeros(n), np.zeros(n), np.zeros(n)
        envs = np.flatnonzero(self._has_order & active)
        if envs.size == 0:
            return signed_fill, notional, fee
        event = (self._t[envs] + 1) * self._n_symbols + self._sym[envs]
        orders = fills.OrderArrays(
            event=event, side=self._side[envs], is_market=np.zeros(envs.size, bool),
            price=self._price[envs], remaining=self._remaining[envs],
            queue_ahead=self._queue[envs], placed_ms=self._market.start_ms[event],
            cancel_ms=np.full(envs.size, fills.NO_CANCEL_MS, np.int64),
            budget=self._budget[envs], tick=self._tick[envs], lot=self._lot[envs])
        result = fills.match(orders, self._market, self.params)
        buy = orders.side == fills.BUY
        sign = np.where(buy, 1.0, -1.0)
        signed_fill[envs] = sign * result.amount
        notional[envs], fee[envs] = result.notional, result.fee
        was_flat = self._pos[envs] < self._lot[envs] * 0.5
        self._cash[envs] -= sign * result.notional + result.fee
        pos = self._pos[envs] + sign * result.amount
        self._pos[envs] = np.where(pos < self._lot[envs] * 0.5, 0.0, pos)  # no float dust
        opened = was_flat & buy & (result.amount > 0)
        self._entry_equity[envs] = np.where(opened, self._equity[envs],
                                            self._entry_equity[envs])
        self._trade_cost[envs] += np.where(buy, result.notional + result.fee, 0.0)
        self._trade_bought[envs] += np.where(buy, result.amount, 0.0)
        self._trade_proceeds[envs] += np.where(buy, 0.0, result.notional - result.fee)
        self._remaining[envs] = result.remaining
        self._queue[envs] = result.queue_ahead
        self._budget[envs] -= np.where(buy, result.notional + result.fee, 0.0)
        self._has_order[envs] = ~result.done
        return signed_fill, notional, fee

    def _shaping(self, active: np.ndarray, close: np.ndarray) -> np.ndarray:
        """Points for trades that ended this step: clip(trade return / target, -1, 1), for
        a position sold out or still open at the horizon (marked at the close). Nothing for
        entering: only outcomes score. Resets the trade book of envs that closed."""
        in_trade = self._trade_cost > 0
        sold_out = in_trade & (self._pos == 0.0)
        horizon = active & in_trade & (self._t >= self._t_end)
        ended = active & (sold_out | horizon)
        value = self._trade_proceeds + np.where(sold_out, 0.0, self._pos * close)
        with np.errstate(divide="ignore", invalid="ignore"):
            trade_return = np.where(ended, value / self._trade_cost - 1.0, 0.0)
        points = np.clip(trade_return / (self.config.target_return_pct / 100.0), -1.0, 1.0)
        closed = active & sold_out
        for column in (self._trade_cost, self._trade_bought, self._trade_proceeds):
            column[closed] = 0.0
        return np.where(ended, points, 0.0)

    # -- observation -----------------------------------------------------------------------
    def _observe(self) -> np.ndarray:
        """Feature row of (t, symbol), extra columns, then the account state columns."""
        row = self._t * self._n_symbols + self._sym
        obs = np.take(self._obs_table, row, axis=0)
        close = self._close[row]
        equity = self._equity
        in_position = self._pos > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            average_cost = self._trade_cost / self._trade_bought
            unrealized = np.where(in_position & (self._trade_bought > 0),
                                  (close / average_cost - 1.0) * 100.0, 0.0)
        has_order, side = self._has_order, self._side
        filled_share = np.where(has_order & (self._amount > 0),
                                1.0 - self._remaining / np.maximum(self._amount, 1e-300), 0.0)
        columns = (
            self._pos * close / equity,
            np.log(equity / self.capital),
            np.where(in_position, (equity / self._entry_equity - 1.0) * 100.0, 0.0),
            unrealized,
            has_order & (side == fills.BUY),
            has_order & (side == fills.SELL),
            np.where(has_order, (self._price / close - 1.0) * 100.0, 0.0),
            filled_share,
            (self._t_end - self._t) / self.config.horizon_minutes,
        )
        for offset, column in enumerate(columns):  # order = STATE_FEATURES
            obs[:, self._feature_width + offset] = column
        return obs
