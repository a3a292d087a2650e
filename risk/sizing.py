"""Position sizing: how much to buy so a stopped-out trade costs a fixed share of equity.

size = equity x risk_per_trade x confidence / stop distance (fraction of the entry price),
capped so the symbol's total (already held + pending buys + this order) stays within
max_position_pct of equity, then rounded *down* to the lot grid by the instrument. Rounding
down is what keeps the cap a hard ceiling: the amount never grows after the cap is applied.

Money is `Decimal` in and out. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from model.instruments import Instrument, Side
from risk.limits import RiskLimits

_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Sizing:
    """The chosen amount and every number that led to it (for the decision audit)."""

    amount: Decimal  # base units on the lot grid; may be 0 (too small, see `too_small`)
    price: Decimal  # entry price on the tick grid, used for all notionals below
    notional: Decimal  # amount x price, in the quote asset
    equity: Decimal
    risk_per_trade_pct: Decimal
    confidence: Decimal
    stop_distance_pct: Decimal  # |entry - stop| / entry, in percent
    risk_notional: Decimal  # equity x risk x confidence / stop, before any cap
    cap_notional: Decimal  # max_position_pct of equity
    held_value: Decimal  # already held + pending buys in this symbol, quote
    room_notional: Decimal  # cap - held, never negative
    capped: bool  # True when the cap, not the risk budget, set the size
    base: str
    quote: str

    @property
    def breakdown(self) -> str:
        """One line that says why this size, e.g. for the audit log and Telegram.

        "2% risk × 0.8 confidence / 1% stop = 160% of equity → capped at 5% = 500 USDT
        → 0.0125 BTC at 40000"
        """
        raw_pct = self.risk_notional / self.equity * _HUNDRED if self.equity else Decimal(0)
        text = (
            f"{_num(self.risk_per_trade_pct, 2)}% risk × {_num(self.confidence, 4)} confidence"
            f" / {_num(self.stop_distance_pct, 2)}% stop = {_num(raw_pct, 2)}% of equity"
        )
        if self.capped:
            cap_pct = self.cap_notional / self.equity * _HUNDRED if self.equity else Decimal(0)
            text += f" → capped at {_num(cap_pct, 2)}%"
            if self.held_value > 0:
                text += f" less {_num(self.held_value, 2)} {self.quote} held"
            text += f" = {_num(self.room_notional, 2)} {self.quote}"
        else:
            text += f" = {_num(self.risk_notional, 2)} {self.quote}"
        return text + f" → {_num(self.amount)} {self.base} at {_num(self.price)}"


def stop_distance(entry_price: Decimal, stop_price: Decimal, side: Side) -> Decimal:
    """Distance to the stop as a fraction of the entry price; the stop must be on the loss side.

    Raises ValueError for a stop at or beyond the entry: such a trade has no defined risk, and
    sizing it would divide by zero or by a negative number.
    """
    if entry_price <= 0 or stop_price <= 0:
        raise ValueError(f"prices must be positive (entry {entry_price}, stop {stop_price})")
    distance = entry_price - stop_price if side is Side.BUY else stop_price - entry_price
    if distance <= 0:
        where = "below" if side is Side.BUY else "above"
        raise ValueError(f"{side.value} stop {stop_price} must be {where} entry {entry_price}")
    return distance / entry_price


def size_entry(
    *,
    equity: Decimal,
    entry_price: Decimal,
    stop_price: Decimal,
    confidence: Decimal | float,
    held_value: Decimal,
    instrument: Instrument,
    limits: RiskLimits,
    side: Side = Side.BUY,
) -> Sizing:
    """Size one entry order; the amount is on the lot grid and may be 0 when the cap is full.

    `entry_price` is rounded to the tick grid first (buys down), and that price is used for
    every notional, so what the breakdown says is what the order will be.
    `confidence` in (0, 1] scales the risk budget linearly (0.5 -> half the size).
    """
    if equity <= 0:
        raise ValueError(f"equity must be positive, got {equity}")
    conf = Decimal(str(confidence))
    if not conf.is_finite() or not Decimal(0) < conf <= 1:
        raise ValueError(f"confidence must be in (0, 1], got {confidence}")
    price = instrument.price(entry_price, side)
    distance = stop_distance(price, stop_price, side)

    risk_notional = equity * limits.risk_per_trade_pct / _HUNDRED * conf / distance
    cap_notional = equity * limits.max_position_pct / _HUNDRED
    room = max(Decimal(0), cap_notional - held_value)
    capped = risk_notional > room
    target = room if capped else risk_notional

    amount = instrument.amount(target / price)
    # max_qty is an exchange ceiling, not a reason to refuse: fewer units are always safe.
    # 0 means no ceiling (Upbit's instruments), as in `Instrument.check`.
    if instrument.max_qty > 0:
        amount = min(amount, instrument.amount(instrument.max_qty))
    amount = max(Decimal(0), amount)
    return Sizing(
        amount=amount,
        price=price,
        notional=amount * price,
        equity=equity,
        risk_per_trade_pct=limits.risk_per_trade_pct,
        confidence=conf,
        stop_distance_pct=distance * _HUNDRED,
        risk_notional=risk_notional,
        cap_notional=cap_notional,
        held_value=held_value,
        room_notional=room,
        capped=capped,
        base=instrument.base,
        quote=instrument.quote,
    )


def too_small(instrument: Instrument, amount: Decimal, price: Decimal) -> str | None:
    """Why the exchange would refuse this amount as too small, or None if it is big enough.

    Risk never bumps a small order up to the minimum: that would take more risk than the
    sizing rule allows. The caller denies instead.
    """
    if amount <= 0:
        return f"size rounds down to 0 {instrument.base} on lot {_num(instrument.lot)}"
    if amount < instrument.min_qty:
        return f"{_num(amount)} {instrument.base} < min qty {_num(instrument.min_qty)}"
    notional = amount * price
    if notional < instrument.min_notional:
        return (
            f"notional {_num(notional)} {instrument.quote} < min notional "
            f"{_num(instrument.min_notional)} {instrument.quote}"
        )
    return None


def _num(value: Decimal, places: int = 8) -> str:
    """Short human form: at most `places` decimals, no trailing zeros, never scientific.

    The "f" form of a finite Decimal has exactly -exponent decimals, so counting them is
    the exponent test without building `as_tuple()`'s digit tuple (every sized entry
    formats a dozen of these)."""
    text = f"{value:f}"
    if "." not in text:
        return text
    if len(text) - text.index(".") - 1 > places:
        text = f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):f}"
        if "." not in text:
            return text
    return text.rstrip("0").rstrip(".")
