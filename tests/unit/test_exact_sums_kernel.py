"""The compiled exact re-summation against numpy: the same sums, bit for bit.

`BarRings.recompute_sums` runs strategies/exact_sums_kernel.py; the numpy form it replaced
is kept below as the oracle (`recompute_sums_oracle`). `pairwise_sum` must add as
`np.add.reduce` does at every length (the 8-lane blocks, the splits above 128 values, the
short tails), and a ring recomputed either way must hold identical sums and counts.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from strategies.exact_sums_kernel import array_sum
from strategies.rolling import EXACT_EVERY, BarRings
from strategies.windows import (
    AVERAGE_WINDOWS,
    PRICE_CAPACITY,
    RETURN_CAPACITY,
    RETURN_WINDOWS,
    SQUARE_SLOTS_ARRAY,
)


def recompute_sums_oracle(self: BarRings, row: int) -> None:
    """The numpy form `recompute_sums` had before its compiled kernel."""
    minute, n_seen = int(self.minute[row]), int(self.n_seen[row])
    newest_first = (minute - np.arange(min(n_seen, PRICE_CAPACITY))) % PRICE_CAPACITY
    closes = self.ring_close[row, newest_first]
    volumes = self.ring_qv[row, newest_first].astype(np.float64)
    for k, window in enumerate(AVERAGE_WINDOWS):
        self.sum_close[row, k] = closes[:window].sum()
        self.sum_qv[row, k] = volumes[:window].sum()
        self.nonzero_qv[row, k] = np.count_nonzero(volumes[:window])
    newest_first = (minute - np.arange(min(n_seen, RETURN_CAPACITY))) % RETURN_CAPACITY
    rets = self.ring_ret[row, newest_first]
    for k, window in enumerate(RETURN_WINDOWS):
        self.sum_ret[row, k] = rets[:window].sum()
        self.nonzero_ret[row, k] = np.count_nonzero(rets[:window])
    for j, k in enumerate(SQUARE_SLOTS_ARRAY):
        head = rets[: RETURN_WINDOWS[k]]
        self.sum_ret2[row, j] = (head * head).sum()


def _values(rng: np.random.Generator, kind: int, count: int) -> np.ndarray:
    """Values of several magnitudes, signs and exactness (cancellation shows any reorder)."""
    if kind == 0:
        return rng.standard_normal(count) * 10.0 ** rng.integers(-6, 9, count)
    if kind == 1:
        return np.round(rng.random(count) * 1e6) / 100  # prices on a cent grid
    if kind == 2:
        return np.where(rng.random(count) < 0.5, 0.0, rng.standard_normal(count) * 1e-3)
    return np.array([1e16, 1.0, -1e16, 3.0] * (count // 4 + 1))[:count]


@pytest.mark.parametrize("kind", range(4))
def test_array_sum_adds_as_numpy_at_every_length(kind: int) -> None:
    rng = np.random.default_rng(kind)
    lengths = [*range(0, 300), 511, 512, 513, 1023, 1440, 4097, 10_080, 43_200]
    for count in lengths:
        values = _values(rng, kind, count)
        for length in (count, count // 3):
            expected = values[:length].sum()
            got = array_sum(values, length)
            assert got == expected or (np.isnan(got) and np.isnan(expected)), (count, length)
            assert np.signbit(got) == np.signbit(expected), (count, length)


def test_array_sum_of_signed_zeros_and_non_finite_values_is_numpys() -> None:
    for values in ([-0.0], [-0.0] * 20, [0.0, -0.0], [np.inf, -np.inf], [np.nan, 1.0],
                   [np.inf] * 200, [-0.0] * 200):
        array = np.array(values)
        with np.errstate(invalid="ignore"):  # inf - inf: NaN, as the kernel gives
            expected = array.sum()
        got = array_sum(array, len(values))
        assert (got == expected or (np.isnan(got) and np.isnan(expected)))
        assert np.signbit(got) == np.signbit(expected)


def _fill(rings: BarRings, rng: np.random.Generator, minutes: int) -> None:
    """Random minutes for every row; row 1 starts late, row 2 has fractional-cent closes
    (its ring turns float64), row 3 has stretches of zero volume and flat closes."""
    n = rings.n_seen.shape[0]
    for minute in range(minutes):
        rows = np.array([r for r in range(n) if r != 1 or minute >= minutes // 3], np.int64)
        close = np.round(100 + rng.standard_normal(rows.size).cumsum(), 2)
        close[rows == 2] += rng.random() * 1e-7
        volume = rng.random(rows.size) * 1e4
        if minute % 50 < 20:
            volume[rows == 3] = 0.0
            close[rows == 3] = 50.0
        rings.append_rows(rows, np.full(rows.size, minute, np.int64), close, close + 0.5,
                          close - 0.5, volume)


@pytest.mark.parametrize("minutes", [5, 64, 700, 3000])
def test_recompute_sums_matches_the_numpy_form_bit_for_bit(minutes: int) -> None:
    compiled, oracle = BarRings(4), BarRings(4)
    _fill(compiled, np.random.default_rng(minutes), minutes)
    _fill(oracle, np.random.default_rng(minutes), minutes)
    for row in range(4):
        compiled.recompute_sums(row)
        recompute_sums_oracle(oracle, row)
    for name in ("sum_close", "sum_qv", "nonzero_qv", "sum_ret", "sum_ret2", "nonzero_ret"):
        np.testing.assert_array_equal(getattr(compiled, name), getattr(oracle, name),
                                      strict=True, err_msg=name)
        assert (np.signbit(getattr(compiled, name)) == np.signbit(getattr(oracle, name))).all()


@pytest.mark.parametrize("first_minute", [0, 17, PRICE_CAPACITY - 3])
def test_recompute_sums_of_rings_that_wrapped_around_is_the_numpy_form(first_minute: int) -> None:
    # more minutes than the month ring holds, its newest slot anywhere: the values newest
    # first run back to slot 0 and on from the ring's end
    rng = np.random.default_rng(first_minute)
    rings = BarRings(3)
    for row, minutes in enumerate((PRICE_CAPACITY + 5_000, PRICE_CAPACITY, 2 * RETURN_CAPACITY + 7)):
        close = np.round(100 + rng.standard_normal(minutes).cumsum() * 0.1, 2)
        if row == 0:
            close += 1e-9  # off the decimal grid: its ring holds float64 (decimal_ring.py)
        volume = np.where(rng.random(minutes) < 0.1, 0.0, rng.random(minutes) * 1e4)
        rings.append_many(row, first_minute + row, close, close + 0.5, close - 0.5, volume)
    assert rings.ring_close.rows_on_grid == 2
    oracle = copy.deepcopy(rings)
    for row in range(3):
        for state in (rings, oracle):  # what the recomputation must replace
            state.sum_close[row] = state.sum_qv[row] = state.sum_ret[row] = np.nan
            state.nonzero_qv[row] = state.nonzero_ret[row] = -1
        rings.recompute_sums(row)
        recompute_sums_oracle(oracle, row)
    for name in ("sum_close", "sum_qv", "nonzero_qv", "sum_ret", "sum_ret2", "nonzero_ret"):
        np.testing.assert_array_equal(getattr(rings, name), getattr(oracle, name),
                                      strict=True, err_msg=name)


def test_a_row_never_appended_recomputes_to_zero() -> None:
    rings = BarRings(2)
    rings.recompute_sums(1)
    assert not rings.sum_close.any() and not rings.nonzero_ret.any()
    assert EXACT_EVERY > 1  # the periodic recompute this kernel serves
