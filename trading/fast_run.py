"""One fast run's result: the equity at every decision step, the fills, the trading
figures, and the ledger's rows (order events and decisions), which may be made on demand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model.orders import OrderEvent, OrderRequest
from trading.performance import Performance, RoundTrip, performance

#: (ts, symbol, action, verdict, detail, risk.sizing.Sizing or None), for the ledger
DecisionRow = tuple[int, str, str, str, str, Any]
LedgerMaterial = tuple[tuple[OrderEvent | OrderRequest, ...], tuple[DecisionRow, ...]]


class LedgerRows:
    """The ledger's rows of a run: given, or made by `make` on first use (a compiled run
    leaves its words to the Python loop, which only a ledger writer needs)."""

    __slots__ = ("_made", "_make")

    def __init__(self, made: LedgerMaterial | None = None,
                 make: Callable[[], LedgerMaterial] | None = None):
        if (made is None) == (make is None):
            raise ValueError("LedgerRows takes its rows or a way to make them, not both")
        self._made, self._make = made, make

    def get(self) -> LedgerMaterial:
        if self._made is None:
            assert self._make is not None
            self._made, self._make = self._make(), None
        return self._made


@dataclass(frozen=True, slots=True)
class FastRun:
    """One fast run: equity at every decision step, the fills, and the trading figures."""

    symbols: tuple[str, ...]
    quote_asset: str
    start_equity: float
    equity_ms: np.ndarray  # int64 [S]: decision time of each mark (a row's close)
    equity: np.ndarray  # float64 [S], quote
    fill_ts_ms: np.ndarray  # int64 [F]
    fill_symbol: np.ndarray  # int64 [F]: grid column
    fill_side: np.ndarray  # int8 [F]: model.fills.BUY / SELL
    fill_price: np.ndarray  # float64 [F]
    fill_amount: np.ndarray
    fill_fee: np.ndarray
    fill_liquidity: np.ndarray  # int8 [F]: model.fills.MAKER / TAKER
    fees: float
    traded_notional: float
    exposed_steps: int
    round_trips: tuple[RoundTrip, ...]
    ledger_rows: LedgerRows = field(repr=False, compare=False)
    cash: np.ndarray  # float64 [S]: the quote balance at each mark
    #: "compiled": the SMA lane traded it (trading/sma_lane.py); "python": the Python loop,
    #: with why the lane did not, where it was tried ("python (the lane gave up at ...)")
    lane: str = "python"

    @property
    def events(self) -> tuple[OrderEvent | OrderRequest, ...]:
        """The order events for the ledger, in order."""
        return self.ledger_rows.get()[0]

    @property
    def decisions(self) -> tuple[DecisionRow, ...]:
        """The decision rows for the ledger, in order."""
        return self.ledger_rows.get()[1]

    def performance(self) -> Performance:
        """trading.performance over the marks, as the engine's backtest reports it."""
        return performance(self.equity_ms.tolist(), self.equity.tolist(), self.round_trips,
                           self.fees, self.traded_notional, self.exposed_steps)
