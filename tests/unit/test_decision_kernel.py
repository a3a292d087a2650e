"""The compiled decision step against the array forms it stands for, bit for bit.

`FeatureBook.matrix()` runs `assemble_minute_kernel` and `rank()` (1m, no forecast, no
anomaly scores) runs `rank_scores_kernel` (strategies/decision_kernel.py); the numpy
definitions, `assemble(book.primitives())` and `score_features`, stay the oracles. Random
states cover what the branches hinge on: coins without bars or ticks, a day not yet seen,
flat coins (zero volatility, zero volume), crossed and missing quotes, non-finite inputs,
drifts and horizons that need few or the most images. NaNs compare as equal whatever their
payload (no decision reads it); every other value, signed zeros included, must match.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from model.market import Bar, Tick
from strategies.barrier import MAX_IMAGES
from strategies.decision_kernel import (
    _pairwise_sum,
    assemble_minute_kernel,
)
from strategies.feature_columns import FEATURE_NAMES, Primitives, assemble
from strategies.features import FeatureBook
from strategies.ranking import _minute_scores, score_features
from strategies.windows import (
    AVERAGE_WINDOWS,
    RANGE_WINDOWS,
    RETURN_WINDOWS,
    SQUARE_SLOTS_ARRAY,
    window_rows_array,
)

MINUTE_MS = 60_000


def assert_same_bits(kernel: np.ndarray, oracle: np.ndarray) -> None:
    """Equal values, NaN where NaN, and the same sign on every zero."""
    assert kernel.shape == oracle.shape and kernel.dtype == oracle.dtype
    assert np.array_equal(kernel, oracle, equal_nan=True)
    assert np.array_equal(np.signbit(kernel), np.signbit(oracle)) or np.array_equal(
        np.signbit(kernel) | np.isnan(kernel), np.signbit(oracle) | np.isnan(oracle))


@pytest.mark.parametrize("size", [*range(0, 140), 200, 255, 256, 257, 300, 513, 600, 960])
def test_pairwise_sum_is_numpys_sum_bit_for_bit(size: int) -> None:
    rng = np.random.default_rng(size)
    rows = rng.standard_normal((4, size)) * 10.0 ** rng.integers(-8, 8, (4, size))
    rows[0, : size // 2] = -0.0
    expected = rows.sum(axis=-1)
    got = np.array([_pairwise_sum(row, 0, size) for row in rows])
    assert np.array_equal(got.view(np.int64), expected.view(np.int64))


def random_state(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Window statistics and ticks of `n` coins in every corner the formulas branch on."""
    n_seen = rng.choice([0, 1, 2, 3, 59, 61, 1439, 1441, 50_000], n).astype(np.int64)
    minute = rng.integers(1_000, 2_000, n).astype(np.int64)
    close = np.where(rng.random(n) < 0.1, np.nan, rng.lognormal(0, 2, n))
    sums = {name: rng.lognormal(0, 2, (n, len(AVERAGE_WINDOWS))) * (rng.random((n, 1)) < 0.8)
            for name in ("sum_close", "sum_qv")}
    sum_ret = rng.standard_normal((n, len(RETURN_WINDOWS))) * 0.01
    sum_ret[rng.random(n) < 0.1] = 0.0
    sum_ret2 = rng.random((n, len(SQUARE_SLOTS_ARRAY))) * 1e-3 * (rng.random((n, 1)) < 0.9)
    low = rng.lognormal(0, 2, (n, len(RANGE_WINDOWS)))
    high = low * np.where(rng.random((n, 1)) < 0.2, 1.0, 1.05)
    quotes = {name: np.where(rng.random(n) < 0.2, np.nan, rng.lognormal(0, 1, n))
              for name in ("bid", "ask", "bid_qty", "ask_qty", "quote_volume")}
    quotes["bid"][rng.random(n) < 0.1] = 0.0
    quotes["bid_qty"][rng.random(n) < 0.1] = 0.0
    quotes["ask_qty"] = np.where(quotes["bid_qty"] == 0.0, 0.0, quotes["ask_qty"])
    tick_ts = np.where(rng.random(n) < 0.5, (minute + 1) * MINUTE_MS + 5,
                       (minute + 1) * MINUTE_MS - 1)
    tick_ts[rng.random(n) < 0.2] = -1
    tick_last = np.where(rng.random(n) < 0.3, np.nan, rng.lognormal(0, 2, n))
    return dict(n_seen=n_seen, close=close, minute=minute, tick_ts=tick_ts,
                tick_last=tick_last, sum_ret=sum_ret, sum_ret2=sum_ret2, high=high, low=low,
                **sums, **quotes)


def oracle_features(s: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """`assemble(FeatureBook.primitives())` on the same state."""
    bar_close_ms = (s["minute"] + 1) * MINUTE_MS - 1
    tick_is_newer = (s["tick_ts"] > bar_close_ms) | (s["n_seen"] == 0)
    last = np.where(tick_is_newer & np.isfinite(s["tick_last"]), s["tick_last"], s["close"])
    primitives = Primitives(
        n_seen=s["n_seen"].astype(np.float64), close=s["close"], last=last,
        sum_close=s["sum_close"], sum_qv=s["sum_qv"], sum_ret=s["sum_ret"],
        sum_ret2=s["sum_ret2"], high=s["high"], low=s["low"], bid=s["bid"], ask=s["ask"],
        bid_qty=s["bid_qty"], ask_qty=s["ask_qty"], tick_quote_volume=s["quote_volume"])
    return assemble(primitives), last


def kernel_features(s: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    features, last = assemble_minute_kernel(
        s["n_seen"], s["close"], s["minute"], s["tick_ts"], s["tick_last"], s["sum_close"],
        s["sum_qv"], s["sum_ret"], s["sum_ret2"], s["high"], s["low"], s["bid"], s["ask"],
        s["bid_qty"], s["ask_qty"], s["quote_volume"],
        window_rows_array(AVERAGE_WINDOWS, MINUTE_MS),
        window_rows_array(RETURN_WINDOWS, MINUTE_MS), SQUARE_SLOTS_ARRAY,
        AVERAGE_WINDOWS.index(60), AVERAGE_WINDOWS.index(1440), MINUTE_MS, len(FEATURE_NAMES))
    return features, last


@pytest.mark.parametrize("seed", range(20))
def test_assemble_kernel_is_assemble_of_the_primitives_bit_for_bit(seed: int) -> None:
    state = random_state(np.random.default_rng(seed), 64)
    features, last = kernel_features(state)
    expected, expected_last = oracle_features(state)
    assert_same_bits(features, expected)
    assert_same_bits(last, expected_last)


def test_book_matrix_is_assemble_of_its_primitives_after_bars_gaps_and_ticks() -> None:
    rng = np.random.default_rng(7)
    symbols = [f"C{i}USDT" for i in range(12)]
    book = FeatureBook(symbols)

    price = rng.lognormal(0, 1, len(symbols))
    for minute in range(1_000, 1_000 + 1_500):
        bars = []
        for i, symbol in enumerate(symbols):
            if i == 0 or (i == 1 and minute < 1_900) or rng.random() < 0.05:
                continue  # never traded, late listing, a gap
            price[i] *= math.exp(rng.standard_normal() * 0.002) if i != 2 else 1.0
            volume = 0.0 if i == 3 else float(rng.random() * 10)
            bars.append(Bar(symbol, minute * MINUTE_MS, price[i], price[i] * 1.001,
                            price[i] * 0.999, price[i], volume, volume * price[i]))
        book.on_bars(bars)
        book.advance_to(minute * MINUTE_MS)
        if minute % 97 == 0:
            book.on_tick(Tick(symbols[4], minute * MINUTE_MS + 70_000, minute * MINUTE_MS + 70_000,
                              float(price[4]) * 1.01, float(price[4]), float(price[4]) * 1.002,
                              3.0, 1.0, base_volume=1.0, quote_volume=5e6))
    assert_same_bits(book.matrix(), assemble(book.primitives()))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("require_quotes", [True, False])
def test_rank_kernel_is_score_features_bit_for_bit(seed: int, require_quotes: bool) -> None:
    rng = np.random.default_rng(seed)
    features, _ = kernel_features(random_state(rng, 48))
    names = FEATURE_NAMES
    col = {name: i for i, name in enumerate(names)}
    warm = features[:, col["warm_minutes"]]
    features[:, col["warm_minutes"]] = np.where(np.isnan(warm), warm, 2_000.0)  # eligible
    # Trends from noise to sure things, so drifts need few images and many.
    for label in ("1h", "6h", "12h", "1d"):
        features[:, col[f"trend_z_{label}"]] = rng.standard_normal(48) * 10 ** (seed % 4 - 1)
    features[:, col["sigma_1h"]] *= 10.0 ** rng.integers(-4, 1, 48)
    config = SimpleNamespace(top_k=5, target_return_pct=[1.0, 5.0, 0.2][seed % 3],
                             stop_return_pct=[1.0, 100.0, 3.0][seed % 3],
                             horizon_minutes=[60, 1440, 7][seed % 3], min_quote_volume_24h=1.0,
                             max_spread_bps=50.0)
    got = _minute_scores(features, names, config, 1440, require_quotes)
    expected = score_features(features, names, config, require_quotes=require_quotes)
    for field in ("probability", "drift", "sigma", "eligible", "contributions", "returns"):
        assert_same_bits(getattr(got, field), getattr(expected, field))
    assert got.anomaly_shrink is None and expected.anomaly_shrink is None
    assert np.isfinite(got.probability).any() or seed % 3 == 1
    assert MAX_IMAGES == 256  # the pairwise sum above is checked up to 2 * 256 + 1 terms


