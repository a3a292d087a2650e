"""The parser's compiled table checks (exchange/feeds/parse_kernel.py, behind
`binance_parse.ticker_rows_valid` and `kline_values_valid`) against the array forms they
replaced, kept here as oracles: random tables with zero, negative, NaN, inf, crossed quotes
and times out of range, in every shape the callers use (one frame, a minute of frames with
one time each, times per row, a transposed table, no rows)."""

from __future__ import annotations

import numpy as np

from exchange.feeds.binance_parse import MAX_TS_MS, kline_values_valid, ticker_rows_valid
from exchange.feeds.sanity import MAX_PRICE

ODD = np.array([0.0, -0.0, -1.0, np.nan, np.inf, -np.inf, 2e12])


def ticker_rows_oracle(ts_event: np.ndarray, table: np.ndarray) -> np.ndarray:
    good = np.isfinite(table).all(axis=-2) & (table >= 0.0).all(axis=-2)
    good &= (table[..., 1, :] <= table[..., 2, :]) & (ts_event >= 0) & (ts_event <= MAX_TS_MS)
    return good


def kline_oracle(prices: np.ndarray, volumes: np.ndarray) -> np.ndarray:
    o, h, low, c = prices
    good = np.isfinite(prices).all(axis=0) & (prices >= 0.0).all(axis=0)
    good &= np.isfinite(volumes).all(axis=0) & (volumes >= 0.0).all(axis=0)
    good &= (low <= np.minimum(o, c)) & (np.maximum(o, c) <= h)
    good &= (low > 0.0) & (h <= MAX_PRICE)
    return good


def noisy(rng: np.random.Generator, shape: tuple[int, ...], share: float) -> np.ndarray:
    values = 100.0 * rng.random(shape)
    odd = rng.random(shape) < share
    values[odd] = rng.choice(ODD, int(odd.sum()))
    return values


def times(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.choice([-1, 0, 1_700_000_000_000, MAX_TS_MS, MAX_TS_MS + 1], shape)


def test_ticker_rows_valid_agrees_with_the_array_form_in_every_shape() -> None:
    rng = np.random.default_rng(1)
    for trial in range(300):
        n, frames = int(rng.integers(0, 25)), int(rng.integers(1, 6))
        share = float(rng.choice([0.0, 0.01, 0.1]))
        one = noisy(rng, (7, n), share)
        minute = noisy(rng, (frames, 7, n), share)
        cases = [(times(rng, (n,)), one), (times(rng, (frames, 1)), minute),
                 (times(rng, (frames, n)), minute), (times(rng, (n,)), minute),
                 (times(rng, (n,)), noisy(rng, (n, 7), share).T)]
        for ts, table in cases:
            got = ticker_rows_valid(ts, table)
            assert np.array_equal(got, ticker_rows_oracle(ts, table)), trial


def test_kline_values_valid_agrees_with_the_array_form() -> None:
    rng = np.random.default_rng(2)
    for trial in range(300):
        n = int(rng.integers(0, 30))
        values = noisy(rng, (6, n), float(rng.choice([0.0, 0.02, 0.1])))
        shuffle = rng.random(n) < 0.7  # most with high/low bracketing open/close
        prices = values[:4]
        prices[1, shuffle] = prices[:, shuffle].max(axis=0)
        prices[2, shuffle] = prices[:, shuffle].min(axis=0)
        got = kline_values_valid(values[:4], values[4:])
        assert np.array_equal(got, kline_oracle(values[:4], values[4:])), trial
