"""A position as the trader books it from fills, and the round trip a fill may close.

One rule for the event engine's `Trader` and the fast backtester's account
(trading/fast_account.py), so the two cannot drift apart: the amount, average price and
realized P&L come from `state.projection.next_position` (the ledger's own projection), and a
position that goes from flat to long and back to flat is one round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from model.instruments import Side
from state.projection import next_position
from trading.performance import RoundTrip


@dataclass(slots=True)
class Position:
    amount: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)
    opened_ms: int = 0
    realized_at_open: Decimal = Decimal(0)  # `realized` when it last left flat

    def book(self, symbol: str, side: Side, price: Decimal, amount: Decimal, fee: Decimal,
             ts_ms: int) -> RoundTrip | None:
        """Apply one fill; the round trip it completes, if it brings the position to flat."""
        was_flat = self.amount == 0
        if was_flat:
            self.realized_at_open = self.realized
        self.amount, self.avg_price, self.realized = next_position(
            self.amount, self.avg_price, self.realized, side, price, amount, fee)
        if was_flat and self.amount > 0:
            self.opened_ms = ts_ms
        if not was_flat and self.amount == 0:
            return RoundTrip(symbol, self.opened_ms, ts_ms, self.realized - self.realized_at_open)
        return None
