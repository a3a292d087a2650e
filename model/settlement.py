"""Exact settlement of a paper fill: fees rounded up to the quote's quantum, and what a buy
may take when its reservation and the free cash must pay fee and all.

One rule for the paper broker (exchange/brokers/sim.py) and the fast backtester's account
(trading/fast_account.py), which sits below exchange/ in the layering: both call this, so
their books agree by construction, not only by the parity test.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

FEE_QUANTUM = Decimal("0.00000001")  # fees are rounded up to this many quote units


def fee_of(notional: Decimal, rate: Decimal) -> Decimal:
    """The fee on `notional` at `rate`, rounded up to `FEE_QUANTUM`."""
    return (notional * rate).quantize(FEE_QUANTUM, rounding=ROUND_CEILING)


def payable_buy(amount: Decimal, price: Decimal, rate: Decimal, lot: Decimal,
                can_pay: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """A buy fill's amount and fee (rounded up) that `can_pay` (the order's reservation plus
    the free quote) covers, and the fee rounding it prepays beyond the exact rate.

    The reservation pays first; the free quote pays the rest, which is only fee rounding
    (each fill rounds its fee up, the reservation rounded the order's fee up once) or a float
    overrun of the fill model's budget. Whatever neither can pay is cut off in whole lots, so
    cash never goes negative.
    """
    notional = price * amount
    fee = fee_of(notional, rate)
    if notional + fee > can_pay:
        for spare in (Decimal(0), FEE_QUANTUM):  # the second leaves room for fee rounding
            lots = ((can_pay - spare) / (price * (1 + rate)) / lot).to_integral_value(ROUND_FLOOR)
            amount = max(Decimal(0), min(amount, lots * lot))
            notional = price * amount
            fee = fee_of(notional, rate)
            if notional + fee <= can_pay:
                break
    return amount, fee, fee - notional * rate
