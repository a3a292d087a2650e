"""The decision step's slot-by-slot makers (strategies/slot_init.py) make the very objects
the dataclasses' own constructors make: equal, hashing alike, every field the same, and
none left unset; and a class whose slots are not its fields in order is refused."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from model import libm
from strategies.edge import barrier_logs
from strategies.policy import (
    Action,
    DecisionView,
    Holding,
    PolicyAction,
    Quote,
    RestingOrder,
    decision_view,
    hold_action,
    quote_of,
)
from strategies.ranking import RankedCoin, ranked_coin
from strategies.slot_init import slot_setters


def _fields(obj: object) -> list[object]:
    return [getattr(obj, field.name) for field in dataclasses.fields(obj)]  # type: ignore[arg-type]


def test_a_hold_action_is_the_policy_action_of_a_hold() -> None:
    made = hold_action("BTCUSDT", "score 0.15 < 0.20")
    expected = PolicyAction("BTCUSDT", Action.HOLD, reason="score 0.15 < 0.20")
    assert made == expected and hash(made) == hash(expected)
    assert _fields(made) == _fields(expected)
    assert type(made) is PolicyAction


def test_a_ranked_coin_is_the_dataclass_coin_with_no_forecast_or_anomaly() -> None:
    reasons = (("1h momentum +0.10%", 0.001), ("1d momentum -0.20%", -0.0005))
    made = ranked_coin("ETHUSDT", 0.31, 2e-5, 1e-3, reasons, '["1h momentum +0.10%"]')
    expected = RankedCoin("ETHUSDT", 0.31, 2e-5, 1e-3, reasons,
                          reasons_json='["1h momentum +0.10%"]')
    assert made == expected and hash(made) == hash(expected)
    assert _fields(made) == _fields(expected)
    assert made.reasons_json == '["1h momentum +0.10%"]'
    assert ranked_coin("X", 0.1, 0.0, 0.1, (), None).reasons_json is None


def test_a_quote_is_the_dataclass_quote() -> None:
    made, expected = quote_of(100.0, 99.9, math.nan), Quote(100.0, 99.9, math.nan)
    assert _fields(made)[:2] == _fields(expected)[:2] and math.isnan(made.ask)
    assert quote_of(1.0, 0.5, 2.0) == Quote(1.0, 0.5, 2.0)
    assert hash(quote_of(1.0, 0.5, 2.0)) == hash(Quote(1.0, 0.5, 2.0))
    assert type(made) is Quote


def test_a_decision_view_is_the_dataclass_view_of_every_field() -> None:
    features = np.zeros((2, 3))
    values = dict(ts_ms=120_000, symbols=("AUSDT", "BUSDT"), features=features,
                  feature_names=("a", "b", "c"), ranking=(), quotes={"AUSDT": Quote(1, 0.9, 1.1)},
                  holdings={"AUSDT": Holding(1.0, 1.0, 0)},
                  open_orders=(RestingOrder("E-1", "BUSDT", "BUY", 1.0, 1.0, 0),),
                  equity=1000.0, bars=None, cash=250.0, mode="REDUCING")
    made = decision_view(**values)  # type: ignore[arg-type]
    expected = DecisionView(**values)  # type: ignore[arg-type]
    assert type(made) is DecisionView
    assert [getattr(made, f.name) is getattr(expected, f.name)
            for f in dataclasses.fields(DecisionView)] == [True] * 12


def test_a_class_whose_slots_are_not_its_fields_in_order_is_refused() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Ok:
        a: int
        b: str = ""

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")

    assert len(slot_setters(Ok)) == 2
    for cls in (NoSlots, Checked):
        with pytest.raises(TypeError):
            slot_setters(cls)


@pytest.mark.parametrize(("target", "stop"), [
    (1.0, 1.0), (0.7, 2.5), (0.0, 0.0), (-0.0, 0.0), (0.0, -0.0), (-0.0, -0.0), (3.0, 100.0),
    (1e-9, 99.995)])
def test_the_barrier_logs_are_the_libm_logs_of_the_settings(target: float, stop: float) -> None:
    up, down = barrier_logs(target, stop)
    want_up = float(libm.log1p(target / 100))
    want_down = float(-libm.log1p(-min(stop, 99.99) / 100))
    assert (up.hex(), down.hex()) == (want_up.hex(), want_down.hex())
    assert math.copysign(1.0, up) == math.copysign(1.0, want_up)  # -0.0 keeps its sign
