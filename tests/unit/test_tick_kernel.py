"""The engine's compiled ticker-array steps (strategies/tick_kernel.py) against the array
forms they replaced, kept here as oracles: the bad-print range check says "all inside"
exactly when every row of the array form is, and the feature book's stores leave the same
arrays, bit for bit, with NaN and inf fields, symbols outside the universe and a symbol
twice in one array."""

from __future__ import annotations

import numpy as np

from model.market import MINUTE_MS
from strategies.tick_kernel import last_prices, store_ticks, ticks_inside

ODD = np.array([np.nan, np.inf, -np.inf, 0.0, 1e300])


def noisy(rng: np.random.Generator, n: int, odd_share: float) -> np.ndarray:
    values = 100.0 * (0.5 + rng.random(n))
    odd = rng.random(n) < odd_share
    values[odd] = rng.choice(ODD, odd.sum())
    return values


def inside_oracle(rows: np.ndarray, low: np.ndarray, high: np.ndarray,
                  *columns: np.ndarray) -> np.ndarray:
    """`PrintFilter.admit_batch`'s array form."""
    lo, hi = low[rows], high[rows]
    ok = np.ones(len(rows), dtype=bool)
    for prices in columns:
        ok &= np.isnan(prices) | ((prices >= lo) & (prices <= hi))
    return ok


def test_ticks_inside_agrees_with_the_array_form() -> None:
    rng = np.random.default_rng(11)
    for trial in range(500):
        n_rows = int(rng.integers(1, 30))
        low = np.where(rng.random(n_rows + 1) < 0.3, 0.0, 60.0)
        high = np.where(rng.random(n_rows + 1) < 0.3, np.inf, 140.0)
        n = int(rng.integers(1, 30))
        rows = rng.integers(0, n_rows + 1, n)
        columns = [noisy(rng, n, share) for share in (0.05, 0.02, 0.02)]
        expected = bool(inside_oracle(rows, low, high, *columns).all())
        assert ticks_inside(rows, low, high, *columns) == expected, trial


def store_oracle(rows: np.ndarray, ts_event: np.ndarray, columns: list[np.ndarray],
                 targets: list[np.ndarray], tick_ts: np.ndarray) -> None:
    """`FeatureBook.on_tick_batch`'s array form (rows < 0: outside the universe)."""
    known = rows >= 0
    rows, ts_event = rows[known], ts_event[known]
    for k, (target, values) in enumerate(zip(targets, columns, strict=True)):
        values = values[known]
        finite = np.isfinite(values)
        target[rows[finite]] = values[finite]
        if k == 0:
            tick_ts[rows[finite]] = ts_event[finite]


def test_store_ticks_leaves_the_arrays_the_array_form_leaves() -> None:
    rng = np.random.default_rng(5)
    for trial in range(300):
        n_rows = int(rng.integers(1, 20))
        n = int(rng.integers(1, 30))
        rows = rng.integers(-1, n_rows, n)  # repeats and strangers
        ts_event = rng.integers(0, 10**12, n)
        columns = [noisy(rng, n, 0.2) for _ in range(6)]
        start = [np.where(rng.random(n_rows) < 0.5, np.nan, rng.random(n_rows))
                 for _ in range(6)]
        start_ts = rng.integers(-1, 10**12, n_rows)
        expected, expected_ts = [a.copy() for a in start], start_ts.copy()
        store_oracle(rows, ts_event, columns, expected, expected_ts)
        got, got_ts = [a.copy() for a in start], start_ts.copy()
        store_ticks(rows, ts_event, *columns, got[0], got_ts, *got[1:])
        for a, b in zip(expected, got, strict=True):
            assert a.tobytes() == b.tobytes(), trial
        assert expected_ts.tobytes() == got_ts.tobytes(), trial


def last_oracle(n_seen: np.ndarray, minute: np.ndarray, close: np.ndarray,
                tick_ts: np.ndarray, tick_last: np.ndarray) -> np.ndarray:
    """`FeatureBook._last`'s array form (its definition before the kernel)."""
    bar_close_ms = (minute + 1) * MINUTE_MS - 1
    tick_is_newer = (tick_ts > bar_close_ms) | (n_seen == 0)
    return np.where(tick_is_newer & np.isfinite(tick_last), tick_last, close)


def test_last_prices_pick_the_floats_the_array_form_picks() -> None:
    # given books with and without bars, ticks before, at, just after and long after the
    # bar's close, and NaN, inf and signed-zero ticks and closes
    rng = np.random.default_rng(17)
    odd = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0])
    for trial in range(500):
        n = int(rng.integers(1, 40))
        n_seen = np.where(rng.random(n) < 0.2, 0, rng.integers(1, 5000, n)).astype(np.int64)
        minute = np.where(n_seen == 0, -1, rng.integers(0, 50, n)).astype(np.int64)
        bar_close_ms = (minute + 1) * MINUTE_MS - 1
        tick_ts = bar_close_ms + rng.choice(np.array([-30_000, -1, 0, 1, 5, 90_000]), n)
        tick_ts = np.where(rng.random(n) < 0.1, -1, tick_ts).astype(np.int64)
        close = noisy(rng, n, 0.05)
        tick_last = noisy(rng, n, 0.1)
        tick_last[rng.random(n) < 0.05] = rng.choice(odd)
        # when the kernel picks each symbol's last price
        got = last_prices(n_seen, minute, close, tick_ts, tick_last, MINUTE_MS)
        # then it is the array form's, bit for bit
        expected = last_oracle(n_seen, minute, close, tick_ts, tick_last)
        assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes(), trial
