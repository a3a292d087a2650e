"""`RiskGate.check(..., figures=False)`: the same verdict, amount, price and sizing as the
full check, an approval without its post-trade risk figures and detail (what the fast
backtester reads of a verdict, without the second VaR pass and the breakdown text)."""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal as D

import numpy as np
import pytest

from risk.gate import (
    Approved,
    CancelIntent,
    Denied,
    EntryIntent,
    ExitIntent,
    MarketView,
    PortfolioView,
)
from risk.limits import RiskLimits
from risk.state import TradingMode
from risk.var import ReturnHistory
from tests.unit.test_risk_gate import (
    ES_4_5,
    GATE,
    LIMITS,
    MARKET,
    STATE,
    SYMBOLS,
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


def test_without_figures_a_limit_at_the_figure_or_a_float_off_gives_the_full_verdict() -> None:
    """The lean check's sure pass (no post-trade figures made) against the full check, with
    the VaR and ES limits on each entry's own figures and one float either side."""
    rng = np.random.default_rng(11)
    returns = rng.standard_t(3, (300, len(SYMBOLS))) * 0.004
    market = MarketView(MARKET.instruments, ReturnHistory(SYMBOLS, returns))
    for _ in range(40):
        held = {str(s): (D(int(rng.integers(1, 4))), D(100)) for s in rng.choice(SYMBOLS, 2)
                if s != "XUSDT"}
        view = PortfolioView(equity=D(10000), cash=D(10000), positions=held)
        intent = buy(stop=str(rng.choice(["90", "95", "99"])))
        full = GATE.check(intent, view, market, LIMITS, STATE)
        assert isinstance(full, Approved) and full.risk is not None
        for var_pct, es_pct in ((full.risk.var_hist_frac, full.risk.es_hist_frac),
                                (full.risk.var_hist_frac * 2, full.risk.es_hist_frac)):
            for shift in (-1, 0, 1):
                limits = replace(LIMITS, var_limit_pct=_pct(var_pct, shift),
                                 es_limit_pct=_pct(es_pct, shift))
                expected = GATE.check(intent, replace(view), market, limits, STATE)
                lean = GATE.check(intent, replace(view), market, limits, STATE,
                                  figures=False)
                if isinstance(expected, Denied):
                    assert lean == expected
                else:
                    assert isinstance(lean, Approved)
                    assert (lean.amount, lean.price, lean.sizing) == (
                        expected.amount, expected.price, expected.sizing)


def _pct(fraction: float, shift: int) -> D:
    """A percent limit whose float / 100 + the gate's tolerance lands `shift` floats
    from `fraction` (or as near as a decimal gets)."""
    target = fraction
    for _ in range(abs(shift) * 1000):
        target = math.nextafter(target, math.inf if shift > 0 else -math.inf)
    return D(repr((target - 1e-12) * 100))
