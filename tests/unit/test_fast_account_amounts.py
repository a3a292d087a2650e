"""The fast account's float amounts per column (the equity marks' holdings), kept up to
date fill by fill, are at every call what the positions say, as a new array each time."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from model.fills import FillParams
from risk.limits import RiskLimits
from tests.unit.test_fast_backtest import WARMUP, random_walk_grid
from trading.batch_policies import make_batch_policy
from trading.fast_account import FastAccount
from trading.fast_backtest import FastSettings, run_fast


@pytest.mark.parametrize("policy", ["sma", "buyhold", "topk"])
def test_amounts_are_the_positions_at_every_call(policy: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    kept = FastAccount.amounts
    seen: list[np.ndarray] = []

    def checked(self: FastAccount, n: int) -> np.ndarray:
        amounts = kept(self, n)
        fresh = np.zeros(n)
        for symbol, position in self.positions.items():
            fresh[self.columns[symbol]] = float(position.amount)
        np.testing.assert_array_equal(amounts, fresh)
        assert all(amounts is not earlier for earlier in seen)
        seen.append(amounts)
        return amounts

    monkeypatch.setattr(FastAccount, "amounts", checked)
    run = run_fast(random_walk_grid(rows=WARMUP + 1440, seed=2), make_batch_policy(policy),
                   FastSettings(FillParams(), RiskLimits()), start_row=WARMUP,
                   balance=Decimal(10_000))
    assert len(seen) >= 2 and len(run.fill_ts_ms) >= 2
