"""bot/formatting.py: what an operator reads, one row per rule."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bot import formatting as fmt

SIM_MS = 1_796_648_700_000  # 2026-12-07 13:05 UTC


@pytest.mark.parametrize(("shown", "expected"), [
    (fmt.money("10002.6679839300000000", "USDT", unit=True), "10,002.67 USDT"),
    (fmt.money("0E-16", "USDT"), "0.00"),
    (fmt.money("-0.0001", "USDT"), "0.00"),  # no "-0.00": a loss that is not there
    (fmt.money("-12.346", "USDT"), "-12.35"),
    (fmt.money("1234567", "KRW", unit=True), "1,234,567 KRW"),
    (fmt.money("0.000123456789", "BTC"), "0.00012346"),
    (fmt.money("1.5", "XYZ"), "1.50000000"),  # unknown quote: the documented default
    (fmt.money("1.239", "USDT", places=1), "1.2"),  # a known tick wins over the default
    (fmt.money(None, "USDT", unit=True), "–"),
    (fmt.quantity("101.2300000"), "101.23"),
    (fmt.quantity("0E-16"), "0"),
    (fmt.quantity("1E-8"), "0.00000001"),
    (fmt.quantity("3.14159", Decimal("0.01")), "3.14"),
    (fmt.quantity("2", "0.001"), "2.000"),
    (fmt.pct(0.012345), "+1.23%"),
    (fmt.pct(-0.5), "-50.00%"),
    (fmt.pct(0.0), "0.00%"),
    (fmt.pct(1e-9), "0.00%"),  # rounds to zero: no sign
    (fmt.pct(None), "–"),
    (fmt.share(0.5), "50.00%"),
    (fmt.share(None), "–"),
    (fmt.ratio(4.111208088461538461538461538), "4.11"),
    (fmt.ratio(None), "–"),
    (fmt.text("4.111208088461538461538461538"), "4.11120809"),
    (fmt.text({"TRADING_STATE": 1, "VAR_LIMIT": 2}), "TRADING_STATE 1, VAR_LIMIT 2"),
    (fmt.text({}), "none"),
    (fmt.text(["a", None]), "a, –"),
    (fmt.text(None), "–"),
    (fmt.text(True), "yes"),
    (fmt.text("BTCUSDT"), "BTCUSDT"),
    (fmt.when(SIM_MS, "sim"), "2026-12-07 13:05 (sim)"),
    (fmt.when(SIM_MS, "wall"), "2026-12-07 13:05"),
    (fmt.when(None, "sim"), "–"),
    (fmt.places_of("0.0100"), 2),
    (fmt.places_of("1E-8"), 8),
    (fmt.places_of("10"), 0),
])
def test_each_value_reads_as_an_operator_expects(shown: Any, expected: Any) -> None:
    assert shown == expected


@pytest.mark.parametrize("raw", ["1E-12", "0E-16", "123456789.123456789", "-7.5E+3"])
def test_no_exponent_notation_ever(raw: str) -> None:
    for shown in (fmt.money(raw, "USDT"), fmt.quantity(raw), fmt.text(raw), fmt.pct(raw)):
        assert "E" not in shown.upper(), shown


@pytest.mark.parametrize(("value", "kind", "expected"), [
    ("101.2300000", "tick", "101.23"),  # AAAUSDT tick 0.01
    ("101.2", "tick", "101.20"),
    ("4.9490000", "lot", "4.949"),  # lot 0.001
    ("4.9", "lot", "4.900"),
])
def test_prices_show_to_the_tick_and_amounts_to_the_lot(value: str, kind: str,
                                                         expected: str) -> None:
    steps = {"AAAUSDT": {"tick": "0.01", "lot": "0.001"}, "KRW-BTC": {"tick": None, "lot": "1E-8"}}
    assert fmt.stepped(value, steps, "AAAUSDT", kind) == expected


@pytest.mark.parametrize(("symbol", "kind", "expected"), [
    ("KRW-BTC", "tick", "95,000,000"),  # banded tick (Upbit): no single tick, zeros dropped
    ("KRW-BTC", "lot", "95,000,000.00000000"),
    ("UNKNOWN", "tick", "95,000,000"),
])
def test_without_a_step_the_quantity_default_applies(symbol: str, kind: str, expected: str) -> None:
    steps = {"KRW-BTC": {"tick": None, "lot": "1E-8"}}
    assert fmt.stepped("95000000.000", steps, symbol, kind) == expected
