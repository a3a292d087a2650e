"""Operator notices: what happened, as plain data, and the in-process hub that fans them out.

Modules that notice something an operator should hear about (a fill, a trading-state change,
a breaker trip, a stale feed, a degraded forecast, a model promotion) publish a `Notice`;
subscribers (Telegram today, maybe e-mail or a webhook later) decide how to deliver it.
Publishing is synchronous, cheap and never raises into the publisher: the trader publishes
from inside a decision step, and a broken subscriber must not break trading. The delivery
side (batching, the runtime watcher) lives in bot/ops/notify.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

log = logging.getLogger(__name__)


class NoticeKind(str, Enum):
    """What happened; subscribers filter on it (`[telegram] notify`)."""

    FILL = "fill"
    TRADING_STATE = "trading_state"  # pause/resume, refused resume, new-day reset
    BREAKER = "breaker"  # daily loss / drawdown / anomaly moved the trading state
    STALE_FEED = "stale_feed"  # the market feed went stale, or recovered
    FORECAST_DEGRADED = "forecast_degraded"
    MODEL_PROMOTED = "model_promoted"
    REPORT = "report"  # the scheduled daily report: chart as a photo, HTML as a document
    DAEMON = "daemon"  # started, stopping, config reloaded
    ORDER_FAILED = "order_failed"  # live: the exchange refused an order, or a cancel failed
    EXECUTION_DRIFT = "execution_drift"  # realized fills drift from the fill model, or stop


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification: a kind, a one-line human text, when, and plain data for machines."""

    kind: NoticeKind
    text: str
    ts_ms: int
    data: Mapping[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Notice], None]


def wall_ms() -> int:
    """Epoch milliseconds from the system clock."""
    return time.time_ns() // 1_000_000


class Notifier:
    """Fan-out of notices to subscribers, in publish order, on the caller's thread."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self.published = 0

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it again."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, notice: Notice) -> None:
        """Deliver `notice` to every subscriber; a failing subscriber is logged, not raised."""
        self.published += 1
        for subscriber in list(self._subscribers):
            try:
                subscriber(notice)
            except Exception:  # a notifier must never stop the trader that published
                log.exception("notice subscriber %r failed on a %s notice",
                              subscriber, notice.kind.value)

    def emit(self, kind: NoticeKind, text: str, ts_ms: int | None = None, **data: Any) -> None:
        """Shorthand for `publish(Notice(kind, text, ts_ms or now, data))`."""
        self.publish(Notice(kind, text, wall_ms() if ts_ms is None else ts_ms, data))
