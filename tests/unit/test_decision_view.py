"""The decision step's cheaper bookkeeping says the same as the eager forms it replaced:
lazily built quotes, the book's quote columns, and multi-row decision inserts."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from model.market import MINUTE_MS, Bar, Tick
from state.decision_rows import DECISIONS_PER_INSERT, decision_row
from state.ledger import Ledger
from strategies.features import FeatureBook
from strategies.policy import Holding, Quote, quote_columns
from strategies.ranking import RankedCoin
from trading.decision_view import LazyQuotes, ViewBuilder
from trading.positions import Position

NAN = math.nan


def eager_quotes(symbols: list[str], tradable: set[str], lasts: list[float],
                 bids: list[float], asks: list[float]) -> dict[str, Quote]:
    """The dict the trader built before: every tradable symbol with a finite last."""
    return {s: Quote(lasts[i], bids[i], asks[i]) for i, s in enumerate(symbols)
            if s in tradable and math.isfinite(lasts[i])}


def test_lazy_quotes_hold_the_eager_dict_in_its_order() -> None:
    # given five symbols, one not tradable and one without a last price
    symbols = ["AUSDT", "BUSDT", "CUSDT", "DUSDT", "EUSDT"]
    tradable = {"AUSDT", "CUSDT", "DUSDT", "EUSDT"}
    lasts, bids, asks = [1.0, 2.0, NAN, 4.0, 5.0], [0.9, 1.9, NAN, 3.9, NAN], [1.1, 2.1, 3.1, 4.1, NAN]
    rows = {s: i for i, s in enumerate(symbols) if s in tradable}
    # when they are read lazily
    lazy = LazyQuotes(rows, lasts, bids, asks)
    eager = eager_quotes(symbols, tradable, lasts, bids, asks)
    # then keys, order, values and lookups are the eager dict's
    assert list(lazy) == list(eager) == ["AUSDT", "DUSDT", "EUSDT"]
    assert len(lazy) == 3 and lazy == eager and dict(lazy.items()) == eager
    assert lazy["DUSDT"] == Quote(4.0, 3.9, 4.1) and lazy.get("DUSDT") is lazy["DUSDT"]
    for missing in ("BUSDT", "CUSDT", "ZUSDT"):
        assert missing not in lazy and lazy.get(missing) is None
        with pytest.raises(KeyError):
            lazy[missing]


def test_lazy_quotes_columns_are_each_quotes_bid_and_ask_and_nan_without_one() -> None:
    # given the symbols of the test above, read in another order with repeats, or all
    # tradable (read by the C-level getters), or one alone
    symbols = ["AUSDT", "BUSDT", "CUSDT", "DUSDT", "EUSDT"]
    tradable = {"AUSDT", "CUSDT", "DUSDT", "EUSDT"}
    lasts, bids, asks = [1.0, 2.0, NAN, 4.0, 5.0], [0.9, 1.9, NAN, 3.9, NAN], [1.1, 2.1, 3.1, 4.1, NAN]
    rows = {s: i for i, s in enumerate(symbols) if s in tradable}
    lazy = LazyQuotes(rows, lasts, bids, asks)
    eager = eager_quotes(symbols, tradable, lasts, bids, asks)
    for wanted in (["EUSDT", "CUSDT", "AUSDT", "ZUSDT", "BUSDT", "DUSDT", "AUSDT"],
                   ["DUSDT", "CUSDT", "AUSDT", "EUSDT"], ["AUSDT"], ["CUSDT"], []):
        # when their quotes are read as columns, from the lazy quotes and from the dict
        got, plain = lazy.quote_columns(wanted), quote_columns(eager, wanted)
        assert repr(quote_columns(lazy, wanted)) == repr(got)  # the columns' own reading
        # then a symbol's mark is finite exactly when it has a quote, and where it has one
        # its bid and ask are the quote's
        n = len(wanted)
        for k, symbol in enumerate(wanted):
            quote = eager.get(symbol)
            for column in (got, plain):
                assert math.isfinite(column[k]) == (quote is not None)
                if quote is not None:
                    assert repr(column[n + k]) == repr(quote.bid)
                    assert repr(column[2 * n + k]) == repr(quote.ask)
    assert repr(lazy.quote_columns(["DUSDT", "AUSDT"])) == repr([4.0, 1.0, 3.9, 0.9, 4.1, 1.1])


def test_the_view_ranks_only_tradable_coins_in_ranking_order() -> None:
    # given a book of four symbols, three of them tradable
    symbols = ("AUSDT", "BUSDT", "CUSDT", "DUSDT")
    instruments = {"AUSDT": object(), "CUSDT": object(), "DUSDT": object(), "EUSDT": object()}
    views = ViewBuilder()
    views._tradable_rows(symbols, instruments)  # type: ignore[arg-type]

    def ranked(*names: str) -> tuple[RankedCoin, ...]:
        return tuple(RankedCoin(n, 0.5, 1e-5, 1e-3, ()) for n in names)

    # when every ranked coin is tradable, the ranking itself is the view's (a list: as a tuple)
    every = ranked("DUSDT", "AUSDT")
    assert views._tradable_ranking(every, instruments) is every  # type: ignore[arg-type]
    assert views._tradable_ranking(list(every), instruments) == every  # type: ignore[arg-type]
    # when one is not (in the book but not an instrument, or in neither), it is left out; an
    # instrument outside the book stays
    mixed = ranked("CUSDT", "BUSDT", "AUSDT", "ZUSDT", "EUSDT")
    kept = views._tradable_ranking(mixed, instruments)  # type: ignore[arg-type]
    assert [c.symbol for c in kept] == ["CUSDT", "AUSDT", "EUSDT"] and type(kept) is tuple
    assert views._tradable_ranking((), instruments) == ()  # type: ignore[arg-type]


def test_the_holdings_are_made_again_whenever_the_account_moved() -> None:
    # given a view builder and a trader's positions, one flat
    views = ViewBuilder()
    positions = {"AUSDT": Position(Decimal("1.5"), Decimal("10.25"), opened_ms=7),
                 "BUSDT": Position(Decimal(0), Decimal("3"), opened_ms=9)}

    def fresh() -> dict[str, Holding]:
        return {s: Holding(float(p.amount), float(p.avg_price), p.opened_ms)
                for s, p in positions.items() if p.amount > 0}

    first = views._holdings_of(positions, 4)
    assert first == fresh() == {"AUSDT": Holding(1.5, 10.25, 7)}
    # when the account has not moved, the same holdings are handed out again
    assert views._holdings_of(positions, 4) is first
    # when a fill moved it (a position booked, the count moved), they are made again
    positions["BUSDT"].amount = Decimal("2")
    positions["BUSDT"].opened_ms = 11
    again = views._holdings_of(positions, 5)
    assert again is not first and again == fresh() and len(again) == 2
    # and without a count (a caller that does not keep one) every view makes its own
    assert views._holdings_of(positions, None) is not views._holdings_of(positions, None)
    assert views._holdings_of(positions, 5) == fresh()


def test_quote_columns_read_the_newest_of_tick_and_bar_close() -> None:
    # given three coins: a tick after the last bar, a bar after the last tick, a tick only
    book = FeatureBook(["AUSDT", "BUSDT", "CUSDT"])
    book.on_bars([Bar("AUSDT", 0, 10.0, 10.0, 10.0, 10.0, 1.0, 10.0),
                  Bar("BUSDT", 0, 20.0, 20.0, 20.0, 20.0, 1.0, 20.0)])
    book.on_tick(Tick("AUSDT", MINUTE_MS + 5, MINUTE_MS + 5, 11.0, 10.9, 11.1, 1.0, 1.0, 1.0, 1.0))
    book.on_tick(Tick("BUSDT", 30_000, 30_000, 19.0, 18.9, 19.1, 1.0, 1.0, 1.0, 1.0))
    book.on_bars([Bar("BUSDT", MINUTE_MS, 20.0, 21.0, 20.0, 21.0, 1.0, 21.0)])
    book.on_tick(Tick("CUSDT", 5, 5, 30.0, 29.9, 30.1, 1.0, 1.0, 1.0, 1.0))
    # when the decision view reads its quote columns
    last, bid, ask = book.quote_columns()
    # then each last is the newer of tick and bar close; bid and ask are the ticks'
    assert last.tolist() == [11.0, 21.0, 30.0]
    assert bid.tolist() == [10.9, 18.9, 29.9] and ask.tolist() == [11.1, 19.1, 30.1]
    assert book.primitives().last.tolist() == last.tolist()


@pytest.fixture
def ledgers(tmp_path: Path) -> Iterator[tuple[Ledger, Ledger]]:
    one = Ledger.open(tmp_path / "one.db", durable=False)
    many = Ledger.open(tmp_path / "many.db", durable=False)
    yield one, many
    one.close()
    many.close()


@pytest.mark.parametrize("count", [0, 1, 12, DECISIONS_PER_INSERT, 2 * DECISIONS_PER_INSERT + 5])
def test_record_decisions_stores_the_rows_one_insert_each_would(
        ledgers: tuple[Ledger, Ledger], count: int) -> None:
    # given decisions with every kind of value, NULLs included
    decisions = [
        dict(ts=60_000 * (i // 7), symbol=f"C{i % 5}USDT", action="BUY" if i % 2 else "HOLD",
             verdict="DENIED:VAR_LIMIT" if i % 3 else "HOLD", score=None if i % 4 else i / 7,
             reasons=[f"r{i}"] if i % 2 else None,
             sizing={"amount": str(i)} if i % 5 == 0 else None, detail=f"d {i}",
             anomaly_score=None if i % 2 else 0.5 * i)
        for i in range(count)]
    one, many = ledgers
    # when one ledger records them one by one and the other all at once
    with one.batch():
        for decision in decisions:
            one.record_decision(**decision)  # type: ignore[arg-type]
    with many.batch():
        many.record_decisions(iter([decision_row(**d) for d in decisions]))  # type: ignore[arg-type]
    # then both tables hold the same rows under the same ids
    assert one.table_digest(["decisions"]) == many.table_digest(["decisions"])
    assert len(many.decisions(limit=1_000)) == count
