"""The trader's mark of each symbol: a dict of Decimals whose bar closes convert when read.

Why lazy: every closed bar sets its symbol's mark, `Decimal(repr(close))`, ~0.6 us each, 20
a minute at 20 coins; most are overwritten by the next minute's close before anything reads
them (equity and the portfolio view read only the symbols the trader holds or held). So a
bar's close is stored as the float it came as and turned into the same Decimal on its first
read, which then replaces the float.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping
from decimal import Decimal


class LastPrices(MutableMapping[str, Decimal]):
    """Symbol -> last price (Decimal); `set_closes` stores bar closes unconverted."""

    def __init__(self) -> None:
        self._prices: dict[str, Decimal | float] = {}  # a float: a close not yet read

    def set_closes(self, symbols: Iterable[str], closes: Iterable[float]) -> None:
        """Mark each symbol at its bar close: `self[s] = Decimal(repr(close))`, converted
        when read."""
        self._prices.update(zip(symbols, closes))

    def __getitem__(self, symbol: str) -> Decimal:
        price = self._prices[symbol]
        if not isinstance(price, Decimal):
            price = self._prices[symbol] = Decimal(repr(price))
        return price

    def mark(self, symbol: str, default: Decimal) -> Decimal:
        """`get(symbol, default)` without the Mapping protocol's Python calls: the equity
        reads one per position at every decision step."""
        price = self._prices.get(symbol)
        if price is None:
            return default
        if not isinstance(price, Decimal):
            price = self._prices[symbol] = Decimal(repr(price))
        return price

    def __setitem__(self, symbol: str, price: Decimal) -> None:
        self._prices[symbol] = price

    def __delitem__(self, symbol: str) -> None:
        del self._prices[symbol]

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._prices

    def __iter__(self) -> Iterator[str]:
        return iter(self._prices)

    def __len__(self) -> int:
        return len(self._prices)

    def __repr__(self) -> str:
        return f"LastPrices({dict(self.items())!r})"
