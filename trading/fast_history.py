"""The return history the fast loop's risk gate reads: the trader's MarketView at a row.

The other half of the fast loop's state beside the breakers (trading/fast_breakers.py):
`_Loop` (trading/fast_backtest.py) is both; what this half reads of the loop is declared
here.
"""

from __future__ import annotations

import numpy as np

from model import libm
from risk.gate import MarketView
from risk.var import ReturnHistory
from strategies.features_batch import MinuteGrid
from trading.fast_account import FastAccount
from trading.fast_market import DAY_MS, FastSettings


class ReturnsView:
    """The book's recent returns at a row, as the trader's MarketView gives them."""

    grid: MinuteGrid
    settings: FastSettings
    account: FastAccount
    close_ff: np.ndarray  # [T, n] forward-filled closes
    first_bar: np.ndarray  # [n]: each symbol's first row with a bar
    _all_started: int  # every symbol has a bar after this row
    _simple_returns: np.ndarray | None  # every row's simple return, once built
    _returns_finite: bool  # every one of _simple_returns is finite
    _history: tuple[int, MarketView] | None  # (row, view) of this step
    _complete_history: ReturnHistory | None = None  # the last one vouched complete

    def _market_view(self, row: int) -> MarketView:
        """The trader's MarketView: the instruments and the book's recent 1m returns (one
        per step: every action of a step sees the same history)."""
        if self._history is not None and self._history[0] == row:
            return self._history[1]
        returns, complete = self._returns(row)
        period = self.settings.bar_ms / DAY_MS
        if complete:
            made = self._complete_history
            history = (ReturnHistory.complete(self.grid.symbols, returns, period)
                       if made is None else made.over(returns))
            self._complete_history = history
        else:
            history = ReturnHistory(self.grid.symbols, returns, period)
        view = MarketView(instruments=self.account.instruments, history=history)
        self._history = (row, view)
        return view

    def _returns(self, row: int) -> tuple[np.ndarray, bool]:
        """FeatureBook.recent_returns at this row: simple returns of the forward-filled
        closes over the last `return_history_bars` rows, NaN where a symbol had no bar yet
        (at or before its first bar, as the book's rings); and whether they are all finite.
        In the common case (every symbol past its first bar, every return finite) a view of
        the run's returns that needs no scan for gaps. (It was a copy, for fear that BLAS
        would sum the VaR's matrix product in another order for another alignment of the
        same rows: it does not, on any of OpenBLAS's x86 kernels, and
        tests/unit/test_fast_returns_view.py holds the product on views to the one on copies;
        the copy cost ~10 us and 230 KB of cache per acting step.)"""
        if self._simple_returns is None:  # once per run: every row's return, as the rings
            simple = simple_returns(self.close_ff)
            self._simple_returns = simple
            self._returns_finite = bool(np.isfinite(simple).all())
        bars = self.settings.return_history_bars
        first = row - bars + 1
        if first >= 1 and first > self._all_started:  # the common case: a view
            return self._simple_returns[first: row + 1], self._returns_finite
        wanted = row - np.arange(bars - 1, -1, -1, dtype=np.int64)
        known = (wanted[:, None] > self.first_bar[None, :]) & (wanted[:, None] >= 1)
        return np.where(known, self._simple_returns[np.maximum(wanted, 0)], np.nan), False


def simple_returns(close_ff: np.ndarray) -> np.ndarray:
    """Every row's simple return of the forward-filled closes [T, n], as the feature book's
    rings hold them (exp(log ratio) - 1, 0 where the log ratio is not finite, 0 in row 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        log_returns = libm.log(close_ff[1:] / close_ff[:-1])
    log_returns = np.vstack([np.zeros((1, log_returns.shape[1])), log_returns])
    return libm.expm1(np.where(np.isfinite(log_returns), log_returns, 0.0))
