"""Trading state machine and drawdown breaker: ACTIVE -> REDUCING -> HALTED.

- **ACTIVE**: everything the gate approves may trade.
- **REDUCING**: exits and cancels only; no new exposure.
- **HALTED**: cancels only.

What moves the state (`evaluate`, called by the engine at every decision step with the
current equity and the anomaly flag from risk/anomaly):

| cause                                        | REDUCING at | HALTED at |
|----------------------------------------------|-------------|-----------|
| daily loss, from equity at the UTC day start | >= 3 %      | >= 5 %    |
| peak-to-trough drawdown from peak equity     | >= 10 %     | >= 15 %   |
| market-wide anomaly alarm (`anomaly_reduce`) | set         |           |
| anomaly halt flag                            |             | set       |
| operator `pause()` / `halt()`                | pause       | halt      |

(thresholds are `RiskLimits` fields; reaching a threshold trips it).

Rules, chosen so that a losing bot cannot talk itself back into trading:
1. `evaluate` only escalates within a UTC day. Recovering equity does not lift REDUCING.
2. At the first evaluation of a new UTC day the day-start equity is reset to the current
   equity and REDUCING is re-assessed: it returns to ACTIVE when no breaker fires and the
   operator has not paused. (A drawdown REDUCING therefore persists across days until the
   drawdown heals or an operator resumes.)
3. HALTED is sticky: only `resume()` leaves it, never time or recovery.
4. `resume()` returns to ACTIVE and re-bases the peak at the current equity (the operator
   accepts the drawdown so far; the peak-to-trough breaker measures from here). It is
   *refused* (state unchanged, event says why) while the anomaly flag is still set or the
   daily loss is still at or above the reduce threshold: resuming would only trip again, and
   re-basing the daily loss would let one day lose more than the daily limit.
5. The one exception to rule 1: REDUCING entered *because of* a market-wide anomaly alarm
   (`anomaly_reducing`) returns to ACTIVE as soon as the alarm clears and no other breaker
   fires (the detector keeps its alarm up for a cool-down, so it does not flap). An alarm is
   about the market, not our losses, and a whole UTC day without entries for one odd minute
   would be the bigger risk to the operator's trust in the switch.

State is plain data; `to_dict`/`from_dict` round-trip it through the ledger (JSON-safe).
Pure: times are passed in as epoch ms (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from enum import Enum
from typing import Any

from risk.limits import RiskLimits

DAY_MS = 86_400_000
_HUNDRED = Decimal(100)


class TradingMode(Enum):
    """What the gate lets through; declared in order of severity."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {TradingMode.ACTIVE: 0, TradingMode.REDUCING: 1, TradingMode.HALTED: 2}


class Cause(Enum):
    """Why a transition happened (or was refused)."""

    DAILY_LOSS = "DAILY_LOSS"
    DRAWDOWN = "DRAWDOWN"
    ANOMALY = "ANOMALY"
    MANUAL_PAUSE = "MANUAL_PAUSE"
    MANUAL_HALT = "MANUAL_HALT"
    NEW_DAY = "NEW_DAY"
    RESUME = "RESUME"
    RESUME_REFUSED = "RESUME_REFUSED"
    ANOMALY_CLEARED = "ANOMALY_CLEARED"


@dataclass(frozen=True, slots=True)
class StateEvent:
    """A transition (or a refused resume, where `from_mode == to_mode`), for the ledger."""

    ts_ms: int
    from_mode: TradingMode
    to_mode: TradingMode
    cause: Cause
    reason: str  # human words: "daily loss 3.2% >= 3%"


@dataclass(frozen=True, slots=True)
class TradingState:
    """Everything the breaker remembers between decision steps."""

    mode: TradingMode
    reason: str  # why we are in this mode
    since_ms: int  # when we entered it
    day_start_ms: int  # UTC midnight of the day `day_start_equity` belongs to
    day_start_equity: Decimal
    peak_equity: Decimal
    paused: bool = False  # operator pause in force (cleared only by resume)
    anomaly_active: bool = False  # last anomaly flag seen by evaluate
    anomaly_reducing: bool = False  # REDUCING because of a market-wide anomaly (rule 5)

    @classmethod
    def initial(cls, equity: Decimal, now_ms: int) -> TradingState:
        """ACTIVE, with today's baseline and the peak at the current equity."""
        return cls(
            mode=TradingMode.ACTIVE,
            reason="start",
            since_ms=now_ms,
            day_start_ms=utc_day_start_ms(now_ms),
            day_start_equity=equity,
            peak_equity=equity,
        )

    def daily_loss_pct(self, equity: Decimal) -> Decimal:
        """Loss since the UTC day start, percent (negative when up on the day)."""
        return _loss_pct(self.day_start_equity, equity)

    def drawdown_pct(self, equity: Decimal) -> Decimal:
        """Peak-to-trough drawdown, percent (0 at a new peak)."""
        return _loss_pct(self.peak_equity, equity)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe plain data; Decimals as strings so nothing is rounded on the way."""
        return {
            "mode": self.mode.value,
            "reason": self.reason,
            "since_ms": self.since_ms,
            "day_start_ms": self.day_start_ms,
            "day_start_equity": str(self.day_start_equity),
            "peak_equity": str(self.peak_equity),
            "paused": self.paused,
            "anomaly_active": self.anomaly_active,
            "anomaly_reducing": self.anomaly_reducing,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TradingState:
        """Inverse of `to_dict`."""
        return cls(
            mode=TradingMode(data["mode"]),
            reason=str(data["reason"]),
            since_ms=int(data["since_ms"]),
            day_start_ms=int(data["day_start_ms"]),
            day_start_equity=Decimal(data["day_start_equity"]),
            peak_equity=Decimal(data["peak_equity"]),
            paused=bool(data["paused"]),
            anomaly_active=bool(data["anomaly_active"]),
            anomaly_reducing=bool(data.get("anomaly_reducing", False)),
        )


Transition = tuple[TradingState, tuple[StateEvent, ...]]


def utc_day_start_ms(ts_ms: int) -> int:
    """Epoch ms of 00:00 UTC of the day containing `ts_ms`."""
    return ts_ms - ts_ms % DAY_MS


def breaker_verdict(
    state: TradingState, equity: Decimal, anomaly_halt: bool, limits: RiskLimits,
    anomaly_reduce: bool = False,
) -> tuple[TradingMode, Cause | None, str]:
    """The mode the breakers alone call for, the first cause at that severity, and why.

    Order within a severity: anomaly, daily loss, drawdown, operator.
    """
    # Checked one by one and each reason formatted only when its breaker fires: the engine
    # calls this every decision step, and formatting all four percentages every time was
    # about a third of `evaluate`.
    daily = state.daily_loss_pct(equity)
    drawdown = state.drawdown_pct(equity)
    if anomaly_halt:
        return TradingMode.HALTED, Cause.ANOMALY, "anomaly halt flag set"
    if daily >= limits.daily_loss_halt_pct:
        return (TradingMode.HALTED, Cause.DAILY_LOSS,
                f"daily loss {_pct(daily)}% ≥ halt {_pct(limits.daily_loss_halt_pct)}%")
    if drawdown >= limits.drawdown_halt_pct:
        return (TradingMode.HALTED, Cause.DRAWDOWN,
                f"drawdown {_pct(drawdown)}% ≥ halt {_pct(limits.drawdown_halt_pct)}%")
    if anomaly_reduce:
        return TradingMode.REDUCING, Cause.ANOMALY, "market-wide anomaly alarm"
    if daily >= limits.daily_loss_reduce_pct:
        return (TradingMode.REDUCING, Cause.DAILY_LOSS,
                f"daily loss {_pct(daily)}% ≥ reduce {_pct(limits.daily_loss_reduce_pct)}%")
    if drawdown >= limits.drawdown_reduce_pct:
        return (TradingMode.REDUCING, Cause.DRAWDOWN,
                f"drawdown {_pct(drawdown)}% ≥ reduce {_pct(limits.drawdown_reduce_pct)}%")
    if state.paused:
        return TradingMode.REDUCING, Cause.MANUAL_PAUSE, "paused by operator"
    return TradingMode.ACTIVE, None, "no breaker fired"


def evaluate(
    state: TradingState,
    equity: Decimal,
    now_ms: int,
    anomaly_halt: bool,
    limits: RiskLimits,
    anomaly_reduce: bool = False,
) -> Transition:
    """Update baselines (day start, peak) and escalate the mode if a breaker fires.

    Call once per decision step, before the gate. The day-start equity is the equity at the
    first evaluation on or after 00:00 UTC, so call it at least once a minute.
    """
    new_day = utc_day_start_ms(now_ms) > state.day_start_ms
    s = state
    if new_day:
        s = replace(s, day_start_ms=utc_day_start_ms(now_ms), day_start_equity=equity)
    if equity > s.peak_equity or anomaly_halt != s.anomaly_active:
        # An unchanged state is not copied: `replace` was a third of a quiet step's call.
        s = replace(s, peak_equity=max(s.peak_equity, equity), anomaly_active=anomaly_halt)

    target, cause, reason = breaker_verdict(s, equity, anomaly_halt, limits, anomaly_reduce)
    if s.mode is TradingMode.HALTED:
        return s, ()  # sticky: only resume() leaves HALTED
    if target.severity > s.mode.severity:
        assert cause is not None
        moved, events = _move(s, target, cause, reason, now_ms)
        by_anomaly = cause is Cause.ANOMALY and target is TradingMode.REDUCING
        return replace(moved, anomaly_reducing=by_anomaly), events
    if s.mode is TradingMode.REDUCING and s.anomaly_reducing:  # rule 5
        s = replace(s, anomaly_reducing=cause is Cause.ANOMALY)
        if target is TradingMode.ACTIVE:
            return _move(s, TradingMode.ACTIVE, Cause.ANOMALY_CLEARED,
                         "market-wide anomaly alarm cleared; no breaker fires", now_ms)
    if new_day and s.mode is TradingMode.REDUCING and target is TradingMode.ACTIVE:
        return _move(s, TradingMode.ACTIVE, Cause.NEW_DAY, "new UTC day: no breaker fires", now_ms)
    return s, ()


class QuietMemo:
    """`evaluate` that remembers its last quiet call (the state handed back as it came, no
    event): asked again with that state, an equal equity, in the same UTC day, with the same
    flags and limits, it answers the same, `(state, ())`, without evaluating.

    Why: the trader evaluates at every decision step, and while nothing is held its equity
    stays what it was for hours; the two percentages (Decimal divisions) were most of a
    quiet step's `evaluate`. Why it is the same answer: `evaluate` reads the equity only by
    value (comparisons, and percentages compared to limits) and `now_ms` only by its UTC day
    (a quiet call made no event that `now_ms` would stamp), so equal inputs take the same
    path; a quiet call returns its input state itself, which is what this returns."""

    __slots__ = ("_quiet",)

    def __init__(self) -> None:
        """Empty: the first call evaluates."""
        self._quiet: tuple[TradingState, Decimal, int, bool, RiskLimits, bool] | None = None

    def evaluate(self, state: TradingState, equity: Decimal, now_ms: int, anomaly_halt: bool,
                 limits: RiskLimits, anomaly_reduce: bool = False) -> Transition:
        """`evaluate(state, equity, now_ms, anomaly_halt, limits, anomaly_reduce)`."""
        inputs = (state, equity, utc_day_start_ms(now_ms), anomaly_halt, limits, anomaly_reduce)
        if self._quiet is not None and self._quiet[0] is state and self._quiet == inputs:
            return state, ()
        moved = evaluate(state, equity, now_ms, anomaly_halt, limits, anomaly_reduce)
        self._quiet = inputs if moved[0] is state and not moved[1] else None
        return moved


def pause(state: TradingState, now_ms: int, reason: str = "paused by operator") -> Transition:
    """Operator stops new entries (exits still run). Lifted only by `resume()`."""
    s = replace(state, paused=True)
    if s.mode is TradingMode.ACTIVE:
        return _move(s, TradingMode.REDUCING, Cause.MANUAL_PAUSE, reason, now_ms)
    return s, ()


def halt(state: TradingState, now_ms: int, reason: str = "halted by operator") -> Transition:
    """Operator kill switch: cancels only, until `resume()`."""
    if state.mode is TradingMode.HALTED:
        return state, ()
    return _move(state, TradingMode.HALTED, Cause.MANUAL_HALT, reason, now_ms)


def resume(
    state: TradingState, equity: Decimal, now_ms: int, limits: RiskLimits, operator: str = ""
) -> Transition:
    """Operator returns to ACTIVE (see rule 4 in the module docstring for when it refuses).

    On success: pause cleared, peak re-based to `equity`. The day-start equity is kept.
    """
    who = f" by {operator}" if operator else ""
    daily = state.daily_loss_pct(equity)
    refusal = ""
    if state.anomaly_active:
        refusal = "anomaly halt flag still set"
    elif daily >= limits.daily_loss_reduce_pct:
        refusal = (
            f"daily loss {_pct(daily)}% still ≥ reduce {_pct(limits.daily_loss_reduce_pct)}%;"
            " resume after 00:00 UTC"
        )
    if refusal:
        event = StateEvent(
            now_ms, state.mode, state.mode, Cause.RESUME_REFUSED, f"resume{who} refused: {refusal}"
        )
        return state, (event,)
    s = replace(state, paused=False, peak_equity=equity, anomaly_reducing=False)
    if s.mode is TradingMode.ACTIVE:
        return s, ()
    return _move(s, TradingMode.ACTIVE, Cause.RESUME, f"resumed{who}; peak re-based", now_ms)


def _move(
    state: TradingState, to: TradingMode, cause: Cause, reason: str, now_ms: int
) -> Transition:
    event = StateEvent(now_ms, state.mode, to, cause, reason)
    return replace(state, mode=to, reason=reason, since_ms=now_ms), (event,)


def _loss_pct(reference: Decimal, equity: Decimal) -> Decimal:
    if reference <= 0:
        return Decimal(0)
    return (reference - equity) / reference * _HUNDRED


def _pct(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):f}".rstrip("0").rstrip(".")
