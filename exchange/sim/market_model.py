"""The calibrated market model: seeded, vectorized over coins, stateful over minutes.

Per minute t and coin i (parameters from `MarketParams`, coin i using calibrated coin
i mod `params.coins`):
  regime s_t      calm/turbulent Markov chain; scales volatility only (no drift, so it cannot
                  manufacture 4h momentum)
  log-vol         log sigma_ti = log vol_i + a_ti + b_ti - (Va + Vb) + g_t + hour and regime
                  terms; a fast and a slow Gaussian AR(1) component per coin: |r|
                  autocorrelation that decays like real data's (a two-factor stochastic
                  volatility, HAR-like)
  market vol g_t  a market-wide Gaussian AR(1) (`market_vol_var`, `market_vol_persistence`;
                  0 = none) minus its variance, shared by every coin and the factor: on 1h
                  bars most of a coin's |r| is the market's move, and a factor of constant
                  size would leave that part without clustering
  factor h_t      white market shocks taken in through an exponential lag of `factor_lag_min`:
                  one-minute co-movement is weak, hourly co-movement keeps its full size
  efficient m_ti  m_t = level + AR(1) deviation (half-life 7 days) of
                  beta_i h_t + sigma_ti eps_ti (Student-t, unit variance) + rare jumps
  pricing error   u_ti = transient_persistence u_t-1 + transient_vol_ratio sigma_ti z_ti:
                  a short-lived error of the traded price around the quote (thin books
                  swept, a wider effective spread when volatile), taken where the quote
                  refreshes; the mid path does not carry it (on 1h bars it does: there it
                  is an over- or under-reaction of the price that reverts within hours,
                  and real 1h ranges move with it). It reverts within minutes, so 1m price
                  changes mean-revert beyond the one-minute bounce (real variance ratios
                  1h / 60 x 1m of 0.5-0.65) and a spike and its reversal make two large
                  moves in a row (the short-memory part of the |r| autocorrelation)
  quote q_ti      moves to m_t on minutes it refreshes (odds: logit(quote_refresh_prob)
                  + slope * activity), else stays: stale quotes give the zero-return
                  minutes real alt-coin data has
  activity        hour profile + persistent AR(1) + activity_vol_link x log-vol state
  range           on 1m fits the mid's path a little past both ends (`range_reach`); on
                  1h fits a Brownian bridge's extremes between them (`range_bridge`), by way
                  of a point that runs on the bar before's move (`range_run_on`)
  trades          none with prob logistic(logit(no_trade_prob) - slope * activity): a flat
                  bar at the previous close, volume 0, `traded` False; otherwise open at
                  q_{t-1}, close at q_t, each at the bid or the ask (+- half-spread): the
                  bid-ask bounce, a negative lag-1 autocorrelation of returns. The close's
                  side is drawn afresh only where the quote moved: a quiet market repeats
                  its last price (zero returns cluster in quiet spells, as in real data)
  halts           the whole market trades nothing for a run of bars (`halt_share`,
                  `halt_mean_bars`; 0 = none): a venue's outage, apart from any coin's
                  quiet bars (exchange/sim/market_halts.py)
  volume          catalog level x volume_level x hour profile x exp(AR(1) + link to the
                  log-vol state + a modest link to the bar's |move| in sigmas, the
                  market factor's part included)
A step is one bar of `params.bar_minutes` (1, or 60 for a fit on 1h bars): every per-step
quantity is per bar, and the few fixed time constants (the 7-day mean reversion, the
factor's lag in minutes) are converted. Prices lie on each coin's tick grid and volumes
on its lot grid. Every random quantity has its own stream drawn in (step, coin) order and
the recursions carry their state, so `generate(1)` called n times returns the same bits
as `generate(n)` once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from exchange.sim.bar_range import mid_extremes
from exchange.sim.bar_volume import bar_volumes, move_in_sigmas, student_abs_mean
from exchange.sim.market_halts import halt_path
from exchange.sim.market_params import MarketParams
from exchange.sim.ticks import floor_to_grid, round_to_grid
from model import libm
from model.first_order_filter import first_order_filter
from model.market import MINUTE_MS

MEAN_REVERSION_PER_MIN = math.log(2) / (7 * 1440)  # keeps KRW coins inside their tick band
SEED_SALT = 16  # the model's random streams: (seed, salt), apart from the catalog's
_STREAMS = ("vol_fast", "vol_slow", "shock", "jump_at", "jump_size", "factor", "refresh",
            "trade", "volume", "side_open", "side_close", "high", "low", "regime", "initial",
            "transient", "market_vol", "halt")  # appended streams leave the earlier ones' draws unchanged


@dataclass(frozen=True, slots=True)
class ModelBars:
    """`count` minutes x `n` coins of bars; no-trade cells are flat at the previous close
    with volume 0 and `traded` False."""

    open_ms: np.ndarray  # int64 [count]
    columns: dict[str, np.ndarray]  # open, high, low, close, volume, quote_volume [count, n]
    trades: np.ndarray  # int64 [count, n]
    traded: np.ndarray  # bool [count, n]
    regimes: np.ndarray  # int8 [count]: 0 calm, 1 turbulent


class MarketModel:
    """Generates the next minutes of a market of `len(tick)` coins from `params`."""

    def __init__(self, params: MarketParams, *, seed: int, tick: np.ndarray, lot: np.ndarray,
                 price: np.ndarray, quote_volume_per_min: np.ndarray, start_ms: int) -> None:
        """`tick`, `lot`, `price` (initial level), `quote_volume_per_min` (the catalog's
        level): one value per coin; `start_ms` is the first minute's open time."""
        self.bar_minutes = int(params.bar_minutes)
        self.bar_ms = MINUTE_MS * self.bar_minutes
        if start_ms % self.bar_ms:
            raise ValueError(f"start_ms {start_ms} must be on a bar boundary (multiple of "
                             f"{self.bar_ms})")
        self.params = params
        n = len(tick)
        pick = np.arange(n) % params.coins

        def coin(name: str) -> np.ndarray:
            return np.asarray(getattr(params, name), float)[pick]

        self.tick, self.lot = np.asarray(tick, float), np.asarray(lot, float)
        self._vol, self._df = coin("vol_per_min"), coin("tail_df")
        self._jump_prob, self._jump_size = coin("jump_prob"), coin("jump_size")
        self._half_spread = coin("half_spread_bps") * 1e-4
        refresh = np.clip(coin("quote_refresh_prob"), 0.01, 1 - 1e-9)
        self._refresh_logit = libm.log(refresh / (1 - refresh))
        no_trade = np.clip(coin("no_trade_prob"), 1e-9, 0.95)
        self._no_trade_logit = libm.log(no_trade / (1 - no_trade))
        self._volume_base = libm.log(np.asarray(quote_volume_per_min, float)
                                     * coin("volume_level"))
        self._volume_phi, self._volume_noise = coin("volume_persistence"), coin("volume_noise")
        self._volume_link = coin("volume_shock_link")
        self._beta = coin("beta")
        # the bar's whole move in units of the coin's sigma: its own shock and jump and the
        # market factor's part (volume answers a market-wide move too; on 1h bars most of
        # |r| is the factor's), centered by its typical size
        factor_share = (self._beta * params.factor_vol_per_min / self._vol) ** 2
        self._abs_shock_mean = student_abs_mean(self._df) * np.sqrt(1 + factor_share)
        self._level = libm.log(np.asarray(price, float))
        self._hour_volume = libm.log(np.asarray(params.hour_volume_profile, float))
        self._hour_vol = 0.5 * libm.log(np.asarray(params.hour_vol_profile, float))
        self._regime_vol = libm.log(np.asarray(params.regime_vol_multiplier, float))
        self._log_var_sum = params.vol_fast_var + params.vol_slow_var
        factor_lag = params.factor_lag_min
        self._factor_keep = (math.exp(-self.bar_minutes / factor_lag) if factor_lag > 0
                             else 0.0)
        # the lag filter has gain 1: hourly sums keep the factor's full variance, while a
        # single minute keeps only (1 - a) / (1 + a) of it
        self._factor_scale = params.factor_vol_per_min
        # salted: the generator's catalog draws from default_rng(seed)'s own children
        streams = np.random.SeedSequence([seed, SEED_SALT]).spawn(len(_STREAMS))
        self._rng = {name: np.random.default_rng(child)
                     for name, child in zip(_STREAMS, streams, strict=True)}
        self.now_ms = start_ms
        self._state = self._initial_state(n)

    def _initial_state(self, n: int) -> dict[str, np.ndarray]:
        """Recursions start in their stationary law, so the first day is not a calm burn-in."""
        p, rng = self.params, self._rng["initial"]
        fast = np.sqrt(p.vol_fast_var) * rng.standard_normal(n)
        slow = np.sqrt(p.vol_slow_var) * rng.standard_normal(n)
        volume_sd = self._volume_noise / np.sqrt(1 - self._volume_phi**2)
        volume = volume_sd * rng.standard_normal(n)
        close = np.maximum(round_to_grid(libm.exp(self._level), self.tick), self.tick)
        return {
            "fast": p.vol_fast_persistence * fast, "slow": p.vol_slow_persistence * slow,
            "volume": self._volume_phi * volume, "deviation": np.zeros(n),
            "factor": np.zeros(1), "quote": self._level.copy(), "close": close,
            "regime": np.zeros(1), "side": rng.random(n) < 0.5, "transient": np.zeros(n),
            "error": np.zeros(n), "last_move": np.zeros(n),
        }

    def spread_bps(self) -> np.ndarray:
        """Each coin's full quoted spread (twice the bounce's half-spread), bps."""
        return 2e4 * self._half_spread

    # -- generation ------------------------------------------------------------------------
    def generate(self, count: int) -> ModelBars:
        """The next `count` bars (minutes, or hours for params fitted on 1h bars) for every
        coin; the model's state moves past them."""
        if count < 1:
            raise ValueError(f"count must be >= 1, not {count}")
        p, rng = self.params, self._rng
        n = self.tick.shape[0]
        open_ms = self.now_ms + np.arange(count, dtype=np.int64) * self.bar_ms
        hours = (open_ms // 3_600_000) % 24
        regimes = self._regime_path(count)

        fast = self._ar1(rng["vol_fast"].standard_normal((count, n)), p.vol_fast_persistence,
                         p.vol_fast_var, "fast")
        slow = self._ar1(rng["vol_slow"].standard_normal((count, n)), p.vol_slow_persistence,
                         p.vol_slow_var, "slow")
        log_state = fast + slow
        del fast, slow
        common = self._hour_vol[hours] + self._regime_vol[regimes]
        if self.params.market_vol_var > 0:
            common = common + self._market_vol(count)
        sigma = self._vol * libm.exp(log_state - self._log_var_sum + common[:, None])

        shock = rng["shock"].standard_t(self._df, (count, n)) * np.sqrt((self._df - 2) / self._df)
        jump_at = rng["jump_at"].random((count, n)) < self._jump_prob
        jump = np.where(jump_at, rng["jump_size"].standard_normal((count, n)) * self._jump_size,
                        0.0)
        del jump_at
        factor = self._market_factor(count, libm.exp(common))
        efficient = self._beta * factor[:, None] + sigma * shock + jump
        deviation = self._filter(efficient, 1.0 - MEAN_REVERSION_PER_MIN * self.bar_minutes,
                                 "deviation")
        del efficient
        base_activity = self._base_activity(count, hours)
        activity = base_activity + p.activity_vol_link * log_state
        refresh = 1.0 / (1.0 + libm.exp(-p.no_trade_activity_slope * activity
                                        - self._refresh_logit))
        refreshed = rng["refresh"].random((count, n)) < refresh
        pricing_error = self._pricing_error(sigma)
        if self.bar_minutes == 1 or pricing_error is None:  # in the trade prints
            quote = self._quotes(self._level + deviation, refreshed)
            error = self._print_errors(pricing_error, refreshed)
        else:  # an hour's pricing error moves the mid, and so the bar's range
            quote = self._quotes(self._level + deviation + pricing_error, refreshed)
            error = None
        del pricing_error
        del deviation, refresh
        no_trade = 1.0 / (1.0 + libm.exp(p.no_trade_activity_slope * activity
                                         - self._no_trade_logit))
        traded = rng["trade"].random((count, n)) >= no_trade
        if p.halt_share > 0:
            traded &= ~self._halts(count)[:, None]
        del no_trade, activity
        abs_shock = move_in_sigmas(self._beta * factor[:, None], sigma, shock, jump)
        del shock, jump
        log_volume = (self._volume_base + base_activity + p.volume_vol_link * log_state
                      + self._volume_link * (abs_shock - self._abs_shock_mean))
        del base_activity, abs_shock, log_state
        path_sd = (np.sqrt(sigma**2 + (self._beta * self._factor_scale
                                       * libm.exp(common)[:, None])**2)
                   if p.range_bridge > 0 else sigma)
        columns = self._prices(quote, path_sd, traded, refreshed, error)
        del quote, sigma, path_sd, refreshed, error
        columns["volume"], columns["quote_volume"], trades = bar_volumes(
            log_volume, columns, self.lot, traded, self._volume_base)
        self.now_ms += count * self.bar_ms
        return ModelBars(open_ms, columns, trades, traded, regimes)

    def _regime_path(self, count: int) -> np.ndarray:
        """Calm (0) / turbulent (1) per minute; one uniform per minute decides a switch."""
        leave = 1.0 / np.asarray(self.params.regime_mean_minutes, float)
        draws = self._rng["regime"].random(count)
        path = np.empty(count, np.int8)
        regime = int(self._state["regime"][0])
        for t in range(count):
            if draws[t] < leave[regime]:
                regime = 1 - regime
            path[t] = regime
        self._state["regime"][0] = regime
        return path

    def _market_vol(self, count: int) -> np.ndarray:
        """g_t minus its variance (so E exp(2 g) stays 1: the calibrated level is kept), from
        its own stream; the first call draws the state's stationary start there."""
        p, rng = self.params, self._rng["market_vol"]
        if "market_vol" not in self._state:
            self._state["market_vol"] = (p.market_vol_persistence * math.sqrt(p.market_vol_var)
                                         * rng.standard_normal(1))
        path = self._ar1(rng.standard_normal(count), p.market_vol_persistence,
                         p.market_vol_var, "market_vol")
        return path - p.market_vol_var

    def _halts(self, count: int) -> np.ndarray:
        """Whether the whole market is halted each bar (market_halts.halt_path), from its
        own stream; the first call draws the chain's stationary start there."""
        p, rng = self.params, self._rng["halt"]
        if "halt" not in self._state:
            self._state["halt"] = np.array([rng.random() < p.halt_share])
        path, last = halt_path(rng.random(count), bool(self._state["halt"][0]), p.halt_share,
                               p.halt_mean_bars)
        self._state["halt"][0] = last
        return path

    def _ar1(self, normals: np.ndarray, phi: float, variance: float, key: str) -> np.ndarray:
        """A stationary AR(1) of `variance` driven by `normals`, carrying state `key`."""
        return self._filter(normals * math.sqrt(variance * (1 - phi * phi)), phi, key)

    def _filter(self, inputs: np.ndarray, phi: float | np.ndarray, key: str) -> np.ndarray:
        """y_t = phi y_{t-1} + x_t down axis 0, from the carried state (lfilter's zi = phi
        y_prev; scipy's bits without importing scipy.signal), so one long call and many
        short ones give the same bits."""
        if np.ndim(phi) == 0:
            zi = self._state[key].reshape((1, *inputs.shape[1:]))
            out, final = first_order_filter(1.0, -float(phi), inputs, zi)
            self._state[key] = final.reshape(self._state[key].shape)
            return out
        out = np.empty_like(inputs)  # one coefficient per coin: step the rows (same order
        state = self._state[key]    # of operations whatever the call's length)
        for row in range(inputs.shape[0]):
            out[row] = inputs[row] + state
            state = phi * out[row]
        self._state[key] = state
        return out

    def _market_factor(self, count: int, scale: np.ndarray) -> np.ndarray:
        """The factor's one-minute return: white shocks (scaled by hour and regime) through
        an exponential lag."""
        shocks = self._rng["factor"].standard_normal(count) * self._factor_scale * scale
        keep = self._factor_keep
        return self._filter(shocks * (1.0 - keep), keep, "factor") if keep else shocks

    def _pricing_error(self, sigma: np.ndarray) -> np.ndarray | None:
        """The transient pricing error u (an AR(1) whose innovation scales with sigma_t);
        None, with no draws, when the parameters have none (older fits keep their bits)."""
        ratio = self.params.transient_vol_ratio
        if ratio <= 0:
            return None
        normals = self._rng["transient"].standard_normal(sigma.shape)
        return self._filter(normals * sigma * ratio, self.params.transient_persistence,
                            "transient")

    def _quotes(self, efficient: np.ndarray, refreshed: np.ndarray) -> np.ndarray:
        """The log mid quoted each minute: the efficient price where the quote refreshed,
        else the last quote (carried across calls)."""
        rows = np.arange(efficient.shape[0])[:, None]
        last = np.maximum.accumulate(np.where(refreshed, rows, -1), axis=0)
        columns = np.broadcast_to(np.arange(efficient.shape[1]), last.shape)
        quote = np.where(last >= 0, efficient[np.maximum(last, 0), columns],
                         self._state["quote"])
        return quote

    def _close_sides(self, buys: np.ndarray, refreshed: np.ndarray) -> np.ndarray:
        """True where the minute's last trade is at the ask: a fresh side where the quote
        moved, else the previous minute's (a quiet market repeats its last price, so quiet
        stretches read as zero returns, as real alt-coin minutes do)."""
        rows = np.arange(buys.shape[0])[:, None]
        last = np.maximum.accumulate(np.where(refreshed, rows, -1), axis=0)
        columns = np.broadcast_to(np.arange(buys.shape[1]), last.shape)
        sides = np.where(last >= 0, buys[np.maximum(last, 0), columns], self._state["side"])
        self._state["side"] = sides[-1].copy()
        return sides

    def _base_activity(self, count: int, hours: np.ndarray) -> np.ndarray:
        """Log activity around the coin's level before the volatility state's part: the
        hour profile and persistent AR(1) noise."""
        noise = self._rng["volume"].standard_normal((count, self.tick.shape[0]))
        persistent = self._filter(noise * self._volume_noise, self._volume_phi, "volume")
        return self._hour_volume[hours][:, None] + persistent

    def _print_errors(self, errors: np.ndarray | None, refreshed: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray] | None:
        """The pricing error each minute's trades carry, and the previous minute's (the
        open's): the error drawn at the last refresh, so a quiet market still repeats its
        last price; None without a pricing error."""
        if errors is None:
            return None
        rows = np.arange(errors.shape[0])[:, None]
        last = np.maximum.accumulate(np.where(refreshed, rows, -1), axis=0)
        columns = np.broadcast_to(np.arange(errors.shape[1]), last.shape)
        carried = np.where(last >= 0, errors[np.maximum(last, 0), columns], self._state["error"])
        previous = np.vstack([self._state["error"][None, :], carried[:-1]])
        self._state["error"] = carried[-1].copy()
        return carried, previous

    def _last_moves(self, quote: np.ndarray, previous: np.ndarray) -> np.ndarray | None:
        """Each bar's previous bar's mid move (the run-on's), carried across calls; None
        without a run-on (the 1m embedded exchange pays nothing for it)."""
        if self.params.range_run_on <= 0 or self.params.range_bridge <= 0:
            return None
        moves = quote - previous
        last_move = np.vstack([self._state["last_move"][None, :], moves[:-1]])
        self._state["last_move"] = moves[-1].copy()
        return last_move

    def _prices(self, quote: np.ndarray, path_sd: np.ndarray, traded: np.ndarray,
                refreshed: np.ndarray, error: tuple[np.ndarray, np.ndarray] | None
                ) -> dict[str, np.ndarray]:
        """OHLC on the tick grid: open and close at the bid or the ask around the quote; a
        minute whose quote moved also trades along the mid's path, past both ends (the
        `bar_range.mid_extremes`); flat bars at the previous close where nothing traded. `path_sd`
        is the mid path's diffusive sd over the bar (sigma, and with a bridge range the
        market factor's part too)."""
        rng, count = self._rng, quote.shape[0]
        previous = np.vstack([self._state["quote"][None, :], quote[:-1]])
        last_move = self._last_moves(quote, previous)
        self._state["quote"] = quote[-1].copy()
        half = self._half_spread
        side_open = np.where(rng["side_open"].random(quote.shape) < 0.5, half, -half)
        side_close = self._close_sides(rng["side_close"].random(quote.shape) < 0.5, refreshed)
        side_close = np.where(side_close, half, -half)
        open_log, close_log = previous + side_open, quote + side_close
        if error is not None:  # trades print off the quote by the pricing error; the mid
            close_log = close_log + error[0]  # path (and so the range's reach) does not
            open_log = open_log + error[1]
        mid_high, mid_low = mid_extremes(self.params, rng["high"], rng["low"], previous, quote,
                                         path_sd, last_move)
        del last_move
        high_log = np.maximum(open_log, close_log)
        high_log = np.where(refreshed, np.maximum(high_log, mid_high), high_log)
        low_log = np.minimum(open_log, close_log)
        low_log = np.where(refreshed, np.minimum(low_log, mid_low), low_log)
        del mid_high, mid_low
        tick = self.tick
        open_ = np.maximum(round_to_grid(libm.exp(open_log), tick), tick)
        close = np.maximum(round_to_grid(libm.exp(close_log), tick), tick)
        high = np.maximum(np.ceil(libm.exp(high_log) / tick - 1e-9) * tick,
                          np.maximum(open_, close))
        low = np.minimum(np.maximum(floor_to_grid(libm.exp(low_log), tick), tick),
                         np.minimum(open_, close))
        # no trade: every price is the last close, carried forward across quiet minutes
        rows = np.arange(count)[:, None]
        last = np.maximum.accumulate(np.where(traded, rows, -1), axis=0)
        columns = np.broadcast_to(np.arange(quote.shape[1]), last.shape)
        flat = np.where(last >= 0, close[np.maximum(last, 0), columns], self._state["close"])
        self._state["close"] = flat[-1].copy()
        return {name: np.where(traded, values, flat)
                for name, values in (("open", open_), ("high", high), ("low", low),
                                     ("close", close))}
