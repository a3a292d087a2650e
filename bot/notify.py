"""Operator notifications: a small in-process publish/subscribe hub.

Modules that notice something an operator should hear about (a fill, a trading-state change,
a breaker trip, a stale feed, a degraded forecast, a model promotion) publish a `Notice`;
subscribers (Telegram today, maybe e-mail or a webhook later) decide how to deliver it.
Publishing is synchronous, cheap and never raises into the publisher: the trader publishes
from inside a decision step, and a broken subscriber must not break trading.

`watch_runtime` is the one watcher the daemon runs as a task: it turns *changes* of slowly
moving state (feed staleness, the registry's best model) into notices, once per change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

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


def summarize(notices: Sequence[Notice], max_lines: int = 20) -> str:
    """One message for a batch of notices: a count per kind ("5 fills: 3 buys, 2 sells"),
    then the notices' own lines, oldest first, at most `max_lines` of them.

    Why: a busy minute made 27 fill messages, and Telegram rate-limits a chat at about one
    message a second; the operator wants the gist first and the details under it."""
    if len(notices) == 1:
        return notices[0].text
    counts = Counter(n.kind for n in notices)
    header = [_count_line(kind, count, notices) for kind, count in counts.items()]
    lines = [n.text for n in notices[:max_lines]]
    if len(notices) > max_lines:
        lines.append(f"… and {len(notices) - max_lines} more")
    return "\n".join(header + lines)


def _count_line(kind: NoticeKind, count: int, notices: Sequence[Notice]) -> str:
    """"3 fills: 2 buys, 1 sell" for fills (side from the notice data); "2 stale_feed" else."""
    if kind is not NoticeKind.FILL:
        return f"{count} {kind.value} notice{'s' if count != 1 else ''}"
    sides = Counter(str(n.data.get("side", "")).lower() for n in notices if n.kind is kind)
    parts = [f"{sides[side]} {side}{'s' if sides[side] != 1 else ''}"
             for side in ("buy", "sell") if sides[side]]
    return f"{count} fill{'s' if count != 1 else ''}" + (f": {', '.join(parts)}" if parts else "")


class _HasHealth(Protocol):
    def health(self) -> Any: ...


class Watched(Protocol):
    """What `watch_runtime` reads of the daemon (attributes may be None before start)."""

    feed: _HasHealth | None
    notifier: Notifier


def best_model_version(registry_path: Path) -> str | None:
    """The registry's current best version, or None (no registry file or no best yet)."""
    if not registry_path.exists():
        return None
    from rl.registry import ModelRegistry  # sqlite only; no torch

    with ModelRegistry.open(registry_path) as registry:
        best = registry.best()
    return best.version if best else None


async def watch_runtime(runtime: Watched, registry_path: Path | None = None,
                        interval_s: float = 1.0, model_every: int = 30) -> None:
    """Publish STALE_FEED when the feed turns stale or recovers and MODEL_PROMOTED when the
    registry's best model changes; runs until cancelled (a daemon task)."""
    was_stale = False
    known_best = best_model_version(registry_path) if registry_path else None
    ticks = 0
    while True:
        await asyncio.sleep(interval_s)
        ticks += 1
        feed = runtime.feed
        if feed is not None:
            health = feed.health()
            if health.stale != was_stale:
                was_stale = health.stale
                text = (f"market feed STALE: no message for {health.last_message_age_s:.0f} s"
                        if health.stale else "market feed live again")
                runtime.notifier.emit(NoticeKind.STALE_FEED, text, stale=health.stale,
                                      last_message_age_s=health.last_message_age_s)
        if registry_path is not None and ticks % model_every == 0:
            try:
                best = best_model_version(registry_path)
            except Exception as exc:  # a locked or half-written registry: try again later
                log.warning("model registry %s unreadable: %s", registry_path, exc)
                continue
            if best is not None and best != known_best:
                runtime.notifier.emit(NoticeKind.MODEL_PROMOTED,
                                      f"model {best} promoted to best_player (was {known_best})",
                                      version=best, previous=known_best)
            known_best = best
