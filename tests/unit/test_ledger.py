"""The ledger: events and their projections commit together, read back exact, and replay."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path

import pytest

from model.instruments import Side
from model.orders import (
    Accepted,
    Canceled,
    Filled,
    Liquidity,
    OrderRequest,
    OrderType,
    PartiallyFilled,
    Rejected,
    RejectReason,
)
from state.codec import BalanceSet
from state.ledger import Ledger, assets_from
from state.projection import Projector
from state.sample import SAMPLE_INSTRUMENTS, sample_events
from state.schema import PROJECTION_TABLES
from state.stores import SqliteUtilsStore

T0 = 1_700_000_000_000
BUY = Side.BUY
SELL = Side.SELL
LIMIT = OrderType.LIMIT


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = Ledger.open(tmp_path / "ledger.db", instruments=SAMPLE_INSTRUMENTS, durable=False)
    yield opened
    opened.close()


def _buy_limit(ledger: Ledger, coid: str = "b1", price: str = "100", amount: str = "2") -> None:
    ledger.record(BalanceSet("USDT", D(1000), D(0), T0, T0))
    ledger.record(OrderRequest(coid, "SOLUSDT", BUY, LIMIT, D(amount), D(price), T0 + 1))
    ledger.record(Accepted(coid, "SOLUSDT", BUY, LIMIT, D(amount), D(price), T0 + 2, T0 + 3))


def _balances(ledger: Ledger) -> dict[str, tuple[D, D]]:
    return {b.asset: (b.free, b.locked) for b in ledger.balances()}


def test_record_writes_the_event_and_its_order_row_together(ledger: Ledger) -> None:
    _buy_limit(ledger)
    (order,) = ledger.open_orders()
    assert (order.client_order_id, order.status, order.side, order.price, order.amount) == (
        "b1", "ACCEPTED", BUY, D(100), D(2))
    assert [e.kind for e in ledger.events()] == ["BalanceSet", "OrderRequest", "Accepted"]


def test_accepted_limit_buy_locks_quote_and_fills_release_it(ledger: Ledger) -> None:
    _buy_limit(ledger)
    assert _balances(ledger)["USDT"] == (D(800), D(200))
    ledger.record(PartiallyFilled("b1", "SOLUSDT", BUY, "t1", D("99.5"), D("0.5"), D("0.05"),
                                  Liquidity.MAKER, D("1.5"), T0 + 4, T0 + 5))
    # released 100 x 0.5 = 50 from the lock, paid 99.5 x 0.5 + 0.05 fee = 49.80
    assert _balances(ledger)["USDT"] == (D("800.20"), D(150))
    assert _balances(ledger)["SOL"] == (D("0.5"), D(0))
    ledger.record(Canceled("b1", "SOLUSDT", D("1.5"), T0 + 6, T0 + 7))
    assert _balances(ledger)["USDT"] == (D("950.20"), D(0))
    assert ledger.open_orders() == []
    assert ledger.order("b1").status == "CANCELED"  # type: ignore[union-attr]


def test_fills_update_order_fills_and_position_in_one_event(ledger: Ledger) -> None:
    _buy_limit(ledger)
    ledger.record(Filled("b1", "SOLUSDT", BUY, "t1", D(100), D(2), D("0.2"),
                         Liquidity.MAKER, T0 + 4, T0 + 5))
    order = ledger.order("b1")
    assert order is not None and (order.status, order.filled, order.locked) == (
        "FILLED", D(2), D(0))
    (fill,) = ledger.fills()
    assert (fill.trade_id, fill.price, fill.amount, fill.fee) == ("t1", D(100), D(2),
                                                                 D("0.2"))
    (position,) = ledger.positions()
    assert (position.amount, position.avg_price, position.realized_pnl) == (
        D(2), D(100), D("-0.2"))


def test_sell_realizes_pnl_and_credits_quote_net_of_fee(ledger: Ledger) -> None:
    _buy_limit(ledger)
    ledger.record(Filled("b1", "SOLUSDT", BUY, "t1", D(100), D(2), D("0.2"),
                         Liquidity.MAKER, T0 + 4, T0 + 5))
    ledger.record(Accepted("s1", "SOLUSDT", SELL, LIMIT, D(2), D(110), T0 + 6, T0 + 6))
    assert _balances(ledger)["SOL"] == (D(0), D(2))
    ledger.record(Filled("s1", "SOLUSDT", SELL, "t2", D(110), D(2), D("0.22"),
                         Liquidity.TAKER, T0 + 7, T0 + 8))
    (position,) = ledger.positions()
    assert (position.amount, position.realized_pnl) == (D(0), D("19.58"))
    assert _balances(ledger)["USDT"] == (D("1019.58"), D(0))
    assert _balances(ledger)["SOL"] == (D(0), D(0))


def test_rejected_order_is_kept_for_audit_and_is_not_open(ledger: Ledger) -> None:
    ledger.record(OrderRequest("r1", "BTCUSDT", BUY, LIMIT, D(1), D(10), T0))
    ledger.record(Rejected("r1", "BTCUSDT", RejectReason.MIN_NOTIONAL, "10 < 5?", T0 + 1,
                           T0 + 2))
    ledger.record(Rejected("r2", "BTCUSDT", RejectReason.UNKNOWN_ORDER, "never seen", T0 + 3,
                           T0 + 3))
    assert ledger.open_orders() == []
    assert ledger.order("r1").status == "REJECTED"  # type: ignore[union-attr]
    assert ledger.order("r2").side is None  # type: ignore[union-attr]


def test_a_duplicate_trade_id_records_nothing_at_all(ledger: Ledger) -> None:
    _buy_limit(ledger)
    fill = PartiallyFilled("b1", "SOLUSDT", BUY, "t1", D(100), D(1), D("0.1"),
                           Liquidity.MAKER, D(1), T0 + 4, T0 + 5)
    ledger.record(fill)
    before = ledger.table_digest()
    with pytest.raises(sqlite3.IntegrityError):
        ledger.record(fill)  # a reconnecting broker repeats the fill
    assert ledger.table_digest() == before  # no event row, no double count


def test_amounts_read_back_as_the_exact_decimals_written(ledger: Ledger) -> None:
    price, amount, fee = D("0.00001234"), D("123456789.12345678"), D("0.00000001")
    ledger.record(Filled("x1", "BTCUSDT", BUY, "t9", price, amount, fee, Liquidity.TAKER,
                         T0, T0))
    (fill,) = ledger.fills()
    assert (fill.price, fill.amount, fill.fee) == (price, amount, fee)
    (stored,) = ledger.events()
    assert stored.event == Filled("x1", "BTCUSDT", BUY, "t9", price, amount, fee,
                                  Liquidity.TAKER, T0, T0)


def test_fills_since_returns_only_later_fills_in_time_order(ledger: Ledger) -> None:
    for n in range(3):
        ledger.record(Filled(f"o{n}", "ETHUSDT", BUY, f"t{n}", D(10), D(1), D(0),
                             Liquidity.TAKER, T0 + 10 * n, T0 + 10 * n))
    assert [f.trade_id for f in ledger.fills(since=T0 + 10)] == ["t1", "t2"]
    assert len(ledger.fills()) == 3


def test_decisions_equity_and_kv_round_trip(ledger: Ledger) -> None:
    ledger.record_decision(T0, "BTCUSDT", Side.BUY, "ALLOWED", score=0.71,
                           reasons={"regime": "bull", "p": D("0.71")},
                           sizing={"amount": D("0.01")}, detail="risk 2% x conf")
    ledger.record_decision(T0 + 60_000, "ETHUSDT", "HOLD", "DENIED_VAR", detail="VaR 2.4%")
    latest, first = ledger.decisions(limit=10)
    assert (latest.symbol, latest.verdict, latest.detail) == ("ETHUSDT", "DENIED_VAR",
                                                             "VaR 2.4%")
    assert (first.action, first.reasons, first.sizing) == (
        "BUY", {"p": "0.71", "regime": "bull"}, {"amount": "0.01"})
    assert len(ledger.decisions(limit=1)) == 1

    ledger.snapshot_equity(T0, equity=D("1000.5"), cash=D(900), positions_value=D("100.5"))
    ledger.snapshot_equity(T0 + 1, equity=D(1001), cash=D(900), positions_value=D(101))
    ledger.snapshot_equity(T0 + 1, equity=D(1002), cash=D(900), positions_value=D(102))
    assert [(p.ts, p.equity) for p in ledger.equity_curve()] == [(T0, D("1000.5")),
                                                                (T0 + 1, D(1002))]
    ledger.set_kv("trading_state", {"state": "HALTED", "since": T0})
    ledger.set_kv("trading_state", {"state": "ACTIVE", "since": T0 + 5})
    assert ledger.get_kv("trading_state") == {"state": "ACTIVE", "since": T0 + 5}
    assert ledger.get_kv("missing", default="x") == "x"


def test_rebuild_from_events_alone_gives_identical_tables(ledger: Ledger) -> None:
    for event in sample_events(1_500, seed=3):
        ledger.record(event)
    before = ledger.table_digest()
    for table in PROJECTION_TABLES:
        assert ledger.db.table(table).count > 0
    assert ledger.rebuild_projections() == 1_500
    assert ledger.table_digest() == before
    assert ledger.integrity_check() == "ok"


def test_same_events_give_byte_identical_ledgers_and_other_events_do_not(
        tmp_path: Path) -> None:
    def run(name: str, seed: int) -> str:
        with Ledger.open(tmp_path / name, instruments=SAMPLE_INSTRUMENTS,
                         durable=False) as ledger:
            ledger.record_all(sample_events(800, seed=seed))
            ledger.record_decision(T0, "BTCUSDT", "BUY", "ALLOWED", score=0.5)
            ledger.snapshot_equity(T0, equity=D(1), cash=D(1), positions_value=D(0))
            ledger.set_kv("k", [1, 2])
            return ledger.table_digest()

    assert run("a.db", seed=5) == run("b.db", seed=5)
    assert run("c.db", seed=5) != run("d.db", seed=6)



def test_the_digest_covers_every_table_even_one_added_later(ledger: Ledger) -> None:
    """Nothing is left out of a comparison silently: a row in any table changes it."""
    ledger.record_all(sample_events(50, seed=3))
    before = ledger.table_digest()
    ledger.db.execute("CREATE TABLE later (id INTEGER PRIMARY KEY, note TEXT)")
    empty_table = ledger.table_digest()
    ledger.db.execute("INSERT INTO later (note) VALUES ('x')")
    assert len({before, empty_table, ledger.table_digest()}) == 3

@pytest.mark.slow
def test_sqlite_utils_write_path_projects_identical_tables(tmp_path: Path) -> None:
    events = list(sample_events(600, seed=9))
    with Ledger.open(tmp_path / "fast.db", instruments=SAMPLE_INSTRUMENTS) as fast:
        fast.record_all(events)
        expected = fast.table_digest()
    with Ledger.open(tmp_path / "ref.db", instruments=SAMPLE_INSTRUMENTS) as reference:
        store, projector = SqliteUtilsStore(reference.db), Projector(
            assets_from(SAMPLE_INSTRUMENTS))
        for event in events:
            with reference.db.atomic():
                store.append_event(event)
                projector.apply(event, store)
        assert reference.table_digest() == expected


def test_reopening_keeps_everything_committed(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger.open(path, instruments=SAMPLE_INSTRUMENTS) as ledger:
        ledger.record_all(sample_events(200, seed=2))
        digest = ledger.table_digest()
    with Ledger.open(path, instruments=SAMPLE_INSTRUMENTS) as again:
        assert again.table_digest() == digest
        assert [s.seq for s in again.events(after_seq=198)] == [199, 200]


def test_a_non_finite_amount_is_refused_and_nothing_is_recorded(ledger: Ledger) -> None:
    before = ledger.table_digest()
    for amount in (D("Infinity"), D("NaN")):
        with pytest.raises(ValueError, match="non-finite amount"):
            ledger.record(BalanceSet("USDT", amount, D(0), T0, T0))
    assert ledger.table_digest() == before


def test_a_ledger_opened_before_its_instruments_are_known_books_fills_once_told_them(
        tmp_path: Path) -> None:
    """The daemon opens (and so checks) its ledger before the market lists the instruments."""
    with Ledger.open(tmp_path / "early.db", durable=False) as ledger:
        ledger.use_instruments(SAMPLE_INSTRUMENTS)
        _buy_limit(ledger)
        ledger.record(PartiallyFilled("b1", "SOLUSDT", BUY, "t1", D("99.5"), D("0.5"), D("0.05"),
                                      Liquidity.MAKER, D("1.5"), T0 + 4, T0 + 5))
        assert _balances(ledger)["USDT"] == (D("800.20"), D(150))
        assert _balances(ledger)["SOL"] == (D("0.5"), D(0))
