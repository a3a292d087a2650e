"""Drawdown breaker and trading state: ACTIVE -> REDUCING -> HALTED, and back only by rule."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal as D

import numpy as np
import pytest

from model.instruments import Instrument, Side
from risk.gate import (
    Approved,
    CancelIntent,
    Denied,
    DenyReason,
    EntryIntent,
    ExitIntent,
    MarketView,
    PortfolioView,
    RiskGate,
)
from risk.limits import RiskLimits
from risk.state import (
    DAY_MS,
    Cause,
    TradingMode,
    TradingState,
    evaluate,
    halt,
    pause,
    resume,
)
from risk.var import ReturnHistory

LIMITS = RiskLimits()
DAY0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS  # a UTC midnight
NOON = DAY0 + DAY_MS // 2
ACTIVE, REDUCING, HALTED = TradingMode.ACTIVE, TradingMode.REDUCING, TradingMode.HALTED


def fresh(equity: str = "10000", peak: str | None = None) -> TradingState:
    state = TradingState.initial(D(equity), DAY0)
    return replace(state, peak_equity=D(peak)) if peak else state


def step(state: TradingState, equity: str, now: int = NOON, anomaly: bool = False):
    return evaluate(state, D(equity), now, anomaly, LIMITS)


@pytest.mark.parametrize(
    ("equity", "mode", "cause"),
    [
        ("9701", ACTIVE, None),  # 2.99% daily loss
        ("9700", REDUCING, Cause.DAILY_LOSS),  # exactly 3%: reaching the threshold trips it
        ("9501", REDUCING, Cause.DAILY_LOSS),
        ("9500", HALTED, Cause.DAILY_LOSS),  # exactly 5%
        ("8000", HALTED, Cause.DAILY_LOSS),
    ],
)
def test_daily_loss_thresholds(equity: str, mode: TradingMode, cause: Cause | None) -> None:
    state, events = step(fresh(), equity)
    assert state.mode is mode
    assert [e.cause for e in events] == ([cause] if cause else [])


@pytest.mark.parametrize(
    ("equity", "mode"),
    [("10801", ACTIVE), ("10800", REDUCING), ("10201", REDUCING), ("10200", HALTED)],
)
def test_peak_to_trough_thresholds(equity: str, mode: TradingMode) -> None:
    # Up on the day (started at 10000) but 10% / 15% below the 12000 peak.
    state, events = step(fresh(peak="12000"), equity)
    assert state.mode is mode
    assert all(e.cause is Cause.DRAWDOWN for e in events)


def test_transition_event_says_from_to_and_why() -> None:
    _, (event,) = step(fresh(), "9680")
    assert (event.from_mode, event.to_mode, event.ts_ms) == (ACTIVE, REDUCING, NOON)
    assert event.reason == "daily loss 3.2% ≥ reduce 3%"


def test_peak_follows_new_highs() -> None:
    state, _ = step(fresh(), "10500")
    assert state.peak_equity == D("10500")


def test_reducing_is_not_lifted_by_recovery_within_the_day() -> None:
    state, _ = step(fresh(), "9650")
    state, events = step(state, "10100", NOON + 60_000)
    assert state.mode is REDUCING and events == ()


def test_reducing_escalates_to_halted_within_the_day() -> None:
    state, _ = step(fresh(), "9650")
    state, (event,) = step(state, "9400", NOON + 60_000)
    assert (event.from_mode, event.to_mode, state.mode) == (REDUCING, HALTED, HALTED)


def test_new_utc_day_resets_day_start_and_lifts_daily_loss_reducing() -> None:
    state, _ = step(fresh(), "9650")
    state, (event,) = step(state, "9650", DAY0 + DAY_MS + 1)
    assert state.mode is ACTIVE and event.cause is Cause.NEW_DAY
    assert state.day_start_equity == D("9650") and state.day_start_ms == DAY0 + DAY_MS


def test_new_utc_day_keeps_drawdown_reducing_while_the_drawdown_lasts() -> None:
    state, _ = step(fresh(peak="12000"), "10700")
    state, events = step(state, "10700", DAY0 + DAY_MS + 1)
    assert state.mode is REDUCING and events == ()


def test_halted_is_sticky_across_days_and_recovery() -> None:
    state, _ = step(fresh(), "9400")
    state, events = step(state, "11000", DAY0 + 3 * DAY_MS)
    assert state.mode is HALTED and events == ()


def test_anomaly_flag_halts_and_clearing_it_does_not_resume() -> None:
    state, (event,) = step(fresh(), "10000", anomaly=True)
    assert state.mode is HALTED and event.cause is Cause.ANOMALY
    state, events = step(state, "10000", NOON + 60_000, anomaly=False)
    assert state.mode is HALTED and events == ()


def test_resume_is_refused_while_the_anomaly_flag_is_set() -> None:
    state, _ = step(fresh(), "10000", anomaly=True)
    after, (event,) = resume(state, D("10000"), NOON + 1, LIMITS, operator="alice")
    assert after == state
    assert event.cause is Cause.RESUME_REFUSED and "anomaly" in event.reason
    assert "alice" in event.reason


def test_resume_after_anomaly_clears_returns_to_active() -> None:
    state, _ = step(fresh(), "10000", anomaly=True)
    state, _ = step(state, "10000", NOON + 1, anomaly=False)
    state, (event,) = resume(state, D("10000"), NOON + 2, LIMITS)
    assert state.mode is ACTIVE and event.cause is Cause.RESUME


def test_resume_is_refused_while_daily_loss_is_still_over_the_reduce_threshold() -> None:
    state, _ = step(fresh(), "9400")
    after, (event,) = resume(state, D("9400"), NOON + 1, LIMITS)
    assert after.mode is HALTED and "00:00 UTC" in event.reason


def test_resume_the_next_day_after_a_daily_halt_works() -> None:
    state, _ = step(fresh(), "9400")
    state, _ = step(state, "9400", DAY0 + DAY_MS + 1)  # still HALTED, new baseline
    state, (event,) = resume(state, D("9400"), DAY0 + DAY_MS + 2, LIMITS)
    assert state.mode is ACTIVE and event.to_mode is ACTIVE


def test_resume_after_drawdown_halt_rebases_the_peak_so_it_does_not_trip_again() -> None:
    state, _ = step(fresh(peak="12000"), "10100")
    assert state.mode is HALTED
    state, _ = resume(state, D("10100"), NOON + 1, LIMITS)
    assert state.peak_equity == D("10100")
    state, events = step(state, "10100", NOON + 2)
    assert state.mode is ACTIVE and events == ()


def test_pause_reduces_and_survives_the_day_change_until_resume() -> None:
    state, (event,) = pause(fresh(), NOON)
    assert state.mode is REDUCING and event.cause is Cause.MANUAL_PAUSE
    state, _ = step(state, "10000", DAY0 + DAY_MS + 1)
    assert state.mode is REDUCING
    state, _ = resume(state, D("10000"), DAY0 + DAY_MS + 2, LIMITS)
    assert state.mode is ACTIVE and not state.paused


def test_manual_halt_stops_everything_until_resume() -> None:
    state, (event,) = halt(fresh(), NOON, "operator: exchange incident")
    assert state.mode is HALTED and event.cause is Cause.MANUAL_HALT
    assert state.reason == "operator: exchange incident"
    state, _ = resume(state, D("10000"), NOON + 1, LIMITS)
    assert state.mode is ACTIVE


def test_state_round_trips_through_json() -> None:
    state, _ = step(fresh(peak="12345.6789"), "10800.01", anomaly=False)
    state, _ = pause(state, NOON + 5)
    restored = TradingState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state


# --- what each mode lets through the gate -------------------------------------------------

COIN = Instrument("XUSDT", "X", "USDT", tick=D("0.01"), lot=D("0.001"), min_notional=D("5"))
MARKET = MarketView(
    {"XUSDT": COIN},
    ReturnHistory(("XUSDT",), np.random.default_rng(0).normal(0, 0.001, (200, 1))),
)
PORTFOLIO = PortfolioView(
    equity=D("10000"), cash=D("9000"), positions={"XUSDT": (D("1"), D("100"))}
)
ENTRY = EntryIntent("XUSDT", Side.BUY, D("100"), D("99"), 1.0)
EXIT = ExitIntent("XUSDT", D("100"))
CANCEL = CancelIntent("XUSDT", "c-1")


@pytest.mark.parametrize(
    ("mode", "intent", "allowed"),
    [
        (ACTIVE, ENTRY, True),
        (ACTIVE, EXIT, True),
        (ACTIVE, CANCEL, True),
        (REDUCING, ENTRY, False),
        (REDUCING, EXIT, True),
        (REDUCING, CANCEL, True),
        (HALTED, ENTRY, False),
        (HALTED, EXIT, False),
        (HALTED, CANCEL, True),
    ],
)
def test_what_each_trading_mode_lets_through(mode: TradingMode, intent, allowed: bool) -> None:
    state = replace(fresh(), mode=mode, reason="test")
    decision = RiskGate().check(intent, PORTFOLIO, MARKET, LIMITS, state)
    if allowed:
        assert isinstance(decision, Approved), decision
    else:
        assert isinstance(decision, Denied) and decision.reason is DenyReason.TRADING_STATE
        assert mode.value in decision.detail
