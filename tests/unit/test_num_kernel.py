"""`protocol.num_parsed`, compiled (exchange/sim/num_kernel.py), against the array form it
replaced (kept here as the oracle) on values of every magnitude and sign, and against the
real strings on tables shaped as the replay's (ticks x fields x symbols)."""

from __future__ import annotations

import numpy as np

from exchange.sim.protocol import _NUM_DOUBT, _NUM_EXACT_FROM, num, num_parsed


def num_parsed_arrays(values: np.ndarray) -> np.ndarray:
    """The numpy form `num_parsed` had before its kernel."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        whole = np.trunc(values)
        scaled = (values - whole) * 1e8
        rounded = np.rint(scaled)
        out = np.copysign((whole * 1e8 + rounded) / 1e8, values)
        margin = 0.5 - np.abs(scaled - rounded)
    exact = np.abs(values) >= _NUM_EXACT_FROM
    np.copyto(out, values, where=exact)
    doubtful = ~(exact | (margin > _NUM_DOUBT))
    for at in zip(*np.nonzero(doubtful), strict=True):
        out[at] = float(num(float(values[at])))
    return out


def test_the_kernel_gives_the_array_forms_floats_bit_for_bit() -> None:
    rng = np.random.default_rng(8)
    magnitudes = 10.0 ** rng.uniform(-12, 20, 200_000)
    values = np.concatenate([
        magnitudes * rng.choice([-1.0, 1.0], magnitudes.size),
        np.round(rng.uniform(-100.0, 100.0, 50_000), 9),  # halves at the ninth decimal
        [0.0, -0.0, np.inf, -np.inf, np.nan, 2.0**26, -(2.0**26), 5e-324, 1e308],
    ])
    assert (num_parsed(values).view(np.int64).tolist()
            == num_parsed_arrays(values).view(np.int64).tolist())


def test_a_ticker_table_keeps_its_shape_and_reads_as_the_strings_do() -> None:
    rng = np.random.default_rng(2)
    table = rng.uniform(0.0, 5e4, (4, 7, 13))
    table[1, 2, 3] = np.nan
    table[3, 0, :] = np.round(table[3, 0, :], 9)
    got = num_parsed(table)
    assert got.shape == table.shape
    expected = np.array([float(num(float(v))) for v in table.ravel()]).reshape(table.shape)
    assert got.view(np.int64).tolist() == expected.view(np.int64).tolist()
    non_contiguous = table[:, ::2, :]
    assert np.array_equal(num_parsed(non_contiguous).view(np.int64),
                          num_parsed(non_contiguous.copy()).view(np.int64))
