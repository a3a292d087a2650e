"""Batch policies for the fast backtester: whole-array signals, decisions only where they act.

A batch policy sees the run once (`prepare`: every decision row's quotes, as arrays) and
says at which decision steps it may act (`next_step`); the fast loop calls `decide` only
there, with a `BatchView` of the account, and skips every other step in bulk. `decide`
returns the engine's own `PolicyAction`s, so the risk gate sizes them exactly as the
trader does. Signals must be causal: what step k computes may read rows up to its own.

Parameters equal the engine policies' defaults (strategies/baselines.py), and the
decisions are the same: `buyhold`, `sma` and `baseline` (trading/fast_baseline.py) are held to
the engine by the parity test (tests/integration/test_fast_backtest_parity.py).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from strategies.baselines import BuyHoldPolicy
from strategies.features_batch import MinuteGrid
from strategies.policy import Action, Holding, PolicyAction, RestingOrder
from strategies.sma_cross import SmaCrossPolicy
from trading.fast_kernel import forward_fill, sma_above

NEVER = np.iinfo(np.int64).max  # `next_step` when a policy will not act again


@dataclass(frozen=True, slots=True)
class StepQuotes:
    """What a policy may read at every decision step k (arrays [K, n], NaN = unknown):
    the grid rows of the steps, their decision times, and each symbol's last price, bid
    and ask as the engine's book holds them then (forward-filled)."""

    rows: np.ndarray  # int64 [K]: grid row whose bar closed just before step k
    ts_ms: np.ndarray  # int64 [K]: decision time (the row's close)
    last: np.ndarray
    bid: np.ndarray
    ask: np.ndarray


class AccountReader(Protocol):
    """What a `BatchView` reads of the account, on first use (the loop's side)."""

    def held(self) -> np.ndarray: ...

    def open_orders(self) -> tuple[RestingOrder, ...]: ...

    def open_slots(self) -> int: ...

    def holdings(self) -> Mapping[str, Holding]: ...


class BatchView:
    """The account at one decision step, for `BatchPolicy.decide`.

    `held`, `open_orders`, `open_slots` and `holdings` are read from `account` on first
    use and then kept: most steps' decisions look at one or two of them (a cross of a
    symbol neither held nor ordered needs no portfolio), and building all four cost more
    than the decision itself. Treat the view as read-only."""

    held: np.ndarray  # bool [n]: a position > 0
    open_orders: tuple[RestingOrder, ...]  # without cancels in flight
    open_slots: int  # positions the risk gate would still let open
    holdings: Mapping[str, Holding]  # positions > 0

    def __init__(self, step: int, ts_ms: int, symbols: tuple[str, ...], tradable: np.ndarray,
                 last: np.ndarray, bid: np.ndarray, ask: np.ndarray, account: AccountReader):
        self.step, self.ts_ms = step, ts_ms
        self.symbols = symbols  # grid columns
        self.tradable = tradable  # bool [n]: quoted in the account currency
        self.last, self.bid, self.ask = last, bid, ask  # [n]
        self.account = account

    def __getattr__(self, name: str) -> Any:
        # Called only for an attribute not set yet: the lazy four, read once.
        if name not in _LAZY_VIEW_PARTS:
            raise AttributeError(f"BatchView has no attribute {name!r}")
        value = getattr(self.account, name)()
        setattr(self, name, value)
        return value


_LAZY_VIEW_PARTS = frozenset(("held", "open_orders", "open_slots", "holdings"))


class BatchPolicy(Protocol):
    """A policy that decides for all symbols of a grid at once."""

    name: str

    def fit(self, grid: MinuteGrid, train_stop_row: int) -> None:
        """Learn from rows < `train_stop_row` only (rule-based policies: nothing)."""
        ...

    def prepare(self, grid: MinuteGrid, quotes: StepQuotes) -> None:
        """Precompute the run's signals over whole arrays (causal, step by step)."""
        ...

    def next_step(self, after: int) -> int:
        """The first decision step >= `after` at which `decide` may act (`NEVER`: none)."""
        ...

    def decide(self, view: BatchView) -> list[PolicyAction]:
        """The actions of one step, as the engine policy would return them."""
        ...


class StepCursor:
    """`next_step` over a sorted array of acting steps: the loop asks with steps that only
    grow, so a cursor walks forward (a binary search when asked about an earlier step)."""

    __slots__ = ("_at", "_steps")

    def __init__(self, steps: np.ndarray):
        self._steps: list[int] = steps.tolist()
        self._at = 0

    def at_or_after(self, after: int) -> int:
        steps, at = self._steps, self._at
        if at > 0 and steps[at - 1] >= after:
            at = bisect_left(steps, after)
        while at < len(steps) and steps[at] < after:
            at += 1
        self._at = at
        return steps[at] if at < len(steps) else int(NEVER)


def _usable(price: float) -> bool:
    return math.isfinite(price) and price > 0  # a float's: np.isfinite costs 10x more


@dataclass
class FlatBatch:
    """Never trades: the zero line every result is reported beside."""

    name: str = "flat"

    def fit(self, grid: MinuteGrid, train_stop_row: int) -> None:
        return

    def prepare(self, grid: MinuteGrid, quotes: StepQuotes) -> None:
        return

    def next_step(self, after: int) -> int:
        return int(NEVER)

    def decide(self, view: BatchView) -> list[PolicyAction]:
        return []


@dataclass
class BuyHoldBatch:
    """`BuyHoldPolicy` in batch: buy every tradable symbol once with a marketable limit."""

    stop_return_pct: float = BuyHoldPolicy.stop_return_pct
    slippage_pct: float = BuyHoldPolicy.slippage_pct
    name: str = "buyhold"
    _done: bool = False

    def fit(self, grid: MinuteGrid, train_stop_row: int) -> None:
        return

    def prepare(self, grid: MinuteGrid, quotes: StepQuotes) -> None:
        self._done = False

    def next_step(self, after: int) -> int:
        # Once every symbol is held or ordered it stays so (buy-and-hold never sells or
        # cancels), so the policy never acts again.
        return int(NEVER) if self._done else after

    def decide(self, view: BatchView) -> list[PolicyAction]:
        ordered = {o.symbol for o in view.open_orders}
        actions: list[PolicyAction] = []
        waiting = False
        for i in np.flatnonzero(view.tradable).tolist():
            symbol = view.symbols[i]
            if view.held[i] or symbol in ordered:
                continue
            waiting = True
            ask = float(view.ask[i])
            if not (np.isfinite(view.last[i]) and _usable(ask)):
                continue
            actions.append(PolicyAction(symbol, Action.BUY,
                                        limit_price=ask * (1 + self.slippage_pct / 100),
                                        stop_price=ask * (1 - self.stop_return_pct / 100),
                                        reason="buy and hold"))
        # No slot left: every entry is denied, and buy-and-hold never frees one by selling.
        self._done = not waiting or view.open_slots <= 0
        return actions


@dataclass
class SmaBatch:
    """`SmaCrossPolicy` in batch: SMA(fast) vs SMA(slow) of each symbol's last price at
    every decision step (the engine policy's closes), computed for the whole run in one
    compiled pass; the loop stops only at crosses (and the step after a cancel)."""

    fast: int = SmaCrossPolicy.fast
    slow: int = SmaCrossPolicy.slow
    stop_return_pct: float = SmaCrossPolicy.stop_return_pct
    slippage_pct: float = SmaCrossPolicy.slippage_pct
    name: str = "sma"
    _above: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int8))
    _acts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    _override: dict[int, int] = field(default_factory=dict)  # symbol -> remembered state
    # step -> (first, last) of its crossed columns in _cross_columns
    _crossed: dict[int, tuple[int, int]] = field(default_factory=dict)
    _cross_columns: list[int] = field(default_factory=list)
    # the state of each cross's column at its step and at the step before, as _cross_columns
    _cross_now: list[int] = field(default_factory=list)
    _cross_before: list[int] = field(default_factory=list)
    _next: StepCursor = field(default_factory=lambda: StepCursor(np.zeros(0, np.int64)))
    # every cross as arrays (step, column, state now), row-major, and the run's asks
    _cross_arrays: tuple[np.ndarray, np.ndarray, np.ndarray] = field(
        default_factory=lambda: (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int8)))
    _ask: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    _bid: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    # (mask, its list) of the view's tradable columns, read once per run
    _tradable: tuple[np.ndarray | None, list[bool]] = (None, [])
    # a BUY's limit and stop and a SELL's limit as factors of the quote, and their reasons,
    # worked out once per run (the same floats and words as at every step)
    _factors: tuple[float, float, float] = (1.0, 1.0, 1.0)
    _reasons: tuple[str, str] = ("", "")

    def fit(self, grid: MinuteGrid, train_stop_row: int) -> None:
        return

    def prepare(self, grid: MinuteGrid, quotes: StepQuotes) -> None:
        self._factors = (1 + self.slippage_pct / 100, 1 - self.stop_return_pct / 100,
                         1 - self.slippage_pct / 100)
        self._reasons = (f"SMA{self.fast} crossed above SMA{self.slow}",
                         f"SMA{self.fast} crossed below SMA{self.slow}")
        self._tradable = (None, [])
        self._above = sma_above(np.ascontiguousarray(quotes.last), self.fast, self.slow)
        previous = np.vstack([np.full((1, self._above.shape[1]), -1, np.int8), self._above[:-1]])
        cross = (previous >= 0) & (self._above >= 0) & (previous != self._above)
        self._acts = np.flatnonzero(cross.any(axis=1)).astype(np.int64)
        self._next = StepCursor(self._acts)
        steps, columns = np.nonzero(cross)  # row-major: columns ascending
        self._cross_arrays = (steps, columns, self._above[steps, columns])
        self._ask, self._bid = quotes.ask, quotes.bid
        # Lists, read a few items per acting step: numpy scalars cost more than the decision.
        self._cross_columns = columns.tolist()
        self._cross_now = self._above[steps, columns].tolist()
        self._cross_before = previous[steps, columns].tolist()
        first = np.searchsorted(steps, self._acts)
        last = np.searchsorted(steps, self._acts, side="right")
        self._crossed = dict(zip(self._acts.tolist(), zip(first.tolist(), last.tolist())))
        self._override = {}

    def next_step(self, after: int) -> int:
        if self._override:
            return after
        return self._next.at_or_after(after)

    def lane_signals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                    tuple[float, float, float]]:
        """What the compiled lane (trading/sma_lane.py) decides from, once prepared: every
        cross as (steps, columns, state now, state before), row-major; the state of every
        symbol at every step (1 above, 0 below, -1 unknown); the BUY limit, stop and SELL
        limit as factors of the quote."""
        steps, columns, now = self._cross_arrays
        return (steps, columns, now, np.array(self._cross_before, np.int8), self._above,
                self._factors)

    def actions_when_idle(self, first: int, stop: int, tradable: np.ndarray,
                          held: np.ndarray) -> tuple[list[int], list[int], list[bool]] | None:
        """(steps, columns, is a BUY) of every action `decide` returns at the steps in
        [first, stop) while the holdings are `held` and no order is open: a BUY at each
        cross above of a tradable symbol not held with a usable ask, a SELL at each cross
        below of a held one with a usable bid, in decide's order (steps, then columns
        ascending); None after a cancel, whose remembered cross `decide` has yet to weigh."""
        if self._override:
            return None
        steps, columns, now = self._cross_arrays
        lo, hi = np.searchsorted(steps, (first, stop)).tolist()
        steps, columns, now = steps[lo:hi], columns[lo:hi], now[lo:hi]
        buy = now == 1
        price = np.where(buy, self._ask[steps, columns], self._bid[steps, columns])
        holding = held[columns]
        with np.errstate(invalid="ignore"):  # NaN quotes are not usable
            acts = tradable[columns] & (buy != holding) & np.isfinite(price) & (price > 0)
        return steps[acts].tolist(), columns[acts].tolist(), buy[acts].tolist()

    def decide(self, view: BatchView) -> list[PolicyAction]:
        k = view.step
        actions: list[PolicyAction] = []
        first, last = self._crossed.get(k, (0, 0))
        # Only a symbol whose state moved can act: the crosses, and the cross remembered
        # at a cancel (its state may have moved back since: then it does not act).
        moved: Iterable[tuple[int, int, int]]  # (column, state now, state before)
        if self._override:
            overrides, self._override = self._override, {}
            now = self._above[k]
            before = self._above[k - 1] if k > 0 else np.full_like(now, -1)
            flipped = sorted(set(self._cross_columns[first:last]) | set(overrides))
            moved = [(i, int(now[i]), overrides.get(i, int(before[i]))) for i in flipped]
        else:
            moved = zip(self._cross_columns[first:last], self._cross_now[first:last],
                        self._cross_before[first:last])
        if view.tradable is not self._tradable[0]:  # the same mask at every step of a run
            self._tradable = (view.tradable, view.tradable.tolist())
        tradable = self._tradable[1]
        ordered: dict[str, RestingOrder] | None = None
        for i, above, was in moved:
            if above < 0 or was < 0 or above == was or not tradable[i]:
                continue
            symbol = view.symbols[i]
            if ordered is None:
                ordered = {o.symbol: o for o in view.open_orders}
            stale = ordered.get(symbol)
            if stale is not None:  # signal flipped while an order was working: cancel it first
                kind = Action.CANCEL_BUY if stale.side == "BUY" else Action.CANCEL_SELL
                actions.append(PolicyAction(symbol, kind, client_order_id=stale.client_order_id,
                                            reason="signal flipped"))
                self._override[i] = was  # act on the cross at the next step
                continue
            if above:
                ask = float(view.ask[i])
                if not view.held[i] and _usable(ask):
                    actions.append(PolicyAction(symbol, Action.BUY, ask * self._factors[0],
                                                ask * self._factors[1],
                                                reason=self._reasons[0]))
            elif view.held[i]:
                bid = float(view.bid[i])
                if _usable(bid):
                    actions.append(PolicyAction(symbol, Action.SELL, bid * self._factors[2],
                                                exit=True, reason=self._reasons[1]))
        return actions


def forward_filled(values: np.ndarray) -> np.ndarray:
    """Each column's newest finite value at or before every row (NaN before the first)."""
    if values.ndim == 2 and values.dtype == np.float64:  # the compiled pass: 10x faster
        return forward_fill(values)
    finite = np.isfinite(values)
    index = np.where(finite, np.arange(values.shape[0])[:, None], -1)
    newest = np.maximum.accumulate(index, axis=0)
    filled = values[np.maximum(newest, 0), np.arange(values.shape[1])]
    return np.where(newest >= 0, filled, np.nan)


__all__: Sequence[str] = ("AccountReader", "BatchPolicy", "BatchView", "StepQuotes",
                          "forward_filled")
