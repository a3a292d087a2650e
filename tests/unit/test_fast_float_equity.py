"""The fast loop's float equity of one played step (`_float_equity_one`, scalars) is the
array form's (`_float_equity`: cash + a row sum of the holdings at the close), bit for bit,
at every number of holdings: `numpy_row_sum` adds in numpy's order (left to right under 8
terms, its pairwise block from 8 to 128; beyond, the array form itself)."""

from __future__ import annotations

import numpy as np
import pytest

from trading.fast_breakers import BreakerCarry, numpy_row_sum
from trading.fast_policies import StepQuotes


def carry(close: np.ndarray, cash: float, amounts: np.ndarray) -> BreakerCarry:
    loop = BreakerCarry()
    loop.close_ff = close
    loop.changes = [(0, cash, amounts)]
    loop._marks = None
    loop._rows = list(range(close.shape[0]))
    return loop


@pytest.mark.parametrize("held", [*range(12), 15, 16, 17, 24, 31, 40, 129, 140])
def test_one_step_float_equity_is_the_chunk_figure(held: int) -> None:
    rng = np.random.default_rng(held)
    steps, n = 300, max(20, held)
    close = rng.uniform(0.001, 1000, (steps, n)) * 10 ** rng.uniform(-3, 3, n)
    close[: rng.integers(0, 5), rng.integers(0, n)] = np.nan  # no bar yet: NaN marks
    for trial in range(20):
        amounts = np.zeros(n)
        columns = rng.choice(n, held, replace=False)
        amounts[columns] = rng.uniform(0, 100, held) * 10 ** rng.uniform(-4, 3, held)
        cash = float(rng.uniform(0, 10_000))
        quotes = StepQuotes(np.arange(steps), np.arange(steps), close, close, close)
        scalar, chunk = carry(close, cash, amounts), carry(close, cash, amounts)
        for k in rng.integers(0, steps, 30).tolist():
            chunk._marks = None
            one, expected = scalar._float_equity_one(k, quotes), chunk._float_equity(k, quotes)
            assert one == expected or (np.isnan(one) and np.isnan(expected)), (held, trial, k)


@pytest.mark.parametrize("n", [*range(0, 40), 63, 64, 65, 100, 127, 128])
def test_numpy_row_sum_is_numpys_sum_of_a_row(n: int) -> None:
    rng = np.random.default_rng(n)
    rows = rng.uniform(-1, 1, (50, n)) * 10 ** rng.uniform(-8, 8, (50, n))
    expected = rows.sum(axis=1)
    for row, total in zip(rows.tolist(), expected.tolist()):
        assert numpy_row_sum(row) == total
        assert numpy_row_sum(row) == np.add.reduce(np.array(row))
