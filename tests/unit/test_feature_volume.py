"""Quote volume is held at float32 precision by every feature path (ADR-104)."""

from __future__ import annotations

import numpy as np

from strategies.feature_columns import MAX_FEATURE_VOLUME, feature_volume, sanitize_bars
from strategies.rolling import BarRings
from strategies.windows import AVERAGE_WINDOWS, PRICE_CAPACITY


def test_a_volume_keeps_seven_significant_digits_and_rounding_twice_changes_nothing() -> None:
    volumes = np.random.default_rng(3).lognormal(5, 4, 10_000)
    held = feature_volume(volumes)
    assert held.dtype == np.float64
    assert np.all(np.abs(held - volumes) <= volumes * 2.0**-24)
    assert np.array_equal(feature_volume(held), held)


def test_a_volume_beyond_float32_is_held_at_its_largest_value_not_infinity() -> None:
    assert feature_volume(np.array([1e300]))[0] == MAX_FEATURE_VOLUME


def test_sanitized_bars_carry_the_rounded_volume_and_no_volume_stays_zero() -> None:
    volume = np.array([1234567.891, 0.0, np.nan, -3.0, 1e-3])
    _, _, _, held = sanitize_bars(np.ones(5), np.ones(5), np.ones(5), volume)
    assert np.array_equal(held, [feature_volume(1234567.891), 0.0, 0.0, 0.0,
                                 feature_volume(1e-3)])


def test_the_month_ring_holds_four_bytes_a_minute_and_sums_the_rounded_volumes() -> None:
    rings = BarRings(3)
    assert rings.ring_qv.dtype == np.float32
    assert rings.ring_qv.nbytes == 3 * PRICE_CAPACITY * 4
    rng = np.random.default_rng(5)
    volumes = rng.lognormal(8, 2, (300, 3))
    for minute in range(300):
        rings.append_rows(np.arange(3), np.full(3, minute), np.full(3, 10.0),
                          np.full(3, 10.0), np.full(3, 10.0), volumes[minute])
    hour = AVERAGE_WINDOWS.index(60)
    expected = feature_volume(volumes[-60:]).sum(axis=0)
    np.testing.assert_allclose(rings.sum_qv[:, hour], expected, rtol=1e-12)
