"""The top-k batch policy: hold the best `k` coins by a score, rebalancing on a change.

Apart from trading/fast_policies.py, which keeps the batch-policy contract (`StepQuotes`,
`BatchView`, `BatchPolicy`) and the engine's rule-based policies (flat, buy-and-hold, SMA)
that the parity test holds to the engine: top-k has no engine twin, takes any score matrix
(the forecast top-k of trading/forecast_topk.py feeds it one), and brings its own default
score, the trailing momentum of the close.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from strategies.edge import EntryGate
from strategies.features_batch import MinuteGrid
from strategies.policy import Action, PolicyAction
from strategies.sma_cross import SmaCrossPolicy
from trading.fast_policies import NEVER, BatchView, StepQuotes, _usable, forward_filled


@dataclass
class TopKBatch:
    """Hold the `k` best tradable coins by a score matrix [T, n] (grid rows; higher is
    better, NaN = not a candidate); rebalance only when the membership changes. Entries
    and exits are marketable limits like the SMA policy's. Without `scores`, the score is
    the trailing `momentum_bars` return of the close (a momentum column).

    `entry_gate` (per decision step, strategies/edge.py): a member is bought only where its
    edge beats the round trip's cost; a held member stays held either way."""

    k: int = 3
    scores: np.ndarray | None = None
    momentum_bars: int = 60
    stop_return_pct: float = SmaCrossPolicy.stop_return_pct
    slippage_pct: float = SmaCrossPolicy.slippage_pct
    name: str = "topk"
    entry_gate: EntryGate | None = None
    _members: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    _enter: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))
    _acts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def fit(self, grid: MinuteGrid, train_stop_row: int) -> None:
        return

    def prepare(self, grid: MinuteGrid, quotes: StepQuotes) -> None:
        score = self.scores if self.scores is not None else momentum(grid, self.momentum_bars)
        if score.shape != grid.close.shape:
            raise ValueError(f"topk scores {score.shape} do not match the grid {grid.close.shape}")
        at_steps = score[quotes.rows]
        ranked = np.where(np.isfinite(at_steps), at_steps, -np.inf)
        order = np.argsort(-ranked, axis=1, kind="stable")[:, : self.k]
        members = np.zeros(at_steps.shape, bool)
        np.put_along_axis(members, order, True, axis=1)
        self._members = members & np.isfinite(at_steps)
        gate = self.entry_gate
        if gate is not None and gate.edge.shape != at_steps.shape:
            raise ValueError(f"topk entry gate {gate.edge.shape} does not match the steps "
                             f"{at_steps.shape}")
        self._enter = self._members if gate is None else self._members & gate.ok
        changed = np.ones(len(members), bool)
        changed[1:] = ((self._members[1:] != self._members[:-1]).any(axis=1)
                       | (self._enter[1:] != self._enter[:-1]).any(axis=1))
        self._acts = np.flatnonzero(changed).astype(np.int64)

    def next_step(self, after: int) -> int:
        at = int(np.searchsorted(self._acts, after))
        return int(self._acts[at]) if at < self._acts.size else int(NEVER)

    def decide(self, view: BatchView) -> list[PolicyAction]:
        members, enter = self._members[view.step], self._enter[view.step]
        ordered = {o.symbol for o in view.open_orders}
        actions: list[PolicyAction] = []
        for i in np.flatnonzero(view.tradable).tolist():
            symbol = view.symbols[i]
            ask, bid = float(view.ask[i]), float(view.bid[i])
            if symbol in ordered:
                continue
            if enter[i] and not view.held[i] and _usable(ask):
                why = f"in the top {self.k}"
                if self.entry_gate is not None:
                    why += "; " + self.entry_gate.reason(view.step, i)
                actions.append(PolicyAction(symbol, Action.BUY,
                                            limit_price=ask * (1 + self.slippage_pct / 100),
                                            stop_price=ask * (1 - self.stop_return_pct / 100),
                                            reason=why))
            elif not members[i] and view.held[i] and _usable(bid):
                actions.append(PolicyAction(symbol, Action.SELL,
                                            limit_price=bid * (1 - self.slippage_pct / 100),
                                            exit=True, reason=f"out of the top {self.k}"))
        return actions


def momentum(grid: MinuteGrid, bars: int) -> np.ndarray:
    """Trailing `bars`-bar simple return of the forward-filled close at every row (NaN
    until a symbol has that much history): causal, row t reads rows <= t only."""
    close = forward_filled(grid.close)
    previous = np.full_like(close, np.nan)
    previous[bars:] = close[:-bars]
    with np.errstate(invalid="ignore", divide="ignore"):
        return close / previous - 1.0
