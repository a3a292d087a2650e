"""Instruments: each symbol knows its own tick size, lot size and minimum notional.

Nobody else rounds prices. Rounding is always in the safe direction: buy prices down, sell
prices up, amounts down. Issue 3 extends this with exchangeInfo parsing and filter checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import Enum


class Side(Enum):
    BUY = "BUY"
    SELL = "SELL"


@dataclass(frozen=True, slots=True)
class Instrument:
    """Trading rules of one spot symbol, in the exchange's own units."""

    symbol: str  # exchange id, e.g. "BTCUSDT"
    base: str  # e.g. "BTC"
    quote: str  # e.g. "USDT"
    tick: Decimal  # price increment (Binance PRICE_FILTER tickSize)
    lot: Decimal  # amount increment (Binance LOT_SIZE stepSize)
    min_notional: Decimal  # smallest price x amount accepted
    min_qty: Decimal = Decimal("0")
    max_qty: Decimal = Decimal("9000000")
    min_price: Decimal = Decimal("0")
    max_price: Decimal = Decimal("0")  # 0 disables the rule, as on Binance

    def price(self, raw: float | Decimal, side: Side) -> Decimal:
        """Round to the tick grid, never across the spread: buys down, sells up."""
        rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
        return (Decimal(str(raw)) / self.tick).to_integral_value(rounding) * self.tick

    def amount(self, raw: float | Decimal) -> Decimal:
        """Round an amount down to the lot grid (never buy or sell more than asked)."""
        return (Decimal(str(raw)) / self.lot).to_integral_value(ROUND_FLOOR) * self.lot

    @property
    def price_decimals(self) -> int:
        return max(0, -self.tick.normalize().as_tuple().exponent)  # type: ignore[operator]

    @property
    def amount_decimals(self) -> int:
        return max(0, -self.lot.normalize().as_tuple().exponent)  # type: ignore[operator]
