"""Top-decile long: the trading test of a forecast, run through the trading-core backtester.

Every `rebalance_minutes` (the forecast horizon) the policy ranks the tradable symbols by
their forecast, holds the top decile (at least one symbol) among those with a positive
forecast, and sells anything else it holds. Orders are marketable limits (the touch plus up
to `slippage_pct`), sized by the risk gate like every entry (2% x confidence / stop, capped
at 5% of equity); the stop only sets the size, exits happen at the next rebalance. An order
still open at a rebalance is canceled first.

Forecasts come precomputed per minute (from the offline panel, which a test holds equal to
the live book's features), so the same policy scores every model, ensemble and baseline on
identical fills, fees and risk rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from model.market import MINUTE_MS
from strategies.policy import Action, DecisionView, Policy, PolicyAction


@dataclass
class TopDecilePolicy(Policy):
    """Long the top decile of forecasts, rebalanced every horizon."""

    forecasts: Mapping[int, np.ndarray]  # minute open_ms -> forecast per `symbols` (NaN = none)
    symbols: tuple[str, ...]
    rebalance_minutes: int = 60
    confidence: Mapping[int, np.ndarray] | None = None
    stop_return_pct: float = 1.0
    slippage_pct: float = 0.5
    decile: float = 0.1
    name: str = "forecast_top_decile"
    _next_ms: int | None = field(default=None, repr=False)
    _column: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._column = {s: i for i, s in enumerate(self.symbols)}

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        minute = view.ts_ms - MINUTE_MS  # the decided minute's open time
        if self._next_ms is not None and minute < self._next_ms:
            return []
        forecast = self.forecasts.get(minute)
        if forecast is None:
            return []
        self._next_ms = minute + self.rebalance_minutes * MINUTE_MS
        candidates = [s for s in view.symbols if s in self._column and s in view.quotes
                      and math.isfinite(forecast[self._column[s]])]
        k = max(1, math.ceil(len(candidates) * self.decile))
        ranked = sorted(candidates, key=lambda s: (-forecast[self._column[s]], s))
        chosen = {s for s in ranked[:k] if forecast[self._column[s]] > 0}
        actions: list[PolicyAction] = []
        for order in view.open_orders:
            kind = Action.CANCEL_BUY if order.side == "BUY" else Action.CANCEL_SELL
            actions.append(PolicyAction(order.symbol, kind, client_order_id=order.client_order_id,
                                        reason="rebalance: stale order"))
        busy = {order.symbol for order in view.open_orders}
        for symbol, holding in sorted(view.holdings.items()):
            quote = view.quotes.get(symbol)
            if symbol in chosen or symbol in busy or holding.amount <= 0 or quote is None \
                    or not (quote.bid > 0):
                continue
            actions.append(PolicyAction(symbol, Action.SELL,
                                        limit_price=quote.bid * (1 - self.slippage_pct / 100),
                                        exit=True, reason="left the top decile"))
        for symbol in sorted(chosen):
            quote = view.quotes[symbol]
            if symbol in view.holdings or symbol in busy or not (quote.ask > 0):
                continue
            column = self._column[symbol]
            confidence = 1.0
            if self.confidence is not None and minute in self.confidence:
                value = float(self.confidence[minute][column])
                confidence = value if math.isfinite(value) and value > 0 else 1.0
            actions.append(PolicyAction(
                symbol, Action.BUY, limit_price=quote.ask * (1 + self.slippage_pct / 100),
                stop_price=quote.ask * (1 - self.stop_return_pct / 100), confidence=confidence,
                reason=f"top decile: forecast {forecast[column] * 100:+.3f}%"))
        return actions
