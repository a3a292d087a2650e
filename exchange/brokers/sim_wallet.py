"""The paper broker's balances: totals and reservations per asset, exact `Decimal`.

Kept apart from the broker so the money rules read in one place: an open order locks what
it could spend (quote for buys, base for sells); a fill moves exactly amount x price plus or
minus the fee (in quote) and unlocks what it used; closing an order unlocks the rest.
"""

from __future__ import annotations

from decimal import Decimal

from model.instruments import Instrument, Side

ZERO = Decimal(0)


class Wallet:
    """Totals and reserved amounts per asset."""

    def __init__(self, balances: dict[str, Decimal]) -> None:
        self._totals = {asset: Decimal(amount) for asset, amount in balances.items()}
        self._reserved: dict[str, Decimal] = {}

    def totals(self) -> dict[str, Decimal]:
        """Total holdings per asset (free + reserved)."""
        return dict(self._totals)

    def free(self) -> dict[str, Decimal]:
        """Holdings not reserved by open orders."""
        return {a: t - self._reserved.get(a, ZERO) for a, t in self._totals.items()}

    def free_of(self, asset: str) -> Decimal:
        """`free().get(asset, ZERO)`: the same subtraction, for one asset."""
        total = self._totals.get(asset)
        if total is None:
            return ZERO
        return total - self._reserved.get(asset, ZERO)

    def reserved(self) -> dict[str, Decimal]:
        """Amounts locked by open orders."""
        return {a: r for a, r in self._reserved.items() if r}

    def reserve(self, asset: str, amount: Decimal) -> None:
        """Lock `amount` of `asset` for an order (the caller checked it is free)."""
        self._reserved[asset] = self._reserved.get(asset, ZERO) + amount

    def release(self, asset: str, amount: Decimal) -> None:
        """Unlock what a closing order did not use."""
        self._reserved[asset] = max(ZERO, self._reserved.get(asset, ZERO) - amount)

    def settle(
        self,
        side: Side,
        instrument: Instrument,
        amount: Decimal,
        notional: Decimal,
        fee: Decimal,
        reserved_left: Decimal,
    ) -> Decimal:
        """Book one fill; returns how much of the order's reservation it used.

        A buy pays notional + fee in quote and receives `amount` base; a sell gives `amount`
        base and receives notional - fee. Fees are always in the quote asset.
        """
        base, quote = instrument.base, instrument.quote
        if side is Side.BUY:
            cost = notional + fee
            used = min(cost, reserved_left)
            self._totals[quote] = self._totals.get(quote, ZERO) - cost
            self._totals[base] = self._totals.get(base, ZERO) + amount
            self._reserved[quote] = self._reserved.get(quote, ZERO) - used
            return used
        self._totals[base] = self._totals.get(base, ZERO) - amount
        self._reserved[base] = self._reserved.get(base, ZERO) - amount
        self._totals[quote] = self._totals.get(quote, ZERO) + notional - fee
        return amount
