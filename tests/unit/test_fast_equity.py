"""The fast account's equity over its held positions is the full sum's Decimal, exponent
and all (trading/fast_equity.py), or says it is not sure."""

from __future__ import annotations

import random
from decimal import Decimal, localcontext

import pytest

from trading.fast_equity import held_sum, split_terms
from trading.positions import Position


def _full(positions: dict[str, Position], last: dict[str, Decimal]) -> Decimal:
    """The definition: Trader.equity's sum over every position."""
    return sum((p.amount * last.get(s, p.avg_price) for s, p in positions.items()), Decimal(0))


def _account(rng: random.Random) -> tuple[dict[str, Position], dict[str, Decimal]]:
    """Up to 20 positions, about half flat (amount 0 or 0E-n), prices and amounts with
    0 to 12 decimals, some without a last price (their average price counts)."""
    positions: dict[str, Position] = {}
    last: dict[str, Decimal] = {}
    for i in range(rng.randint(0, 20)):
        places = rng.randint(0, 12)
        amount = (Decimal(rng.choice([0, 0])).scaleb(-rng.randint(0, 9)) if rng.random() < 0.5
                  else Decimal(rng.randint(1, 10**7)).scaleb(-places))
        price = Decimal(rng.randint(1, 10**9)).scaleb(-rng.randint(0, 12))
        positions[f"C{i}"] = Position(amount=amount, avg_price=price)
        if rng.random() < 0.8:
            last[f"C{i}"] = Decimal(rng.randint(1, 10**9)).scaleb(-rng.randint(0, 12))
    return positions, last


@pytest.mark.parametrize("precision", [28, 12])
def test_the_held_sum_is_the_full_sums_decimal_or_none(precision: int) -> None:
    rng = random.Random(precision)
    sure = 0
    with localcontext() as context:
        context.prec = precision
        for _ in range(3000):
            positions, last = _account(rng)
            got = held_sum(split_terms(positions, last), last)
            if got is not None:
                sure += 1
                assert got.as_tuple() == _full(positions, last).as_tuple()
    assert sure > 200  # most, at the usual precision


def test_flat_terms_set_the_exponent_of_an_account_with_nothing_held() -> None:
    positions = {"A": Position(amount=Decimal(0), avg_price=Decimal("1.25000000"))}
    got = held_sum(split_terms(positions, {}), {})
    assert got is not None and got.as_tuple() == Decimal("0E-8").as_tuple()
    assert held_sum(split_terms({}, {}), {}) == Decimal(0)


def test_not_sure_with_a_short_amount_or_a_negative_price() -> None:
    short = {"A": Position(amount=Decimal(-1), avg_price=Decimal(2))}
    assert held_sum(split_terms(short, {}), {}) is None
    held = {"A": Position(amount=Decimal(1), avg_price=Decimal(2))}
    assert held_sum(split_terms(held, {}), {"A": Decimal(-3)}) is None
