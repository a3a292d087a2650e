"""A block's ticks, compiled (exchange/sim/tick_block_kernel.py), against their array form
(`ticks.tick_table`, kept as the definition): the same numbers, bit for bit, on random
blocks of bars at every price scale, with untraded cells (zeros), NaN, inf, negative and
signed-zero values, odd tick and lot grids, and one to six ticks a bar. A NaN is a NaN
wherever the array form has one (which of two NaN operands an operation passes on, and so
the sign a NaN carries, is the compiler's and the CPU's choice; no check reads it)."""

from __future__ import annotations

import numpy as np

from exchange.sim.tick_block_kernel import tick_block_table
from exchange.sim.ticks import (
    BOOK_SHARE_OF_BAR_VOLUME,
    NOISE_SCALES,
    SPREAD_RANGE_WIDENING,
    TICK_FIELDS,
    path_positions,
    tick_table,
)


def compiled(fields: dict[str, np.ndarray], trades: np.ndarray, tick: np.ndarray,
             lot: np.ndarray, bps: np.ndarray, noise: np.ndarray, k: int) -> np.ndarray:
    minutes, symbols = trades.shape
    out = np.empty((minutes, len(TICK_FIELDS), k, symbols))
    position = path_positions(k) * 3.0
    leg = np.minimum(position.astype(np.int64), 2)
    tick_block_table(out, fields["open"], fields["high"], fields["low"], fields["close"],
                     fields["volume"], trades, tick, lot, bps, noise, np.array(NOISE_SCALES),
                     leg, position - leg, SPREAD_RANGE_WIDENING, BOOK_SHARE_OF_BAR_VOLUME)
    return out


def random_block(rng: np.random.Generator, odd: float) -> tuple:
    minutes, symbols, k = int(rng.integers(1, 8)), int(rng.integers(1, 9)), int(rng.integers(1, 7))
    tick = 10.0 ** rng.integers(-8, 1, symbols).astype(np.float64)
    lot = 10.0 ** rng.integers(-8, 2, symbols).astype(np.float64)
    price = 10.0 ** rng.uniform(-6, 5, (minutes, symbols))
    o, c = (np.round(price * rng.uniform(0.97, 1.03, price.shape) / tick) * tick
            for _ in range(2))
    h = np.maximum(o, c) + tick * rng.integers(0, 50, price.shape)
    lw = np.maximum(np.minimum(o, c) - tick * rng.integers(0, 50, price.shape), tick)
    volume = np.floor(10.0 ** rng.uniform(-3, 8, price.shape) / lot) * lot
    fields = {"open": o, "high": h, "low": lw, "close": c, "volume": volume}
    trades = rng.integers(0, 10**5, price.shape).astype(np.int64)
    untraded = rng.random(price.shape) < 0.2
    for column in fields.values():
        column[untraded] = 0.0
        spoiled = rng.random(price.shape) < odd
        column[spoiled] = rng.choice([np.nan, np.inf, -np.inf, -1.0, -0.0, 0.0, 1e300],
                                     int(spoiled.sum()))
    trades[untraded] = 0
    bps = rng.uniform(0.5, 30, symbols)
    noise = rng.standard_normal((minutes, len(NOISE_SCALES), k, symbols))
    noise[rng.random(noise.shape) < odd / 4] = 40.0  # exp(...) overflows to inf
    return fields, trades, tick, lot, bps, noise, k


def test_the_compiled_block_is_the_array_forms() -> None:
    rng = np.random.default_rng(41)
    for trial in range(1500):
        args = random_block(rng, float(rng.choice([0.0, 0.0, 0.02, 0.2])))
        got, want = compiled(*args), tick_table(*args)
        assert got.shape == want.shape
        nan = np.isnan(want)
        assert np.array_equal(np.isnan(got), nan), trial
        assert got[~nan].view(np.int64).tolist() == want[~nan].view(np.int64).tolist(), trial


def test_a_clean_block_is_the_array_forms_bit_for_bit_nan_free() -> None:
    rng = np.random.default_rng(42)
    for trial in range(300):
        args = random_block(rng, 0.0)
        got, want = compiled(*args), tick_table(*args)
        assert not np.isnan(want).any()
        assert got.view(np.int64).tolist() == want.view(np.int64).tolist(), trial
