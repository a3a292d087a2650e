"""The compiled lane's arithmetic against the exact definitions it stands for: a float's
price on the tick grid (`Instrument.price`), a Decimal's float, the fee rounding
(`model.settlement.fee_of`), the capped entry size (`risk.sizing.size_entry`), and the
VaR/ES verdict (`risk.post_trade.CandidateRisk` with `risk_limit_denial`), which the lane
may leave undecided near a limit but never decides the other way."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from model.instruments import Instrument, Side
from model.settlement import fee_of
from risk.gate import _LIMIT_TOLERANCE
from risk.limits import RiskLimits
from risk.post_trade import CandidateRisk
from risk.sizing import size_entry
from risk.var import ReturnHistory, _tail_index
from trading.lane_book import exact_float, fee_units
from trading.lane_gate import (
    APPROVE,
    BAIL_UNSURE,
    DENY,
    entry_amount,
    grid_ticks,
    on_grid_ticks,
    var_es_verdict,
)

TICK, LOT = Decimal("0.01"), Decimal("0.001")
COIN = Instrument(symbol="COINUSDT", base="COIN", quote="USDT", tick=TICK, lot=LOT,
                  min_notional=Decimal(5))


def test_a_floats_price_on_the_grid_is_the_instruments_down_for_a_buy_up_for_a_sell() -> None:
    rng = np.random.default_rng(4)
    on_grid = np.round(rng.uniform(0.01, 90_000, 3000), 2)  # exactly on ticks, as CSVs are
    near = on_grid * (1 + rng.choice([-1, 1], 3000) * 10.0 ** rng.uniform(-17, -9, 3000))
    anywhere = rng.uniform(0.01, 90_000, 3000) * rng.choice([1.0, 1.005, 0.98], 3000)
    undecided = 0
    for x in np.concatenate([on_grid, near, anywhere]).tolist():
        for side, up in ((Side.BUY, False), (Side.SELL, True)):
            ticks = grid_ticks(x, float(TICK), 1, 2, up)
            if ticks < 0:
                undecided += 1
                continue
            assert Decimal(ticks) * TICK == COIN.price(x, side), (x, side)
    assert undecided == 0


def test_a_mark_is_on_the_grid_only_when_its_shortest_decimal_is() -> None:
    assert on_grid_ticks(123.45, 0.01, 1, 2) == 12345
    assert on_grid_ticks(0.1 + 0.2, 0.01, 1, 2) == -1  # 0.30000000000000004
    assert on_grid_ticks(123.456, 0.01, 1, 2) == -1
    assert on_grid_ticks(math.nan, 0.01, 1, 2) == -1


def test_an_integer_over_a_power_of_ten_is_the_decimals_float() -> None:
    rng = np.random.default_rng(5)
    for number, exponent in zip(rng.integers(-2**53 + 1, 2**53, 5000).tolist(),
                                rng.integers(0, 23, 5000).tolist()):
        assert exact_float(number, exponent) == float(Decimal(number).scaleb(-exponent))
    assert math.isnan(exact_float(2**53, 8))  # past 2^53 the int's float is rounded first


def test_the_fee_is_rounded_up_to_the_quantum_as_fee_of_rounds_it() -> None:
    rng = np.random.default_rng(6)
    for notional in rng.integers(0, 10**14, 3000).tolist():  # 1e-8 USDT units
        for bps, num, exp in (("10", 1, 3), ("7.5", 75, 5), ("0", 0, 0)):
            expected = fee_of(Decimal(notional).scaleb(-8), Decimal(bps) / 10_000)
            assert Decimal(fee_units(notional, num, 10**exp, 1)).scaleb(-8) == expected


def test_a_capped_entry_is_the_sizing_rules_amount_and_no_room_is_none() -> None:
    limits = RiskLimits()
    rng = np.random.default_rng(7)
    for _ in range(2000):
        equity = int(rng.integers(10**9, 10**13))  # 10..100,000 USDT in 1e-8 units
        held = int(rng.integers(0, equity // 10))
        price = round(float(rng.uniform(0.05, 50_000)), 2)
        ticks, stop = round(price * 100), price * 0.98
        scale = 10 ** (8 - 2 - 3)  # U per tick x lot
        rules = np.zeros((1, 7), np.int64)
        rules[0, 6] = scale
        lots = entry_amount(equity, held, ticks, stop, 0, rules, float(LOT), price,
                            float(limits.risk_per_trade_pct) / 100, 1, 20, 8)
        sizing = size_entry(equity=Decimal(equity).scaleb(-8), entry_price=Decimal(ticks) * TICK,
                            stop_price=Decimal(repr(stop)), confidence=1.0,
                            held_value=Decimal(held).scaleb(-8), instrument=COIN, limits=limits)
        if sizing.room_notional <= 0:
            assert lots == -2
        else:
            assert Decimal(lots) * LOT == sizing.amount


@pytest.mark.parametrize("seed", range(6))
def test_the_var_verdict_is_never_the_other_way_from_the_gates(seed: int) -> None:
    """Random books near and far from the limits: each decided verdict is the exact one."""
    rng = np.random.default_rng(seed)
    rows, n, confidence = 1440, 8, 0.95
    returns = rng.standard_t(3, (rows, n)) * 0.002
    history = ReturnHistory.complete(tuple(f"C{i}" for i in range(n)), returns, 1 / 1440)
    tail = _tail_index(rows, confidence)
    decided = 0
    for _ in range(40):
        held = {f"C{i}": float(rng.uniform(10, 600)) for i in range(n) if rng.random() < 0.5}
        equity = float(rng.uniform(2_000, 20_000))
        symbol, order = f"C{rng.integers(n)}", float(rng.uniform(10, 600))
        risk = CandidateRisk(held, equity, history, confidence, 1.0).risk(symbol, order)
        var_limit = risk.var_hist_frac * float(rng.choice([0.5, 0.999999, 1.0, 1.000001, 2.0]))
        es_limit = risk.es_hist_frac * float(rng.choice([0.5, 0.999999, 1.0, 2.0]))
        exact = (DENY if risk.var_hist_frac > var_limit + _LIMIT_TOLERANCE
                 or risk.es_hist_frac > es_limit + _LIMIT_TOLERANCE else APPROVE)
        weights = np.zeros(n)
        for name, value in held.items():
            weights[int(name[1:])] = value
        weights[int(symbol[1:])] += order
        verdict = var_es_verdict(np.ascontiguousarray(returns.T), 0, rows, weights, tail, 0.0,
                                 rows * (1 - confidence), math.sqrt(1440) / equity,
                                 var_limit + _LIMIT_TOLERANCE, es_limit + _LIMIT_TOLERANCE)
        if verdict != BAIL_UNSURE:
            decided += 1
            assert verdict == exact
    assert decided >= 20  # only limits within a hair of the figure stay undecided
