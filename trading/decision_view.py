"""What a policy sees at a decision step (`strategies.policy.DecisionView`), built from the
trader's account and the feature book.

Split out of trading/trader.py so the step's fixed cost can be cut without growing it: the
quotes are read from three columns (`FeatureBook.quote_columns`, not the whole
`primitives()`), a `Quote` object is only built for a symbol a policy reads, and the
tradable rows of the book's symbol tuple are worked out once, not every minute.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING

from strategies.policy import (
    DecisionView,
    Holding,
    Quote,
    QuoteColumns,
    RestingOrder,
    decision_view,
    quote_of,
)
from strategies.ranking import RankedCoin

if TYPE_CHECKING:
    import numpy as np

    from model.instruments import Instrument
    from strategies.features import FeatureBook
    from trading.broker import Broker
    from trading.positions import Position


_SYMBOL = attrgetter("symbol")
_isfinite = math.isfinite


class LazyQuotes(QuoteColumns):
    """Symbol -> `Quote` of the tradable symbols with a finite last price, in the book's
    symbol order: the mapping the eager dict was, but each `Quote` is made when first read.
    A policy reads a few quotes a step (its candidates, its holdings); building all of them
    was most of the view's cost at 20 coins."""

    __slots__ = ("_asks", "_bids", "_built", "_lasts", "_rows")

    def __init__(self, rows: Mapping[str, int], lasts: list[float], bids: list[float],
                 asks: list[float]) -> None:
        """`rows`: tradable symbol -> its row in the three columns (Python floats)."""
        self._rows = rows
        self._lasts = lasts
        self._bids = bids
        self._asks = asks
        self._built: dict[str, Quote] = {}

    def _row(self, symbol: str) -> int | None:
        """The symbol's row when it is quoted (tradable, finite last), else None."""
        row = self._rows.get(symbol)
        if row is None or not math.isfinite(self._lasts[row]):
            return None
        return row

    def get(self, symbol: str, default: Quote | None = None) -> Quote | None:  # type: ignore[override]
        """`Mapping.get` without a KeyError raised and caught for an unquoted symbol (`_row`
        written out: a policy reads a few quotes a step, each a call less)."""
        quote = self._built.get(symbol)
        if quote is not None:
            return quote
        row = self._rows.get(symbol)
        if row is None:
            return default
        last = self._lasts[row]
        if not _isfinite(last):
            return default
        quote = self._built[symbol] = quote_of(last, self._bids[row], self._asks[row])
        return quote

    def lasts_of(self, symbols: tuple[str, ...]) -> list[float]:
        """Each symbol's last price where it is tradable, else NaN (a non-finite last as it
        is): `get(s).last` where a quote exists, for all at once, without making Quotes."""
        rows, lasts, nan = self._rows, self._lasts, math.nan
        return [nan if (row := rows.get(s)) is None else lasts[row] for s in symbols]

    def quote_columns(self, symbols: Sequence[str]) -> list[float]:
        """The symbols' lasts (finite exactly where `get` has a quote: tradable, finite
        last; NaN where not tradable), then their bids, then their asks (NaN where not
        tradable): `policy.quote_columns` without a Quote made (the baseline reads every
        ranked coin's). When every symbol is tradable (nearly every step) the rows are read
        by C-level getters, not a Python loop."""
        rows = list(map(self._rows.get, symbols))
        if len(rows) > 1 and None not in rows:
            pick = itemgetter(*rows)
            return [*pick(self._lasts), *pick(self._bids), *pick(self._asks)]
        lasts, bids, asks, nan = self._lasts, self._bids, self._asks, math.nan
        return ([nan if row is None else lasts[row] for row in rows]
                + [nan if row is None else bids[row] for row in rows]
                + [nan if row is None else asks[row] for row in rows])

    def __getitem__(self, symbol: str) -> Quote:
        quote = self.get(symbol)
        if quote is None:
            raise KeyError(symbol)
        return quote

    def __contains__(self, symbol: object) -> bool:
        return isinstance(symbol, str) and self._row(symbol) is not None

    def __iter__(self) -> Iterator[str]:
        lasts = self._lasts
        return (s for s, row in self._rows.items() if math.isfinite(lasts[row]))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"LazyQuotes({dict(self.items())!r})"


class ViewBuilder:
    """Builds each step's `DecisionView` for one trader. Keeps the tradable rows of the
    book's symbol tuple (the same tuple every step) so they are not filtered again."""

    def __init__(self) -> None:
        """Nothing known yet: the first view works out the tradable rows."""
        self._key: tuple[tuple[str, ...], Mapping[str, Instrument]] | None = None
        self._rows: dict[str, int] = {}
        self._tradable: tuple[str, ...] = ()
        self._tradable_set: frozenset[str] = frozenset()
        # (the trader's account moves, positions mapping, its holdings) of the last view
        self._holdings: tuple[int, Mapping[str, Position], dict[str, Holding]] | None = None

    def _holdings_of(self, positions: Mapping[str, Position], moves: int | None
                     ) -> dict[str, Holding]:
        """The held positions as the policy sees them. With `moves` (the trader's count of
        account moves: positions change only with a booked fill, which moves it) the dict
        of the last view is handed out again while the count stands still: a policy that
        holds twenty coins (sma) had twenty Holdings and forty Decimal-to-float conversions
        made every minute. None: made afresh."""
        kept = self._holdings
        if moves is not None and kept is not None and kept[0] == moves and kept[1] is positions:
            return kept[2]
        holdings = {
            s: Holding(float(p.amount), float(p.avg_price), p.opened_ms)
            for s, p in positions.items() if p.amount > 0
        }
        self._holdings = None if moves is None else (moves, positions, holdings)
        return holdings

    def _tradable_rows(self, symbols: tuple[str, ...], instruments: Mapping[str, Instrument]
                       ) -> tuple[dict[str, int], tuple[str, ...]]:
        """Tradable symbol -> row, and the tradable symbols in book order; recomputed only
        for another symbol tuple or instruments mapping (by identity: both are kept)."""
        key = self._key
        if key is None or key[0] is not symbols or key[1] is not instruments:
            self._rows = {s: i for i, s in enumerate(symbols) if s in instruments}
            self._tradable = tuple(self._rows)
            self._tradable_set = frozenset(self._rows)
            self._key = (symbols, instruments)
        return self._rows, self._tradable

    def _tradable_ranking(self, ranking: tuple[RankedCoin, ...],
                          instruments: Mapping[str, Instrument]) -> tuple[RankedCoin, ...]:
        """The ranked coins the trader may trade, in ranking order. Usually every one is
        (the ranking ranks the book's tradable symbols): then the ranking itself, checked
        in one C-level pass over its symbols instead of a filtering generator."""
        if self._tradable_set.issuperset(map(_SYMBOL, ranking)):
            return ranking if type(ranking) is tuple else tuple(ranking)
        return tuple(c for c in ranking if c.symbol in instruments)

    def view(self, ts_ms: int, book: FeatureBook, ranking: tuple[RankedCoin, ...],
             features: np.ndarray, *, instruments: Mapping[str, Instrument], quote_asset: str,
             equity: Decimal, positions: Mapping[str, Position], broker: Broker,
             mode: str, moves: int | None = None) -> DecisionView:
        """The policy's view at `ts_ms` of the `instruments` it may trade: quotes,
        holdings, resting orders (a cancel requested is no longer resting) and the free
        `quote_asset` balance. `moves`: the trader's account moves (`_holdings_of`)."""
        rows, tradable = self._tradable_rows(book.symbols, instruments)
        last, bid, ask = book.quote_columns()
        # Python floats in one call per column (the same values as float(array[i])).
        quotes = LazyQuotes(rows, last.tolist(), bid.tolist(), ask.tolist())
        holdings = self._holdings_of(positions, moves)
        opened = broker.open_orders()
        orders = tuple(
            RestingOrder(o.client_order_id, o.symbol, o.side.value, float(o.price or 0),
                         float(o.remaining), o.ts_event, amount=float(o.amount))
            for o in opened if o.cancel_requested_ms is None
        ) if opened else ()
        return decision_view(
            ts_ms, tradable, features, book.feature_names,
            self._tradable_ranking(ranking, instruments), quotes, holdings, orders,
            float(equity), book, float(broker.free_balance(quote_asset)),
            mode,
        )
