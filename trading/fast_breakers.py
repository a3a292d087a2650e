"""How the fast backtester moves the trading state (breakers) through its steps.

The trader evaluates the breakers on its equity at every decision step (risk/state.py
`evaluate`). The fast loop (trading/fast_backtest.py) plays only the steps where something
can happen; the steps between are carried here: in bulk while no mode can change over them
(the day start and the peak move, nothing else), in scalars for one played step, exactly
(`evaluate` step by step, Decimal equity) where a breaker could fire. Equity between two
fills is cash plus the holdings at each close, as floats, marked a chunk of steps at a time.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import replace
from decimal import Decimal
from typing import Any

import numpy as np

from risk.state import TradingMode, TradingState, evaluate, utc_day_start_ms
from trading.fast_market import DAY_MS, FastSettings
from trading.fast_policies import StepQuotes

#: Steps whose float equity `_float_equity` marks at once (until the next fill).
_MARK_CHUNK = 256
#: Runs of steps up to this long are marked one step at a time (`_float_equity_one`).
_SCALAR_MARKS = 16
#: numpy sums up to this many floats in one pairwise block (beyond: halves, recursively).
_PAIRWISE_BLOCK = 128


class BreakerCarry:
    """The breaker-state half of the fast loop (`_Loop` is the other): what it reads of the
    loop is declared here."""

    state: TradingState | None
    settings: FastSettings
    close_ff: np.ndarray  # [T, n] forward-filled closes
    # (step, cash, amounts [n]) from which the marks are constant in holdings
    changes: list[tuple[int, float, np.ndarray]]
    evaluated: int  # last step the breaker state has seen
    _marks: tuple[np.ndarray, int, list[float]] | None
    _levels: tuple[tuple[float, float], tuple[float, float]]
    _times: list[int]  # decision time of every step (quotes.ts_ms as ints)
    _rows: list[int]  # grid row of every step (quotes.rows as ints)
    # (amounts of the last change, its (column, amount) of each held column)
    _held_terms: tuple[np.ndarray | None, list[tuple[int, float]]] = (None, [])
    # (state, float(peak_equity), float(day_start_equity)) of the newest state seen
    _state_floats: tuple[TradingState | None, float, float] = (None, 0.0, 0.0)

    def _equity(self, row: int) -> Decimal:
        raise NotImplementedError  # the loop's: Trader.equity at this step

    def _denied_until(self, k: int, holding: bool) -> int:
        """The end (exclusive) of the stretch from step k over which the breaker state
        denies every BUY and SELL on the mode alone and cannot change its mode, for a loop
        with no order open (the caller's test) that holds something or not (`holding`); k
        when there is none.

        HALTED denies both for good. REDUCING denies entries only, so only with nothing
        held (no exit to make): the equity is then the cash at every step since the last
        evaluated one, and with the same equity in the same UTC day `evaluate` finds the
        same figures, so the same verdict, until the first step of the next day (where
        REDUCING may lift). Not while paused or in an anomaly alarm (the only other ways
        the mode moves)."""
        state = self.state
        assert state is not None
        if state.paused or state.anomaly_active or state.anomaly_reducing:
            return k
        times = self._times
        if state.mode is TradingMode.HALTED:
            return len(times)
        if state.mode is TradingMode.ACTIVE or holding:
            return k
        day = state.day_start_ms
        return max(k, bisect_left(times, day - day % DAY_MS + DAY_MS))

    def _carry_flat(self, stop: int, quotes: StepQuotes) -> None:
        """Carry the breaker state to step `stop` - 1 over a `_denied_until` stretch: its
        mode and reason, which are what the stretch's denials say, do not move."""
        state = self.state
        assert state is not None
        if self.evaluated + 1 < stop < len(self._times):  # (none needed at the end)
            self._carry(np.arange(self.evaluated + 1, stop), quotes, None)
        assert self.state is not None
        assert (self.state.mode, self.state.reason) == (state.mode, state.reason)

    def _carry_step(self, k: int, quotes: StepQuotes, acting_row: int | None) -> None:
        """`_carry` of the one step `k`, in scalars where it can only move the peak (the
        same day, and no mode can change): the loop does this at every step it does not
        skip, and the arrays of the general case cost more than the figures. At a step
        where the policy acts (`acting_row`), the trader's exact Decimal equity is what it
        evaluates; it is computed here only where it can differ from the float's verdict."""
        state = self.state
        assert state is not None
        ts = self._times[k]
        floats = self._state_floats
        if floats[0] is not state:  # the state's figures as floats, once per state
            floats = self._state_floats = (state, float(state.peak_equity),
                                           float(state.day_start_equity))
        halted = state.mode is TradingMode.HALTED
        if ts - ts % DAY_MS > state.day_start_ms or (not halted and (
                state.paused or state.anomaly_active or state.anomaly_reducing)):
            exact = None if acting_row is None else self._equity(acting_row)
            self._carry(np.array([k]), quotes, exact)
            return
        cache = self._marks  # _float_equity's own cache test, without the call
        if cache is not None and cache[0] is self.changes[-1][2] \
                and 0 <= k - cache[1] < len(cache[2]):
            value = cache[2][k - cache[1]]
        else:
            value = self._float_equity_one(k, quotes)
        peak = floats[1]
        if not halted:
            daily_level, drawdown_level = self._levels[state.mode is TradingMode.REDUCING]
            opening, top = floats[2], max(value, peak)
            if not ((opening - value) / opening * 100 < daily_level
                    and (top - value) / top * 100 < drawdown_level):
                exact = None if acting_row is None else self._equity(acting_row)
                self._carry(np.array([k]), quotes, exact)
                return
        self.evaluated = k
        # A float below the peak's float is a Decimal below the peak (rounding is monotonic):
        # only a possible new peak needs the Decimal comparison. The float sum and the exact
        # one differ by a few ulps, far inside the 1e-9 margin.
        if value < peak * (1 - 1e-9) or (value < peak and acting_row is None):
            return
        exact = None if acting_row is None else self._equity(acting_row)
        if value < peak and (exact is None or float(exact) < peak):
            return
        new_peak = exact if exact is not None and float(exact) >= value \
            else Decimal(repr(value))
        if new_peak > state.peak_equity:
            self.state = _replaced(state, peak_equity=new_peak)

    def _carry_run(self, first: int, stop: int, quotes: StepQuotes) -> None:
        """`_carry_step` of each step in [first, stop), where the policy does not act and no
        order is open: a step below the peak, in the same day and clear of the levels (the
        common case) only becomes the evaluated step, with one state's figures held in
        locals; every other step goes through `_carry_step` itself."""
        times, j = self._times, first
        while j < stop:
            state = self.state
            assert state is not None
            halted = state.mode is TradingMode.HALTED
            if halted or not (state.paused or state.anomaly_active or state.anomaly_reducing):
                floats = self._state_floats
                if floats[0] is not state:
                    floats = self._state_floats = (state, float(state.peak_equity),
                                                   float(state.day_start_equity))
                peak, opening = floats[1], floats[2]
                daily_level, drawdown_level = self._levels[state.mode is TradingMode.REDUCING]
                day_start = state.day_start_ms
                marked: list[float] = []  # _float_equity's chunk, read here without a call
                first_marked = j
                while j < stop:
                    ts = times[j]
                    if ts - ts % DAY_MS > day_start:
                        break
                    if j - first_marked < len(marked):
                        value = marked[j - first_marked]
                    elif stop - j <= _SCALAR_MARKS:  # a few steps: no chunk for them
                        value = self._float_equity_one(j, quotes)
                    else:
                        value = self._float_equity(j, quotes)
                        cache = self._marks
                        assert cache is not None  # _float_equity has just filled it
                        first_marked, marked = cache[1], cache[2]
                    if not value < peak:  # a possible new peak (or no figure)
                        break
                    # below the peak, so max(value, peak) is the peak
                    if not halted and not ((opening - value) / opening * 100 < daily_level
                                           and (peak - value) / peak * 100 < drawdown_level):
                        break
                    self.evaluated = j
                    j += 1
                if j == stop:
                    return
            self._carry_step(j, quotes, None)
            j += 1

    def _float_equity(self, k: int, quotes: StepQuotes) -> float:
        """Cash plus the holdings since the last fill at step k's close, as floats: the
        same operations as `_carry`'s (a row of its sum is the same pairwise sum), for a
        chunk of steps at a time, until the next fill changes the holdings."""
        _, cash, amounts = self.changes[-1]  # no fill between the last change and `k`
        cache = self._marks
        if cache is None or cache[0] is not amounts or not 0 <= k - cache[1] < len(cache[2]):
            held = np.flatnonzero(amounts)
            rows = quotes.rows[k: k + _MARK_CHUNK]
            close = self.close_ff[rows[:, None], held[None, :]]
            values = cash + (close * amounts[held]).sum(axis=1)
            cache = self._marks = (amounts, k, values.tolist())
        return cache[2][k - cache[1]]

    def _float_equity_one(self, k: int, quotes: StepQuotes) -> float:
        """`_float_equity` of step k alone, in scalars: a step played between two fills
        (most steps an active policy plays) would mark a whole chunk for one figure. The
        held products are summed in numpy's order (`numpy_row_sum`), so cash plus their
        sum is the same float; more than 128 holdings go through the array form."""
        _, cash, amounts = self.changes[-1]
        terms = self._held_terms
        if terms[0] is not amounts:  # once per change of the holdings
            terms = self._held_terms = (amounts, [(c, float(amounts[c]))
                                                  for c in np.flatnonzero(amounts).tolist()])
        if len(terms[1]) > _PAIRWISE_BLOCK:
            return self._float_equity(k, quotes)
        close = self.close_ff[self._rows[k]]
        return cash + numpy_row_sum([float(close[column]) * amount
                                     for column, amount in terms[1]])

    def _carry(self, steps: np.ndarray, quotes: StepQuotes, exact: Decimal | None) -> None:
        """Move the breaker state through `steps` (Trader.step's `evaluate`), whose equity
        is cash plus the holdings since the last fill at each close; `exact`: the last
        step's Decimal equity when it was computed. In bulk while no breaker can fire."""
        _, cash, amounts = self.changes[-1]  # no fill between the last change and `steps`
        held = np.flatnonzero(amounts)
        close = self.close_ff[quotes.rows[steps][:, None], held[None, :]]
        equity = cash + (close * amounts[held]).sum(axis=1)
        ts = quotes.ts_ms[steps]
        self.evaluated = int(steps[-1])
        assert self.state is not None
        if not self._bulk_safe(equity, ts):
            values = [Decimal(repr(value)) for value in equity.tolist()]
            if exact is not None:
                values[-1] = exact
            for value, at in zip(values, ts.tolist()):
                self.state = evaluate(self.state, value, at, False, self.settings.limits)[0]
            return
        state = self.state
        day = int(utc_day_start_ms(int(ts[-1])))
        if day > state.day_start_ms:
            first = int(np.argmax(ts - ts % DAY_MS == day))
            opening = exact if exact is not None and first == len(ts) - 1 else \
                Decimal(repr(float(equity[first])))
            state = _replaced(state, day_start_ms=day, day_start_equity=opening)
        highest, peak = float(equity.max()), float(state.peak_equity)
        # A float below the peak's float is a Decimal below the peak (rounding is monotonic).
        if highest >= peak or (exact is not None and float(exact) >= peak):
            top = Decimal(repr(highest))
            if exact is not None and float(exact) >= highest:
                top = exact
            if top > state.peak_equity:
                state = _replaced(state, peak_equity=top)
        self.state = state

    def _bulk_safe(self, equity: np.ndarray, ts: np.ndarray) -> bool:
        """No mode can change over these steps, so `evaluate` would move only the day start
        and the peak: HALTED (sticky); ACTIVE with the daily loss and drawdown clear of their
        reduce levels; REDUCING with them clear of their halt levels and, at the first step
        of each new UTC day (where REDUCING could lift), the drawdown still past its reduce
        level. "Clear" by a float margin, so that the exact Decimal figures agree."""
        state = self.state
        assert state is not None
        if state.mode is TradingMode.HALTED:
            return True
        if state.paused or state.anomaly_active or state.anomaly_reducing:
            return False
        limits, margin = self.settings.limits, 1e-6
        reducing = state.mode is TradingMode.REDUCING
        daily_level = float(limits.daily_loss_halt_pct if reducing
                            else limits.daily_loss_reduce_pct) - margin
        drawdown_level = float(limits.drawdown_halt_pct if reducing
                               else limits.drawdown_reduce_pct) - margin
        if len(equity) == 1 and int(ts[0]) - int(ts[0]) % DAY_MS <= state.day_start_ms:
            value = float(equity[0])  # one step in the same day: no arrays
            peak, opening = max(value, float(state.peak_equity)), float(state.day_start_equity)
            return ((opening - value) / opening * 100 < daily_level
                    and (peak - value) / peak * 100 < drawdown_level)
        peak = np.maximum.accumulate(np.maximum(equity, float(state.peak_equity)))
        if int(ts[-1]) - int(ts[-1]) % DAY_MS <= state.day_start_ms:  # all in the same day
            opening = float(state.day_start_equity)
            return bool(np.all((opening - equity) / opening * 100 < daily_level)
                        and np.all((peak - equity) / peak * 100 < drawdown_level))
        days = ts - ts % DAY_MS
        day_start = np.full(equity.shape, float(state.day_start_equity))
        new_day_first = []
        for day in np.unique(days[days > state.day_start_ms]).tolist():
            at = days == day
            first = int(np.argmax(at))
            new_day_first.append(first)
            day_start[at] = equity[first]
        daily = (day_start - equity) / day_start * 100
        drawdown = (peak - equity) / peak * 100
        stays_reducing = not reducing or bool(np.all(
            drawdown[new_day_first] >= float(limits.drawdown_reduce_pct) + margin))
        return bool(stays_reducing and np.all(daily < daily_level)
                    and np.all(drawdown < drawdown_level))


def numpy_row_sum(terms: list[float]) -> float:
    """The sum numpy gives a contiguous row of these (at most `_PAIRWISE_BLOCK`) floats:
    under 8 left to right from 0.0; else eight interleaved partial sums, added in pairs,
    then the rest (its pairwise summation's base block)."""
    n = len(terms)
    if n < 8:
        total = 0.0
        for term in terms:
            total += term
        return total
    r0, r1, r2, r3, r4, r5, r6, r7 = terms[:8]
    i, whole = 8, n - n % 8
    while i < whole:
        r0 += terms[i]
        r1 += terms[i + 1]
        r2 += terms[i + 2]
        r3 += terms[i + 3]
        r4 += terms[i + 4]
        r5 += terms[i + 5]
        r6 += terms[i + 6]
        r7 += terms[i + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        total += terms[i]
        i += 1
    return total


def _replaced(state: TradingState, **changes: Any) -> TradingState:
    return replace(state, **changes)
