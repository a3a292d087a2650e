"""A ledger that holds quiet-step rows back to the commit (`Ledger.hold_back_rows`,
state/pending_rows.py) stores the very rows, ids and order of one that writes them at once,
whatever else is written between them, and drops them with a rollback."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from state.ledger import Ledger

TS = 1_700_000_000_000


def _holds(rng: random.Random, ts: int) -> list[Any]:
    """A step's HOLD rows' values (ts, symbol, score, reasons, detail per row)."""
    return [v for k in range(rng.choice((0, 1, 10, 40)))
            for v in (ts, f"C{k}USDT", rng.choice((0.3, None, -0.0)), rng.choice(('["r"]', None)),
                      rng.choice(("edge 1 bps", "")))]


def _stored(ledger: Ledger) -> list[list[tuple[Any, ...]]]:
    """Every row of the decisions and equity tables, as another connection sees them."""
    with sqlite3.connect(ledger.path) as other:
        return [other.execute("SELECT * FROM decisions ORDER BY id").fetchall(),
                other.execute("SELECT * FROM equity ORDER BY ts").fetchall()]


@pytest.fixture
def ledgers(tmp_path: Path) -> Iterator[tuple[Ledger, Ledger]]:
    direct = Ledger.open(tmp_path / "direct.db", durable=False)
    held = Ledger.open(tmp_path / "held.db", durable=False)
    held.hold_back_rows = True
    yield direct, held
    direct.close()
    held.close()


def _play(ledger: Ledger, seed: int, *, fail_at: int | None = None) -> None:
    """An hour-like batch of steps: HOLD rows and a snapshot each; now and then another
    decisions row (a step that acts, a forced exit), a second snapshot at the same ts, a
    read, and a step in a savepoint that fails and is rolled back."""
    rng = random.Random(seed)
    with ledger.batch():
        for step in range(60):
            ts = TS + step * 60_000
            ledger.record_holds(_holds(rng, ts))
            value = Decimal(rng.randrange(10**12)) / 10**8
            ledger.snapshot_equity(ts, equity=value, cash=value, positions_value=Decimal(0))
            draw = rng.random()
            if draw < 0.1:
                ledger.record_decisions([(ts, "XUSDT", 0.5, None, "BUY", '{"cap":5}',
                                          "APPROVED", "rank", None, None, None)])
            elif draw < 0.15:
                ledger.record_decision(ts, "YUSDT", "FORCE_EXIT", "OPERATOR", detail="sell")
            elif draw < 0.2:
                ledger.snapshot_equity(ts, equity=value + 1, cash=value,
                                       positions_value=Decimal(1))
            elif draw < 0.25:
                assert len(ledger.decisions(limit=5)) <= 5  # a read in between
            elif draw < 0.35:
                with pytest.raises(RuntimeError), ledger.batch():  # a failed nested step
                    ledger.record_holds(_holds(rng, ts + 1))
                    ledger.snapshot_equity(ts + 1, equity=value, cash=value,
                                           positions_value=Decimal(0))
                    raise RuntimeError("step failed")
            if fail_at == step:
                raise RuntimeError("the replay fails")


@pytest.mark.parametrize("seed", range(10))
def test_rows_held_back_store_what_direct_writes_store(
        ledgers: tuple[Ledger, Ledger], seed: int) -> None:
    direct, held = ledgers
    _play(direct, seed)
    _play(held, seed)
    assert _stored(held) == _stored(direct)
    assert held.table_digest() == direct.table_digest()


def test_rows_are_held_until_the_commit_and_read_through_the_ledger(
        ledgers: tuple[Ledger, Ledger]) -> None:
    _, held = ledgers
    with held.batch():
        held.record_holds([TS, "AUSDT", 0.3, '["r"]', "edge"])
        held.snapshot_equity(TS, equity=Decimal(5), cash=Decimal(5), positions_value=Decimal(0))
        assert held._conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == 0
        assert [d.symbol for d in held.decisions()] == ["AUSDT"]  # a read writes them first
        assert [p.equity for p in held.equity_curve()] == [Decimal(5)]
        held.record_holds([TS + 60_000, "BUSDT", 0.3, '["r"]', "edge"])
        assert _stored(held) == [[], []]  # nothing committed yet
    assert [row[2] for row in _stored(held)[0]] == ["AUSDT", "BUSDT"]


def test_a_rollback_drops_the_rows_held(ledgers: tuple[Ledger, Ledger]) -> None:
    direct, held = ledgers
    for ledger in ledgers:
        with pytest.raises(RuntimeError):
            _play(ledger, 3, fail_at=30)
        _play(ledger, 4)  # and the next batch starts with nothing held
    assert _stored(held) == _stored(direct)
    assert held._pending.mark() == (0, 0)


def test_rows_outside_a_ledger_transaction_are_written_at_once(
        ledgers: tuple[Ledger, Ledger]) -> None:
    _, held = ledgers
    held.record_holds([TS, "AUSDT", 0.3, '["r"]', "edge"])
    held.snapshot_equity(TS, equity=Decimal(5), cash=Decimal(5), positions_value=Decimal(0))
    assert [len(rows) for rows in _stored(held)] == [1, 1]


def test_values_not_a_whole_number_of_rows_are_refused_when_held_too(
        ledgers: tuple[Ledger, Ledger]) -> None:
    _, held = ledgers
    with held.batch():
        with pytest.raises(ValueError):
            held.record_holds([TS, "AUSDT", 0.3, '["r"]'])
        assert held._pending.mark() == (0, 0)
