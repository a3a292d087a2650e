"""`canonical_json` (state/codec.py) encodes with a compiled encoder built once; its text must
be the very text of `json.dumps` with the canonical options, which the determinism digest of
every ledger already hashes."""

from __future__ import annotations

import json
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest

from model.instruments import Side
from state.codec import canonical_json, json_default


class _Mode(Enum):
    ACTIVE = "ACTIVE"
    NUMBERED = 2


def _reference(value: Any) -> str:
    """The canonical form by definition: `json.dumps`, sorted keys, no spaces, UTF-8 text."""
    return json.dumps(value, default=json_default, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)


VALUES: list[Any] = [
    None, True, False, 0, -1, 2**70, 1.5, -0.0, 1e300, 1e-7, float(2**53), 1.0 / 3,
    float("nan"), float("inf"), float("-inf"),
    "", "plain", 'quote " backslash \\ newline \n control \x01', "é ü 日本",
    [], {}, (1, 2), [1, [2, [3, []]]],
    Decimal("1.2300"), Decimal("-0E-8"), Decimal("1E+3"), Decimal("123456789.000000001"),
    _Mode.ACTIVE, _Mode.NUMBERED, Side.BUY,
    {"b": [1, {"z": Decimal("3"), "a": None}], "a": _Mode.NUMBERED, "é": "ü"},
    {1: "int key", 2: "sorted as text"}, {True: 1, False: 2},
    [12, 345], {"BTCUSDT": 1_700_000_000_000, "ETHUSDT": 1_700_000_060_000},
    {"mode": "ACTIVE", "peak_equity": "10000.00", "paused": False, "day_start_ms": 0},
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_canonical_json_is_the_json_dumps_text(value: Any) -> None:
    assert canonical_json(value) == _reference(value)


def test_a_value_json_cannot_store_is_refused_as_before() -> None:
    with pytest.raises(TypeError, match="cannot store object"):
        canonical_json({"x": object()})


def test_keys_of_mixed_types_are_refused_as_before() -> None:
    with pytest.raises(TypeError):
        _reference({1: 2, "a": 3})
    with pytest.raises(TypeError):
        canonical_json({1: 2, "a": 3})


def test_a_refused_value_leaves_the_next_encoding_unchanged() -> None:
    shared = {"a": 1}
    with pytest.raises(TypeError):
        canonical_json([shared, object()])
    assert canonical_json([shared, shared]) == _reference([shared, shared])
