"""Seeded multi-coin market generator (pure numpy, no I/O, no clock).

Model, per one-minute step t and coin i:
  regime s_t      Markov chain over {bull, bear, sideways} x {low, high} volatility; high-vol
                  regimes are shorter (mean 12 h) than low-vol ones (mean 36 h)
  market f_t      drift(s_t) + sigma_m * act_t * z_t  (+ rare market-wide jumps)
  shock r_ti      beta_i * f_t + sigma_i * act_t * e_ti  (+ rare coin jumps)
  log price x_ti  x_t = (1 - kappa) x_{t-1} + r_t, a slow pull (half-life 7 days) towards the
                  coin's initial level, so KRW coins stay inside their Upbit tick band
  activity act_t  sqrt(intraday U-profile by UTC hour) * regime volatility multiplier
  volume          U-profile x regime x (0.4 + 0.75 |r| / sigma) x lognormal noise
History is generated in one vectorized pass; `advance()` then steps all coins one minute.
Everything depends only on (seed, coins, history length, start_ms).

Given calibrated `MarketParams`, the bars come from `exchange.sim.market_model` instead (the
same catalog of coins, ticks and lots; bid-ask bounce, clustered volatility, no-trade
minutes as bars absent from the store, like real data's gaps); without them this module's
own model runs, bit for bit as before.
"""

from __future__ import annotations

import math

import numpy as np

from exchange.sim.bars import BarStore, MinuteData
from exchange.sim.catalog import build_catalog
from exchange.sim.cold_rows import release_freed_heap
from exchange.sim.market_model import MarketModel
from exchange.sim.market_params import MarketParams, MarketParamsError
from exchange.sim.ticks import floor_to_grid, round_to_grid, synthesize_ticks
from model import libm
from model.instruments import Instrument
from model.market import MINUTE_MS, BarHistory

REGIMES = ("bull_low", "bull_high", "bear_low", "bear_high", "sideways_low", "sideways_high")
_DRIFT_PER_MIN = np.array([0.03, 0.03, -0.03, -0.03, 0.0, 0.0]) / 1440  # +-3 % a day
_VOL_MULTIPLIER = np.array([0.7, 1.8, 0.7, 1.8, 0.7, 1.8])
_MEAN_DURATION_MIN = np.array([2160, 720, 2160, 720, 2160, 720])
MARKET_VOL_PER_MIN = 0.0007
MEAN_REVERSION_PER_MIN = math.log(2) / (7 * 1440)
MARKET_JUMP_PROB, MARKET_JUMP_SD = 1 / 20_000, 0.015
COIN_JUMP_PROB, COIN_JUMP_SD = 1 / 5_000, 0.02
_HOURS = np.arange(24)
_U_SHAPE = 0.6 + 0.8 * ((_HOURS - 11.5) / 11.5) ** 2
INTRADAY_PROFILE = _U_SHAPE / _U_SHAPE.mean()  # volume multiplier by UTC hour, mean 1
#: Newest minutes the store keeps in RAM: the 24h tickers' window. Spills go a day at a time,
#: so between one and two days are held (plus a day of room); older minutes, read only for
#: REST klines, come from the cold file (at 500 coins each day held costs ~30 MB of RSS).
RAM_MINUTES = 1440
_CHUNK_MIN = 20_000  # keeps (1 - kappa)^-t far from overflow in the AR(1) solve
#: The calibrated model holds ~20 [minutes, coins] arrays at once: a day a pass bounds the
#: peak (500 coins: ~6 MB each; 3-day passes peaked at 837 MB, a day at 612, same time);
#: the bars do not depend on the pass length.
_MODEL_CHUNK_MIN = 1440


class GeneratorSource:
    """A synthetic market: `history_minutes` of bars before `start_ms`, then minute steps."""

    def __init__(
        self, *, seed: int, coins: int, history_minutes: int, start_ms: int, ticks_per_bar: int = 4,
        ram_minutes: int | None = RAM_MINUTES, params: MarketParams | None = None,
    ) -> None:
        """`ram_minutes`: how much of the newest history the bar store keeps in RAM (None:
        all of it); older rows go to an unlinked file in the temp dir (TMPDIR). `params`:
        generate with the calibrated market model (None: this module's regime model)."""
        if start_ms % MINUTE_MS:
            raise ValueError(f"start_ms {start_ms} must be a whole minute (multiple of 60000)")
        root = np.random.default_rng(seed)
        catalog_rng, self._regime_rng, self._rng = root.spawn(3)
        self.seed = seed
        self.ticks_per_bar = ticks_per_bar
        self.specs = build_catalog(coins, catalog_rng, start_ms)
        self.instruments: list[Instrument] = [s.instrument for s in self.specs]
        self.symbols = [i.symbol for i in self.instruments]
        self._index = {s: i for i, s in enumerate(self.symbols)}
        self.tick = np.array([float(i.tick) for i in self.instruments])
        self.lot = np.array([float(i.lot) for i in self.instruments])
        self._beta = np.array([s.beta for s in self.specs])
        self._vol = np.array([s.vol_per_min for s in self.specs])
        self._quote_volume = np.array([s.quote_volume_per_min for s in self.specs])
        self._spread_bps = np.array([s.spread_bps for s in self.specs])
        self._level = libm.log(np.array([s.price for s in self.specs], np.float64))
        self._deviation = np.zeros(len(self.specs))  # log price minus level (latent state)
        first_open = start_ms - history_minutes * MINUTE_MS
        if params is not None and params.bar_minutes != 1:
            raise MarketParamsError(f"parameters fitted on {params.bar_minutes:g}-minute bars "
                                    f"(source: {params.source}); the embedded exchange runs 1m "
                                    "bars: calibrate on a folder of 1m bars")
        self._model = None if params is None else MarketModel(
            params, seed=seed, tick=self.tick, lot=self.lot,
            price=np.array([s.price for s in self.specs]),
            quote_volume_per_min=self._quote_volume, start_ms=first_open)
        if self._model is not None:  # quotes as wide as the bounce the bars carry
            self._spread_bps = self._model.spread_bps()
        self._last_close = round_to_grid(libm.exp(self._level), self.tick)
        self._regime = int(self._regime_rng.integers(len(REGIMES)))
        self._regime_left = self._draw_duration(self._regime)
        # Only the last RAM_MINUTES stay in memory: the rest of the month is read for REST
        # klines only (exchange/sim/cold_rows.py); 500 coins x 31 days is ~800 MB in RAM.
        self.store = BarStore(first_open, len(self.specs), capacity=history_minutes + 1440,
                              tick=self.tick, lot=self.lot, ram_rows=ram_minutes)
        self._regimes = np.zeros(max(history_minutes + 1440, 1), dtype=np.int8)
        self.now_ms = first_open
        if history_minutes:
            self._append(history_minutes)
            release_freed_heap()  # the month's temporaries: ~200 MB at 500 coins

    # -- MarketSource ----------------------------------------------------------------------
    def bars_before(
        self, symbol: str, end_ms: int, limit: int, start_ms: int | None = None
    ) -> BarHistory:
        """Closed bars of `symbol` before `min(end_ms, now_ms)`; see BarStore.history."""
        index = self._index[symbol]
        return self.store.history(symbol, index, min(end_ms, self.now_ms), limit, start_ms)

    def advance(self) -> MinuteData:
        """Generate the next minute for every coin and synthesize its ticks."""
        row = self.store.rows
        self._append(1)
        bars = self.store.minute(row)
        ticks = synthesize_ticks(
            bars, self.tick, self.lot, self._spread_bps, self.ticks_per_bar, self.seed
        )
        return MinuteData(bars=bars, ticks=ticks)

    def spread_bps(self) -> np.ndarray:
        return self._spread_bps

    # -- inspection ------------------------------------------------------------------------
    def regimes(self) -> np.ndarray:
        """Regime index (into REGIMES; with `params`, 0 calm / 1 turbulent) of every stored
        minute, oldest first."""
        return self._regimes[: self.store.rows].copy()

    # -- generation ------------------------------------------------------------------------
    def _draw_duration(self, regime: int) -> int:
        return int(self._regime_rng.geometric(1.0 / _MEAN_DURATION_MIN[regime]))

    def _regime_path(self, minutes: int) -> np.ndarray:
        path = np.empty(minutes, dtype=np.int8)
        done = 0
        while done < minutes:
            run = min(self._regime_left, minutes - done)
            path[done : done + run] = self._regime
            done += run
            self._regime_left -= run
            if self._regime_left == 0:
                others = [r for r in range(len(REGIMES)) if r != self._regime]
                self._regime = others[int(self._regime_rng.integers(len(others)))]
                self._regime_left = self._draw_duration(self._regime)
        return path

    def _append(self, minutes: int) -> None:
        chunk = _CHUNK_MIN if self._model is None else _MODEL_CHUNK_MIN
        for start in range(0, minutes, chunk):
            count = min(chunk, minutes - start)
            row = self.store.rows
            if self._model is None:
                regimes = self._regime_path(count)
                columns, trades = self._bars(count, regimes)
                traded = np.ones_like(trades, dtype=bool)
            else:
                bars = self._model.generate(count)
                regimes, columns, trades, traded = (bars.regimes, bars.columns, bars.trades,
                                                    bars.traded)
            if self._regimes.shape[0] < row + count:
                self._regimes = np.concatenate(
                    [self._regimes, np.zeros(max(row + count, 2 * row), np.int8)]
                )
            self._regimes[row : row + count] = regimes
            self.store.extend(columns, trades, traded)
            self.now_ms += count * MINUTE_MS

    def _bars(self, count: int, regimes: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        rng, n = self._rng, len(self.specs)
        open_ms = self.now_ms + np.arange(count, dtype=np.int64) * MINUTE_MS
        profile = INTRADAY_PROFILE[(open_ms // 3_600_000) % 24]
        activity = np.sqrt(profile) * _VOL_MULTIPLIER[regimes]

        market = _DRIFT_PER_MIN[regimes] + MARKET_VOL_PER_MIN * activity * rng.standard_normal(
            count
        )
        market_jumps = rng.random(count) < MARKET_JUMP_PROB
        market[market_jumps] += rng.normal(0.0, MARKET_JUMP_SD, int(market_jumps.sum()))
        sigma = np.sqrt((self._beta * MARKET_VOL_PER_MIN) ** 2 + self._vol**2)
        shocks = self._beta * market[:, None]
        shocks += self._vol * activity[:, None] * rng.standard_normal((count, n))
        coin_jumps = rng.random((count, n)) < COIN_JUMP_PROB
        shocks[coin_jumps] += rng.normal(0.0, COIN_JUMP_SD, int(coin_jumps.sum()))
        del coin_jumps  # each (count, n) array is 80 MB at 500 coins: drop them once used

        deviation = self._solve_ar1(shocks)
        close = np.maximum(round_to_grid(libm.exp(self._level + deviation), self.tick), self.tick)
        del deviation
        open_ = np.vstack([self._last_close[None, :], close[:-1]])
        self._last_close = close[-1].copy()

        bar_sigma = sigma * activity[:, None]
        up_ext = libm.exp(0.6 * bar_sigma * np.abs(rng.standard_normal((count, n))))
        down_ext = libm.exp(-0.6 * bar_sigma * np.abs(rng.standard_normal((count, n))))
        del bar_sigma
        high = np.ceil(np.maximum(open_, close) * up_ext / self.tick - 1e-9) * self.tick
        del up_ext
        high = np.maximum(high, np.maximum(open_, close))
        low = np.maximum(floor_to_grid(np.minimum(open_, close) * down_ext, self.tick), self.tick)
        del down_ext
        low = np.minimum(low, np.minimum(open_, close))

        coupling = np.minimum(0.4 + 0.75 * np.abs(shocks) / (sigma * activity[:, None]), 8.0)
        del shocks
        noise = libm.exp(0.4 * rng.standard_normal((count, n)) - 0.08)
        regime_volume = np.sqrt(_VOL_MULTIPLIER[regimes])
        quote_target = self._quote_volume * (profile * regime_volume)[:, None] * coupling * noise
        del coupling, noise
        typical = (open_ + high + low + close) / 4.0
        volume = floor_to_grid(quote_target / typical, self.lot)
        del quote_target
        quote_volume = volume * typical
        del typical
        trades = 1 + np.floor(quote_volume / (self._quote_volume / 40.0)).astype(np.int64)
        columns = {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
            "quote_volume": quote_volume,
        }
        return columns, trades

    def _solve_ar1(self, shocks: np.ndarray) -> np.ndarray:
        """x_t = a x_{t-1} + r_t for all t at once: x_t = a^t (x_0 + sum_s a^-s r_s)."""
        a = 1.0 - MEAN_REVERSION_PER_MIN
        steps = np.arange(1, shocks.shape[0] + 1, dtype=np.float64)[:, None]
        growth = a**steps
        deviation = growth * (self._deviation + np.cumsum(shocks / growth, axis=0))
        self._deviation = deviation[-1].copy()
        return deviation
