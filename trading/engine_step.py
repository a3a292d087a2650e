"""The record of one engine decision step, and the fast way the engine makes it.

Apart from trading/engine.py, which runs the decision loop: this is the value a step hands
out (`Engine.latest`, read by the status and metrics commands), a plain data type with no
part in the loop's logic, so a reader of a step need not read the engine, and the engine
module keeps to the loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from strategies.ranking import RankedCoin
from strategies.slot_init import slot_setters


@dataclass(frozen=True, slots=True)
class DecisionStep:
    """What one decision step saw and concluded."""

    index: int
    minute_open_ms: int  # the last closed minute this step knows of
    ranking: tuple[RankedCoin, ...]
    latency_ms: float
    ts_wall: float


_new_object = object.__new__
_set_index, _set_minute_open_ms, _set_ranking, _set_latency_ms, _set_ts_wall = slot_setters(
    DecisionStep)


def decision_step(index: int, minute_open_ms: int, ranking: tuple[RankedCoin, ...],
                  latency_ms: float, ts_wall: float) -> DecisionStep:
    """`DecisionStep(...)` written slot by slot (strategies/slot_init.py): one a replayed
    minute, and the frozen dataclass's `__init__` costs twice as much."""
    step = _new_object(DecisionStep)
    _set_index(step, index)
    _set_minute_open_ms(step, minute_open_ms)
    _set_ranking(step, ranking)
    _set_latency_ms(step, latency_ms)
    _set_ts_wall(step, ts_wall)
    return step
