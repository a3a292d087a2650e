"""The fast backtester's return history at a step is a view of the run's returns, no copy:
BLAS gives the VaR's matrix product on a view the bits it gives on a copy of the same rows
(the alignment of a window's first row does not change the order it sums in), and
`ReturnHistory.over` is `ReturnHistory.complete` with the column map shared."""

from __future__ import annotations

import numpy as np
import pytest

from risk.post_trade import CandidateRisk
from risk.var import ReturnHistory

SYMBOLS = tuple(f"C{i}USDT" for i in range(20))


@pytest.mark.parametrize("rows", [1440, 1439, 100, 33])
def test_the_product_on_a_window_view_is_the_product_on_its_copy(rows: int) -> None:
    rng = np.random.default_rng(rows)
    run = rng.standard_t(3, (6000, len(SYMBOLS))) * 0.002
    for _ in range(300):
        first = int(rng.integers(0, len(run) - rows))
        weights = np.zeros(len(SYMBOLS))
        held = rng.choice(len(SYMBOLS), size=int(rng.integers(1, 12)), replace=False)
        weights[held] = rng.uniform(-600, 600, len(held))
        window = run[first:first + rows]
        assert window.flags.c_contiguous and not window.flags.owndata
        np.testing.assert_array_equal(window @ weights, window.copy() @ weights)


def test_over_is_complete_with_the_column_map_shared() -> None:
    rng = np.random.default_rng(5)
    run = rng.standard_t(3, (3000, len(SYMBOLS))) * 0.002
    first = ReturnHistory.complete(SYMBOLS, run[:1440], 1 / 1440)
    later = first.over(run[700:2140])
    same = ReturnHistory.complete(SYMBOLS, run[700:2140], 1 / 1440)
    assert later.symbols == same.symbols and later.period_days == same.period_days
    assert later.returns is later._filled and np.shares_memory(later.returns, run)
    assert later._column is first._column and later._finite is None
    np.testing.assert_array_equal(later._has_gap, same._has_gap)
    values = {"C1USDT": 400.0, "C7USDT": 250.0}
    for history in (later, same):
        risk = CandidateRisk(values, 10_000.0, history, 0.95, 1.0).risk("C3USDT", 300.0)
        assert risk == CandidateRisk(values, 10_000.0, same, 0.95, 1.0).risk("C3USDT", 300.0)
    # a history with gaps, or another shape: built as `complete` builds it
    gappy = ReturnHistory(SYMBOLS, np.where(rng.random((1440, 20)) < 0.01, np.nan, run[:1440]))
    assert gappy.over(run[1:1441])._column is not gappy._column
    assert first.over(run[:100]).returns.shape == (100, 20)
