"""`next_minute_rows` (strategies/rolling_kernel.py) equals the numpy form of
`FeatureBook._on_bar_batch` it replaced, bit for bit: the same test of the rows and the same
clamped highs, lows and quote volumes, NaNs and negatives included."""

from __future__ import annotations

import numpy as np

from strategies.rolling_kernel import next_minute_rows


def _numpy_form(rows: np.ndarray, last_minute: np.ndarray, n_seen: np.ndarray, minute: int,
                close: np.ndarray, high: np.ndarray, low: np.ndarray, volume: np.ndarray,
                quote_volume: np.ndarray) -> tuple[np.ndarray, ...] | None:
    if not (len(rows) and rows.min() >= 0 and bool(np.all(
            (n_seen[rows] == 0) | (last_minute[rows] == minute - 1)))
            and bool(np.all(close > 0)) and bool(np.all(np.isfinite(close)))):
        return None
    quote_volume = np.where(np.isfinite(quote_volume), quote_volume, volume * close)
    return (np.full(len(rows), minute, dtype=np.int64),
            np.where(high >= close, high, close), np.where(low <= close, low, close),
            np.where(quote_volume > 0, quote_volume, 0.0))


def _noisy(rng: np.random.Generator, n: int) -> np.ndarray:
    values = rng.lognormal(0.0, 0.5, n)
    pick = rng.random(n)
    return np.where(pick < 0.1, np.nan, np.where(pick < 0.15, -values,
                                                 np.where(pick < 0.2, np.inf, values)))


def test_the_kernel_equals_the_numpy_form_bit_for_bit() -> None:
    rng = np.random.default_rng(11)
    accepted = 0
    for _ in range(400):
        n = int(rng.integers(0, 6))
        rows = rng.permutation(8)[:n].astype(np.int64)
        if rng.random() < 0.1 and n:
            rows[0] = -1
        n_seen = rng.integers(0, 3, 8).astype(np.int64)
        last_minute = 100 - rng.integers(0, 2, 8).astype(np.int64) * (rng.random() < 0.2)
        close = rng.lognormal(0.0, 0.5, n) if rng.random() < 0.8 else _noisy(rng, n)
        high, low, volume, quote_volume = (_noisy(rng, n) for _ in range(4))
        args = (rows, last_minute, n_seen, 101, close, high, low, volume, quote_volume)
        expected = _numpy_form(*args)
        ok, *got = next_minute_rows(*args)
        assert ok == (expected is not None)
        if expected is not None:
            accepted += 1
            for want, have in zip(expected, got):
                assert want.dtype == have.dtype
                assert want.tobytes() == have.tobytes()
    assert accepted > 100  # both branches ran
