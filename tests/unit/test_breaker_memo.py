"""`QuietMemo.evaluate` (risk/state.py) answers what `evaluate` answers, call for call: it
only skips a call that would hand its very state back with no event."""

from __future__ import annotations

import random
from decimal import Decimal as D

import pytest

from risk.limits import RiskLimits
from risk.state import DAY_MS, QuietMemo, TradingMode, TradingState, evaluate, pause, resume

DAY0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS  # a UTC midnight
LIMITS = RiskLimits()
TIGHT = RiskLimits(daily_loss_reduce_pct=D("1"), drawdown_reduce_pct=D("2"))


@pytest.mark.parametrize("seed", range(20))
def test_the_memo_answers_every_call_as_evaluate_does(seed: int) -> None:
    # given a long run of steps: equity often unchanged (nothing held), sometimes moving,
    # written with other exponents ("100.0" vs "100"), new UTC days, alarms, limits
    # reloaded, and operator pauses and resumes between steps
    rng = random.Random(seed)
    memo = QuietMemo()
    now = DAY0 + rng.randrange(DAY_MS)
    equity = D("10000")
    state = TradingState.initial(equity, now)
    limits = LIMITS
    skipped = 0
    for _ in range(600):
        now += 60_000 * rng.choice((1, 1, 1, 7, 600))
        move = rng.random()
        if move < 0.15:
            equity = (equity * D(str(1 + rng.uniform(-0.03, 0.03)))).quantize(D("0.00000001"))
        elif move < 0.2:
            equity = D(f"{equity:f}0")  # the same value, another exponent
        halt_flag = rng.random() < 0.03
        reduce_flag = rng.random() < 0.03
        if rng.random() < 0.02:
            limits = TIGHT if limits is LIMITS else LIMITS
        if rng.random() < 0.02:
            state = pause(state, now)[0]
        if rng.random() < 0.02:
            state = resume(state, equity, now, limits)[0]
        # when the memo and evaluate are both asked
        want = evaluate(state, equity, now, halt_flag, limits, reduce_flag)
        got = memo.evaluate(state, equity, now, halt_flag, limits, reduce_flag)
        # then they agree, down to handing back the same state object when it stays
        assert got == want
        assert (got[0] is state) == (want[0] is state)
        skipped += got[0] is state and not got[1]
        state = got[0]
    assert skipped > 100  # the quiet calls are most of them


def test_a_quiet_call_is_answered_without_evaluating(monkeypatch: pytest.MonkeyPatch) -> None:
    memo = QuietMemo()
    state = TradingState.initial(D("10000"), DAY0 + 60_000)
    assert memo.evaluate(state, D("10000"), DAY0 + 120_000, False, LIMITS) == (state, ())
    calls: list[int] = []
    monkeypatch.setattr("risk.state.evaluate", lambda *args: calls.append(1) or (state, ()))
    # the same state, an equal equity, later the same day: no evaluation
    assert memo.evaluate(state, D("10000.00"), DAY0 + 180_000, False, LIMITS)[0] is state
    assert calls == []
    # the next UTC day, another equity, a flag or other limits: evaluated again
    memo.evaluate(state, D("10000"), DAY0 + DAY_MS + 60_000, False, LIMITS)
    memo.evaluate(state, D("10000"), DAY0 + 240_000, False, LIMITS)
    memo.evaluate(state, D("9999"), DAY0 + 240_000, False, LIMITS)
    memo.evaluate(state, D("9999"), DAY0 + 240_000, True, LIMITS)
    memo.evaluate(state, D("9999"), DAY0 + 240_000, False, TIGHT)
    assert len(calls) == 5


def test_a_call_that_moves_the_state_is_not_remembered() -> None:
    memo = QuietMemo()
    state = TradingState.initial(D("10000"), DAY0 + 60_000)
    moved, events = memo.evaluate(state, D("9600"), DAY0 + 120_000, False, LIMITS)
    assert moved.mode is TradingMode.REDUCING and events
    # asked again with the old state, it evaluates again and moves it again
    again, events_again = memo.evaluate(state, D("9600"), DAY0 + 180_000, False, LIMITS)
    assert again.mode is TradingMode.REDUCING and events_again
