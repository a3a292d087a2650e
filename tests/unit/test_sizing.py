"""Sizing: 2 % risk x confidence / stop distance, capped at 5 % of equity, rounded down to lot."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from model.instruments import Instrument, Side
from risk.limits import RiskLimits
from risk.sizing import size_entry, stop_distance, too_small

COIN = Instrument("XUSDT", "X", "USDT", tick=D("0.01"), lot=D("0.001"), min_notional=D("5"))
EQUITY = D("10000")


def sized(entry: str, stop: str, confidence: float = 1.0, held: str = "0", cap: str = "5"):
    return size_entry(
        equity=EQUITY,
        entry_price=D(entry),
        stop_price=D(stop),
        confidence=confidence,
        held_value=D(held),
        instrument=COIN,
        limits=RiskLimits(max_position_pct=D(cap)),
    )


@pytest.mark.parametrize(
    ("rule", "entry", "stop", "confidence", "held", "cap", "amount", "capped"),
    [
        # 10000 x 2% / 50% = 400 USDT -> 4 X at 100: the risk budget, under the 5% cap.
        ("two_percent_risk_over_stop_distance", "100", "50", 1.0, "0", "5", "4", False),
        ("confidence_scales_linearly", "100", "50", 0.5, "0", "5", "2", False),
        ("half_the_stop_distance_doubles_the_size", "100", "75", 1.0, "0", "100", "8", False),
        # 10000 x 2% x 0.8 / 1% = 16000 -> capped at 500 USDT -> 5 X.
        ("cap_at_five_percent_of_equity", "100", "99", 0.8, "0", "5", "5", True),
        ("existing_position_counts_against_the_cap", "100", "99", 0.8, "200", "5", "3", True),
        ("full_cap_leaves_no_room", "100", "99", 0.8, "500", "5", "0", True),
        ("over_cap_leaves_no_room_not_a_sell", "100", "99", 0.8, "900", "5", "0", True),
        # 400 / 30 = 13.3333... -> 13.333 on the 0.001 lot grid (down, never up).
        ("amount_rounds_down_to_lot", "30", "15", 1.0, "0", "5", "13.333", False),
    ],
)
def test_sizing_rule(
    rule: str,
    entry: str,
    stop: str,
    confidence: float,
    held: str,
    cap: str,
    amount: str,
    capped: bool,
) -> None:
    result = sized(entry, stop, confidence, held, cap)
    assert result.amount == D(amount), rule
    assert result.capped is capped, rule
    assert result.notional == result.amount * result.price


def test_breakdown_says_why_this_size() -> None:
    result = sized("100", "99", confidence=0.8)
    assert result.breakdown == (
        "2% risk × 0.8 confidence / 1% stop = 160% of equity → capped at 5% = 500 USDT"
        " → 5 X at 100"
    )


def test_breakdown_of_uncapped_size_shows_the_risk_budget() -> None:
    assert sized("100", "50").breakdown == (
        "2% risk × 1 confidence / 50% stop = 4% of equity = 400 USDT → 4 X at 100"
    )


def test_breakdown_mentions_what_is_already_held() -> None:
    assert "capped at 5% less 200 USDT held = 300 USDT" in sized("100", "99", 0.8, "200").breakdown


def test_entry_price_is_rounded_down_to_tick_before_sizing() -> None:
    result = sized("100.009", "50")
    assert result.price == D("100.00")


def test_cap_binds_even_when_lot_rounding_is_coarse() -> None:
    coarse = Instrument("YUSDT", "Y", "USDT", tick=D("0.01"), lot=D("1"), min_notional=D("5"))
    result = size_entry(
        equity=EQUITY,
        entry_price=D("300"),
        stop_price=D("297"),
        confidence=1.0,
        held_value=D("0"),
        instrument=coarse,
        limits=RiskLimits(),
    )
    assert result.amount == D("1") and result.notional <= D("500")


def test_amount_is_clipped_to_the_exchange_max_qty() -> None:
    small_max = Instrument(
        "ZUSDT", "Z", "USDT", tick=D("0.0001"), lot=D("1"), min_notional=D("1"), max_qty=D("100")
    )
    result = size_entry(
        equity=EQUITY,
        entry_price=D("0.01"),
        stop_price=D("0.005"),
        confidence=1.0,
        held_value=D("0"),
        instrument=small_max,
        limits=RiskLimits(),
    )
    assert result.amount == D("100")


@pytest.mark.parametrize(
    ("entry", "stop", "side", "distance"),
    [("100", "99", Side.BUY, "0.01"), ("100", "102", Side.SELL, "0.02")],
)
def test_stop_distance_is_a_fraction_of_entry(entry: str, stop: str, side: Side, distance: str):
    assert stop_distance(D(entry), D(stop), side) == D(distance)


@pytest.mark.parametrize(
    ("entry", "stop", "side"),
    [
        ("100", "100", Side.BUY),
        ("100", "101", Side.BUY),
        ("100", "99", Side.SELL),
        ("0", "1", Side.BUY),
    ],
)
def test_stop_on_the_wrong_side_or_at_entry_is_refused(entry: str, stop: str, side: Side):
    with pytest.raises(ValueError):
        stop_distance(D(entry), D(stop), side)


@pytest.mark.parametrize("confidence", [0.0, -0.1, 1.01, float("nan")])
def test_confidence_outside_zero_one_is_refused(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        sized("100", "50", confidence=confidence)


@pytest.mark.parametrize(
    ("amount", "price", "why"),
    [
        ("0", "100", "rounds down to 0"),
        ("0.04", "100", "notional 4 USDT < min notional 5 USDT"),
    ],
)
def test_too_small_names_the_rule(amount: str, price: str, why: str) -> None:
    assert why in (too_small(COIN, D(amount), D(price)) or "")


def test_exactly_min_notional_is_big_enough() -> None:
    assert too_small(COIN, D("0.05"), D("100")) is None


def test_below_min_qty_is_too_small() -> None:
    with_min_qty = Instrument(
        "XUSDT", "X", "USDT", tick=D("0.01"), lot=D("0.001"), min_notional=D("0"), min_qty=D("1")
    )
    assert "min qty 1" in (too_small(with_min_qty, D("0.5"), D("100")) or "")


def test_limits_from_config_mapping_are_exact_decimals() -> None:
    limits = RiskLimits.from_mapping({"risk_per_trade_pct": 1.5, "fee_reserve_pct": 0.1})
    assert limits.risk_per_trade_pct == D("1.5") and limits.fee_reserve_pct == D("0.1")


@pytest.mark.parametrize(
    "values",
    [
        {"daily_loss_reduce_pct": 6, "daily_loss_halt_pct": 5},
        {"max_position_pct": 0},
        {"var_confidence": 1.0},
        {"no_such_key": 1},
    ],
)
def test_inconsistent_limits_are_refused(values: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RiskLimits.from_mapping(values)
