"""The trader's equity (`TraderAccount._equity_with`) is `cash + sum(amount * mark)` as the
built-in `sum` adds it, digit for digit: the equity snapshot stores its text, and a closed
position's zero term still sets how many digits it has."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from trading.last_prices import LastPrices
from trading.positions import Position
from trading.trader_account import TraderAccount


class _Account(TraderAccount):
    def __init__(self, positions: dict[str, Position], marks: LastPrices) -> None:
        self.positions = positions
        self.last_price = marks


@pytest.mark.parametrize("seed", range(20))
def test_equity_is_cash_plus_the_built_in_sum_of_the_positions(seed: int) -> None:
    rng = random.Random(seed)
    positions = {f"C{k}USDT": Position(Decimal(rng.choice(("0", "0.000", "1.5", "0.00123",
                                                          "12"))),
                                       Decimal(rng.choice(("1.01", "250", "0.000451"))))
                 for k in range(rng.randrange(6))}
    marks = LastPrices()
    marked = [s for s in positions if rng.random() < 0.7]
    marks.set_closes(marked, [rng.choice((0.1 + 0.2, 42.0, 1e-7, 12345.678)) for _ in marked])
    cash = Decimal(rng.choice(("10000", "9876.54321000", "0.1")))
    want = cash + sum((p.amount * marks.get(s, p.avg_price) for s, p in positions.items()),
                      Decimal(0))
    got = _Account(positions, marks)._equity_with(cash)
    assert str(got) == str(want)
