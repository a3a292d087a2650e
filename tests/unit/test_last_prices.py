"""LastPrices: a bar close stored unconverted reads as the Decimal the trader used to store."""

from __future__ import annotations

from decimal import Decimal

from trading.last_prices import LastPrices


def test_a_close_reads_as_the_decimal_of_its_repr() -> None:
    prices = LastPrices()
    prices.set_closes(("AAAUSDT", "BBBUSDT"), [0.1 + 0.2, 42.0])
    assert prices["AAAUSDT"] == Decimal(repr(0.1 + 0.2))
    assert str(prices.get("BBBUSDT")) == str(Decimal(repr(42.0)))
    assert prices.get("CCCUSDT", Decimal(7)) == Decimal(7)


def test_the_newest_write_wins_whatever_its_form() -> None:
    prices = LastPrices()
    prices["AAAUSDT"] = Decimal("1.5")
    prices.set_closes(["AAAUSDT"], [2.25])
    assert prices["AAAUSDT"] == Decimal("2.25")
    prices["AAAUSDT"] = Decimal("3")
    assert prices["AAAUSDT"] == Decimal("3")
    prices.setdefault("AAAUSDT", Decimal("9"))
    assert prices["AAAUSDT"] == Decimal("3")


def test_it_compares_and_copies_as_the_dict_it_replaces() -> None:
    prices = LastPrices()
    prices.set_closes(["AAAUSDT"], [1.25])
    prices["BBBUSDT"] = Decimal("2")
    assert prices == {"AAAUSDT": Decimal("1.25"), "BBBUSDT": Decimal("2")}
    assert dict(prices) == {"AAAUSDT": Decimal("1.25"), "BBBUSDT": Decimal("2")}
    assert "AAAUSDT" in prices and len(prices) == 2
    other = LastPrices()
    other.update(prices)
    assert all(isinstance(v, Decimal) for v in other.values())


def test_mark_reads_as_get_and_converts_once() -> None:
    prices = LastPrices()
    prices.set_closes(["AAAUSDT"], [0.1 + 0.2])
    prices["BBBUSDT"] = Decimal("2.50")
    for symbol in ("AAAUSDT", "BBBUSDT", "CCCUSDT"):
        assert str(prices.mark(symbol, Decimal("7.0"))) == str(prices.get(symbol, Decimal("7.0")))
    assert prices.mark("AAAUSDT", Decimal(0)) is prices.mark("AAAUSDT", Decimal(0))
