"""Forecast top-k: hold the k coins with the highest forecast return, refit per fold.

The forecast is `strategies/forecast/signal.py`'s: fit on the training rows only (purged: a
training row's target ends before the training stop), predicting the expected log return
over `horizon_minutes` on every later row, sampled once per horizon (`held_for`) so the
holdings change at most once per horizon instead of on every rank swap between two bars.
`TopKBatch` then trades it like any score: marketable limits, the risk gate's sizing, the
fill model. A top-k coin is bought only when its forecast return, as a simple return,
beats the round trip's cost by `edge_cost_margin` (strategies/edge.py): the taker fee in
and out (both orders take the touch), the step's quoted spread and the slippage allowance.

Where the training stops: `fit(grid, train_stop_row)` says so in a walk-forward (the fold's
training window; an embargo then separates it from the test rows). Without a `fit` call
(`entasis backtest --engine fast --policy forecast`) it trains on every row before the
backtest's first step, i.e. the warm-up.

The fit happens in `prepare`, on the grid the run is given: the signal reads no row at or
after the training stop for training (tests/unit/test_forecast_signal.py), so handing it the
test rows too only lets it predict them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from model import libm
from model.market import MINUTE_MS
from strategies.edge import (
    DEFAULT_EDGE_COST_MARGIN,
    SLIPPAGE_ALLOWANCE_BPS,
    EntryGate,
    quoted_spreads,
    round_trip_cost,
)
from strategies.features_batch import MinuteGrid
from strategies.policy import PolicyAction
from trading.fast_policies import NEVER, BatchView, StepQuotes
from trading.topk_batch import TopKBatch

if TYPE_CHECKING:
    from strategies.forecast.signal import SignalSettings


@dataclass
class ForecastTopKBatch:
    """Hold the `k` coins whose forecast return over `horizon_minutes` is highest."""

    k: int = 3
    horizon_minutes: int = 1440
    seed: int = 0
    settings: SignalSettings | None = None  # None: SignalSettings() (trees only)
    edge_cost_margin: float = DEFAULT_EDGE_COST_MARGIN  # buy on edge > cost x (1 + margin)
    taker_fee_bps: float = 10.0
    slippage_bps: float = SLIPPAGE_ALLOWANCE_BPS
    name: str = "forecast"
    _train_stop_row: int | None = None
    _topk: TopKBatch | None = None

    def fit(self, grid: MinuteGrid, train_stop_row: int) -> None:
        """Remember where training stops; the fit itself waits for the run's grid."""
        self._train_stop_row = train_stop_row

    def horizon_bars(self, bar_ms: int) -> int:
        """The horizon in bars of `bar_ms` (at least one)."""
        return max(1, self.horizon_minutes * MINUTE_MS // bar_ms)

    def prepare(self, grid: MinuteGrid, quotes: StepQuotes) -> None:
        stop = self._train_stop_row
        if stop is None:  # a plain backtest: train on the warm-up before the first step
            stop = int(quotes.rows[0]) if quotes.rows.size else grid.close.shape[0]
        held = self.held_forecast(grid, stop)
        self._topk = TopKBatch(k=self.k, scores=held, name=self.name,
                               entry_gate=self.entry_gate(held, quotes))
        self._topk.prepare(grid, quotes)

    def held_forecast(self, grid: MinuteGrid, train_stop_row: int) -> np.ndarray:
        """The score this policy trades [T, n]: the forecast fit on the rows before
        `train_stop_row` (purged by the horizon), held for a horizon from there; NaN before
        it. The portfolio league's `forecast_topk` baseline reads the same array
        (rl/portfolio_scores.py)."""
        # Imported here: the forecast stack costs ~1 s to import, and only this policy needs it.
        from strategies.forecast.signal import SignalSettings, fit_forecast_signal

        horizon = self.horizon_bars(grid.bar_ms)
        signal = fit_forecast_signal(grid, train_stop_row=train_stop_row, horizon_bars=horizon,
                                     settings=self.settings or SignalSettings(), seed=self.seed)
        return signal.held_for(horizon)

    def entry_gate(self, held: np.ndarray, quotes: StepQuotes) -> EntryGate:
        """Each step's forecast simple return against a taker round trip at its quote."""
        edge = libm.expm1(held[quotes.rows])
        costs = round_trip_cost(self.taker_fee_bps, self.taker_fee_bps,
                                quoted_spreads(quotes.bid, quotes.ask), self.slippage_bps)
        return EntryGate(edge=edge, cost=np.asarray(costs.total, np.float64),
                         margin=self.edge_cost_margin)

    def next_step(self, after: int) -> int:
        return self._topk.next_step(after) if self._topk is not None else int(NEVER)

    def decide(self, view: BatchView) -> list[PolicyAction]:
        assert self._topk is not None, "prepare() first"
        return self._topk.decide(view)


def forecast_scores(topk: ForecastTopKBatch) -> np.ndarray | None:
    """The held forecast the policy trades on (after `prepare`), for reports and tests."""
    return topk._topk.scores if topk._topk is not None else None
