"""Events to and from their stored form: a kind name and a canonical JSON payload.

The payload is the whole event, so `events` alone can rebuild every projection. Encoding is
canonical (sorted keys, no spaces, Decimal as a plain decimal string, enums by value) because
the determinism digest hashes these bytes: the same event must always give the same text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, get_args, get_type_hints

from model.orders import Accepted, Canceled, Filled, OrderRequest, PartiallyFilled, Rejected


@dataclass(frozen=True, slots=True)
class BalanceSet:
    """The broker's word on one asset's balance (a snapshot, deposit or reconcile)."""

    asset: str
    free: Decimal
    locked: Decimal
    ts_event: int
    ts_recv: int


LedgerEvent = OrderRequest | Accepted | Rejected | PartiallyFilled | Filled | Canceled | BalanceSet
"""Everything `Ledger.record` accepts: order lifecycle events, the requests that start them,
and balance snapshots."""

EVENT_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    OrderRequest, Accepted, Rejected, PartiallyFilled, Filled, Canceled, BalanceSet)}


def decimal_text(value: Decimal) -> str:
    """A Decimal as plain text without exponent ("0.00010", not "1.0E-4"): exact and readable.

    Infinity and NaN are refused: an amount that is not a number would be stored, and every
    later start would fail on it (a `starting_balance = inf` once did exactly that)."""
    if not value.is_finite():
        raise ValueError(f"refusing to record the non-finite amount {value}: every amount in "
                         "the ledger must be a finite number (check the value's source)")
    return format(value, "f")


def optional_text(value: Decimal | None) -> str | None:
    """`decimal_text`, passing None through (a market order has no price)."""
    return None if value is None else decimal_text(value)


def optional_decimal(text: str | None) -> Decimal | None:
    """Stored money text back to Decimal, passing None through."""
    return None if text is None else Decimal(text)


def json_default(value: Any) -> Any:
    """JSON for the types our events, decisions and kv values carry."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot store {type(value).__name__} as JSON: {value!r}")


# One encoder for every call: `json.dumps` with options builds a new JSONEncoder each time,
# half the cost of encoding a decision's reasons (it runs ~40 times a backtest minute).
# Encoding keeps no state between calls, so sharing it is safe; the text is the same.
_CANONICAL = json.JSONEncoder(default=json_default, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False)
# The compiled encoder `_CANONICAL.encode` builds on every call (a few us, a dozen times a
# quiet backtest minute: the cursor, decisions), built once: the same C encoder with the same
# options, so the same text. It is built without the circular-reference markers, which are
# the only state it would keep between calls (and share between threads); no ledger value
# is circular, and one would still fail (RecursionError) and store nothing.
_MAKE_ENCODER: Callable[..., Any] | None = getattr(json.encoder, "c_make_encoder", None)
_COMPILED = None if _MAKE_ENCODER is None else _MAKE_ENCODER(
    None, json_default, json.encoder.encode_basestring, None, ":", ",", True, False, True)


def canonical_json(value: Any) -> str:
    """Deterministic JSON text: sorted keys, no whitespace, Decimals as strings."""
    if _COMPILED is None:  # an interpreter without the C accelerator
        return _CANONICAL.encode(value)
    return "".join(_COMPILED(value, 0))


def encode(event: LedgerEvent) -> tuple[str, str]:
    """(kind, payload JSON) of an event."""
    cls: type = type(event)
    names = _field_names(cls)
    return cls.__name__, canonical_json({name: getattr(event, name) for name in names})


def decode(kind: str, payload: str) -> LedgerEvent:
    """The event a stored (kind, payload) pair came from, with Decimals and enums restored."""
    try:
        cls = EVENT_TYPES[kind]
    except KeyError:
        raise ValueError(f"unknown event kind {kind!r} in the ledger") from None
    raw = json.loads(payload)
    return cls(**{name: convert(raw[name]) for name, convert in _converters(cls)})


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


@cache
def _converters(cls: type) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """Per field, the function that turns its JSON value back into the declared type."""
    hints = get_type_hints(cls)
    return tuple((name, _converter(hints[name])) for name in _field_names(cls))


def _converter(hint: Any) -> Callable[[Any], Any]:
    args = [a for a in get_args(hint) if a is not type(None)]
    optional = len(args) == 1 and type(None) in get_args(hint)
    base = args[0] if optional else hint
    if base is Decimal:
        inner: Callable[[Any], Any] = Decimal
    elif isinstance(base, type) and issubclass(base, Enum):
        inner = base
    else:
        return lambda value: value  # int, str: JSON already has the right type
    if optional:
        return lambda value: None if value is None else inner(value)
    return inner
