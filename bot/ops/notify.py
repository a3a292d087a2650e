"""Operator notifications, delivery side: one message for a batch of notices, and the runtime
watcher. The notices and their hub are trading/notices.py.

`watch_runtime` is the one watcher the daemon runs as a task: it turns *changes* of slowly
moving state (feed staleness, the registry's best model) into notices, once per change.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from trading.notices import Notice, NoticeKind, Notifier

log = logging.getLogger(__name__)


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

    # Read-only properties: the daemon's own attributes are narrower types (a feed class).
    @property
    def feed(self) -> _HasHealth | None: ...
    @property
    def notifier(self) -> Notifier: ...


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
            except Exception as exc:  # noqa: BLE001  a locked or half-written registry: retry later
                log.warning("model registry %s unreadable: %s", registry_path, exc)
                continue
            if best is not None and best != known_best:
                runtime.notifier.emit(NoticeKind.MODEL_PROMOTED,
                                      f"model {best} promoted to best_player (was {known_best})",
                                      version=best, previous=known_best)
            known_best = best
