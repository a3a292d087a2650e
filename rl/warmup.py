"""Compile the numba kernels (fill model, RL env step) ahead of use.

The first call of a numba function compiles it (seconds on a busy 2-core machine) and
writes the result to numba's on-disk cache, which later processes load in well under a
second. Calling this once early (the test session does; `python -m rl.warmup` does it by
hand, e.g. after installing a service) keeps that cost out of start-up deadlines.
"""

from __future__ import annotations

import numpy as np

from model import fills
from model.fills import FillParams


def compile_kernels() -> None:
    """Run the fill model and a tiny env for one step each (compiles or loads the cache)."""
    from rl.env import BatchedEnv, EnvConfig
    from rl.episodes import MarketData

    params = FillParams()
    market = fills.market_from_bars([0], [1.0], [1.0], [1.0], [1.0], [1.0], [0.01], params)
    fills.match(fills.orders([0], [fills.BUY], [1.0], [1.0], 0.01, 1.0), market, params)
    data = MarketData.from_generator(1, 1, 120, warmup_minutes=10)
    env = BatchedEnv(data, 2, EnvConfig(horizon_minutes=5, warmup_minutes=10), seed=0)
    env.reset()
    env.step(np.zeros(2, np.int64))


if __name__ == "__main__":
    compile_kernels()
