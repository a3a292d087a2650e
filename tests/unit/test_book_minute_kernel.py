"""A decision step's minute in one compiled call (strategies/book_minute_kernel.py) does what
`on_bars`, `advance_to` and `matrix()` do, bit for bit: two books fed the same minutes, one
each way, hold the same rings, sums and range lines and give the same matrix every minute,
through first bars, late listings, coins without a bar (flat-filled), gaps and bad closes
(refused: the caller goes the usual way), decimal and float closes, ticks, and the periodic
exact re-summation. The kernel carries the stamp of the files it inlines."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from model.market import MINUTE_MS, BarBatch, Tick
from strategies import book_minute_kernel
from strategies.features import FeatureBook

ROOT = Path(__file__).resolve().parents[2]
STATE = ("minute", "first_minute", "n_seen", "close", "ring_qv", "ring_ret", "ring_simple",
         "block_high", "block_low", "sum_close", "sum_qv", "nonzero_qv", "sum_ret",
         "sum_ret2", "nonzero_ret", "high", "low")
RINGS = ("ring_close", "ring_high", "ring_low")


def test_the_kernel_carries_the_stamp_of_the_code_it_inlines() -> None:
    digest = hashlib.sha256()
    for name in book_minute_kernel.INLINED_SOURCES:
        digest.update((ROOT / name).read_bytes())
    expected = digest.hexdigest()[:16]
    assert expected == book_minute_kernel.INLINED_SOURCES_SHA256, (
        f"{', '.join(book_minute_kernel.INLINED_SOURCES)} changed: set "
        f'INLINED_SOURCES_SHA256 = "{expected}" in strategies/book_minute_kernel.py, so '
        f"numba recompiles the book's minute")


def assert_same_book(got: FeatureBook, expected: FeatureBook) -> None:
    for name in STATE:
        a, b = getattr(got._bars, name), getattr(expected._bars, name)
        assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), name
    for name in RINGS:
        for a, b in zip(getattr(got._bars, name).parts[:3], getattr(expected._bars, name).parts[:3],
                        strict=True):
            assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), name


def minute_batch(rng: np.random.Generator, symbols: list[str], minute: int,
                 price: np.ndarray) -> BarBatch:
    """The minute's bars of a random subset of the symbols, in a random order: row 0 lists
    from minute 40, row 1 trades rarely, row 2 closes off the decimal grid now and then."""
    keep = [i for i in range(len(symbols))
            if (i != 0 or minute >= 40) and (i != 1 or rng.random() < 0.3)
            and rng.random() < 0.97]
    rng.shuffle(keep)
    index = np.array(keep, dtype=np.int64)
    price *= np.exp(rng.standard_normal(len(symbols)) * 0.003)
    close = np.round(price[index], 4)
    close[index == 2] += rng.choice([0.0, 1e-9])
    if rng.random() < 0.03 and index.size:
        close[0] = rng.choice([np.nan, 0.0, -1.0])  # refused: the bars go one by one
    volume = np.where(rng.random(index.size) < 0.2, 0.0, rng.random(index.size) * 10)
    quote_volume = np.where(rng.random(index.size) < 0.1, np.nan, volume * close)
    return BarBatch(tuple(symbols[i] for i in keep), minute * MINUTE_MS, close.copy(),
                    close * (1 + rng.random(index.size) * 1e-3), close * 0.999, close,
                    volume, quote_volume, np.ones(index.size, dtype=np.int64))


@pytest.mark.parametrize("seed", range(4))
def test_close_minute_matrix_is_on_bars_advance_to_and_matrix_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    symbols = [f"C{i}USDT" for i in range(9)]
    usual, fused = FeatureBook(symbols), FeatureBook(symbols)
    price = rng.lognormal(3, 1, len(symbols))
    outcomes = []
    minute = 1_000
    while minute < 1_000 + 400:
        batch = minute_batch(rng, symbols, minute, price)
        decided_at = minute + (1 if rng.random() < 0.05 else 0)  # a minute with no bars
        usual.on_bars(batch)
        usual.advance_to(decided_at * MINUTE_MS)
        expected = usual.matrix()
        applied, features = fused.close_minute_matrix(batch, decided_at * MINUTE_MS)
        outcomes.append((applied, features is not None))
        if not applied:  # the caller's usual way, as the engine's
            fused.on_bars(batch)
        if features is None:
            fused.advance_to(decided_at * MINUTE_MS)
            features = fused.matrix()
        assert np.array_equal(features.view(np.uint8), expected.view(np.uint8))
        assert_same_book(fused, usual)
        if rng.random() < 0.1:
            tick = Tick(symbols[3], (minute + 1) * MINUTE_MS + 5, (minute + 1) * MINUTE_MS + 5,
                        float(price[3]), float(price[3]) * 0.999, float(price[3]) * 1.001,
                        2.0, 1.0, 1.0, 1e6)
            usual.on_tick(tick)
            fused.on_tick(tick)
        minute = decided_at + 1
    # every way through was taken: all in one call, flat-filled after it, refused
    assert {(True, True), (True, False), (False, False)} <= set(outcomes)
    assert (usual._bars.n_seen > 64).all()  # the exact re-summation ran for every coin
