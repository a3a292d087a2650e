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
entry), vectorized in `rl.account.size_entries`; a unit test holds the two equal. The
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

import numpy as np

from exchange import fills
from exchange.fills import FillParams
from rl.account import book_fills, ceil_quantum, size_entries
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
#: The reward scale self-play, walk-forward and bench train with (EnvConfig.reward_scale).
TRAINING_REWARD_SCALE = 1000.0
LOTS_AT_FULL_POSITION = 1_000  # capital is sized so the max position holds this many lots
MIN_NOTIONALS_AT_FULL_POSITION = 100  # ... and is worth at least this many minimum orders
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
    # Multiplies the reward (log-equity change + shaping) and nothing else: `info` (equity,
    # fills, fees, episode_log_return) stays in account units, so arena and evaluation, which
    # read only `info`, judge the same play whatever the scale. Training sets
    # TRAINING_REWARD_SCALE: a 5%-capped step's log return (~1e-4) is far below the value
    # head's initial error, and unscaled PPO learned nothing in a test-sized budget.
    reward_scale: float = 1.0

    def fill_params(self) -> FillParams:
        """The fill model's knobs; everything not set here is the model's default."""
        return FillParams(max_volume_share=self.max_volume_share,
                          maker_fee_bps=self.maker_fee_bps, taker_fee_bps=self.taker_fee_bps)


class BatchedEnv:
    """`n_envs` episodes over `data`, stepped together; see the module docstring."""

    def __init__(self, data: MarketData, n_envs: int, config: EnvConfig, seed: int) -> None:
        self.data, self.n_envs, self.config = data, int(n_envs), config
        self.params = config.fill_params()
        self.action_names = action_names(config.offsets_ticks)
        self.n_actions = len(self.action_names)
        self._offsets = np.asarray(config.offsets_ticks, np.float64)
        self._rng = np.random.default_rng(seed)
        self._action_tables = decode_actions(np.arange(self.n_actions), self._offsets.size)
        length, n_symbols = data.close.shape
        self._n_symbols = n_symbols
        self._symbol_min_notional = (np.zeros(n_symbols) if data.min_notional is None
                                     else np.asarray(data.min_notional, np.float64))
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
        self._row = np.zeros(n, np.int64)  # t * n_symbols + symbol: the env's row now
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
        self._row[envs] = starts * self._n_symbols + symbols

    # -- stepping --------------------------------------------------------------------------
    def _decode(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """`rl.spaces.decode_actions` by table lookup (one gather per output)."""
        a = np.asarray(actions).reshape(self.n_envs)
        if a.size and (a.min() < 0 or a.max() >= self.n_actions):
            raise ValueError(f"action index out of range [0, {self.n_actions})")
        return tuple(table[a] for table in self._action_tables)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """Apply one action per env, match all orders against the next bar, mark equity.

        Returns (obs, reward float32, done bool, info). info arrays: `equity` (after the
        step, before any auto-reset), `fills` (base, + bought / - sold), `fill_notional`,
        `fees`, `position`, `shaping`, `ruined`, `episode_log_return` (NaN unless done).
        Envs already done (when not auto-resetting) stay put: reward 0, done True."""
        active = ~self._finished
        is_buy, is_sell, offset_index, cancel_side = self._decode(actions)
        is_buy &= active
        is_sell &= active
        self._place_orders(is_buy, is_sell, offset_index, cancel_side)
        signed_fill, notional, fee = self._match(active)

        before = self._equity.copy()
        self._t = np.where(active, self._t + 1, self._t)
        self._row = self._t * self._n_symbols + self._sym
        close = self._close[self._row]
        equity = np.where(active, self._cash + self._pos * close, before)
        self._equity = equity
        reward = np.log(equity / before)
        shaping = self._shaping(active, close)
        reward = (reward + self.config.shaping_weight * shaping) * self.config.reward_scale
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
        close on the tick grid and sized by the risk rule (buys) or the position (sells).
        Prices and sizes are computed only for the envs that buy or sell this step."""
        cfg = self.config
        # CANCEL_* drops a resting order of that side; a BUY, or a SELL with anything held,
        # drops whatever rests even when the new order is then refused (as the live policy
        # sends its cancels before the risk gate judges the new order).
        self._has_order &= ~(((cancel_side != 0) & (cancel_side == self._side))
                             | is_buy | (is_sell & (self._pos > 0)))
        buyers, sellers = np.flatnonzero(is_buy), np.flatnonzero(is_sell & (self._pos > 0))
        floor = self._min_notional * (1 - _EPS)
        if buyers.size:
            tick, lot = self._tick[buyers], self._lot[buyers]
            close = self._close[self._row[buyers]]
            price = (np.round(close / tick) + self._offsets[offset_index[buyers]]) * tick
            worst_fee = max(cfg.maker_fee_bps, cfg.taker_fee_bps) * 1e-4
            cash = self._cash[buyers]
            amount = size_entries(self._equity[buyers], price, self._pos[buyers] * close, tick,
                                  lot, risk_per_trade_pct=cfg.risk_per_trade_pct,
                                  max_position_pct=cfg.max_position_pct, stop_pct=cfg.stop_pct)
            # As the paper broker's reservation: limit cost plus the worse fee must be in cash.
            affordable = fills.floor_to_lot(cash / (price * (1 + worst_fee)), lot)
            affordable -= np.where(ceil_quantum(affordable * price * (1 + worst_fee)) > cash,
                                   lot, 0.0)
            amount = np.minimum(amount, np.maximum(affordable, 0.0))
            # The exchange's filters, as the risk gate's `too_small` applies them: at least
            # one lot and at least the minimum notional, or the order is refused (a HOLD).
            ok = ((amount >= lot * (1 - _EPS)) & (price > 0)
                  & (amount * price >= floor[buyers]))
            placed = buyers[ok]
            self._new_order(placed, fills.BUY, price[ok], amount[ok])
            # PaperBroker._reservation: the limit cost with the worse fee, rounded up.
            self._reserved[placed] = ceil_quantum(amount[ok] * price[ok] * (1 + worst_fee))
        if sellers.size:
            tick, lot = self._tick[sellers], self._lot[sellers]
            bid_ticks = np.round(self._close[self._row[sellers]] / tick)
            price = (bid_ticks + self.params.bar_spread_ticks
                     - self._offsets[offset_index[sellers]]) * tick
            amount = fills.floor_to_lot(self._pos[sellers], lot)
            ok = ((amount >= lot * (1 - _EPS)) & (price > 0)
                  & (amount * price >= floor[sellers]))
            placed = sellers[ok]
            self._new_order(placed, fills.SELL, price[ok], amount[ok])
            self._reserved[placed] = np.inf

    def _new_order(self, envs: np.ndarray, side: int, price: np.ndarray,
                   amount: np.ndarray) -> None:
        """Record a fresh order (not yet resting: no queue position) for `envs`."""
        self._has_order[envs] = True
        self._side[envs] = side
        self._price[envs] = price
        self._amount[envs] = amount
        self._remaining[envs] = amount
        self._queue[envs] = np.nan
        self._fee_prepaid[envs] = 0.0

    def _match(self, active: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All resting orders against their next bar in one `fills.match` call; settle."""
        n = self.n_envs
        signed_fill, notional, fee_all = np.zeros(n), np.zeros(n), np.zeros(n)
        envs = np.flatnonzero(self._has_order & active)
        event = self._row[envs] + self._n_symbols  # the next bar of each env
        # A minute without a trade is no market event (the backtester gets no bar for it):
        # resting orders wait for the next real bar with their state, as there.
        traded = self._market.volume[event] > 0
        envs, event = envs[traded], event[traded]
        if envs.size == 0:
            return signed_fill, notional, fee_all
        orders = fills.OrderArrays(
            event=event, side=self._side[envs], is_market=np.zeros(envs.size, bool),
            price=self._price[envs], remaining=self._remaining[envs],
            queue_ahead=self._queue[envs], placed_ms=self._market.start_ms[event],
            cancel_ms=np.full(envs.size, fills.NO_CANCEL_MS, np.int64),
            # PaperBroker._budget: the reservation left plus the fee rounding prepaid so far.
            budget=self._reserved[envs] + self._fee_prepaid[envs],
            tick=self._tick[envs], lot=self._lot[envs])
        result = fills.match(orders, self._market, self.params)
        amount, fill_notional, fee = self._book(result, orders, envs)
        buy = orders.side == fills.BUY
        sign = np.where(buy, 1.0, -1.0)
        signed_fill[envs] = sign * amount
        notional[envs] = fill_notional
        fee_all[envs] = fee
        was_flat = self._pos[envs] < self._lot[envs] * 0.5
        self._cash[envs] -= sign * fill_notional + fee
        pos = self._pos[envs] + sign * amount
        self._pos[envs] = np.where(pos < self._lot[envs] * 0.5, 0.0, pos)  # no float dust
        opened = was_flat & buy & (amount > 0)
        self._entry_equity[envs] = np.where(opened, self._equity[envs],
                                            self._entry_equity[envs])
        self._trade_cost[envs] += np.where(buy, fill_notional + fee, 0.0)
        self._trade_bought[envs] += np.where(buy, amount, 0.0)
        self._trade_proceeds[envs] += np.where(buy, 0.0, fill_notional - fee)
        # What the booking cut (a buy its reservation could not pay) stays open, as there.
        remaining = result.remaining + (result.amount - amount)
        self._remaining[envs] = remaining
        self._queue[envs] = result.queue_ahead
        self._has_order[envs] = ~((remaining < self._lot[envs] * 0.5) | result.canceled)
        return signed_fill, notional, fee_all

    def _book(self, result: fills.FillArrays, orders: fills.OrderArrays, envs: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(amount, notional, fee) per order as the paper broker books the fills
        (`rl.account.book_fills`); updates the buys' reservation and prepaid fees."""
        amount, notional, fee = (np.zeros(len(orders)) for _ in range(3))
        rows = np.flatnonzero(result.amount > 0)  # only orders that filled have fills to book
        if rows.size == 0:
            return amount, notional, fee
        envs = envs[rows]
        buy = orders.side[rows] == fills.BUY
        taker = result.liquidity[rows] == fills.TAKER
        rate = np.where(taker, self.params.taker_fee_bps, self.params.maker_fee_bps) * 1e-4
        booked = book_fills(result.level_price[rows], result.level_amount[rows], buy, rate,
                            orders.lot[rows], np.where(buy, self._reserved[envs], np.inf),
                            self._fee_prepaid[envs], self._cash[envs])
        amount[rows], notional[rows], fee[rows], left, prepaid = booked
        self._reserved[envs] = np.where(buy, left, self._reserved[envs])
        self._fee_prepaid[envs] = prepaid
        return amount, notional, fee

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
        row = self._row
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
