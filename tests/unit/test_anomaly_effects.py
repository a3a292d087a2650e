"""Anomaly effects on risk: a coin in alarm gets no new entry; a market-wide alarm moves
trading to REDUCING and lifting the alarm restores ACTIVE unless another breaker holds it."""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np

from model.instruments import Instrument, Side
from risk.gate import (
    Approved,
    Denied,
    DenyReason,
    EntryIntent,
    ExitIntent,
    MarketView,
    PortfolioView,
    RiskGate,
)
from risk.limits import RiskLimits
from risk.state import Cause, TradingMode, TradingState, evaluate
from risk.var import ReturnHistory

LIMITS = RiskLimits(min_return_observations=20)
NOON = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000 + 43_200_000
SYMBOLS = ("AUSDT", "BUSDT")
INSTRUMENTS = {s: Instrument(s, s[:-4], "USDT", D("0.01"), D("0.001"), D(5)) for s in SYMBOLS}
HISTORY = ReturnHistory(SYMBOLS, np.random.default_rng(7).normal(0, 0.001, (200, 2)))
PORTFOLIO = PortfolioView(D(10000), D(9000), {"AUSDT": (D(10), D(100))})


def test_an_entry_on_a_coin_in_alarm_is_denied_with_the_score_but_exits_pass() -> None:
    market = MarketView(INSTRUMENTS, HISTORY, anomalous={"AUSDT": "anomaly score 3.10x"})
    state = TradingState.initial(D(10000), NOON)
    entry = EntryIntent("AUSDT", Side.BUY, D(100), D(98), 1.0)
    verdict = RiskGate().check(entry, PORTFOLIO, market, LIMITS, state)
    assert isinstance(verdict, Denied) and verdict.reason is DenyReason.ANOMALY
    assert "3.10x" in verdict.detail
    exit_ = RiskGate().check(ExitIntent("AUSDT", D(100)), PORTFOLIO, market, LIMITS, state)
    assert isinstance(exit_, Approved)
    other = RiskGate().check(EntryIntent("BUSDT", Side.BUY, D(100), D(98), 1.0),
                             PORTFOLIO, market, LIMITS, state)
    assert not (isinstance(other, Denied) and other.reason is DenyReason.ANOMALY)


def test_a_market_alarm_reduces_and_its_end_restores_active() -> None:
    state = TradingState.initial(D(10000), NOON)
    state, (event,) = evaluate(state, D(10000), NOON, False, LIMITS, anomaly_reduce=True)
    assert state.mode is TradingMode.REDUCING and event.cause is Cause.ANOMALY
    state, events = evaluate(state, D(10000), NOON + 60_000, False, LIMITS,
                             anomaly_reduce=True)
    assert state.mode is TradingMode.REDUCING and events == ()
    restored = TradingState.from_dict(state.to_dict())  # survives a restart
    assert restored == state
    state, (event,) = evaluate(restored, D(10000), NOON + 120_000, False, LIMITS)
    assert state.mode is TradingMode.ACTIVE and event.cause is Cause.ANOMALY_CLEARED
    assert not state.anomaly_reducing


def test_a_daily_loss_that_fires_during_the_alarm_keeps_reducing_after_it() -> None:
    state = TradingState.initial(D(10000), NOON)
    state, _ = evaluate(state, D(10000), NOON, False, LIMITS, anomaly_reduce=True)
    state, _ = evaluate(state, D(9650), NOON + 60_000, False, LIMITS, anomaly_reduce=False)
    assert state.mode is TradingMode.REDUCING and not state.anomaly_reducing
    state, events = evaluate(state, D(9900), NOON + 120_000, False, LIMITS)
    assert state.mode is TradingMode.REDUCING and events == ()  # rule 1: no recovery in-day


def test_an_old_saved_state_without_the_new_field_still_loads() -> None:
    saved = TradingState.initial(D(1), NOON).to_dict()
    del saved["anomaly_reducing"]
    assert TradingState.from_dict(saved).anomaly_reducing is False
