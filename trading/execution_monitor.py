"""The feedback loop from real outcomes to the fill model, in paper and live trading.

The trader hands the monitor the decision-time market (`see_market`), each order it sends
(`on_submit`) and every order event it records (`on_events`). The monitor writes each
order's expectation (trading/execution_quality.py) and, once the order ends, its realization
to the ledger's `executions` table, inside the trader's own ledger transaction, and feeds
the drift detector (trading/execution_drift.py); a sustained drift becomes one
`execution_drift` notice (Telegram too), and one more when it clears.

A backtest has no monitor (the trader's `execution` is None): its ledger, and so its
documented digest, has no execution row, and its speed is untouched. After a restart the
detector is refilled from the ledger's completed rows without notices: a drift raised before
the stop is not announced twice.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from model.fills import FillParams
from model.instruments import Instrument, Side
from model.orders import (
    Canceled,
    Filled,
    OrderEvent,
    OrderRequest,
    OrderType,
    Rejected,
    RejectReason,
)
from state.executions import ExecutionRow
from strategies.features import FEATURE_INDEX
from strategies.windows import AVERAGE_WINDOWS
from trading.execution_drift import DriftChange, DriftDetector, DriftLimits
from trading.execution_quality import (
    DecisionQuote,
    FillPoint,
    Outcome,
    decision_quote,
    expect,
    realize,
)
from trading.notices import NoticeKind

if TYPE_CHECKING:
    from state.ledger import Ledger
    from strategies.features import FeatureBook
    from trading.notices import Notifier

log = logging.getLogger(__name__)

_HOUR = AVERAGE_WINDOWS.index(60)
_SIGMA_1H = FEATURE_INDEX["sigma_1h"]
RESTORE_ROWS = 10_000  # completed orders read back into the detector on start


@dataclass(frozen=True, slots=True)
class ExecutionSummary:
    """Realized vs modeled over some completed orders (NaN where there is nothing to average):
    slippage over the orders with a fill, fill rate over all of them."""

    orders: int
    filled_orders: int
    modeled_slippage_bps: float
    realized_slippage_bps: float
    modeled_fill_rate: float
    realized_fill_rate: float

    def to_dict(self) -> dict[str, Any]:
        """Plain data, NaN as None (JSON has no NaN)."""
        return {name: (None if isinstance(value, float) and not math.isfinite(value)
                       else value) for name, value in (
            ("orders", self.orders), ("filled_orders", self.filled_orders),
            ("modeled_slippage_bps", self.modeled_slippage_bps),
            ("realized_slippage_bps", self.realized_slippage_bps),
            ("modeled_fill_rate", self.modeled_fill_rate),
            ("realized_fill_rate", self.realized_fill_rate))}


def summarize(rows: Iterable[ExecutionRow]) -> ExecutionSummary:
    """Realized vs modeled over completed, non-rejected `rows`."""
    done = [r for r in rows if r.outcome not in (None, Outcome.REJECTED.value)]
    filled = [r for r in done if r.realized_slippage_bps is not None]
    return ExecutionSummary(
        orders=len(done), filled_orders=len(filled),
        modeled_slippage_bps=_mean(r.expected_slippage_bps for r in filled),
        realized_slippage_bps=_mean(r.realized_slippage_bps or 0.0 for r in filled),
        modeled_fill_rate=_mean(r.fill_probability for r in done),
        realized_fill_rate=_mean(r.filled_share_in_horizon or 0.0 for r in done))


def gaps(row: ExecutionRow) -> tuple[float, float | None]:
    """(fill gap, slippage gap) of a completed order: realized minus modeled."""
    fill_gap = (row.filled_share_in_horizon or 0.0) - row.fill_probability
    slip = row.realized_slippage_bps
    return fill_gap, None if slip is None else slip - row.expected_slippage_bps


def detector_from(rows: Iterable[ExecutionRow], limits: DriftLimits) -> DriftDetector:
    """A detector fed with completed `rows` in order, quietly (its drift flags set)."""
    detector = DriftDetector(limits)
    for row in rows:
        if row.outcome not in (None, Outcome.REJECTED.value):
            detector.observe(row.symbol, row.side, *gaps(row))
    return detector


def execution_report(rows: Iterable[ExecutionRow], limits: DriftLimits) -> dict[str, Any]:
    """Realized vs modeled per symbol and side and overall, with the drift state a detector
    fed with the completed `rows` in order has at the end (what `entasis sim report
    --ledger` prints; `rows` oldest end first)."""
    completed = [r for r in rows if r.outcome is not None]
    detector = detector_from(completed, limits)
    groups: dict[tuple[str, str], list[ExecutionRow]] = {}
    for row in completed:
        groups.setdefault((row.symbol, row.side), []).append(row)
    drifting = set(detector.drifting())
    readings = detector.readings()
    by_key = []
    for (symbol, side), members in sorted(groups.items()):
        reading = readings.get((symbol, side), {})
        by_key.append({
            "symbol": symbol, "side": side, **summarize(members).to_dict(),
            "drift": {metric: {"drifting": (symbol, side, metric) in drifting,
                               "mean_gap": _finite(r.mean), "standard_error": _finite(
                                   r.standard_error), "orders": r.orders,
                               "bound": _finite(r.bound)}
                      for metric, r in sorted(reading.items())}})
    outcomes: dict[str, int] = {}
    for row in completed:
        outcomes[str(row.outcome)] = outcomes.get(str(row.outcome), 0) + 1
    return {"total": summarize(completed).to_dict(), "outcomes": dict(sorted(outcomes.items())),
            "by_symbol_side": by_key,
            "drifting": [{"symbol": s, "side": side, "metric": m} for s, side, m in
                         sorted(drifting)],
            "limits": {"window_orders": limits.window_orders, "min_orders": limits.min_orders,
                       "z": limits.z, "slippage_floor_bps": limits.slippage_floor_bps,
                       "fill_rate_floor": limits.fill_rate_floor}}


class ExecutionMonitor:
    """Records expected and realized execution per order, and raises drift notices."""

    def __init__(self, ledger: Ledger, instruments: Mapping[str, Instrument],
                 params: FillParams, *, limits: DriftLimits | None = None,
                 horizon_min: float = 5.0, notifier: Notifier | None = None,
                 spreads: Mapping[str, float] | None = None) -> None:
        """`horizon_min` is the fill probability's horizon (config `[execution]`); `spreads`
        each symbol's relative spread, as the paper broker's (model/costs.py)."""
        self.ledger = ledger
        self.instruments = instruments
        self.params = params
        self.horizon_min = horizon_min
        self.notifier = notifier
        self.limits = limits or DriftLimits()
        self.spreads = dict(spreads or {})
        recent = ledger.executions.completed(limit=RESTORE_ROWS)
        self.detector = detector_from(recent, self.limits)
        self._recent: deque[ExecutionRow] = deque(
            (r for r in recent if r.outcome != Outcome.REJECTED.value),
            maxlen=self.limits.window_orders)
        self._book: FeatureBook | None = None
        self._features: np.ndarray | None = None

    def see_market(self, book: FeatureBook, features: np.ndarray) -> None:
        """The decision step's market: what the orders it sends are expected against."""
        self._book, self._features = book, features

    def quote(self, symbol: str) -> DecisionQuote | None:
        """`symbol`'s decision quote from the market last seen (None: no price yet)."""
        book, instrument = self._book, self.instruments.get(symbol)
        if book is None or instrument is None or symbol not in book.symbols:
            return None
        i = book.row(symbol)
        prim = book.primitives()
        last = float(prim.last[i])
        if not (math.isfinite(last) and last > 0):
            return None
        minutes = min(float(prim.n_seen[i]), float(AVERAGE_WINDOWS[_HOUR]))
        volume = float(prim.sum_qv[i, _HOUR]) / minutes if minutes > 0 else math.nan
        sigma = float(self._features[i, _SIGMA_1H]) if self._features is not None else math.nan
        return decision_quote(last, float(prim.bid[i]), float(prim.ask[i]),
                              float(prim.bid_qty[i]), float(prim.ask_qty[i]), volume, sigma,
                              instrument.tick_at(last), instrument.lot,
                              self.spreads.get(symbol, 0.0))

    def on_submit(self, request: OrderRequest) -> None:
        """Store the order's expectation (call before the broker answers)."""
        quote = self.quote(request.symbol)
        if quote is None:
            log.debug("no market for %s yet: order %s has no expectation", request.symbol,
                      request.client_order_id)
            return
        e = expect(request.side, request.type, request.amount, request.price, quote,
                   self.params, ts_ms=request.ts_event, horizon_min=self.horizon_min)
        self.ledger.executions.record_expected(ExecutionRow(
            client_order_id=request.client_order_id, symbol=request.symbol,
            side=request.side.value, type=request.type.value, amount=request.amount,
            limit_price=request.price, submitted_ts=request.ts_event, horizon_ms=e.horizon_ms,
            reference_price=_decimal(e.reference_price),
            expected_price=(request.price if request.price is not None and not e.marketable
                            else _decimal(e.expected_price)),  # a passive order: its limit
            expected_slippage_bps=e.expected_slippage_bps,
            fill_probability=e.fill_probability, queue_ahead=e.queue_ahead,
            marketable=e.marketable))

    def on_events(self, events: Iterable[OrderEvent]) -> None:
        """Complete the rows of orders that ended; publish the drift changes that causes."""
        for event in events:
            if isinstance(event, Rejected) and event.reason is RejectReason.UNKNOWN_ORDER:
                continue  # a cancel of an order that is not open: nothing ended here
            if isinstance(event, (Filled, Canceled, Rejected)):
                self._complete(event)

    def summary(self) -> ExecutionSummary:
        """Realized vs modeled over the last `window_orders` completed orders (all symbols)."""
        return summarize(self._recent)

    def _complete(self, event: Filled | Canceled | Rejected) -> None:
        row = self.ledger.executions.get(event.client_order_id)
        if row is None or row.outcome is not None:
            return
        points = [FillPoint(f.ts_event, f.price, f.amount)
                  for f in self.ledger.fills_of(event.client_order_id)]
        done = realize(Side(row.side), OrderType(row.type), row.amount, row.submitted_ts,
                       float(row.reference_price), row.horizon_ms, points,
                       rejected=isinstance(event, Rejected))
        self.ledger.executions.record_realized(
            row.client_order_id, outcome=done.outcome.value, completed_ts=event.ts_event,
            filled_amount=done.filled_amount, avg_fill_price=done.avg_fill_price,
            filled_share=done.filled_share, filled_share_in_horizon=done.filled_share_in_horizon,
            realized_slippage_bps=done.realized_slippage_bps,
            time_to_fill_ms=done.time_to_fill_ms)
        if done.outcome is Outcome.REJECTED:
            return
        completed = self.ledger.executions.get(row.client_order_id)
        assert completed is not None
        self._recent.append(completed)
        for change in self.detector.observe(row.symbol, row.side, *gaps(completed)):
            self._publish(change, event.ts_event)

    def _publish(self, change: DriftChange, ts_ms: int) -> None:
        text = change.text()
        log.log(logging.WARNING if change.raised else logging.INFO, "%s", text)
        if self.notifier is not None:
            r = change.reading
            self.notifier.emit(NoticeKind.EXECUTION_DRIFT, text, ts_ms, symbol=change.symbol,
                               side=change.side, metric=change.metric, raised=change.raised,
                               mean=r.mean, standard_error=r.standard_error, orders=r.orders)


def _mean(values: Iterable[float]) -> float:
    items = [v for v in values if math.isfinite(v)]
    return sum(items) / len(items) if items else math.nan


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _decimal(value: float) -> Decimal:
    """A model price as a decimal of 12 significant digits (money is TEXT): a mid of two
    grid prices reads 100.105, not the float sum's 100.10499999999999."""
    return Decimal(f"{float(value):.12g}")
