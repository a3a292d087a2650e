"""From the fill model's floats to the exact amounts the paper broker books.

The fill model (model/fills.py) works in floats on the order's tick and lot grids; the
books are Decimal. These helpers put a float back on its grid exactly, and refuse what is no
fill at all (NaN, infinity, off any representable grid), so nothing absurd reaches a ledger.
"""

from __future__ import annotations

import math
from decimal import Decimal

from model.instruments import Side, float_to_grid


def float_decimal(value: float) -> Decimal:
    """A float as the Decimal of its shortest repr (what the fill model meant)."""
    return Decimal(str(value))


def fill_on_grid(price: float, amount: float, tick: Decimal,
                  lot: Decimal) -> tuple[Decimal, Decimal] | None:
    """A fill model level's price and amount on the order's grids, or None when they are no
    fill at all: not finite (an absurd bar, e.g. a close of 1e308 with an infinite volume,
    makes 0 x inf = NaN), too big for the grid, a price of no tick or a negative amount. Such
    a fill must never reach the books. An amount under half a lot is 0: nothing to book."""
    if not all(math.isfinite(v) for v in (price, amount, price / float(tick), amount / float(lot))):
        return None
    exact = float_to_grid(price, tick), float_to_grid(amount, lot)
    return exact if exact[0] > 0 and exact[1] >= 0 else None



def fill_budget(side: Side, reserved: Decimal, fee_prepaid: Decimal) -> float:
    """What an order may still spend in the fill model: a buy, its reservation plus the fee
    rounding it already prepaid (sells are limited by their amount: infinite). Not shaved
    for float safety: with equal maker and taker fees the reservation is exactly the cost,
    and a shave of 1e-12 left the last lot of a 1,000+ lot order unaffordable; `payable_buy`
    keeps the exact books within what the account has instead."""
    if side is Side.SELL:
        return math.inf
    return float(reserved + fee_prepaid)
