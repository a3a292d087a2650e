"""The decisions table's rows: the values of one row and the INSERTs that store them.

Apart from state/ledger.py because a decision step writes a dozen of these rows every
minute: one multi-row INSERT per `DECISIONS_PER_INSERT` rows costs ~20 % less than
`executemany`, which runs the statement once per row; SQLite assigns the ids in the order
of the VALUES list, as one insert per row would (tests/unit/test_decision_view.py).

A column that is None in every row of an INSERT is written into the statement as NULL
instead of being bound (`decisions_insert`): sqlite3 binds a None through its adapter
lookup (two attribute lookups that fail and are caught, ~0.5 us each), and a quiet step's
rows have four such columns (sizing, anomaly score, forecast return and confidence), 40
Nones that were a third of its INSERT. NULL is what a bound None stores, so the rows are
the same (tests/unit/test_decision_rows.py holds them to one plain INSERT per row).

A quiet step's rows are all HOLDs of ranked coins (`insert_holds`): their action and
verdict are the literal 'HOLD' in the statement (TEXT, the bytes a bound str stores), so a
row binds five values, not seven (~0.07 us a bound value, ~1.5 us a quiet step).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from enum import Enum
from itertools import chain, compress
from typing import Any

from state.codec import canonical_json

DECISION_COLUMNS = (
    "INSERT INTO decisions (ts, symbol, score, reasons, action, sizing, verdict, detail,"
    " anomaly_score, forecast_return, forecast_confidence) VALUES ")
DECISION_VALUES = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#: One row, every column bound: the plain form the shaped INSERTs are held to.
INSERT_DECISION = DECISION_COLUMNS + DECISION_VALUES
#: Values in a decisions row (`decision_row`).
DECISION_FIELDS = 11
#: Rows per multi-row INSERT: far below SQLite's bound on parameters per statement (11 a
#: row); the statements differ only by row count and NULL columns, a handful in a run.
DECISIONS_PER_INSERT = 32


#: A HOLD row of `insert_holds`: ts, symbol, score, reasons and detail bound, in that order.
HOLD_VALUES = "(?, ?, ?, ?, 'HOLD', NULL, 'HOLD', ?, NULL, NULL, NULL)"
#: Values bound per row of `insert_holds`.
HOLD_FIELDS = 5


@functools.lru_cache(maxsize=64)
def insert_holds(count: int) -> str:
    """The INSERT of `count` HOLD rows without sizing, anomaly score or forecast in one
    statement: `decision_row(ts, symbol, "HOLD", "HOLD", score=..., reasons=...,
    detail=...)`'s values, the two texts and four NULLs written into it (`HOLD_VALUES`)."""
    return DECISION_COLUMNS + ", ".join([HOLD_VALUES] * count)


@functools.lru_cache(maxsize=256)
def insert_decisions(count: int, bound: tuple[bool, ...]) -> str:
    """The INSERT of `count` decision rows in one statement: column j a parameter in every
    row where `bound[j]`, NULL where not."""
    values = "(" + ", ".join(["?" if each else "NULL" for each in bound]) + ")"
    return DECISION_COLUMNS + ", ".join([values] * count)


def decisions_insert(rows: Sequence[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """The statement and parameters that insert `rows` (each `decision_row`'s values, at
    least one row) in order: the columns None in every row are NULL in the statement, the
    others bound row after row. Raises ValueError for a row of another length."""
    columns = list(zip(*rows, strict=True))  # a row of another length raises here
    if len(columns) != DECISION_FIELDS:
        raise ValueError(f"a decisions row has {DECISION_FIELDS} values, not {len(columns)}")
    nones = (None,) * len(rows)
    bound = tuple([column != nones for column in columns])
    return (insert_decisions(len(rows), bound),
            list(chain.from_iterable(zip(*compress(columns, bound)))))


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
