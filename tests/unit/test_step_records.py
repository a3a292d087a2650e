"""A decision step's rows (trading/step_records.py) are `decision_row`'s, column for column."""

from __future__ import annotations

import random

import pytest

from state.decision_rows import decision_row
from strategies.policy import Action, PolicyAction
from strategies.ranking import RankedCoin
from trading.step_records import hold_row, hold_values, reasons_json, step_row

REASONS = (("1h momentum +2.02%", 1e-3), ('6h "quoted" \u00e9\\', -2e-4))
PLAIN = RankedCoin("AUSDT", 0.31, 1e-5, 2e-3, REASONS)
FORECAST = RankedCoin("AUSDT", 0.31, 1e-5, 2e-3, REASONS, forecast_return=0.004,
                      forecast_confidence=0.61, anomaly_score=0.2)


def expected(ts: int, action: PolicyAction, verdict: str, detail: str, sizing: object,
             coin: RankedCoin | None, anomaly: float | None) -> tuple[object, ...]:
    """What the step wrote before: `decision_row` with the coin's fields."""
    return decision_row(
        ts, action.symbol, action.action.value, verdict,
        score=coin.score if coin else None,
        reasons=[text for text, _ in coin.reasons] if coin else None,
        sizing=sizing, detail=detail or action.reason, anomaly_score=anomaly,
        forecast_return=coin.forecast_return if coin else None,
        forecast_confidence=coin.forecast_confidence if coin else None)


@pytest.mark.parametrize("coin", [None, PLAIN, FORECAST])
@pytest.mark.parametrize(("action", "verdict", "detail", "sizing"), [
    (PolicyAction("AUSDT", Action.HOLD, reason="score 0.19 < 0.20"), "HOLD",
     "score 0.19 < 0.20", None),
    (PolicyAction("AUSDT", Action.BUY, 1.5, 1.4, 0.3, reason="rank"), "APPROVED",
     "rank; sized", {"risk": "0.01", "cap": 5}),
    (PolicyAction("AUSDT", Action.SELL, 1.6, reason="take profit"), "DENIED:VAR_LIMIT", "",
     None),
    (PolicyAction("AUSDT", Action.CANCEL_BUY, client_order_id="o-1"), "APPROVED", "", None),
])
@pytest.mark.parametrize("anomaly", [None, 0.75])
def test_a_steps_row_holds_decision_rows_values(coin: RankedCoin | None, action: PolicyAction,
                                                verdict: str, detail: str, sizing: object,
                                                anomaly: float | None) -> None:
    got = step_row(1_700_000_000_000, action, verdict, detail, sizing, coin, anomaly)
    assert got == expected(1_700_000_000_000, action, verdict, detail, sizing, coin, anomaly)
    assert [type(v) for v in got] == [
        type(v) for v in expected(1_700_000_000_000, action, verdict, detail, sizing, coin,
                                  anomaly)]


def test_reasons_are_the_rankings_text_when_it_made_one_else_encoded() -> None:
    # the ranking's own text is trusted as it is (it is canonical by construction,
    # tests/unit/test_ranking.py); a coin made elsewhere is encoded with escapes
    made = RankedCoin("AUSDT", 0.3, 0.0, 1e-3, REASONS, reasons_json='["as ranked"]')
    assert reasons_json(made) == '["as ranked"]'
    assert reasons_json(PLAIN) == '["1h momentum +2.02%","6h \\"quoted\\" \u00e9\\\\"]'


@pytest.mark.parametrize("coin", [
    None, PLAIN, FORECAST,
    RankedCoin("AUSDT", 0.3, 0.0, 1e-3, REASONS, reasons_json='["as ranked"]')])
@pytest.mark.parametrize("anomaly", [None, 0.75])
@pytest.mark.parametrize("reason", ["score 0.19 < 0.20", ""])
def test_a_holds_row_is_the_steps_row_of_a_hold(coin: RankedCoin | None,
                                                 anomaly: float | None, reason: str) -> None:
    # the trader writes a HOLD's row without the gate's verdict: the same row, typed alike
    action = PolicyAction("AUSDT", Action.HOLD, reason=reason)
    got = hold_row(1_700_000_000_000, action, coin, anomaly)
    want = step_row(1_700_000_000_000, action, "HOLD", reason, None, coin, anomaly)
    assert got == want
    assert [type(v) for v in got] == [type(v) for v in want]
    if coin is None or coin.reasons_json is None:  # else the ranking's own text, as trusted
        assert got == expected(1_700_000_000_000, action, "HOLD", reason, None, coin, anomaly)


RANKED = RankedCoin("AUSDT", 0.31, 1e-5, 2e-3, REASONS, reasons_json='["as ranked"]')
OTHER = RankedCoin("BUSDT", 0.12, -1e-5, 3e-3, REASONS, reasons_json='["b"]')
THIRD = RankedCoin("CUSDT", 0.05, 0.0, 1e-3, REASONS, reasons_json="[]")


def _reference(ts: int, actions: list[PolicyAction],
               ranking: tuple[RankedCoin, ...]) -> list[object] | None:
    """What hold_values must give: each action's hold_row, looked up by symbol, its
    varying values (ts, symbol, score, reasons, detail) row after row; None unless every
    action is a HOLD of a ranked coin with reasons' text and no forecast."""
    coins = {coin.symbol: coin for coin in ranking}
    values: list[object] = []
    for action in actions:
        coin = coins.get(action.symbol)
        if (action.action is not Action.HOLD or coin is None or coin.reasons_json is None
                or coin.forecast_return is not None or coin.forecast_confidence is not None):
            return None
        row = hold_row(ts, action, coin, None)
        assert row[4:7] == ("HOLD", None, "HOLD") and row[8:] == (None, None, None)
        values.extend(row[j] for j in (0, 1, 2, 3, 7))
    return values


def test_a_quiet_steps_hold_values_are_its_hold_rows_varying_values_in_order() -> None:
    # given a step that holds the ranked coins (the ranking's reasons' text, no forecast)
    ranking = (OTHER, RANKED)
    actions = [PolicyAction("BUSDT", Action.HOLD, reason="edge 1 bps"),
               PolicyAction("AUSDT", Action.HOLD, reason="")]
    # when its values are laid out for Ledger.record_holds
    got = hold_values(1_700_000_000_000, actions, ranking)
    # then they are each hold_row's ts, symbol, score, reasons and detail, row after row
    assert got == [1_700_000_000_000, "BUSDT", 0.12, '["b"]', "edge 1 bps",
                   1_700_000_000_000, "AUSDT", 0.31, '["as ranked"]', ""]
    assert got == _reference(1_700_000_000_000, actions, ranking)


@pytest.mark.parametrize("seed", range(30))
def test_hold_values_in_any_order_or_subset_of_the_ranking_are_its_rows(seed: int) -> None:
    # the ranking's order read pairwise, any other order or subset looked up by symbol
    rng = random.Random(seed)
    ranking = tuple(rng.sample((RANKED, OTHER, THIRD), rng.randrange(4)))
    symbols = [c.symbol for c in ranking]
    if rng.random() < 0.5:
        pool = symbols + ["DUSDT"] * rng.randrange(2)
        symbols = rng.sample(pool, rng.randrange(len(pool) + 1))
    actions = [PolicyAction(s, Action.HOLD if rng.random() < 0.9 else Action.SELL, 1.0,
                            reason=f"r{s}") for s in symbols]
    assert hold_values(60_000, actions, ranking) == _reference(60_000, actions, ranking)


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize(("action", "coin"), [
    (PolicyAction("AUSDT", Action.BUY, 1.5, 1.4, 0.3, reason="rank"), RANKED),  # not a HOLD
    (PolicyAction("AUSDT", Action.HOLD), None),                                  # not ranked
    (PolicyAction("AUSDT", Action.HOLD), PLAIN),                     # reasons not yet text
    (PolicyAction("AUSDT", Action.HOLD),
     RankedCoin("AUSDT", 0.3, 0.0, 1e-3, REASONS, forecast_return=0.004,
                reasons_json="[]")),                                             # a forecast
    (PolicyAction("AUSDT", Action.HOLD),
     RankedCoin("AUSDT", 0.3, 0.0, 1e-3, REASONS, forecast_confidence=0.6,
                reasons_json="[]")),
])
def test_a_step_with_any_other_action_or_coin_has_no_hold_values(
        action: PolicyAction, coin: RankedCoin | None, aligned: bool) -> None:
    # the trader then writes hold_row / step_row rows, which carry what a HOLD row cannot
    actions = [PolicyAction("BUSDT", Action.HOLD), action]
    ranking = (OTHER, *([coin] if coin is not None else [THIRD]))
    if not aligned:
        ranking = ranking[::-1]
    assert hold_values(60_000, actions, ranking) is None
