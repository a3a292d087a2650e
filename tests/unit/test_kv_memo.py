"""set_kv_unless_same: an unchanged cursor value is not written again, and the memo never
claims a value the file does not hold (rollback, plain set_kv, writes outside a batch)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from state.ledger import Ledger


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.sqlite", durable=False) as book:
        yield book


def _kv_writes(ledger: Ledger) -> list[str]:
    """Every kv UPSERT the connection runs from now on."""
    seen: list[str] = []
    ledger.db.conn.set_trace_callback(
        lambda sql: seen.append(sql) if sql.startswith("INSERT INTO kv") else None)
    return seen


def _on_file(ledger: Ledger, key: str) -> object:
    """The value as another connection reads it from the file."""
    with sqlite3.connect(ledger.path) as other:
        row = other.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def test_a_value_committed_before_is_not_written_again(ledger: Ledger) -> None:
    writes = _kv_writes(ledger)
    for _ in range(3):
        with ledger.batch():
            ledger.set_kv_unless_same("broker_counters", [4, 7])
    assert len(writes) == 1
    with ledger.batch():
        ledger.set_kv_unless_same("broker_counters", [5, 7])
    assert len(writes) == 2 and _on_file(ledger, "broker_counters") == "[5,7]"


def test_a_rolled_back_write_is_forgotten(ledger: Ledger) -> None:
    with ledger.batch():
        ledger.set_kv_unless_same("trading_state", {"mode": "ACTIVE"})
    with pytest.raises(RuntimeError), ledger.batch():
        ledger.set_kv_unless_same("trading_state", {"mode": "HALTED"})
        raise RuntimeError("crash inside the step")
    assert _on_file(ledger, "trading_state") == '{"mode":"ACTIVE"}'
    with ledger.batch():  # the memo must not believe HALTED is on file
        ledger.set_kv_unless_same("trading_state", {"mode": "HALTED"})
    assert _on_file(ledger, "trading_state") == '{"mode":"HALTED"}'


def test_a_plain_set_kv_of_the_key_is_never_shadowed(ledger: Ledger) -> None:
    with ledger.batch():
        ledger.set_kv_unless_same("position_opened_ms", {"AUSDT": 1})
    ledger.set_kv("position_opened_ms", {})
    with ledger.batch():
        ledger.set_kv_unless_same("position_opened_ms", {"AUSDT": 1})
    assert ledger.get_kv("position_opened_ms") == {"AUSDT": 1}


def test_outside_a_batch_it_always_writes(ledger: Ledger) -> None:
    writes = _kv_writes(ledger)
    ledger.set_kv_unless_same("broker_counters", [1, 1])
    ledger.set_kv_unless_same("broker_counters", [1, 1])
    assert len(writes) == 2


def test_a_write_earlier_in_the_same_batch_counts(ledger: Ledger) -> None:
    writes = _kv_writes(ledger)
    with ledger.batch():
        ledger.set_kv_unless_same("broker_counters", [2, 3])
        ledger.set_kv_unless_same("broker_counters", [2, 3])
        ledger.set_kv_unless_same("broker_counters", [2, 4])
    assert len(writes) == 2 and ledger.get_kv("broker_counters") == [2, 4]


@dataclass(frozen=True)
class Mode:
    """A frozen stand-in for the trader's trading state."""

    name: str
    peak: Decimal = Decimal("1.0")


def test_a_value_made_from_the_same_object_is_encoded_once_and_still_obeys_rollback(
        ledger: Ledger) -> None:
    # the trader saves its trading state (a frozen object, the same one on a quiet step)
    # by the object: converted and encoded once per object, written only when the file
    # may not hold it, and a rolled-back write is written again
    made: list[Mode] = []

    def to_value(source: Mode) -> object:
        made.append(source)
        return {"mode": source.name, "peak": str(source.peak)}

    writes = _kv_writes(ledger)
    active, halted = Mode("ACTIVE"), Mode("HALTED")
    for _ in range(3):
        with ledger.batch():
            ledger.set_kv_made_from("trading_state", active, to_value)
    assert made == [active] and len(writes) == 1
    with pytest.raises(RuntimeError), ledger.batch():
        ledger.set_kv_made_from("trading_state", halted, to_value)
        raise RuntimeError("crash inside the step")
    assert _on_file(ledger, "trading_state") == '{"mode":"ACTIVE","peak":"1.0"}'
    with ledger.batch():
        ledger.set_kv_made_from("trading_state", halted, to_value)
    assert made == [active, halted]  # the text was kept with the object
    assert len(writes) == 3
    assert _on_file(ledger, "trading_state") == '{"mode":"HALTED","peak":"1.0"}'
    with ledger.batch():  # an equal object that encodes otherwise: made again and written
        ledger.set_kv_made_from("trading_state", Mode("HALTED", Decimal("1.00")), to_value)
    assert len(made) == 3
    assert _on_file(ledger, "trading_state") == '{"mode":"HALTED","peak":"1.00"}'


def test_the_kv_epoch_stands_still_only_while_every_known_text_stays_known(
        ledger: Ledger) -> None:
    # outside a transaction the ledger began there is none (a save there always writes)
    assert ledger.kv_epoch() is None
    with ledger.batch():
        epoch = ledger.kv_epoch()
        assert epoch is not None
        ledger.set_kv_unless_same("broker_counters", [1, 2])  # a new text: written
        assert ledger.kv_epoch() != epoch
        epoch = ledger.kv_epoch()
        ledger.set_kv_unless_same("broker_counters", [1, 2])  # known: nothing written
        assert ledger.kv_epoch() == epoch
        ledger.set_kv("account_opened", 5)  # a plain set_kv: that key is forgotten
        assert ledger.kv_epoch() != epoch
        epoch = ledger.kv_epoch()
        with pytest.raises(RuntimeError), ledger.batch():  # a savepoint rolled back
            raise RuntimeError("failed")
        assert ledger.kv_epoch() != epoch
    with ledger.batch():
        ledger.set_kv_unless_same("broker_counters", [1, 3])
        epoch = ledger.kv_epoch()
        assert epoch is not None
    with ledger.batch():  # a new transaction: its pending texts start empty
        assert ledger.kv_epoch() not in (None, epoch)
