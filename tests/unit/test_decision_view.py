"""The decision step's cheaper bookkeeping says the same as the eager forms it replaced:
lazily built quotes, the book's quote columns, and multi-row decision inserts."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from model.market import MINUTE_MS, Bar, Tick
from state.decision_rows import DECISIONS_PER_INSERT, decision_row
from state.ledger import Ledger
from strategies.features import FeatureBook
from strategies.policy import Quote
from trading.decision_view import LazyQuotes

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


@pytest.fixture
def book() -> FeatureBook:
    """Twelve symbols after bars, gaps, a never-traded one and a few ticks."""
    rng = np.random.default_rng(3)
    symbols = [f"C{i}USDT" for i in range(12)]
    book = FeatureBook(symbols)
    price = rng.lognormal(0, 1, len(symbols))
    for minute in range(1_000, 1_300):
        bars = [Bar(s, minute * MINUTE_MS, price[i], price[i] * 1.001, price[i] * 0.999,
                    price[i], 1.0, price[i])
                for i, s in enumerate(symbols) if i != 0 and rng.random() > 0.05]
        book.on_bars(bars)
        book.advance_to(minute * MINUTE_MS)
        if minute % 37 == 0:
            i = 4 + minute % 3
            book.on_tick(Tick(symbols[i], minute * MINUTE_MS + 70_000,
                              minute * MINUTE_MS + 70_000, float(price[i]) * 1.01,
                              float(price[i]), float(price[i]) * 1.002, 3.0, 1.0,
                              base_volume=1.0, quote_volume=5e6))
    return book


def test_quote_columns_are_the_primitives_columns_bit_for_bit(book: FeatureBook) -> None:
    last, bid, ask = book.quote_columns()
    primitives = book.primitives()
    for got, expected in ((last, primitives.last), (bid, primitives.bid), (ask, primitives.ask)):
        assert got.tobytes() == np.asarray(expected, dtype=np.float64).tobytes()


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
