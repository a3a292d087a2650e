"""A decision step's rows (trading/step_records.py) are `decision_row`'s, column for column."""

from __future__ import annotations

import pytest

from state.decision_rows import decision_row
from strategies.policy import Action, PolicyAction
from strategies.ranking import RankedCoin
from trading.step_records import hold_row, reasons_json, step_row

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
