"""Grid arithmetic in model/instruments.py: the one place a value is put on a tick or lot grid
(the instrument's order rounding, the paper broker's fills, the ccxt adapters' floats, the
fill log's text). One row per rule."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN
from decimal import Decimal as D

import pytest

from model.instruments import (
    UPBIT_ERA_B_FROM_MS,
    UPBIT_ERA_C_FROM_MS,
    UPBIT_STABLE_HALF_TICK_FROM_MS,
    decimals_of,
    float_to_grid,
    grid_text,
    to_grid,
    upbit_krw_tick,
)


@pytest.mark.parametrize(("step", "decimals"), [
    ("0.001", 3), ("0.5", 1), ("10", 0), ("1E+1", 0), ("1", 0), ("0.00000001", 8),
    ("0.0100", 2),  # trailing zeros do not count: the grid is 0.01
])  # fmt: skip
def test_decimals_of_a_step_are_its_significant_decimals(step: str, decimals: int) -> None:
    assert decimals_of(D(step)) == decimals


@pytest.mark.parametrize(("value", "step", "rounding", "expected"), [
    ("0.12345", "0.001", ROUND_HALF_EVEN, "0.123"),
    ("0.1235", "0.001", ROUND_HALF_EVEN, "0.124"),  # a half goes to the even multiple...
    ("0.1225", "0.001", ROUND_HALF_EVEN, "0.122"),  # ...in either direction
    ("0.1239", "0.001", ROUND_FLOOR, "0.123"),
    ("0.1231", "0.001", ROUND_CEILING, "0.124"),
    ("15", "10", ROUND_HALF_EVEN, "20"),
    ("25", "10", ROUND_HALF_EVEN, "20"),
    ("1239", "10", ROUND_FLOOR, "1230"),
    ("1231", "10", ROUND_CEILING, "1240"),
    ("1.3", "0.5", ROUND_HALF_EVEN, "1.5"),
    ("1.25", "0.5", ROUND_HALF_EVEN, "1.0"),
    ("1.4", "0.5", ROUND_FLOOR, "1.0"),
    ("1.1", "0.5", ROUND_CEILING, "1.5"),
    ("0.123", "0.001", ROUND_FLOOR, "0.123"),  # on the grid: unchanged in every direction
    ("0.123", "0.001", ROUND_CEILING, "0.123"),
])  # fmt: skip
def test_to_grid_moves_a_value_to_a_multiple_of_the_step_in_the_rounding_direction(
        value: str, step: str, rounding: str, expected: str) -> None:
    result = to_grid(D(value), D(step), rounding)
    assert result == D(expected)
    assert result % D(step) == 0


def test_to_grid_rounds_to_nearest_by_default() -> None:
    assert to_grid(D("0.1235"), D("0.001")) == D("0.124")
    assert to_grid(D("0.1225"), D("0.001")) == D("0.122")


def test_to_grid_puts_a_float_handed_over_by_ccxt_back_on_the_exact_grid() -> None:
    noisy = D(str(0.1 + 0.2))  # 0.30000000000000004
    assert to_grid(noisy, D("0.01")) == D("0.30")
    assert to_grid(D(str(0.07 * 3)), D("0.001")) == D("0.210")


@pytest.mark.parametrize(("price", "at_ms", "base", "rounding", "expected"), [
    (1_234_567, UPBIT_ERA_C_FROM_MS, "BTC", ROUND_FLOOR, "1234000"),  # tick 1000
    (1_234_567, UPBIT_ERA_C_FROM_MS, "BTC", ROUND_CEILING, "1235000"),
    (0.123456, UPBIT_ERA_B_FROM_MS, "XRP", ROUND_HALF_EVEN, "0.1235"),  # tick 0.0001
    (1380.3, UPBIT_STABLE_HALF_TICK_FROM_MS, "USDT", ROUND_HALF_EVEN, "1380.5"),  # tick 0.5
    (1380.2, UPBIT_STABLE_HALF_TICK_FROM_MS, "USDT", ROUND_FLOOR, "1380.0"),
])  # fmt: skip
def test_to_grid_on_the_upbit_tick_band_of_the_price(price: float, at_ms: int, base: str,
                                                     rounding: str, expected: str) -> None:
    tick = upbit_krw_tick(price, at_ms, base)
    assert to_grid(D(str(price)), tick, rounding) == D(expected)


@pytest.mark.parametrize(("value", "step", "expected"), [
    (0.1 + 0.2, "0.1", "0.3"),
    (0.1 + 0.2, "0.01", "0.30"),
    (12_345.0, "10", "12340"),  # 1234.5: a half goes to the even multiple
    (12_355.0, "10", "12360"),
    (1.3, "0.5", "1.5"),
    (3 * 0.1, "0.001", "0.300"),
])  # fmt: skip
def test_float_to_grid_gives_the_nearest_multiple_of_the_step(value: float, step: str,
                                                              expected: str) -> None:
    assert float_to_grid(value, D(step)) == D(expected)


def test_float_to_grid_decides_in_float_as_the_fill_model_does() -> None:
    """The quotient is a float: 0.0045000000000000005 / 0.001 is exactly 4.5 in float, a half
    that goes to 4, where exact Decimal arithmetic sees 4.5000000000000005 and goes to 5. The
    paper books (and so the backtest ledger digests) rest on the float reading."""
    value = 0.0045000000000000005
    assert float_to_grid(value, D("0.001")) == D("0.004")
    assert to_grid(D(str(value)), D("0.001")) == D("0.005")


@pytest.mark.parametrize(("value", "step", "text"), [
    ("0.1", "0.001", "0.100"),
    ("1.23456789", "0.01", "1.23"),
    ("1E-8", "0.00000001", "0.00000001"),  # never scientific notation
    ("5E+3", "1", "5000"),
    ("1234", "10", "1234"),  # a whole-number step writes no decimals
    ("0.12", "0.5", "0.1"),  # the step's decimals, not its multiples
    ("1.2300", "0", "1.2300"),  # no known grid: written as it is
])  # fmt: skip
def test_grid_text_writes_a_value_with_exactly_the_decimals_of_the_step(
        value: str, step: str, text: str) -> None:
    assert grid_text(D(value), D(step)) == text
