"""`RiskGate.check(..., figures=False)`: the same verdict, amount, price and sizing as the
full check, an approval without its post-trade risk figures and detail (what the fast
backtester reads of a verdict, without the second VaR pass and the breakdown text)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from risk.gate import Approved, CancelIntent, Denied, EntryIntent, ExitIntent
from risk.limits import RiskLimits
from risk.state import TradingMode
from tests.unit.test_risk_gate import (
    ES_4_5,
    GATE,
    LIMITS,
    MARKET,
    STATE,
    VAR_2_4,
    buy,
    market_with,
    portfolio,
)

CASES = [
    ("approved", buy(), portfolio(), MARKET, LIMITS),
    ("approved, parametric VaR", buy(), portfolio(), market_with(ES_4_5),
     replace(LIMITS, var_limit_pct=D("5"), es_limit_pct=D("100"), var_method="parametric")),
    ("approved beside a holding", buy("AUSDT"), portfolio(XUSDT=("2", "100")), MARKET, LIMITS),
    ("VaR over the limit", buy(), portfolio(), market_with(VAR_2_4), LIMITS),
    ("ES over the limit", buy(), portfolio(), market_with(ES_4_5), LIMITS),
    ("at the cap", buy(), portfolio(XUSDT=("5", "100")), MARKET, LIMITS),
    ("too little history", buy(), portfolio(), MARKET,
     replace(LIMITS, min_return_observations=500)),
    ("an exit", ExitIntent("XUSDT", D("100")), portfolio(XUSDT=("2", "100")), MARKET, LIMITS),
    ("a cancel", CancelIntent("XUSDT", "E-1"), portfolio(), MARKET, LIMITS),
]  # fmt: skip


@pytest.mark.parametrize(("case", "intent", "view", "market", "limits"), CASES,
                         ids=[c[0] for c in CASES])
def test_without_figures_the_verdict_and_size_are_the_full_checks(
        case: str, intent: EntryIntent, view, market, limits: RiskLimits) -> None:  # type: ignore[no-untyped-def]
    full = GATE.check(intent, view, market, limits, STATE)
    lean = GATE.check(intent, view, market, limits, STATE, figures=False)
    assert type(lean) is type(full), case
    if isinstance(full, Denied):
        assert lean == full
        return
    assert isinstance(lean, Approved)
    assert (lean.amount, lean.price, lean.sizing) == (full.amount, full.price, full.sizing)
    if isinstance(intent, EntryIntent):
        assert full.risk is not None and full.detail
        assert lean.risk is None and lean.detail == ""


def test_without_figures_the_mode_still_denies_first() -> None:
    halted = replace(STATE, mode=TradingMode.HALTED, reason="drawdown")
    assert GATE.check(buy(), portfolio(), MARKET, LIMITS, halted, figures=False) == \
        GATE.check(buy(), portfolio(), MARKET, LIMITS, halted)
