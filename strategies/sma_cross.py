"""The SMA cross baseline: long while SMA(fast) of each coin's last price is above SMA(slow).

The windows live in one ring array for all coins and a minute's comparisons run in one
compiled call (strategies/sma_cross_kernel.py, the same additions as `sum` over the window);
only the coins whose signal flipped come back to Python to become actions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from strategies.policy import Action, DecisionView, Policy, PolicyAction, Quote
from strategies.sma_cross_kernel import UNKNOWN, sma_minute_kernel

__all__ = ["SmaCrossPolicy", "quote_lasts"]


def _usable(price: float) -> bool:
    return math.isfinite(price) and price > 0


def quote_lasts(quotes: Mapping[str, Quote], symbols: tuple[str, ...]) -> np.ndarray:
    """Each symbol's quoted last price, NaN where it has no quote: read in one pass where the
    mapping can (`LazyQuotes.lasts_of`, without making a Quote per coin)."""
    lasts_of = getattr(quotes, "lasts_of", None)
    if lasts_of is not None:
        return np.array(lasts_of(symbols), dtype=np.float64)
    out = np.full(len(symbols), np.nan)
    for j, symbol in enumerate(symbols):
        quote = quotes.get(symbol)
        if quote is not None:
            out[j] = quote.last
    return out


@dataclass
class SmaCrossPolicy(Policy):
    """Long when SMA(fast) of 1m closes crosses above SMA(slow); flat when it crosses below.

    Orders are marketable limits (they take the touch, paying up to `slippage_pct` beyond it),
    and an order still open at the next cross is canceled first, so the policy follows its
    signal instead of leaving stale orders behind.
    """

    fast: int = 20
    slow: int = 50
    stop_return_pct: float = 2.0
    slippage_pct: float = 0.5
    name: str = "sma"
    # Each coin's row in the windows, kept across steps (a coin keeps its window while it is
    # out of the view); the windows, how many prices each row has taken, its last signal.
    _rows: dict[str, int] = field(default_factory=dict)
    _ring: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    _count: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    _state: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    _index: tuple[tuple[str, ...] | None, np.ndarray] = (None, np.zeros(0, np.int64))

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        symbols = view.symbols
        rows = self._rows_of(symbols)
        crossed = np.empty(2 * len(symbols), np.int64)
        flips = sma_minute_kernel(self._ring, self._count, self._state, rows,
                                  quote_lasts(view.quotes, symbols), self.fast, self.slow,
                                  crossed)
        if not flips:
            return []
        ordered = {o.symbol: o for o in view.open_orders}
        actions = []
        pairs = crossed[:2 * flips].tolist()
        for j, was in zip(pairs[0::2], pairs[1::2], strict=True):
            symbol = symbols[j]
            above = not was
            stale = ordered.get(symbol)
            if stale is not None:  # signal flipped while an order was working: cancel it first
                kind = Action.CANCEL_BUY if stale.side == "BUY" else Action.CANCEL_SELL
                actions.append(PolicyAction(symbol, kind, client_order_id=stale.client_order_id,
                                            reason="signal flipped"))
                self._state[rows[j]] = was  # act on the cross at the next step
                continue
            quote = view.quotes[symbol]
            held = symbol in view.holdings
            if above and not held and _usable(quote.ask):
                actions.append(PolicyAction(symbol, Action.BUY,
                                            limit_price=quote.ask * (1 + self.slippage_pct / 100),
                                            stop_price=quote.ask * (1 - self.stop_return_pct / 100),
                                            reason=f"SMA{self.fast} crossed above SMA{self.slow}"))
            elif not above and held and _usable(quote.bid):
                actions.append(PolicyAction(symbol, Action.SELL,
                                            limit_price=quote.bid * (1 - self.slippage_pct / 100),
                                            exit=True,
                                            reason=f"SMA{self.fast} crossed below SMA{self.slow}"))
        return actions

    def _rows_of(self, symbols: tuple[str, ...]) -> np.ndarray:
        """The window rows of `symbols` (new coins get new rows), kept for the same tuple."""
        if self._index[0] is symbols:
            return self._index[1]
        for symbol in symbols:
            if symbol not in self._rows:
                self._rows[symbol] = len(self._rows)
        grow = len(self._rows) - len(self._count)
        if grow > 0:
            ring = np.zeros((len(self._rows), self.slow))
            ring[:len(self._count)] = self._ring if len(self._count) else 0.0
            self._ring = ring
            self._count = np.concatenate([self._count, np.zeros(grow, np.int64)])
            self._state = np.concatenate([self._state, np.full(grow, UNKNOWN, np.int8)])
        rows = np.array([self._rows[s] for s in symbols], dtype=np.int64)
        self._index = (symbols, rows)
        return rows
