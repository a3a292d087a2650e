"""A market with a planted cross-sectional edge, for the portfolio league's tests.

Each coin has a hidden regime, +1 or -1, that persists (it flips with probability 8 % per
hour); the coin drifts 0.4 % per hour in its regime's direction, with 0.4 % noise. The
regime of row t is served as an extra observation column at row t (known at the close of
bar t) and drives bar t + 1: a policy that holds the +1 coins and sells the -1 coins earns
the drift after costs, one that ignores the column earns nothing on average. Nothing else
in the observation tells the regime apart as quickly (the 1-day momentum lags it)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from model.fills import FillParams
from model.instruments import Instrument
from risk.limits import RiskLimits
from rl.portfolio_env import PortfolioConfig, PortfolioEnvFactory
from strategies.features_batch import BarGrid
from trading.fast_market import FastMarket, FastSettings

HOUR_MS = 3_600_000
START_MS = 1_600_041_600_000  # a UTC midnight


def planted_market(seed: int, rows: int, coins: int = 8, drift: float = 0.004,
                   noise: float = 0.004) -> tuple[BarGrid, FastMarket, np.ndarray]:
    """(grid, market, extra [rows, coins, 1]) of the planted-edge market."""
    rng = np.random.default_rng(seed)
    regime = np.where(rng.random((rows, coins)) < 0.5, 1.0, -1.0)
    for t in range(1, rows):
        regime[t] = np.where(rng.random(coins) > 0.08, regime[t - 1], -regime[t - 1])
    returns = np.zeros((rows, coins))
    returns[1:] = drift * regime[:-1] + rng.normal(0.0, noise, (rows - 1, coins))
    close = 30.0 * np.exp(np.cumsum(returns, axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.001, (rows, coins))))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.001, (rows, coins))))
    volume = rng.lognormal(8.0, 0.3, (rows, coins))
    symbols = tuple(f"C{j}USDT" for j in range(coins))
    grid = BarGrid(symbols=symbols, start_ms=START_MS, open=open_, high=high, low=low,
                   close=close, quote_volume=volume * close, bar_ms=HOUR_MS)
    instruments = tuple(Instrument(symbol=s, base=s.removesuffix("USDT"), quote="USDT",
                                   tick=Decimal("0.0001"), lot=Decimal("0.001"),
                                   min_notional=Decimal(5), min_qty=Decimal("0.001"),
                                   max_qty=Decimal(9_000_000)) for s in symbols)
    return grid, FastMarket.from_grid(grid, instruments), regime[:, :, None].astype(np.float32)


def planted_factories(seed: int = 1, rows: int = 1500, split: int = 900
                      ) -> tuple[PortfolioEnvFactory, PortfolioEnvFactory]:
    """(training, validation) env factories on disjoint rows of one planted market."""
    grid, market, extra = planted_market(seed, rows)
    settings = FastSettings(fill_params=FillParams(),
                            limits=RiskLimits(min_return_observations=20), bar_ms=HOUR_MS,
                            return_history_bars=48)
    config = PortfolioConfig(horizon_steps=48, warmup_rows=60, reward_scale=1000.0)

    def rows_of(first: int, stop: int) -> PortfolioEnvFactory:
        part = BarGrid(symbols=grid.symbols, start_ms=grid.start_ms + first * HOUR_MS,
                       open=grid.open[first:stop], high=grid.high[first:stop],
                       low=grid.low[first:stop], close=grid.close[first:stop],
                       quote_volume=grid.quote_volume[first:stop], bar_ms=HOUR_MS)
        return PortfolioEnvFactory(part, FastMarket.from_grid(part, market.instruments),
                                   settings, config, extra[first:stop])

    return rows_of(0, split), rows_of(split, rows)
