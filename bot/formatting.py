"""Numbers, times and empty values as an operator reads them: one module for every surface.

The command layer answers with exact data (Decimals as strings, rates as floats) so `--json`
and the Telegram-vs-CLI equality tests compare exact values. This module is the only place
that turns those values into text for humans: the CLI tables (bot/cli/main.py, bot/cli/ops.py),
the chat text (bot/ops/command_text.py) and the HTML report (bot/research/report_html.py) all call it, so
`10002.6679839300000000 USDT` reads `10,002.67 USDT` everywhere, and `0E-16` reads `0`.

Pure functions of their arguments; nothing here rounds money that is booked or compared.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from model.instruments import decimals_of

MISSING = "–"  # en dash: shown for None (the value does not exist yet)
SIM_LABEL = " (sim)"  # the simulated market runs 60x ahead of the wall clock: never pass it off as real
# Decimals shown for money in each quote asset. The command answers carry no instrument tick
# for the account currency, so this is the documented default: fiat-like stablecoins to the
# cent, KRW to the won, crypto quotes to the satoshi. Unknown quotes use DEFAULT_MONEY_PLACES.
MONEY_PLACES: dict[str, int] = {
    "USDT": 2, "USDC": 2, "BUSD": 2, "FDUSD": 2, "TUSD": 2, "DAI": 2, "USD": 2, "EUR": 2,
    "GBP": 2, "TRY": 2, "KRW": 0, "JPY": 0, "BTC": 8, "ETH": 8, "BNB": 8,
}
DEFAULT_MONEY_PLACES = 8
QUANTITY_PLACES = 8  # prices and amounts: no tick/lot in the answer, so at most 8 decimals


def _decimal(value: Any) -> Decimal | None:
    """`value` as a finite Decimal, or None when it is missing or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def places_of(step: Decimal | str) -> int:
    """Decimals of a tick or lot step: `0.01` -> 2, `1` -> 0, `1E-8` -> 8."""
    return decimals_of(Decimal(str(step)))


def fixed(value: Any, places: int, *, trim: bool = False, grouped: bool = True) -> str:
    """`value` rounded to `places` decimals in plain notation (never `1E-8`, never `-0`);
    `trim` drops trailing zeros (for prices and amounts, whose exact digits matter)."""
    number = _decimal(value)
    if number is None:
        return MISSING if value is None else str(value)
    rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if rounded == 0:
        rounded = abs(rounded)  # -0.00 reads as a loss that is not there
    text = f"{rounded:,.{places}f}" if grouped else f"{rounded:.{places}f}"
    if trim and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def money(value: Any, quote: str | None = None, *, places: int | None = None,
          unit: bool = False) -> str:
    """An amount of the quote asset to its precision (`places`, e.g. from a tick, wins over
    the quote's default); `unit` appends the asset: `10,002.67 USDT`."""
    digits = places if places is not None else MONEY_PLACES.get((quote or "").upper(),
                                                                DEFAULT_MONEY_PLACES)
    text = fixed(value, digits)
    return f"{text} {quote}" if unit and quote and text != MISSING else text


def quantity(value: Any, step: Decimal | str | None = None) -> str:
    """A price or an amount: to the tick/lot `step` when known, else up to 8 decimals with
    trailing zeros dropped (`101.2300000` -> `101.23`)."""
    if step is not None:
        return fixed(value, places_of(step))
    return fixed(value, QUANTITY_PLACES, trim=True)


def stepped(value: Any, steps: Mapping[str, Any] | None, symbol: str, kind: str) -> str:
    """A price (`kind="tick"`) or an amount (`kind="lot"`) of `symbol`, to the step a command
    answer's `steps` map gives for it; without one, as `quantity` shows it."""
    step = ((steps or {}).get(symbol) or {}).get(kind)
    return quantity(value, step)


def pct(rate: Any, places: int = 2) -> str:
    """A return given as a fraction, signed: 0.0123 -> `+1.23%`."""
    number = _decimal(rate)
    if number is None:
        return MISSING
    shown = fixed(number * 100, places)
    signed = shown if shown.startswith("-") or Decimal(shown.replace(",", "")) == 0 else f"+{shown}"
    return f"{signed}%"


def share(rate: Any, places: int = 2) -> str:
    """A share given as a fraction, unsigned (win rates): 0.5 -> `50.00%`."""
    number = _decimal(rate)
    return MISSING if number is None else f"{fixed(number * 100, places)}%"


def ratio(value: Any, places: int = 2) -> str:
    """A dimensionless ratio (profit factor, score): `1.85`."""
    return fixed(value, places)


def when(ms: int | None, clock: str | None = None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An epoch-ms time in UTC; marked ` (sim)` when it comes from the simulated clock."""
    if ms is None:
        return MISSING
    text = time.strftime(fmt, time.gmtime(ms / 1000))
    return text + SIM_LABEL if clock == "sim" else text


def count(number: int, noun: str) -> str:
    """`1 position`, `2 positions`: a count with its noun (plural by a trailing s)."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def pairs(value: Any, empty: str = "none") -> str:
    """A dict or list as readable text: `{'TRADING_STATE': 1}` -> `TRADING_STATE 1`."""
    if value is None:
        return MISSING
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {pairs(v)}" for k, v in value.items()) or empty
    if isinstance(value, (list, tuple, set)):
        return ", ".join(pairs(v) for v in value) or empty
    return text(value)


def text(value: Any) -> str:
    """Any value for a human: None as `–`, numbers without exponent, containers as pairs."""
    if value is None:
        return MISSING
    if isinstance(value, (Mapping, list, tuple, set)):
        return pairs(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, Decimal)) or (isinstance(value, str) and _decimal(value) is not None
                                                     and value.strip()[:1] in "+-.0123456789"):
        number = _decimal(value)
        if number is not None:
            return fixed(number, QUANTITY_PLACES, trim=True)
    return str(value)
