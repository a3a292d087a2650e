"""The close ring's int32 form: what is read is what was written, bit for bit, in any form."""

from __future__ import annotations

import numpy as np

from strategies.decimal_ring import FLOAT_ROW, DecimalRing


def _bits(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype=np.float64).tobytes()


def test_decimal_string_prices_stay_int32_counts_and_read_back_bit_for_bit() -> None:
    rng = np.random.default_rng(5)
    ring = DecimalRing(3, 50)
    prices = {0: 0.00001234, 1: 42.17, 2: 31_250.5}
    written = np.zeros((3, 50))
    for slot in range(50):
        for row, price in prices.items():
            value = float(f"{price * np.exp(rng.normal(0, 0.01)):.8f}")
            if row > 0:  # coins on a 0.01 and a 0.1 tick
                value = float(f"{value:.{3 - row}f}")
            ring[row, slot] = value
            written[row, slot] = value
    assert ring.rows_on_grid == 3
    assert _bits(ring[np.arange(3)[:, None], np.arange(50)[None, :]]) == _bits(written)
    assert _bits(ring[1, np.arange(50)]) == _bits(written[1])
    assert ring.nbytes < written.nbytes  # 4 bytes a cell, no float64 row in use


def test_a_value_off_the_grid_turns_only_its_row_float64_and_keeps_what_it_held() -> None:
    ring = DecimalRing(2, 4)
    ring[0, 0], ring[0, 1] = 0.5, 0.25
    ring[1, 0] = 1.5
    ring[0, 2] = 1.0 / 3.0  # no decimal string of 8 places reads as this float
    assert ring.scale[0] == FLOAT_ROW and ring.scale[1] > 0
    ring[0, 3] = 0.125
    assert _bits(ring[0, np.arange(4)]) == _bits(np.array([0.5, 0.25, 1.0 / 3.0, 0.125]))
    assert ring[1, 0] == 1.5 and ring[1, 1] == 0.0


def test_nan_negative_zero_and_values_beyond_int32_are_kept_exactly() -> None:
    for odd in (np.nan, -0.0, 3.0e9, np.inf):
        ring = DecimalRing(1, 3)
        ring[0, 0] = 2.5
        ring[0, 1] = odd
        assert ring.scale[0] == FLOAT_ROW
        assert _bits(ring[0, np.arange(3)]) == _bits(np.array([2.5, odd, 0.0]))


def test_a_first_value_leaves_room_for_the_price_to_grow() -> None:
    ring = DecimalRing(1, 2)
    ring[0, 0] = 20.0
    ring[0, 1] = 300.123456  # 15x the first value, 6 decimals: still a count
    assert ring.rows_on_grid == 1
    assert ring[0, 1] == 300.123456


def test_a_ring_of_highs_reads_minus_infinity_where_never_written_in_either_form() -> None:
    ring = DecimalRing(2, 3, fill=-np.inf)
    ring[0, 0] = 0.00012
    ring[0, 1] = -np.inf  # the fill itself is a count of 0: still int32
    assert ring.rows_on_grid == 1
    assert _bits(ring[0, np.arange(3)]) == _bits(np.array([0.00012, -np.inf, -np.inf]))
    assert _bits(ring[1, np.arange(3)]) == _bits(np.full(3, -np.inf))  # never written
    ring[0, 2] = 0.0  # would be count 0, which stands for the fill: float64 for good
    assert ring.rows_on_grid == 0
    assert _bits(ring[0, np.arange(3)]) == _bits(np.array([0.00012, -np.inf, 0.0]))
    assert _bits(ring[np.arange(2)[:, None], np.arange(3)[None, :]]) == _bits(
        np.array([[0.00012, -np.inf, 0.0], [-np.inf, -np.inf, -np.inf]]))
