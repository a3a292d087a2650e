"""model/first_order_filter.py: scipy's lfilter bits, for the daemon that no longer imports it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from model.first_order_filter import first_order_filter


def _inputs(shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_t(3, size=shape) * 10.0 ** rng.uniform(-6, 2, size=shape)


@pytest.mark.parametrize(("b0", "a1"), [(1.0, -0.97), (1.0, -0.3), (0.05, 0.05 - 1.0),
                                        (2.0 / 21, 2.0 / 21 - 1.0), (1.0, 0.4)])
@pytest.mark.parametrize("shape", [(1000,), (700, 13), (300, 4, 3)])
def test_outputs_and_final_state_are_lfilters_bits(b0: float, a1: float,
                                                   shape: tuple[int, ...]) -> None:
    values = _inputs(shape, seed=len(shape) * 7 + int(abs(a1) * 100))
    zi = _inputs((1, *shape[1:]), seed=99)
    expected, expected_state = lfilter([b0], [1.0, a1], values, axis=0, zi=zi)

    out, state = first_order_filter(b0, a1, values, zi)

    assert out.shape == expected.shape and state.shape == expected_state.shape
    assert out.tobytes() == expected.tobytes()
    assert state.tobytes() == expected_state.tobytes()


def test_chained_short_calls_equal_one_long_call() -> None:
    values = _inputs((1440, 5), seed=3)
    whole, whole_state = first_order_filter(1.0, -0.9, values, np.zeros((1, 5)))

    state = np.zeros((1, 5))
    parts = []
    for start in range(0, 1440, 97):
        part, state = first_order_filter(1.0, -0.9, values[start:start + 97], state)
        parts.append(part)

    assert np.concatenate(parts).tobytes() == whole.tobytes()
    assert state.tobytes() == whole_state.tobytes()


def test_the_inputs_and_the_callers_state_are_left_untouched() -> None:
    values = _inputs((50, 2), seed=5)
    zi = np.array([[0.5, -0.25]])
    before = values.copy(), zi.copy()

    first_order_filter(1.0, -0.5, values, zi)

    assert values.tobytes() == before[0].tobytes() and zi.tobytes() == before[1].tobytes()


def test_a_state_that_does_not_match_the_columns_is_refused_with_what_to_pass() -> None:
    with pytest.raises(ValueError, match="one carried value per column"):
        first_order_filter(1.0, -0.5, np.zeros((10, 3)), np.zeros((1, 2)))
