"""`MarketState.ticker_tables`, compiled (exchange/sim/ticker_kernel.py), against the array
form it replaced (kept here as the oracle): the same floats, bit for bit, on random minutes
of a market where only some symbols traded, with lots and volumes of every scale."""

from __future__ import annotations

import numpy as np

from exchange.sim.ticker_kernel import ticker_table
from exchange.sim.ticks import floor_to_grid


def ticker_table_oracle(ticks: dict[str, np.ndarray], bar_volume: np.ndarray,
                        bar_quote: np.ndarray, window_volume: np.ndarray,
                        window_quote: np.ndarray, lot: np.ndarray,
                        index: np.ndarray) -> np.ndarray:
    done = ticks["done"]
    volume = window_volume[index] + floor_to_grid(bar_volume * done, lot[index])
    quote = window_quote[index] + bar_quote * done
    return np.stack((ticks["last"], ticks["bid"], ticks["ask"], ticks["bid_qty"],
                     ticks["ask_qty"], volume, quote), axis=1)


def test_the_kernel_gives_the_array_forms_table() -> None:
    rng = np.random.default_rng(12)
    for trial in range(300):
        market, k = int(rng.integers(1, 40)), int(rng.choice([1, 2, 4, 10]))
        index = np.flatnonzero(rng.random(market) < 0.7)
        n = len(index)
        ticks = {name: 10.0 ** rng.uniform(-8, 6, (k, n))
                 for name in ("last", "bid", "ask", "bid_qty", "ask_qty")}
        ticks["done"] = np.repeat(((np.arange(k) + 1) / k)[:, None], n, axis=1)
        bar_volume, bar_quote = 10.0 ** rng.uniform(-4, 9, (2, n))
        lot = 10.0 ** rng.integers(-8, 2, market).astype(np.float64)
        bar_volume = np.round(bar_volume / lot[index]) * lot[index]
        window_volume, window_quote = 10.0 ** rng.uniform(-2, 12, (2, market))
        got = ticker_table(ticks["last"], ticks["bid"], ticks["ask"], ticks["bid_qty"],
                           ticks["ask_qty"], ticks["done"], bar_volume, bar_quote,
                           window_volume, window_quote, lot, index)
        expected = ticker_table_oracle(ticks, bar_volume, bar_quote, window_volume,
                                       window_quote, lot, index)
        assert got.shape == expected.shape
        assert got.view(np.int64).tolist() == expected.view(np.int64).tolist(), trial
