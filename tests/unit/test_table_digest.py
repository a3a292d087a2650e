"""The ledger's table digest (state/table_digest.py) encodes a chunk of rows in one call and
splits the text back into rows; its bytes must be the row-at-a-time definition's, whatever
the values hold (text that looks like JSON, NUL, quotes, newlines, non-ASCII, NaN, -0.0)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import state.table_digest as table_digest
from state.codec import canonical_json
from state.table_digest import digest_tables, digest_tables_row_by_row, rows_text

_SCALARS = st.one_of(
    st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.sampled_from(['[', ']', ',', '"', "\\", "\x00", "\n", "é", "a", "1", "\x00,",
                              "],[", "]\x00,["]), max_size=8).map("".join))
_ROWS = st.lists(st.lists(_SCALARS, min_size=1, max_size=6).map(tuple), min_size=1,
                 max_size=40)


def _definition(rows: list[tuple[Any, ...]]) -> str:
    return "".join("\n" + canonical_json(list(row)) for row in rows)


@settings(max_examples=300, deadline=None)
@given(_ROWS)
@example([("]\x00,[",), ('"],["', 1.5, None)])
@example([(float("nan"), -0.0, float("inf"))])
def test_a_chunk_of_rows_is_the_rows_one_at_a_time(rows: list[tuple[Any, ...]]) -> None:
    assert rows_text(rows) == _definition(rows)


def _ledger_like(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE decisions (id INTEGER PRIMARY KEY, ts INTEGER, symbol TEXT, "
                 "score REAL, reasons TEXT, detail TEXT)")
    conn.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT)")
    conn.executemany("INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?)", [
        (i, 1_700_000_000_000 + i * 60_000, f"C{i % 7}USDT", i / 7 if i % 5 else None,
         '["1h momentum +2.26%","1d momentum -0.5%"]', "edge 9.8 bps <= cost 33.7 bps")
        for i in range(1, 1001)])
    conn.executemany("INSERT INTO kv VALUES (?, ?)", [("b", "{}"), ("a", '{"x":[1,2]}')])
    return conn


def test_a_tables_digest_is_the_row_at_a_time_digest_across_chunks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = _ledger_like(tmp_path / "l.sqlite")
    tables = [("decisions", "id"), ("kv", "key")]
    expected = digest_tables_row_by_row(conn, tables)
    for chunk in (1, 7, 1000, 8192):  # chunk edges inside, at and beyond the table's end
        monkeypatch.setattr(table_digest, "_ROWS_PER_CHUNK", chunk)
        assert digest_tables(conn, tables) == expected
    assert digest_tables(conn, tables[:1]) != expected  # every table counts


def test_the_ledgers_digest_is_the_row_at_a_time_digest_and_counts_held_back_rows(
        tmp_path: Path) -> None:
    # A replay's ledger holds quiet steps' rows back until its hour commits; a digest taken
    # inside that hour must see them, as a direct write's rows would be seen.
    from decimal import Decimal

    from state.ledger import Ledger
    from state.schema import ALL_TABLES

    with Ledger.open(tmp_path / "l.sqlite", instruments={}, durable=False) as ledger:
        ledger.hold_back_rows = True
        with ledger.batch():
            for k in range(3):
                ledger.snapshot_equity(60_000 * (k + 1), equity=Decimal("1000.1") + k,
                                       cash=Decimal("1000.1"), positions_value=Decimal(k))
            inside = (ledger.table_digest(["equity"]), ledger.table_digest())
        after = (ledger.table_digest(["equity"]), ledger.table_digest())
        conn = ledger._conn
        tables = [(name, ", ".join(ledger.db.table(name).pks))
                  for name in sorted(ALL_TABLES) if name != "executions"]
        assert inside == after == (digest_tables_row_by_row(conn, [("equity", "ts")]),
                                   digest_tables_row_by_row(conn, tables))
        assert ledger.equity_series() == ([60_000, 120_000, 180_000], [1000.1, 1001.1, 1002.1])
