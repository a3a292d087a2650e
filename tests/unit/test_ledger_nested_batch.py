"""A batch inside a batch is a savepoint: it keeps all of its writes or none, and they reach
the file only with the outer transaction (a replay groups many decision steps in one
transaction; each step's own batch must still be all or nothing, state/ledger.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from state.ledger import Ledger


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.sqlite", durable=False) as book:
        yield book


def _decisions_on_file(ledger: Ledger) -> list[str]:
    """The decision rows' symbols as another connection reads them from the file."""
    with sqlite3.connect(ledger.path) as other:
        return [row[0] for row in other.execute("SELECT symbol FROM decisions ORDER BY id")]


def _decide(ledger: Ledger, symbol: str) -> None:
    ledger.record_decision(60_000, symbol, "HOLD", "SKIPPED")


def test_a_failing_inner_batch_undoes_only_its_own_writes(ledger: Ledger) -> None:
    with ledger.batch():
        _decide(ledger, "AUSDT")
        with pytest.raises(RuntimeError), ledger.batch():
            _decide(ledger, "BUSDT")
            raise RuntimeError("the step failed half-way")
        _decide(ledger, "CUSDT")
    assert _decisions_on_file(ledger) == ["AUSDT", "CUSDT"]


def test_inner_writes_reach_the_file_only_with_the_outer_commit(ledger: Ledger) -> None:
    with ledger.batch():
        with ledger.batch():
            _decide(ledger, "AUSDT")
        assert _decisions_on_file(ledger) == []  # released, not committed
    assert _decisions_on_file(ledger) == ["AUSDT"]


def test_an_outer_failure_undoes_the_inner_batches_it_held(ledger: Ledger) -> None:
    with pytest.raises(RuntimeError), ledger.batch():
        with ledger.batch():
            _decide(ledger, "AUSDT")
        raise RuntimeError("the replay stopped")
    assert _decisions_on_file(ledger) == []


def test_savepoints_nest_three_deep_and_unwind_to_the_right_one(ledger: Ledger) -> None:
    with ledger.batch(), ledger.batch():
        _decide(ledger, "AUSDT")
        with pytest.raises(ValueError), ledger.batch():
            _decide(ledger, "BUSDT")
            raise ValueError("innermost")
        _decide(ledger, "CUSDT")
    assert _decisions_on_file(ledger) == ["AUSDT", "CUSDT"]


def test_a_cursor_value_of_a_failed_inner_batch_is_not_believed(ledger: Ledger) -> None:
    with ledger.batch():
        ledger.set_kv_unless_same("trading_state", {"mode": "ACTIVE"})
        with pytest.raises(RuntimeError), ledger.batch():
            ledger.set_kv_unless_same("trading_state", {"mode": "HALTED"})
            raise RuntimeError("crash inside the step")
        # the savepoint's HALTED is gone: saving it again must write it
        ledger.set_kv_unless_same("trading_state", {"mode": "HALTED"})
    assert ledger.get_kv("trading_state") == {"mode": "HALTED"}
    with ledger.batch():  # and after the outer commit the memo is sound again
        ledger.set_kv_unless_same("trading_state", {"mode": "ACTIVE"})
    assert ledger.get_kv("trading_state") == {"mode": "ACTIVE"}
