"""`MarketState.ticker_tables` and `partial_table`, compiled (exchange/sim/ticker_kernel.py),
against the array forms they replaced (kept here as oracles): the same numbers, bit for bit,
on random minutes of a market where only some symbols traded, with lots and volumes of every
scale and the bar done to any share."""

from __future__ import annotations

import numpy as np

from exchange.sim.ticker_kernel import partial_bar_table, ticker_table
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


def partial_columns_oracle(open_: np.ndarray, run_high: np.ndarray, run_low: np.ndarray,
                           last: np.ndarray, bar_volume: np.ndarray, bar_quote: np.ndarray,
                           bar_trades: np.ndarray, done: np.ndarray, lot: np.ndarray,
                           index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`MarketState.partial_columns`, the array form `partial_table` replaced."""
    volume = floor_to_grid(bar_volume * done, lot[index])
    trades = np.maximum(1, np.rint(bar_trades * done).astype(np.int64))
    return np.stack((open_, run_high, run_low, last[index], volume, bar_quote * done)), trades


def test_the_partial_bar_kernel_gives_the_array_forms_bars() -> None:
    rng = np.random.default_rng(21)
    for trial in range(300):
        market = int(rng.integers(1, 40))
        index = np.flatnonzero(rng.random(market) < 0.7)
        n = len(index)
        lot = 10.0 ** rng.integers(-8, 2, market).astype(np.float64)
        open_, high, low, quote = 10.0 ** rng.uniform(-6, 6, (4, n))
        volume = np.round(10.0 ** rng.uniform(-4, 9, n) / lot[index]) * lot[index]
        last = 10.0 ** rng.uniform(-6, 6, market)
        trades = rng.integers(1, 10**6, n)
        done = rng.choice([0.25, 0.5, 0.75, 1.0, 1 / 3], n)
        args = (open_, high, low, last, volume, quote, trades, done, lot, index)
        table, counts = partial_bar_table(*args)
        expected_table, expected_counts = partial_columns_oracle(*args)
        assert table.view(np.int64).tolist() == expected_table.view(np.int64).tolist(), trial
        assert counts.dtype == expected_counts.dtype
        assert counts.tolist() == expected_counts.tolist(), trial
