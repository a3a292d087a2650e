"""Small seeded OHLCV folders in the ../shared/data CSV format, for replay tests.

A random walk per coin with volatility clusters; a few minutes are left out (no trade) so the
missing-minute rules are exercised too.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from model import libm

START_MS = 1_700_000_000_000 - 1_700_000_000_000 % 60_000
#: Config overrides for a baseline that must trade on these markets: the entries of before
#: the cost check (any positive edge; strategies/edge.py). A random walk's edges rarely beat
#: a round trip's fees, and tests of the engine, ledger and daemon need orders flowing.
BASELINE_TRADES = {"ENTASIS__TRADING__EDGE_COST_MARGIN": "-1"}


def write_random_walk_market(directory: Path, *, coins: int = 6, minutes: int = 1_600,
                             seed: int = 11, quote: str = "USDT", gaps: int = 3,
                             volume_scale: float = 1.0) -> Path:
    """Write `coins` files `<C>_<quote>-1m.csv.gz` with `minutes` bars each; returns the dir.
    `volume_scale` multiplies every bar's volume (the prices and gaps stay as drawn)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for c in range(coins):
        sigma = 0.002 * libm.exp(np.cumsum(rng.normal(0, 0.02, minutes)))
        log_close = libm.log(20.0 + 30 * c) + np.cumsum(rng.normal(0.00005 * (c - 2), sigma))
        close = libm.exp(log_close)
        open_ = np.r_[close[0], close[:-1]]
        high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, sigma / 2)))
        low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, sigma / 2)))
        volume = rng.lognormal(3, 0.7, minutes) * volume_scale
        keep = np.ones(minutes, dtype=bool)
        if c == 0 and gaps:
            keep[rng.choice(np.arange(1_450, minutes - 1), gaps, replace=False)] = False
        lines = ["timestamp_ms,open,high,low,close,volume"]
        for t in np.flatnonzero(keep):
            lines.append(f"{START_MS + t * 60_000},{open_[t]:.4f},{high[t]:.4f},{low[t]:.4f},"
                         f"{close[t]:.4f},{volume[t]:.3f}")
        name = f"C{c}{chr(65 + c)}A_{quote}-1m.csv.gz"
        with gzip.open(directory / name, "wt") as handle:
            handle.write("\n".join(lines) + "\n")
    return directory
