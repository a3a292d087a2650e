"""The fast backtester's compiled forward fill gives the numpy definition's arrays, bit for
bit: the marks, the quotes and the SMA signals all read it, so a different value anywhere
would move a decision. Its compiled SMA signal is the engine policy's comparison, decided on
the same sums."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from trading.fast_kernel import sma_above
from trading.fast_policies import forward_filled


def _by_definition(values: np.ndarray) -> np.ndarray:
    """Each column's newest finite value at or before every row (NaN before the first),
    the numpy way: newest finite row index by a running maximum, then one gather."""
    finite = np.isfinite(values)
    index = np.where(finite, np.arange(values.shape[0])[:, None], -1)
    newest = np.maximum.accumulate(index, axis=0)
    filled = values[np.maximum(newest, 0), np.arange(values.shape[1])]
    return np.where(newest >= 0, filled, np.nan)


def _gappy(seed: int, rows: int, columns: int) -> np.ndarray:
    """Prices with NaN runs, +-inf and signed zeros in them."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, columns))
    draw = rng.random((rows, columns))
    values[draw < 0.3] = np.nan
    values[(draw >= 0.3) & (draw < 0.33)] = np.inf
    values[(draw >= 0.33) & (draw < 0.35)] = -np.inf
    values[(draw >= 0.35) & (draw < 0.37)] = -0.0
    return values


@pytest.mark.parametrize(("seed", "rows", "columns"), [(0, 0, 3), (1, 5, 0), (2, 1, 1),
                                                       (3, 40, 4), (4, 300, 7)])
def test_forward_filled_equals_the_numpy_definition_bit_for_bit(seed: int, rows: int,
                                                                columns: int) -> None:
    values = _gappy(seed, rows, columns)
    for layout in (values, values[::2], np.asfortranarray(values), values[:, ::-1]):
        got, expected = forward_filled(layout), _by_definition(layout)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        # Same bits: NaN where no finite value came yet, the signed zeros kept.
        assert np.array_equal(got.view(np.int64), expected.view(np.int64))


def test_forward_filled_keeps_other_dtypes_on_the_numpy_path() -> None:
    values = np.array([[np.nan, 1.0], [2.0, np.nan]], np.float32)
    got = forward_filled(values)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.array([[np.nan, 1.0], [2.0, 1.0]], np.float32))


def _sma_by_the_engine(last: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """strategies.baselines.SmaCrossPolicy's test at every step, in plain Python: a deque
    of the last `slow` finite prices, `sum(history[-fast:]) / fast > sum(history) / slow`."""
    out = np.full(last.shape, -1, np.int8)
    for i in range(last.shape[1]):
        closes: deque[float] = deque(maxlen=slow)
        for k, price in enumerate(last[:, i].tolist()):
            if not np.isfinite(price):
                continue
            closes.append(price)
            if len(closes) == slow:
                history = list(closes)
                out[k, i] = sum(history[-fast:]) / fast > sum(history) / slow
    return out


@pytest.mark.parametrize(("fast", "slow"), [(20, 50), (3, 7), (5, 5), (1, 2), (8, 4)])
@pytest.mark.parametrize("seed", [0, 1])
def test_sma_above_decides_as_the_engine_policy_at_every_step(seed: int, fast: int,
                                                             slow: int) -> None:
    rng = np.random.default_rng(seed)
    # Coarse prices, so that many windows tie and the last bit of each sum decides.
    prices = np.round(100 + np.cumsum(rng.normal(size=(400, 5)), axis=0), 1)
    prices[rng.random(prices.shape) < 0.2] = np.nan
    prices[:, 4] = np.nan  # a symbol that never trades stays -1
    np.testing.assert_array_equal(sma_above(prices, fast, slow),
                                  _sma_by_the_engine(prices, fast, slow))
