"""What the paper broker has seen of each symbol's market: its last close, the book that
close leaves, and the time up to which no market event can come any more.

Kept apart from the broker (orders, wallet, matching) because it is the broker's clock and
reference prices, read by three of its rules: a market order is checked and reserved at the
quote (bid = the last close, ask = close + the symbol's bar spread); a cancel at or before a
symbol's closed-until time can meet no event any more, so it is final at once (ADR-011);
and the fill model prices a bar's book with the same per-symbol spread (`fill_market`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from exchange.brokers.fill_grid import float_decimal
from model import costs, fills
from model.instruments import Instrument
from model.market import Bar

NEVER = -(2**63)  # a closed-until time before any market time: no market event seen yet


@dataclass(frozen=True, slots=True)
class Quote:
    """The last market state seen for a symbol: reference prices for market orders."""

    last: Decimal
    ask: Decimal


class SeenMarket:
    """Each symbol's last close and closed-until time, and the quote built from the close
    on the first ask (only an order reads it: building it for every bar, Decimals and the
    tick grid, was a few % of a backtest's time). A replay's minute of closes is kept as
    its array until something reads or writes a close (`saw_close_column`): most minutes
    none does, and the per-symbol dict update was most of a quiet minute's cost."""

    def __init__(self, instruments: Mapping[str, Instrument], bar_spread_ticks: float,
                 spreads: Mapping[str, float]) -> None:
        """`spreads`: each symbol's relative bid-ask spread (model/costs.py); a symbol not
        in it gets `bar_spread_ticks` ticks."""
        self._instruments = instruments
        self._bar_spread_ticks = bar_spread_ticks
        self.spreads = dict(spreads)
        self._last_close: dict[str, float] = {}
        self._quotes: dict[str, Quote] = {}
        # Per symbol, the time every later market event starts at or after (a bar's close
        # + 1 ms, or a closed decision step). What holds for all symbols at once (a decision
        # step, a minute's bars of all) is one number; a symbol's is the larger.
        self._closed_until_ms: dict[str, int] = {}
        self._all_closed_until_ms = NEVER
        # The newest closes not yet in `_last_close`: (symbols, their closes), written there
        # (and their quotes dropped) before any close is read or written another way.
        self._unread: tuple[tuple[str, ...], np.ndarray] | None = None

    def saw_bar(self, bar: Bar) -> None:
        """`bar` closed: its close replaces the symbol's quote (built when asked), and no
        later event of the symbol starts before its close."""
        if self._unread is not None:
            self._read_closes()
        self._last_close[bar.symbol] = bar.close
        self._quotes.pop(bar.symbol, None)
        self._advance(bar.symbol, bar.close_ms + 1)

    def saw_closes(self, symbols: Sequence[str], closes: Sequence[float], close_ms: int, *,
                   every_symbol: bool) -> None:
        """`saw_bar` of one minute's bars given as columns (distinct symbols closing at
        `close_ms`); `every_symbol`: they are all the traded symbols, so one closed-until
        time stands for all."""
        if self._unread is not None:
            self._read_closes()
        self._last_close.update(zip(symbols, closes))
        for symbol in symbols if self._quotes else ():  # empty until an order asks
            self._quotes.pop(symbol, None)
        if every_symbol:
            self.close_all_until(close_ms + 1)
        else:
            for symbol in symbols:
                self._advance(symbol, close_ms + 1)

    def saw_close_column(self, symbols: tuple[str, ...], closes: np.ndarray, close_ms: int,
                         *, every_symbol: bool) -> None:
        """`saw_closes` with the closes as a float64 array, kept (a copy: the caller's array
        is not watched) until a close is read or written another way. The same tuple of
        symbols minute after minute replaces the kept closes whole, unread."""
        unread = self._unread
        if unread is not None and unread[0] is not symbols:
            self._read_closes()
        self._unread = (symbols, closes.copy())
        if every_symbol:
            if close_ms + 1 > self._all_closed_until_ms:
                self._all_closed_until_ms = close_ms + 1
        else:
            for symbol in symbols:
                self._advance(symbol, close_ms + 1)

    def _read_closes(self) -> None:
        """Write the kept closes into `_last_close` (Python floats, as `saw_closes` is
        given them) and drop their symbols' quotes, as `saw_closes` would have."""
        assert self._unread is not None
        symbols, closes = self._unread
        self._unread = None
        self._last_close.update(zip(symbols, closes.tolist()))
        for symbol in symbols if self._quotes else ():
            self._quotes.pop(symbol, None)

    def close_all_until(self, ts_ms: int) -> None:
        """No event of any symbol starts before `ts_ms` (never moves back)."""
        self._all_closed_until_ms = max(self._all_closed_until_ms, ts_ms)

    def closed_until(self, symbol: str) -> int:
        """The time before which no event of `symbol` can come any more (NEVER: none seen)."""
        return max(self._closed_until_ms.get(symbol, NEVER), self._all_closed_until_ms)

    def quote(self, symbol: str) -> Quote | None:
        """The book `symbol`'s last bar left, None before any bar."""
        if self._unread is not None:
            self._read_closes()
        quote = self._quotes.get(symbol)
        if quote is None and (close := self._last_close.get(symbol)) is not None:
            quote = self._quotes[symbol] = self._quote_after(symbol, close)
        return quote

    def fill_market(self, bars: Sequence[Bar], params: fills.FillParams) -> fills.MarketArrays:
        """The fill model's market of `bars` (one event each, in their order), each bar's
        book priced on its symbol's tick at its open with the symbol's spread."""
        ticks = [float(self._instruments[b.symbol].tick_at(b.open)) for b in bars]
        return fills.market_from_bars(
            [b.open_ms for b in bars], [b.open for b in bars], [b.high for b in bars],
            [b.low for b in bars], [b.close for b in bars], [b.volume for b in bars],
            ticks, params, self.bar_spreads(bars),
        )  # fmt: skip

    def bar_spreads(self, bars: Sequence[Bar]) -> list[float] | None:
        """The relative spread of each bar's symbol, or None when none is set (one rule,
        `bar_spread_ticks`, for all: the fill model's default)."""
        if not self.spreads:
            return None
        return [self.spreads.get(bar.symbol, 0.0) for bar in bars]

    def _quote_after(self, symbol: str, last_close: float) -> Quote:
        """The book a bar leaves: bid = close, ask = close + the symbol's bar spread."""
        close = float_decimal(last_close)
        tick = self._instruments[symbol].tick_at(close)
        relative = self.spreads.get(symbol, 0.0)
        width = float(costs.spread_ticks(relative, float(close), float(tick),
                                         self._bar_spread_ticks)) if relative else 1.0
        return Quote(close, close + tick * int(width))

    def _advance(self, symbol: str, ts_ms: int) -> None:
        """No later event of `symbol` starts before `ts_ms` (never moves back: a late bar
        is still matched, but does not reopen a market already declared closed)."""
        self._closed_until_ms[symbol] = max(self._closed_until_ms.get(symbol, ts_ms), ts_ms)
