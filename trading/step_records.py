"""The decisions table's rows of one decision step, put together from what it decided.

Apart from trading/trader.py because a quiet step writes one row per ranked coin (ten a
minute at the default `top_k`), nearly all of them HOLDs: a row is one tuple built here
without a keyword call each, the coin's reasons come as the JSON text the ranking
formatted them in (`RankedCoin.reasons_json`) and the action's text from a table. The
values are `state.decision_rows.decision_row`'s, column for column (tests/unit/
test_step_records.py holds the two together). A step of HOLDs only (most of them) skips
the rows: `hold_values` lays their varying values out in one list for one INSERT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from state.codec import canonical_json
from strategies.policy import Action, PolicyAction
from strategies.ranking import RankedCoin

#: Each action's text in the decisions table (`Action.value`, read once).
ACTION_TEXT: dict[Action, str] = {action: action.value for action in Action}


def reasons_json(coin: RankedCoin) -> str:
    """The coin's reasons' words as the ledger stores them (canonical JSON of the list):
    the text `rank` formatted, or encoded here for a coin made elsewhere."""
    text = coin.reasons_json
    return text if text is not None else canonical_json([words for words, _ in coin.reasons])


def step_row(ts_ms: int, action: PolicyAction, verdict: str, detail: str, sizing: Any,
             coin: RankedCoin | None, anomaly_score: float | None) -> tuple[Any, ...]:
    """The row of one decided action: `decision_row(ts_ms, action.symbol, action.action,
    verdict, score=..., reasons=..., sizing=sizing, detail=detail or action.reason, ...)`
    with the coin's score, reasons and forecast when it was ranked (None otherwise)."""
    if coin is None:
        return (ts_ms, action.symbol, None, None, ACTION_TEXT[action.action],
                None if sizing is None else canonical_json(sizing), verdict,
                detail or action.reason, anomaly_score, None, None)
    return (ts_ms, action.symbol, coin.score, reasons_json(coin), ACTION_TEXT[action.action],
            None if sizing is None else canonical_json(sizing), verdict,
            detail or action.reason, anomaly_score, coin.forecast_return,
            coin.forecast_confidence)


def hold_row(ts_ms: int, action: PolicyAction, coin: RankedCoin | None,
             anomaly_score: float | None) -> tuple[Any, ...]:
    """`step_row(ts_ms, action, "HOLD", action.reason, None, coin, anomaly_score)` of a
    HOLD action (the gate weighs nothing): most of a step's rows, so written out without
    the verdict, sizing and action lookups."""
    if coin is None:
        return (ts_ms, action.symbol, None, None, "HOLD", None, "HOLD", action.reason,
                anomaly_score, None, None)
    text = coin.reasons_json
    return (ts_ms, action.symbol, coin.score,
            text if text is not None else canonical_json([words for words, _ in coin.reasons]),
            "HOLD", None, "HOLD", action.reason, anomaly_score, coin.forecast_return,
            coin.forecast_confidence)


def hold_values(ts_ms: int, actions: list[PolicyAction],
                ranking: Sequence[RankedCoin]) -> list[Any] | None:
    """A quiet step's decisions for `Ledger.record_holds`: each action's ts, symbol, score,
    reasons' text and detail, one row after the other, when every action is a HOLD of a
    coin of `ranking` (its symbols distinct) that has its reasons' text and no forecast
    (the rows `hold_row` makes then, anomaly detection off: the same values, columnwise,
    without a tuple a row); None when any is not, and the caller writes `hold_row`/
    `step_row` rows. A policy that holds the ranked coins in their order (the baseline)
    is read pairwise, without a symbol -> coin dict."""
    hold = Action.HOLD
    if len(actions) == len(ranking):
        values: list[Any] = []
        push = values.extend
        for action, coin in zip(actions, ranking, strict=True):
            if action.symbol != coin.symbol:
                break  # another order: look each coin up below
            if (action.action is not hold or coin.reasons_json is None
                    or coin.forecast_return is not None or coin.forecast_confidence is not None):
                return None
            push((ts_ms, action.symbol, coin.score, coin.reasons_json, action.reason))
        else:
            return values
    coins = {coin.symbol: coin for coin in ranking}
    values = []
    push = values.extend
    for action in actions:
        found = coins.get(action.symbol)
        if (action.action is not hold or found is None or found.reasons_json is None
                or found.forecast_return is not None or found.forecast_confidence is not None):
            return None
        push((ts_ms, action.symbol, found.score, found.reasons_json, action.reason))
    return values
