"""The compiled gap scan equals the array form it replaces, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from risk.var import ReturnHistory
from risk.var_kernel import zero_gaps


def _returns(seed: int, rows: int, columns: int) -> np.ndarray:
    """Returns with NaN, ±inf and -0.0 sprinkled in, and a block of leading NaN rows."""
    rng = np.random.default_rng(seed)
    returns = rng.normal(0, 0.002, (rows, columns))
    cells = rng.integers(0, rows * columns, size=rows * columns // 10)
    returns.flat[cells] = rng.choice([np.nan, np.inf, -np.inf, -0.0], size=cells.size)
    returns[: rows // 4, : columns // 2] = np.nan
    return returns


@pytest.mark.parametrize(("rows", "columns"), [(1440, 20), (7, 3), (1, 1), (300, 1)])
def test_zero_gaps_is_isfinite_all_and_where(rows: int, columns: int) -> None:
    for seed in range(5):
        returns = _returns(seed, rows, columns)
        finite = np.isfinite(returns)
        has_gap, filled = np.empty(columns, bool), np.empty_like(returns)
        zero_gaps(returns, finite, has_gap, filled)
        assert np.array_equal(has_gap, ~finite.all(axis=0))
        expected = np.where(finite, returns, 0.0)
        assert filled.tobytes() == expected.tobytes()  # bits: -0.0 stays -0.0


def test_a_history_weighs_what_the_array_form_gives() -> None:
    returns = _returns(9, 200, 6)
    symbols = tuple(f"S{j}" for j in range(6))
    history = ReturnHistory(symbols, returns)
    weights = np.array([100.0, 0.0, 0.0, -50.0, 0.0, 20.0])
    finite = np.isfinite(returns)
    complete = finite[:, [0, 3, 5]].all(axis=1)
    expected = (np.where(finite, returns, 0.0) @ weights)[complete]
    values = {"S0": 100.0, "S3": -50.0, "S5": 20.0}
    assert history.pnl(values).tobytes() == expected.tobytes()
    column = history.complete_in(3)
    assert column is not None and np.array_equal(column, finite[:, 3])
    fortran = ReturnHistory(symbols, np.asfortranarray(returns))  # the numpy path
    assert np.array_equal(fortran.complete_rows([0, 3, 5]), complete)
