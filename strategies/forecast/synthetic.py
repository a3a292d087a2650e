"""A small seeded random market on a minute grid, for tests and the benchmark.

Log returns are Student-t(4) noise with a little mean reversion (so a model has something
to find) and a per-coin volatility; about 2% of minutes have no trade (NaN), as on thin
Bittrex coins. Not a market model — the simulated exchange (exchange/sim/) is that — just
enough shape to exercise every code path quickly.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from model import libm
from model.market import MINUTE_MS
from strategies.features_batch import MinuteGrid

START_MS = 1_600_000_000_000 - 1_600_000_000_000 % MINUTE_MS


def synthetic_grid(seed: int, n_symbols: int, minutes: int, *, reversion: float = 0.05,
                   gap_share: float = 0.02) -> MinuteGrid:
    """`minutes` 1m bars of `n_symbols` coins named C000BTC, C001BTC, ..."""
    rng = np.random.default_rng(seed)
    sigma = rng.uniform(5e-4, 3e-3, n_symbols)
    noise = rng.standard_t(4, (minutes, n_symbols)) * sigma / np.sqrt(2)
    returns = np.empty_like(noise)
    previous = np.zeros(n_symbols)
    for t in range(minutes):
        previous = noise[t] - reversion * previous
        returns[t] = previous
    close = rng.uniform(0.001, 0.1, n_symbols) * libm.exp(np.cumsum(returns, axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    wiggle = np.abs(rng.normal(0, 1, (2, minutes, n_symbols))) * sigma / 2
    high = np.maximum(open_, close) * (1 + wiggle[0])
    low = np.minimum(open_, close) * (1 - wiggle[1])
    volume = rng.lognormal(3, 1, (minutes, n_symbols))
    gaps = rng.random((minutes, n_symbols)) < gap_share
    gaps[0] = False
    nan = np.where(gaps, np.nan, 1.0)
    return MinuteGrid(symbols=tuple(f"C{i:03d}BTC" for i in range(n_symbols)),
                      start_ms=START_MS, open=open_ * nan, high=high * nan, low=low * nan,
                      close=close * nan, quote_volume=volume * close * nan)


def write_csv_dir(grid: MinuteGrid, folder: Path) -> Path:
    """Write `grid` as `<BASE>_BTC-1m.csv.gz` files (the ../shared/data format)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, symbol in enumerate(grid.symbols):
        traded = np.isfinite(grid.close[:, i])
        lines = ["timestamp_ms,open,high,low,close,volume"]
        for t in np.flatnonzero(traded):
            volume = grid.quote_volume[t, i] / grid.close[t, i]
            lines.append(f"{grid.start_ms + t * MINUTE_MS},{grid.open[t, i]:.8f},"
                         f"{grid.high[t, i]:.8f},{grid.low[t, i]:.8f},{grid.close[t, i]:.8f},"
                         f"{volume:.8f}")
        with gzip.open(folder / f"{symbol.removesuffix('BTC')}_BTC-1m.csv.gz", "wt") as file:
            file.write("\n".join(lines) + "\n")
    return folder
