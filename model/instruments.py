"""Instruments: each symbol knows its own tick size, lot size and notional limits.

Nobody else rounds prices. Rounding is always in the safe direction: buy prices down, sell
prices up, amounts down. `check()` answers whether the exchange would accept an order and,
when not, which filter refuses it and why in human words, so the broker can reject *before*
the exchange does and the ledger records the same reason in paper and live.

Two exchanges' rules live here as data: Binance `exchangeInfo` filters
(`instrument_from_binance`) and Upbit's KRW tick bands (`upbit_krw_tick`,
`upbit_krw_instrument`), whose tick depends on the price.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from enum import Enum
from typing import Any

ZERO = Decimal(0)


class Side(Enum):
    BUY = "BUY"
    SELL = "SELL"


TickBands = tuple[tuple[Decimal, Decimal], ...]  # (band min price, tick), highest band first


@dataclass(frozen=True, slots=True)
class FilterViolation:
    """Why the exchange would refuse an order: the filter's exchange name and a detail."""

    filter: str  # "PRICE_FILTER", "LOT_SIZE", "MIN_NOTIONAL" or "NOTIONAL"
    detail: str  # e.g. "price 0.123 not a multiple of tick 0.01"


@dataclass(frozen=True, slots=True)
class Instrument:
    """Trading rules of one spot symbol, in the exchange's own units.

    A zero `min_price`, `max_price` or `max_notional` disables that rule, as on Binance.
    When `tick_bands` is set (Upbit KRW) the tick depends on the price and `tick` is only
    the tick at the price the instrument was built for; use `tick_at(price)`.
    """

    symbol: str  # exchange id, e.g. "BTCUSDT"
    base: str  # e.g. "BTC"
    quote: str  # e.g. "USDT"
    tick: Decimal  # price increment (Binance PRICE_FILTER tickSize)
    lot: Decimal  # amount increment (Binance LOT_SIZE stepSize)
    min_notional: Decimal  # smallest price x amount accepted
    min_qty: Decimal = Decimal(0)
    max_qty: Decimal = Decimal(9000000)
    min_price: Decimal = Decimal(0)
    max_price: Decimal = Decimal(0)  # 0 disables the rule, as on Binance
    max_notional: Decimal = Decimal(0)  # NOTIONAL filter's maxNotional; 0 disables
    notional_filter: str = "MIN_NOTIONAL"  # exchange name of the notional filter
    apply_min_notional_to_market: bool = True
    apply_max_notional_to_market: bool = False
    tick_bands: TickBands = ()

    def tick_at(self, price: float | Decimal) -> Decimal:
        """The tick size that applies at `price` (constant unless the tick is banded)."""
        if not self.tick_bands:
            return self.tick
        return _band_tick(self.tick_bands, _dec(price))

    def price(self, raw: float | Decimal, side: Side) -> Decimal:
        """Round to the tick grid, never across the spread: buys down, sells up.

        With banded ticks a rounded-up sell may land on the next band's minimum, which is a
        multiple of both bands' ticks, so the result is always valid on the exchange.
        """
        value = _dec(raw)
        tick = self.tick_at(value)
        return to_grid(value, tick, ROUND_FLOOR if side is Side.BUY else ROUND_CEILING)

    def amount(self, raw: float | Decimal) -> Decimal:
        """Round an amount down to the lot grid (never buy or sell more than asked)."""
        return to_grid(_dec(raw), self.lot, ROUND_FLOOR)

    def check(
        self, price: Decimal, amount: Decimal, *, is_market: bool = False
    ) -> FilterViolation | None:
        """The first exchange filter this order breaks, or None when it would be accepted.

        For a market order pass the reference price (last trade) as `price`: PRICE_FILTER is
        skipped and the notional bounds apply only where the exchange applies them to market
        orders (`applyToMarket`, `applyMinToMarket`, `applyMaxToMarket`).
        """
        if not is_market:
            violation = self._check_price(price)
            if violation is not None:
                return violation
        violation = self._check_amount(amount)
        if violation is not None:
            return violation
        return self._check_notional(price * amount, is_market)

    def _check_price(self, price: Decimal) -> FilterViolation | None:
        if price <= 0:
            return FilterViolation("PRICE_FILTER", f"price {_fmt(price)} is not positive")
        if self.min_price > 0 and price < self.min_price:
            detail = f"price {_fmt(price)} below minPrice {_fmt(self.min_price)}"
            return FilterViolation("PRICE_FILTER", detail)
        if self.max_price > 0 and price > self.max_price:
            detail = f"price {_fmt(price)} above maxPrice {_fmt(self.max_price)}"
            return FilterViolation("PRICE_FILTER", detail)
        tick = self.tick_at(price)
        if tick > 0 and price % tick != 0:
            detail = f"price {_fmt(price)} not a multiple of tick {_fmt(tick)}"
            return FilterViolation("PRICE_FILTER", detail)
        return None

    def _check_amount(self, amount: Decimal) -> FilterViolation | None:
        if amount <= 0:
            return FilterViolation("LOT_SIZE", f"amount {_fmt(amount)} is not positive")
        if amount < self.min_qty:
            detail = f"amount {_fmt(amount)} below minQty {_fmt(self.min_qty)}"
            return FilterViolation("LOT_SIZE", detail)
        if self.max_qty > 0 and amount > self.max_qty:
            detail = f"amount {_fmt(amount)} above maxQty {_fmt(self.max_qty)}"
            return FilterViolation("LOT_SIZE", detail)
        if self.lot > 0 and amount % self.lot != 0:
            detail = f"amount {_fmt(amount)} not a multiple of step {_fmt(self.lot)}"
            return FilterViolation("LOT_SIZE", detail)
        return None

    def _check_notional(self, notional: Decimal, is_market: bool) -> FilterViolation | None:
        check_min = not is_market or self.apply_min_notional_to_market
        check_max = self.max_notional > 0 and (not is_market or self.apply_max_notional_to_market)
        if check_min and notional < self.min_notional:
            detail = f"notional {_fmt(notional)} below minNotional {_fmt(self.min_notional)}"
            return FilterViolation(self.notional_filter, detail)
        if check_max and notional > self.max_notional:
            detail = f"notional {_fmt(notional)} above maxNotional {_fmt(self.max_notional)}"
            return FilterViolation(self.notional_filter, detail)
        return None

    @property
    def price_decimals(self) -> int:
        return decimals_of(self.tick)

    @property
    def amount_decimals(self) -> int:
        return decimals_of(self.lot)


def dominant_quote(instruments: Iterable[Instrument]) -> str:
    """The quote asset most symbols share (BTC for the Bittrex sets; ties: the first by
    name)."""
    counts: dict[str, int] = {}
    for instrument in instruments:
        counts[instrument.quote] = counts.get(instrument.quote, 0) + 1
    return max(sorted(counts), key=lambda q: counts[q])


# ---------------------------------------------------------------- grid arithmetic
# One place for "a value on a tick or lot grid": the instrument rounds orders with it, the
# paper broker and the ccxt adapters put fills back on it, the fill log writes with it.


def decimals_of(step: Decimal) -> int:
    """Decimals a grid step is written with: 0.001 -> 3, 0.5 -> 1, 10 (or 1E+1) -> 0."""
    return max(0, -step.normalize().as_tuple().exponent)  # type: ignore[operator]


def to_grid(value: Decimal, step: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """The multiple of `step` next to `value` in the `rounding` direction, in exact Decimal
    arithmetic: nearest (half to even) by default, for a value that should already lie on the
    grid (ccxt hands amounts and prices over as floats); ROUND_FLOOR never gives more than
    asked, ROUND_CEILING never sells below the price."""
    return (value / step).to_integral_value(rounding) * step


def float_to_grid(value: float, step: Decimal) -> Decimal:
    """The multiple of `step` nearest to a float the fill model put on that grid.

    The quotient is taken in float and rounded by Python's `round` (half to even) on purpose:
    the paper books, and so every backtest ledger digest, are built on this exact arithmetic.
    `value / float(step)` must be finite (the caller refuses what is not)."""
    return Decimal(round(value / float(step))) * step


def grid_text(value: Decimal, step: Decimal) -> str:
    """`value` written with exactly the decimals of `step` (0.001 -> 3, 10 -> none), never in
    scientific notation, so a log line shows no float noise and no made-up digit. A step of
    zero or less (unknown grid) writes the value as it is."""
    if step <= 0:
        return f"{value:f}"
    return f"{value.quantize(Decimal(1).scaleb(-decimals_of(step))):f}"


def _dec(value: float | Decimal) -> Decimal:
    """Exact Decimal of a Decimal, shortest round-trip Decimal of a float (0.1 -> 0.1)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _fmt(value: Decimal) -> str:
    """Plain notation without trailing zeros: 0.01000000 -> 0.01, 1E+1 -> 10."""
    return format(value.normalize(), "f")


# ---------------------------------------------------------------- Binance exchangeInfo


def instrument_from_binance(symbol_json: dict[str, Any]) -> Instrument:
    """An Instrument from one `exchangeInfo` symbol entry.

    Reads PRICE_FILTER (tick, min/max price), LOT_SIZE (step, min/max qty) and the notional
    filter: NOTIONAL (since 2023, with maxNotional and per-bound market flags) when present,
    else the legacy MIN_NOTIONAL. Raises ValueError when the tick or step is missing or zero,
    because such a symbol cannot be priced or sized safely.
    """
    filters = {f["filterType"]: f for f in symbol_json.get("filters", [])}
    price_filter, lot_filter = filters.get("PRICE_FILTER"), filters.get("LOT_SIZE")
    symbol = str(symbol_json["symbol"])
    if price_filter is None or lot_filter is None:
        raise ValueError(f"{symbol}: exchangeInfo entry without PRICE_FILTER or LOT_SIZE")
    tick, step = Decimal(price_filter["tickSize"]), Decimal(lot_filter["stepSize"])
    if not (tick > 0 and step > 0):
        raise ValueError(f"{symbol}: tickSize {tick} / stepSize {step} must be positive")
    notional: dict[str, Any] = {}
    notional_name = "MIN_NOTIONAL"
    apply_min, apply_max = True, False
    if "NOTIONAL" in filters:
        notional, notional_name = filters["NOTIONAL"], "NOTIONAL"
        apply_min = bool(notional.get("applyMinToMarket", True))
        apply_max = bool(notional.get("applyMaxToMarket", False))
    elif "MIN_NOTIONAL" in filters:
        notional = filters["MIN_NOTIONAL"]
        apply_min = bool(notional.get("applyToMarket", True))
    return Instrument(
        symbol=symbol,
        base=str(symbol_json["baseAsset"]),
        quote=str(symbol_json["quoteAsset"]),
        tick=tick,
        lot=step,
        min_notional=Decimal(notional.get("minNotional", "0")),
        min_qty=Decimal(lot_filter["minQty"]),
        max_qty=Decimal(lot_filter["maxQty"]),
        min_price=Decimal(price_filter["minPrice"]),
        max_price=Decimal(price_filter["maxPrice"]),
        max_notional=Decimal(notional.get("maxNotional", "0")),
        notional_filter=notional_name,
        apply_min_notional_to_market=apply_min,
        apply_max_notional_to_market=apply_max,
    )


# ---------------------------------------------------------------- Upbit KRW ticks

# Band = [min, next higher min). Source: shared/data/protocol/upbit/krw_tick_size_table.json
# (docs.upbit.com). Embedded as data so the project runs without the shared folder; a test
# compares these tables with the file.
_KST = timezone(timedelta(hours=9))


def _kst_midnight_ms(year: int, month: int, day: int) -> int:
    """Upbit announces rule changes by Korean date; we take them at 00:00 KST."""
    return int(datetime(year, month, day, tzinfo=_KST).timestamp() * 1000)


def _bands(*rows: tuple[str, str]) -> TickBands:
    return tuple((Decimal(low), Decimal(tick)) for low, tick in rows)


UPBIT_ERA_B_FROM_MS = _kst_midnight_ms(2024, 1, 29)
UPBIT_ERA_C_FROM_MS = _kst_midnight_ms(2025, 7, 31)
# The file says "from 2024-10-01/14" for the coins below; tick 1 is a multiple of 0.1, so
# applying it from the earlier date is valid under either reading.
UPBIT_COARSE_100_COINS_FROM_MS = _kst_midnight_ms(2024, 10, 1)
UPBIT_STABLE_HALF_TICK_FROM_MS = _kst_midnight_ms(2025, 3, 21)
UPBIT_COARSE_100_COINS = frozenset({
    "ADA", "ALGO", "BLUR", "CELO", "ELF", "EOS", "GRS", "GRT", "ICX", "MANA", "MINA", "POL",
    "SAND", "SEI", "STG", "TRX",
})  # fmt: skip
UPBIT_STABLECOINS = frozenset({"USDT", "USDC"})

UPBIT_KRW_ERA_A = _bands(  # until 2024-01-28
    ("2000000", "1000"), ("1000000", "500"), ("500000", "100"), ("100000", "50"),
    ("10000", "10"), ("1000", "5"), ("100", "1"), ("10", "0.1"), ("1", "0.01"),
    ("0.1", "0.001"), ("0", "0.0001"),
)  # fmt: skip
UPBIT_KRW_ERA_B = _bands(  # 2024-01-29 .. 2025-07-30
    ("2000000", "1000"), ("1000000", "500"), ("500000", "100"), ("100000", "50"),
    ("10000", "10"), ("1000", "1"), ("100", "0.1"), ("10", "0.01"), ("1", "0.001"),
    ("0.1", "0.0001"), ("0.01", "0.00001"), ("0.001", "0.000001"), ("0.0001", "0.0000001"),
    ("0", "0.00000001"),
)  # fmt: skip
UPBIT_KRW_ERA_C = _bands(  # from 2025-07-31
    ("2000000", "1000"), ("1000000", "1000"), ("500000", "500"), ("100000", "100"),
    ("50000", "50"), ("10000", "10"), ("5000", "5"), ("1000", "1"), ("100", "1"),
    ("10", "0.1"), ("1", "0.01"), ("0.1", "0.001"), ("0.01", "0.0001"), ("0.001", "0.00001"),
    ("0.0001", "0.000001"), ("0.00001", "0.0000001"), ("0", "0.00000001"),
)  # fmt: skip


def upbit_krw_bands(at_ms: int, base: str | None = None) -> TickBands:
    """Upbit's KRW tick bands in force at `at_ms`, with the per-coin exceptions for `base`."""
    if at_ms < UPBIT_ERA_B_FROM_MS:
        return UPBIT_KRW_ERA_A
    if at_ms >= UPBIT_ERA_C_FROM_MS:
        return UPBIT_KRW_ERA_C
    overrides: dict[Decimal, Decimal] = {}
    if base in UPBIT_COARSE_100_COINS and at_ms >= UPBIT_COARSE_100_COINS_FROM_MS:
        overrides[Decimal(100)] = Decimal(1)
    if base in UPBIT_STABLECOINS and at_ms >= UPBIT_STABLE_HALF_TICK_FROM_MS:
        overrides[Decimal(1000)] = Decimal("0.5")
    return tuple((low, overrides.get(low, tick)) for low, tick in UPBIT_KRW_ERA_B)


def _band_tick(bands: TickBands, price: Decimal) -> Decimal:
    for band_min, tick in bands:
        if price >= band_min:
            return tick
    return bands[-1][1]


def upbit_krw_tick(price: float | Decimal, at_ms: int, base: str | None = None) -> Decimal:
    """The Upbit KRW tick size at `price` under the table in force at `at_ms` (epoch ms).

    The exchange's `GET /v1/orderbook/instruments` is the source of truth; this table is
    for replay, paper trading and checking orders before they are sent.
    """
    return _band_tick(upbit_krw_bands(at_ms, base), _dec(price))


def upbit_krw_instrument(
    base: str,
    price: float | Decimal,
    at_ms: int,
    *,
    min_notional: Decimal = Decimal(5000),
    lot: Decimal = Decimal("0.00000001"),
) -> Instrument:
    """A KRW-market instrument whose tick follows Upbit's price bands at `at_ms`.

    `price` only sets the nominal `tick` field (for code that needs one number); rounding
    and checks use the band of each order's own price. Rebuild it when the table changes.
    """
    bands = upbit_krw_bands(at_ms, base)
    return Instrument(
        symbol=f"KRW-{base}",
        base=base,
        quote="KRW",
        tick=_band_tick(bands, _dec(price)),
        lot=lot,
        min_notional=min_notional,
        min_qty=lot,
        max_qty=Decimal(0),
        tick_bands=bands,
    )
