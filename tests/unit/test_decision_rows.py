"""A decisions INSERT writes a column that is None in every row as NULL in its text
(state/decision_rows.py): the rows it stores are the ones a plain INSERT per row, every
value bound, stores, and the Nones it leaves out are never bound. A step's HOLD rows
(`Ledger.record_holds`) store the same as their plain INSERTs too."""

from __future__ import annotations

import math
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from state.decision_rows import (
    DECISION_FIELDS,
    DECISIONS_PER_INSERT,
    HOLD_FIELDS,
    HOLD_VALUES,
    INSERT_DECISION,
    decision_row,
    decisions_insert,
    insert_holds,
)
from state.ledger import Ledger

# Each column's values: None in some rows, or in every row, or in none.
_COLUMN_VALUES: list[list[Any]] = [
    [60_000, 120_000],                                   # ts
    ["AUSDT", "BUSDT", "C\u00e9USDT"],                   # symbol
    [0.31, -0.0, 1e-300, math.nan, math.inf, None],      # score (NaN stores NULL too)
    ['["1h momentum +2.02%"]', "[]", None],              # reasons
    ["HOLD", "BUY"],                                     # action
    ['{"cap":5}', None],                                 # sizing
    ["HOLD", "DENIED:VAR_LIMIT"],                        # verdict
    ["", "edge 9.8 bps", None],                          # detail
    [0.75, 2, None],                                     # anomaly score (an int stays one)
    [0.004, None],                                       # forecast return
    [0.61, None],                                        # forecast confidence
]
_NOT_NULL = {0, 1, 4, 6}  # ts, symbol, action, verdict


def _random_rows(rng: random.Random, count: int) -> list[tuple[Any, ...]]:
    """`count` rows where each nullable column is None in every row, in some or in none."""
    shapes = [rng.choice(("never", "some", "always")) if j not in _NOT_NULL else "never"
              for j in range(DECISION_FIELDS)]
    rows = []
    for _ in range(count):
        row = []
        for j, values in enumerate(_COLUMN_VALUES):
            given = [v for v in values if v is not None]
            if shapes[j] == "always" or (shapes[j] == "some" and rng.random() < 0.5):
                row.append(None)
            else:
                row.append(rng.choice(given))
        rows.append(tuple(row))
    return rows


def _stored(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """Every decisions row with each value's SQLite type, in id order."""
    columns = ("id, ts, symbol, score, reasons, action, sizing, verdict, detail,"
               " anomaly_score, forecast_return, forecast_confidence")
    typed = ", ".join(f"typeof({c})" for c in columns.split(", "))
    return conn.execute(f"SELECT {columns}, {typed} FROM decisions ORDER BY id").fetchall()


@pytest.fixture
def ledgers(tmp_path: Path) -> Iterator[tuple[Ledger, Ledger]]:
    plain = Ledger.open(tmp_path / "plain.db", durable=False)
    shaped = Ledger.open(tmp_path / "shaped.db", durable=False)
    yield plain, shaped
    plain.close()
    shaped.close()


@pytest.mark.parametrize("seed", range(12))
def test_shaped_inserts_store_what_one_plain_insert_per_row_stores(
        ledgers: tuple[Ledger, Ledger], seed: int) -> None:
    # given steps of random rows, some columns None in every row of a step, some in a few
    rng = random.Random(seed)
    steps = [_random_rows(rng, rng.choice((1, 2, 10, DECISIONS_PER_INSERT + 3)))
             for _ in range(6)]
    plain, shaped = ledgers
    # when one ledger binds every value, one row at a time, and the other records the steps
    with plain.batch():
        for rows in steps:
            plain._conn.executemany(INSERT_DECISION, rows)
    with shaped.batch():
        for rows in steps:
            shaped.record_decisions(rows)
    # then both files hold the same rows, ids and value types, and the same digest
    # (a NaN score is bound as NULL either way: SQLite stores no NaN)
    assert _stored(shaped._conn) == _stored(plain._conn)
    assert shaped.table_digest(["decisions"]) == plain.table_digest(["decisions"])


def test_a_column_none_in_every_row_is_null_in_the_text_and_not_bound() -> None:
    # given two HOLD rows of a step without sizing, anomaly scores or a forecast
    rows = [decision_row(60_000, s, "HOLD", "HOLD", score=0.3, reasons=["r"], detail="d")
            for s in ("AUSDT", "BUSDT")]
    # when their INSERT is made
    sql, parameters = decisions_insert(rows)
    # then those four columns are NULL in the text and only the other seven are bound
    values = "(?, ?, ?, ?, ?, NULL, ?, ?, NULL, NULL, NULL)"
    assert sql.endswith(f"VALUES {values}, {values}")
    assert parameters == [60_000, "AUSDT", 0.3, '["r"]', "HOLD", "HOLD", "d",
                          60_000, "BUSDT", 0.3, '["r"]', "HOLD", "HOLD", "d"]
    assert None not in parameters


def test_a_column_none_in_only_some_rows_is_bound_in_every_row() -> None:
    rows = [decision_row(60_000, "AUSDT", "HOLD", "HOLD", score=0.3),
            decision_row(60_000, "BUSDT", "HOLD", "HOLD")]  # not ranked: no score
    sql, parameters = decisions_insert(rows)
    assert sql.endswith("VALUES (?, ?, ?, NULL, ?, NULL, ?, NULL, NULL, NULL, NULL), "
                        "(?, ?, ?, NULL, ?, NULL, ?, NULL, NULL, NULL, NULL)")
    assert parameters == [60_000, "AUSDT", 0.3, "HOLD", "HOLD",
                          60_000, "BUSDT", None, "HOLD", "HOLD"]


@pytest.mark.parametrize("rows", [
    [(60_000, "AUSDT", None, None, "HOLD", None, "HOLD", "d", None, None)],   # ten values
    [decision_row(60_000, "AUSDT", "HOLD", "HOLD"),
     (*decision_row(60_000, "BUSDT", "HOLD", "HOLD"), None)],                # one has twelve
])
def test_a_row_of_another_length_is_refused_and_nothing_is_stored(
        ledgers: tuple[Ledger, Ledger], rows: list[tuple[Any, ...]]) -> None:
    _, shaped = ledgers
    with pytest.raises(ValueError):
        shaped.record_decisions(rows)
    assert shaped.decisions() == []


def _hold_rows(rng: random.Random, count: int) -> list[tuple[Any, ...]]:
    """`count` HOLD rows without sizing, anomaly score or forecast, random otherwise."""
    return [(rng.choice(_COLUMN_VALUES[0]), rng.choice(_COLUMN_VALUES[1]),
             rng.choice(_COLUMN_VALUES[2]), rng.choice(_COLUMN_VALUES[3]), "HOLD", None,
             "HOLD", rng.choice(_COLUMN_VALUES[7]), None, None, None) for _ in range(count)]


@pytest.mark.parametrize("seed", range(8))
def test_hold_rows_store_what_one_plain_insert_per_row_stores(
        ledgers: tuple[Ledger, Ledger], seed: int) -> None:
    # given steps of HOLD rows (scores and reasons None or not, NaN, a detail or none),
    # some steps longer than one INSERT
    rng = random.Random(seed)
    steps = [_hold_rows(rng, rng.choice((0, 1, 10, DECISIONS_PER_INSERT,
                                         2 * DECISIONS_PER_INSERT + 3))) for _ in range(6)]
    plain, holds = ledgers
    # when one ledger binds every value of every row and the other records each step's
    # varying values (ts, symbol, score, reasons, detail) as HOLD rows
    with plain.batch():
        for rows in steps:
            plain._conn.executemany(INSERT_DECISION, rows)
    with holds.batch():
        for rows in steps:
            holds.record_holds([row[j] for row in rows for j in (0, 1, 2, 3, 7)])
    # then both hold the same rows, ids and value types ('HOLD' written into the statement
    # is the TEXT a bound str stores)
    assert _stored(holds._conn) == _stored(plain._conn)
    assert holds.table_digest(["decisions"]) == plain.table_digest(["decisions"])


def test_a_hold_row_binds_five_values() -> None:
    assert insert_holds(2).endswith(f"VALUES {HOLD_VALUES}, {HOLD_VALUES}")
    assert HOLD_VALUES.count("?") == HOLD_FIELDS == 5


def test_hold_values_not_a_whole_number_of_rows_are_refused(
        ledgers: tuple[Ledger, Ledger]) -> None:
    _, holds = ledgers
    with pytest.raises(ValueError):
        holds.record_holds([60_000, "AUSDT", 0.3, "[]", "d", 120_000])
    assert holds.decisions() == []
