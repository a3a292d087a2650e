"""The feed edge's value rules: the limits no market value can pass (`MAX_PRICE`,
`MAX_AMOUNT`, an instrument's `PriceBounds`), the per-value checks against them
(`price_problem`, `amount_problem`) and the stable reason names a drop is counted under.
Pure: no state, no clock.

Why apart from sanity.py: these are plain facts about values, and most of their users need
nothing else: the parsers (a kline's price cap), the feeds and the app (each instrument's
`PriceBounds`), the replay's compiled paths (the caps as kernel arguments). `FrameValidator`
(sanity.py) applies them to whole ticks, bars and arrays with the exchange clock, and counts
and reports what it drops; the module docstring there says why each limit exists.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

#: No spot market prices anything above this (BTC in the cheapest quote is ~1e10 KRW); above
#: it products with sizes leave float range in places nobody checks.
MAX_PRICE = 1e12
#: Sizes and volumes (24 h base volumes of meme coins reach ~1e14).
MAX_AMOUNT = 1e18

# Reasons, stable short names: metric labels and status keys.
NOT_POSITIVE = "price_not_positive"
PRICE_RANGE = "price_out_of_range"
AMOUNT_RANGE = "amount_out_of_range"
OHLC = "ohlc_inconsistent"
CROSSED = "crossed_quote"
FUTURE = "time_in_future"
TOO_OLD = "time_too_old"
REASONS = (NOT_POSITIVE, PRICE_RANGE, AMOUNT_RANGE, OHLC, CROSSED, FUTURE, TOO_OLD)


@dataclass(frozen=True, slots=True)
class PriceBounds:
    """An instrument's price rule (Binance PRICE_FILTER); 0 disables a side, as there."""

    min_price: float = 0.0
    max_price: float = 0.0


class _HasPriceRule(Protocol):
    # Read-only properties: Instrument is frozen, and its prices are Decimal, not the union.
    @property
    def symbol(self) -> str: ...
    @property
    def min_price(self) -> Decimal | float: ...
    @property
    def max_price(self) -> Decimal | float: ...


def bounds_of(instruments: Iterable[_HasPriceRule]) -> dict[str, PriceBounds]:
    """Price bounds per symbol from `model.instruments.Instrument`s (or anything with
    symbol, min_price and max_price)."""
    return {i.symbol: PriceBounds(float(i.min_price or 0), float(i.max_price or 0))
            for i in instruments}


def price_problem(price: float, bounds: PriceBounds | None) -> str | None:
    """Why `price` (a finite float from a parser, or NaN for 'absent') is impossible."""
    if not price > 0.0:
        return NOT_POSITIVE
    if price > MAX_PRICE:
        return PRICE_RANGE
    if bounds is not None and (
        (bounds.min_price > 0 and price < bounds.min_price)
        or (bounds.max_price > 0 and price > bounds.max_price)
    ):
        return PRICE_RANGE
    return None


def amount_problem(amount: float) -> str | None:
    """Sizes and volumes: NaN means 'not carried by this stream' and passes."""
    if math.isnan(amount):
        return None
    return None if 0.0 <= amount <= MAX_AMOUNT else AMOUNT_RANGE
