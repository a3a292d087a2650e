"""The fast loop's result: what a run recorded, step by step, turned into its `FastRun`.

The third part of the fast loop beside the breakers (trading/fast_breakers.py) and the
return history (trading/fast_history.py): `_Loop` (trading/fast_backtest.py) is all three.
Apart because it runs once, after the last step, and reads only what the steps recorded
(the account's changes, fills and decisions), not the rules that made them; what it reads
of the loop is declared here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from strategies.features_batch import MinuteGrid
from trading.fast_account import FastAccount
from trading.fast_kernel import marks
from trading.fast_policies import StepQuotes
from trading.fast_run import FastRun, LedgerRows


class LoopResult:
    """The run's marks, fills and ledger rows, as one `FastRun`."""

    grid: MinuteGrid
    account: FastAccount
    close_ff: np.ndarray  # [T, n] forward-filled closes
    start_equity: Decimal
    # (step, cash, amounts [n]) from which the marks are constant in holdings
    changes: list[tuple[int, float, np.ndarray]]
    decisions: list[tuple[int, str, str, str, str, Any]]

    # --- the result ---------------------------------------------------------------------
    def result(self, quotes: StepQuotes) -> FastRun:
        steps, n = len(quotes.rows), len(self.grid.symbols)
        cash = np.empty(steps)
        amounts = np.zeros((steps, n))
        for (k, value, held), following in zip(self.changes, [*self.changes[1:], None]):
            end = steps if following is None else following[0]
            cash[k:end] = value
            amounts[k:end] = held
        close = np.ascontiguousarray(self.close_ff[quotes.rows])
        equity = marks(cash, amounts, np.nan_to_num(close))
        account = self.account
        records = account.fills
        return FastRun(
            symbols=self.grid.symbols, quote_asset=account.quote_asset,
            start_equity=float(self.start_equity), equity_ms=quotes.ts_ms.copy(), equity=equity,
            fill_ts_ms=np.array([f.ts_ms for f in records], np.int64),
            fill_symbol=np.array([f.column for f in records], np.int64),
            fill_side=np.array([f.side for f in records], np.int8),
            fill_price=np.array([float(f.price) for f in records]),
            fill_amount=np.array([float(f.amount) for f in records]),
            fill_fee=np.array([float(f.fee) for f in records]),
            fill_liquidity=np.array([f.liquidity for f in records], np.int8),
            fees=float(account.fees_paid), traded_notional=float(account.traded_notional),
            exposed_steps=int((amounts > 0).any(axis=1).sum()),
            round_trips=tuple(account.round_trips),
            ledger_rows=LedgerRows((tuple(account.events), tuple(self.decisions))), cash=cash,
        )
