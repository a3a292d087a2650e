"""The engine's slot-by-slot decision step (trading/engine_step.decision_step) is the object
the dataclass's own constructor makes: equal, hashing alike, every field the same."""

from __future__ import annotations

import dataclasses

from strategies.ranking import ranked_coin
from trading.engine_step import DecisionStep, decision_step


def test_a_decision_step_is_the_dataclass_step() -> None:
    ranking = (ranked_coin("ETHUSDT", 0.31, 2e-5, 1e-3, (), None),)
    made = decision_step(7, 1_700_000_000_000, ranking, 0.25, 1_700_000_000.5)
    expected = DecisionStep(index=7, minute_open_ms=1_700_000_000_000, ranking=ranking,
                            latency_ms=0.25, ts_wall=1_700_000_000.5)
    assert made == expected and hash(made) == hash(expected)
    assert [getattr(made, f.name) for f in dataclasses.fields(DecisionStep)] == [
        7, 1_700_000_000_000, ranking, 0.25, 1_700_000_000.5]
    assert type(made) is DecisionStep
