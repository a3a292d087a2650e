"""The decisions table's rows: the values of one row and the INSERTs that store them.

Apart from state/ledger.py because a decision step writes a dozen of these rows every
minute: one multi-row INSERT per `DECISIONS_PER_INSERT` rows costs ~20 % less than
`executemany`, which runs the statement once per row; SQLite assigns the ids in the order
of the VALUES list, as one insert per row would (tests/unit/test_decision_view.py).
"""

from __future__ import annotations

import functools
from enum import Enum
from typing import Any

from state.codec import canonical_json

DECISION_COLUMNS = (
    "INSERT INTO decisions (ts, symbol, score, reasons, action, sizing, verdict, detail,"
    " anomaly_score, forecast_return, forecast_confidence) VALUES ")
DECISION_VALUES = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_DECISION = DECISION_COLUMNS + DECISION_VALUES
#: Rows per multi-row INSERT: at most this many distinct statements for the connection's
#: statement cache, and far below SQLite's bound on parameters per statement (11 a row).
DECISIONS_PER_INSERT = 32


@functools.cache
def insert_decisions(count: int) -> str:
    """The INSERT of `count` decision rows in one statement."""
    return DECISION_COLUMNS + ", ".join([DECISION_VALUES] * count)


def decision_row(ts: int, symbol: str, action: str | Enum, verdict: str | Enum, *,
                 score: float | None = None, reasons: Any = None, sizing: Any = None,
                 detail: str | None = None, anomaly_score: float | None = None,
                 forecast_return: float | None = None,
                 forecast_confidence: float | None = None) -> tuple[Any, ...]:
    """The values of one decisions-table row, as `Ledger.record_decision` stores them."""
    return (ts, symbol, score, None if reasons is None else canonical_json(reasons),
            action.value if isinstance(action, Enum) else action,
            None if sizing is None else canonical_json(sizing),
            verdict.value if isinstance(verdict, Enum) else verdict, detail, anomaly_score,
            forecast_return, forecast_confidence)
