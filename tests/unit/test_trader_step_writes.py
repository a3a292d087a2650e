"""What a decision step writes, and in which transaction (trading/trader.py).

- By default a step inside a caller's transaction is a savepoint of it (the daemon's steps
  are each their own transaction anyway); a replay turns `step_savepoints` off, and its
  steps then join its hourly transaction as they are: a failed step's writes go with the
  caller's rollback, which ends the replay (bot/research/backtest.py). A minute's fills are
  always their own savepoint: the engine retries a failed minute coin by coin and goes on.
- What a step remembers instead of recomputing (the equity valued at its start, whether
  anything is held, the cursor's values) is always what recomputing gives: checked step by
  step over a run with buys, sells, a resting order and a forced exit.

Real trading parts (tests/ops_runtime.py): a paper broker, the risk gate and a SQLite ledger.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from model.market import MINUTE_MS, BarBatch
from state.codec import decimal_text
from strategies.policy import DecisionView, PolicyAction, hold_action
from tests.ops_runtime import BUY_MINUTE, SELL_BBB, START_MS, OpsRuntime, make_runtime


@contextmanager
def statements(runtime: OpsRuntime) -> Iterator[list[str]]:
    """The SQL statements the runtime's ledger connection runs inside the block."""
    assert runtime.ledger is not None
    seen: list[str] = []
    conn = runtime.ledger._conn
    conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


def decisions_on_file(runtime: OpsRuntime) -> int:
    """Decisions rows another connection sees: only what was committed."""
    assert runtime.ledger is not None
    with sqlite3.connect(runtime.ledger.path) as other:
        return int(other.execute("SELECT count(*) FROM decisions").fetchone()[0])


@pytest.mark.parametrize("savepoints", [True, False])
def test_steps_in_a_callers_transaction_are_savepoints_unless_turned_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, savepoints: bool) -> None:
    runtime = make_runtime(tmp_path, minutes=BUY_MINUTE - 5)
    assert runtime.trader is not None and runtime.ledger is not None
    runtime.trader.step_savepoints = savepoints
    before = decisions_on_file(runtime)
    broker = runtime.trader.broker
    on_bars, fill_minutes = broker.on_bars, []

    def counted(bars: object) -> object:
        events = on_bars(bars)
        fill_minutes.extend([1] if events else [])
        return events

    monkeypatch.setattr(broker, "on_bars", counted)
    # when ten steps (buys and their fills among them) run in one caller's batch
    with statements(runtime) as seen, runtime.ledger.batch():
        runtime.play(10)
        assert decisions_on_file(runtime) == before  # nothing committed before the caller
    # then each step was a savepoint, or none was; a minute's fills are always one (the
    # engine retries a failed minute of fills coin by coin and goes on); all of them
    # committed together
    savepoints_run = sum(s == "SAVEPOINT batch" for s in seen)
    assert fill_minutes
    assert savepoints_run == (10 if savepoints else 0) + len(fill_minutes)
    assert [s for s in seen if s in ("BEGIN IMMEDIATE", "COMMIT")] == ["BEGIN IMMEDIATE",
                                                                       "COMMIT"]
    assert decisions_on_file(runtime) > before
    runtime.close()


def test_without_a_callers_transaction_a_step_commits_on_its_own(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, minutes=BUY_MINUTE - 5)
    assert runtime.trader is not None
    runtime.trader.step_savepoints = False  # no transaction open: it has no effect
    with statements(runtime) as seen:
        runtime.play(3)
    assert [s for s in seen if s in ("BEGIN IMMEDIATE", "COMMIT")] == ["BEGIN IMMEDIATE",
                                                                       "COMMIT"] * 3
    assert "SAVEPOINT batch" not in seen
    runtime.close()


@pytest.mark.parametrize("savepoints", [True, False])
def test_a_failed_step_is_undone_by_its_savepoint_or_left_to_the_callers_rollback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, savepoints: bool) -> None:
    # given a runtime whose next step buys three coins, and a ledger that fails the step's
    # equity snapshot (after its orders and decisions were written)
    runtime = make_runtime(tmp_path, minutes=BUY_MINUTE)
    assert runtime.trader is not None and runtime.ledger is not None
    ledger = runtime.ledger
    runtime.trader.step_savepoints = savepoints
    orders = ledger.counts()["orders"]

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(ledger, "snapshot_equity", fail)
    left: int | None = None
    # when the step fails inside a caller's batch
    with pytest.raises(RuntimeError), ledger.batch():
        try:
            runtime.play(1)
        except RuntimeError:
            left = ledger.counts()["orders"] - orders  # the caller's view, before it ends
            raise
    # then its savepoint undid its writes at once, or, turned off, they waited in the
    # open transaction (a caller that went on would commit them: why only a caller whose
    # transaction a failed step ends may turn savepoints off); the rollback took them
    assert left == (0 if savepoints else 3)
    assert not ledger.in_transaction
    assert ledger.counts()["orders"] == orders
    runtime.close()


def test_what_a_step_remembers_is_what_recomputing_gives(tmp_path: Path) -> None:
    # given a run that buys three coins, sells two (a win and a loss), rests a far buy and
    # is then forced out of the last coin by the operator
    runtime = make_runtime(tmp_path, minutes=BUY_MINUTE - 2, operator=True)
    trader, ledger = runtime.trader, runtime.ledger
    assert trader is not None and ledger is not None
    exposed = trader.exposed_steps
    for minute in range(BUY_MINUTE - 2, SELL_BBB + 12):
        if minute == SELL_BBB + 6:
            trader.force_exit("CCCUSDT", runtime.now_ms())
        runtime.play(1)
        # then the step's equity snapshot is the account valued afresh after it,
        cash = trader.cash()
        point = ledger.equity_curve()[-1]
        assert (point.equity, point.cash) == (trader.equity(), cash)
        assert decimal_text(point.equity) == decimal_text(trader.equity())
        # it counted the step as exposed exactly when something was held,
        exposed += any(p.amount > 0 for p in trader.positions.values())
        assert trader.exposed_steps == exposed
        # and the cursor on file is the broker's counters and the open positions' times
        with sqlite3.connect(ledger.path) as other:
            kv = dict(other.execute("SELECT key, value FROM kv").fetchall())
        assert json.loads(kv["broker_counters"]) == list(trader.broker.counters())
        assert json.loads(kv["position_opened_ms"]) == {
            s: p.opened_ms for s, p in trader.positions.items() if p.amount}
    assert trader.positions["CCCUSDT"].amount == 0 and trader.fills >= 6
    assert trader.equity() != Decimal(10000)
    runtime.close()


def _batch(symbols: tuple[str, ...], minute: int, close: float) -> BarBatch:
    column = np.full(len(symbols), close)
    return BarBatch(symbols, START_MS + minute * MINUTE_MS, column, column * 1.001,
                    column * 0.999, column, column * 0 + 5.0, column * 500.0,
                    np.full(len(symbols), 3, dtype=np.int64))


def test_a_bar_batch_marks_only_traded_symbols_whatever_batch_came_before(
        tmp_path: Path) -> None:
    # given a trader that saw a minute whose symbols it all trades
    runtime = make_runtime(tmp_path, minutes=0)
    trader = runtime.trader
    assert trader is not None
    traded = ("AAAUSDT", "BBBUSDT")
    trader.on_bars(_batch(traded, 0, 100.0))
    # when the next minute brings a symbol it does not trade, then the same symbols again
    trader.on_bars(_batch(("AAAUSDT", "ZZZUSDT"), 1, 101.0))
    assert "ZZZUSDT" not in trader.last_price and trader.last_price["AAAUSDT"] == Decimal("101.0")
    trader.on_bars(_batch(traded, 2, 102.0))
    # then the unknown symbol was never marked, and every traded one was each time
    assert "ZZZUSDT" not in trader.last_price
    assert [trader.last_price[s] for s in traded] == [Decimal("102.0")] * 2
    runtime.close()


def test_a_failed_minute_of_fills_is_undone_even_in_a_replays_hour(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a replay-like caller (steps without savepoints, one open transaction) and a
    # ledger write that fails right after a minute's fills were recorded
    runtime = make_runtime(tmp_path, minutes=BUY_MINUTE - 1)
    trader, ledger = runtime.trader, runtime.ledger
    assert trader is not None and ledger is not None
    trader.step_savepoints = False
    on_bars, record = trader.broker.on_bars, trader._record
    seen: dict[str, int] = {}
    failed_trades: list[str] = []

    def on_bars_noted(bars: object) -> object:
        if "before" not in seen:
            seen["events_before"] = ledger.counts()["events"]
        events = on_bars(bars)
        if events and "before" not in seen:
            seen["before"] = seen["events_before"]
        return events

    def record_then_fail(events: object) -> None:
        record(events)  # type: ignore[arg-type]
        if "before" in seen and "failed" not in seen:
            seen["failed"] = ledger.counts()["events"]
            failed_trades.extend(e.trade_id for e in events if hasattr(e, "trade_id"))  # type: ignore[attr-defined]
            raise ValueError("a bad event")

    monkeypatch.setattr(trader.broker, "on_bars", on_bars_noted)
    monkeypatch.setattr(trader, "_record", record_then_fail)
    # when the engine meets it inside the caller's open hour (it retries the minute coin by
    # coin and goes on: Engine._guarded)
    with ledger.batch():
        runtime.play(12)
        after = ledger.counts()["events"]
    # then the failed attempt's fills were written for a moment, and are not there now:
    # the minute's fills are their own savepoint whatever `step_savepoints` says
    assert seen["failed"] > seen["before"] and failed_trades
    with sqlite3.connect(ledger.path) as other:
        kept = other.execute(
            f"SELECT count(*) FROM fills WHERE trade_id IN ({','.join('?' * len(failed_trades))})",
            failed_trades).fetchone()[0]
    assert kept == 0
    assert ledger.counts()["events"] == after
    runtime.close()


def _counters_on_file(runtime: OpsRuntime) -> list[int]:
    assert runtime.ledger is not None
    with sqlite3.connect(runtime.ledger.path) as other:
        row = other.execute("SELECT value FROM kv WHERE key = 'broker_counters'").fetchone()
    return list(json.loads(row[0]))


@pytest.mark.parametrize("nested", [False, True])
def test_a_cursor_save_that_was_rolled_back_is_written_again_by_the_next_save(
        tmp_path: Path, nested: bool) -> None:
    # given replay-like quiet steps in one transaction (their cursor saves skipped after the
    # first: the very values saved at the ledger's same kv epoch)
    runtime = make_runtime(tmp_path, minutes=BUY_MINUTE - 5)
    trader, ledger = runtime.trader, runtime.ledger
    assert trader is not None and ledger is not None
    trader.step_savepoints = False
    with ledger.batch():
        runtime.play(3)
    before = _counters_on_file(runtime)
    assert before == list(trader.broker.counters())
    moved = [before[0] + 5, before[1] + 7]

    def save_then_fail() -> None:
        with pytest.raises(RuntimeError), ledger.batch():
            trader.broker.restore_counters(*moved)
            trader._save_cursor()
            raise RuntimeError("the step failed after its cursor was saved")

    # when new counters are saved in a transaction, or a savepoint of one, rolled back,
    # and the same objects are saved again by the next quiet step
    if nested:
        with ledger.batch():
            runtime.play(1)
            save_then_fail()
            runtime.play(1)
    else:
        save_then_fail()
        assert _counters_on_file(runtime) == before  # the rollback took them
        with ledger.batch():
            runtime.play(1)
    # then that save wrote them: the rollback moved the ledger's kv epoch
    assert _counters_on_file(runtime) == moved == list(trader.broker.counters())
    runtime.close()


def test_a_policys_actions_on_coins_the_trader_does_not_trade_are_left_out(
        tmp_path: Path) -> None:
    # given a policy that holds the ranked coins (or, unranked, every coin it sees) and also
    # one coin the trader does not trade
    runtime = make_runtime(tmp_path, minutes=BUY_MINUTE - 5)
    trader, ledger = runtime.trader, runtime.ledger
    assert trader is not None and ledger is not None
    inner = trader.policy
    held: list[str] = []

    class AlsoElsewhere:
        name = inner.name
        version = None

        def decide(self, view: DecisionView) -> list[PolicyAction]:
            held[:] = [c.symbol for c in view.ranking] or list(view.symbols)
            return [*(hold_action(s, "quiet") for s in held),
                    hold_action("ZZZUSDT", "not traded here")]

        def between_steps(self, feature_symbols: object) -> None:
            return

        def attach_sources(self, forecast: object | None, anomaly: object | None) -> None:
            return

    trader.policy = AlsoElsewhere()  # type: ignore[assignment]
    # when a quiet step runs
    runtime.play(1)
    # then its rows are the traded coins' HOLDs, and none for the untraded coin
    rows = ledger.decisions(1000)
    assert [row.symbol for row in reversed(rows)] == held
    assert all(row.verdict == "HOLD" and row.symbol in trader.instruments for row in rows)
    runtime.close()
