"""The fast account's equity sum over its held positions only, to the same `Decimal`.

Trader.equity is cash plus `sum(amount x last price)` over every position the account has
ever had, in the order they were opened, flat ones included (the fast account keeps them:
their realized P&L and round trips live there). After a few hundred trades most of the ~20
terms are a flat position's zero, and the sum is Python work at every acting step.

A flat position's term is a zero, `0E-e` (e: its price's decimals), which leaves the sum's
value alone but can lower its exponent: without rounding, a Decimal sum's exponent is the
least of its terms' (and the start's 0). So the held terms summed in the same order, plus
one zero that carries the least exponent of the flat terms, is the same value with the same
exponent, hence the same Decimal, as long as no addition rounded. The held terms are never
negative (a price and a long amount), so every partial sum of the full form is at most the
final sum with at least its exponent: none has more digits than the final sum, and if that
is under the context's precision nothing rounded anywhere. Otherwise (or with a negative
or non-finite term) the caller sums all the terms as the definition does.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, getcontext

from trading.positions import Position

_ZERO = Decimal(0)

#: (held positions in the account's order, the flat terms' sum or None for none, whether
#: every amount is >= 0)
Terms = tuple[list[tuple[str, Position]], Decimal | None, bool]


def split_terms(positions: Mapping[str, Position], last_price: Mapping[str, Decimal]) -> Terms:
    """The held positions (amount > 0), in order, and the flat positions' terms summed as
    the full form sums them (from Decimal(0), in order): valid until a fill moves a
    position or sets a first last price (a flat position's last price moves no other way)."""
    held: list[tuple[str, Position]] = []
    flat: Decimal | None = None
    regular = True
    for symbol, position in positions.items():
        if position.amount > 0:
            held.append((symbol, position))
            continue
        if position.amount < 0:
            regular = False
        term = position.amount * last_price.get(symbol, position.avg_price)
        flat = (_ZERO if flat is None else flat) + term
    return held, flat, regular


def held_sum(terms: Terms, last_price: Mapping[str, Decimal]) -> Decimal | None:
    """`sum(amount x last price for every position, Decimal(0))`, the same Decimal, from
    the held terms; None where that is not sure (the caller sums all of them)."""
    held, flat, regular = terms
    if not regular:
        return None
    total = _ZERO
    for symbol, position in held:
        term = position.amount * last_price.get(symbol, position.avg_price)
        if not term >= 0:  # a negative or NaN price: the bound above does not hold
            return None
        total += term
    if flat is not None:
        total += flat
    if not total.is_finite() or len(total.as_tuple().digits) >= getcontext().prec:
        return None
    return total
