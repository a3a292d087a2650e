"""Live health for the operator: what the start's reconciliation did, how the market stream
is doing, how the exchange is treating the broker, and which orders the exchange refused.

`status` and `health` (bot/ops/commands.py, bot/ops/commands_report.py) take their live sections
from here, and the CLI and Telegram render them with `live_lines`, so every surface shows
the same figures. The module reads the daemon's parts (`recovery`, `stream_watch`,
`live_broker`, `trader.order_failures`) duck-typed and imports nothing from ccxt: the command
layer must load fast in the CLI and in paper mode.

`OrderFailures` is where a live broker's `CommandFailed` events land (the broker's
`on_command_failed` hook, wired by bot/app/live_health.py): each one becomes an `ORDER_FAILED`
notice (Telegram) and a counter in status.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exchange.brokers.failures import CommandFailed
from trading.notices import NoticeKind, Notifier

log = logging.getLogger(__name__)

RECENT_FAILURES = 5  # the newest failures status shows in full


@dataclass(frozen=True, slots=True)
class OrderFailure:
    """One order the exchange refused, or one cancel it failed; `detail` is its words."""

    kind: str  # "rejected" (a create given up on) or "cancel_failed"
    client_order_id: str
    symbol: str
    reason: str  # the ccxt error class (or the broker's word, e.g. NotReceived)
    detail: str
    ts_ms: int
    retryable: bool  # the exchange never refused it: the same command may work later


class OrderFailures:
    """Counts the live broker's non-retryable failures and tells the operator of each.

    The broker only logged them; an operator reading Telegram or `entasis status` never
    learned that an order was refused for lack of funds, or that a cancel did not happen
    (which leaves the order working on the exchange)."""

    def __init__(self, notifier: Callable[[], Notifier | None]) -> None:
        """`notifier` is asked at each failure for the daemon's notifier (None: count only)."""
        self._notifier = notifier
        self.rejected = 0
        self.cancel_failed = 0
        self.by_reason: dict[str, int] = {}
        self.recent: deque[OrderFailure] = deque(maxlen=RECENT_FAILURES)

    def command_failed(self, failed: CommandFailed) -> None:
        """The broker gave up on a create or a cancel (its `on_command_failed` hook)."""
        if failed.command == "create":
            self.rejected += 1
            what, advice = (
                ("not placed", "check the exchange's status and the network") if failed.retryable
                else ("rejected by the exchange",
                      "check the account's balance and the symbol's trading rules"))
            text = (f"order {failed.client_order_id} {failed.symbol} {what} ({failed.error_class}: "
                    f"{failed.message.rstrip('.')}). Nothing was placed; if this repeats, {advice}")
            kind = "rejected"
        else:
            self.cancel_failed += 1
            if failed.retryable:
                text = (f"cancel of {failed.client_order_id} {failed.symbol} FAILED "
                        f"({failed.error_class}: {failed.message}): the exchange did not answer "
                        "through every retry. The order is still working; the daemon may ask "
                        "for the cancel again, or cancel it on the exchange by hand")
            else:
                text = (f"cancel of {failed.client_order_id} {failed.symbol} FAILED "
                        f"({failed.error_class}: {failed.message}). The order may still be "
                        "working on the exchange and the daemon will not cancel it again: "
                        "cancel it on the exchange by hand (check the API key's permissions), "
                        "then restart the daemon so reconciliation books what happened")
            kind = "cancel_failed"
        self._add(OrderFailure(kind, failed.client_order_id, failed.symbol, failed.error_class,
                               failed.message, failed.ts_ms, failed.retryable), text)

    def _add(self, failure: OrderFailure, text: str) -> None:
        self.by_reason[failure.reason] = self.by_reason.get(failure.reason, 0) + 1
        self.recent.append(failure)
        notifier = self._notifier()
        if notifier is None:
            return
        try:  # called from the broker's listener: a failure here must not stop the broker
            notifier.emit(NoticeKind.ORDER_FAILED, text, failure.ts_ms, failure=failure.kind,
                          client_order_id=failure.client_order_id, symbol=failure.symbol,
                          reason=failure.reason, detail=failure.detail,
                          retryable=failure.retryable)
        except Exception:
            log.exception("could not publish the ORDER_FAILED notice: %s", text)

    def to_dict(self) -> dict[str, Any]:
        """Counters and the newest failures, as plain data for status."""
        return {"rejected": self.rejected, "cancel_failed": self.cancel_failed,
                "by_reason": dict(sorted(self.by_reason.items())),
                "recent": [dataclasses.asdict(f) for f in self.recent]}


# --- status and health -------------------------------------------------------------------------
def broker_health(broker: Any) -> dict[str, Any]:
    """The live broker's dealings with the exchange: requests, errors by class, retries,
    rate-limit back-offs (and whether one is in force now), and its own counters."""
    gate = broker.gate
    left_s = float(gate.paused_s)
    counters = dict(broker.stats)
    return {
        "requests": gate.requests,
        "errors": dict(sorted(gate.errors.items())),
        "retries": counters.get("create_retries", 0),
        "lookups": counters.get("lookups", 0),
        "back_offs": int(gate.rate_limited),
        "rate_limited_now": left_s > 0,
        "back_off_left_s": round(left_s, 1),
        "open_orders": len(broker.open_orders()),
        "counters": counters,
    }


def stream_health(watch: Any) -> dict[str, Any]:
    """The stream watch's state (bot/app/staleness.py) as plain data, with `stale_now`."""
    stats = watch.stats()
    found = dataclasses.asdict(stats)
    found["state"] = stats.state.value
    found["stale_now"] = stats.state.value == "STALE"
    found["entries_paused"] = watch.paused_reason is not None
    found["paused_s"] = round(stats.paused_s, 1)
    return found


def live_status(rt: Any) -> dict[str, Any]:
    """The status command's live-health section (None where a part does not run)."""
    recovery = getattr(rt, "recovery", None)
    watch = getattr(rt, "stream_watch", None)
    broker = getattr(rt, "live_broker", None)
    failures = getattr(getattr(rt, "trader", None), "order_failures", None)
    return {
        "recovery": recovery.to_dict() if recovery is not None else None,
        "stream": stream_health(watch) if watch is not None else None,
        "broker": broker_health(broker) if broker is not None else None,
        "order_failures": failures.to_dict() if failures is not None else None,
    }


def live_checks(live: dict[str, Any]) -> list[dict[str, Any]]:
    """Health checks from `live_status`: reconciliation done, stream not stale, broker not
    rate-limited, no cancel that failed. Refused orders are reported, not failed on."""
    checks: list[dict[str, Any]] = []
    recovery = live["recovery"]
    if recovery is not None:
        checks.append({"name": "reconciliation", "ok": bool(recovery["ok"]),
                       "detail": _recovery_text(recovery)})
    stream = live["stream"]
    if stream is not None:
        checks.append({"name": "stream", "ok": not stream["stale_now"],
                       "detail": _stream_text(stream)})
    broker = live["broker"]
    if broker is not None:
        checks.append({"name": "broker", "ok": not broker["rate_limited_now"],
                       "detail": _broker_text(broker)})
    failures = live["order_failures"]
    if failures is not None:
        checks.append({"name": "orders", "ok": failures["cancel_failed"] == 0,
                       "detail": _failures_text(failures)})
    return checks


def live_lines(status: dict[str, Any]) -> list[str]:
    """The live-health lines of a status answer, for the CLI and for Telegram."""
    live = status.get("live") or {}
    lines = []
    for name, part, text in (("reconciliation", "recovery", _recovery_text),
                             ("stream", "stream", _stream_text),
                             ("broker", "broker", _broker_text),
                             ("orders", "order_failures", _failures_text)):
        if live.get(part) is not None:
            lines.append(f"{name}: {text(live[part])}")
    return lines


def _recovery_text(r: dict[str, Any]) -> str:
    if not r["ok"]:
        return "REFUSED: " + "; ".join(f"{p['kind']} {p['subject']}" for p in r["problems"])
    return (f"ok, {r['events']} event(s) written: {len(r['adopted'])} adopted, "
            f"{len(r['lost'])} lost, {len(r['fills'])} fills, {len(r['closed'])} closed; "
            f"balances set: {', '.join(r['balance_fixes']) or 'none'}")


def _stream_text(s: dict[str, Any]) -> str:
    state = ("STALE now: polling REST, new entries paused" if s["stale_now"] else
             "recovering: entries still paused" if s["entries_paused"] else "live")
    return (f"{state} · {s['stale_episodes']} stale episode(s) · {s['rest_polls']} REST polls "
            f"({s['rest_poll_errors']} failed) · {s['steps_paused']} steps paused · "
            f"{s['entries_held']} entries held")


def _broker_text(b: dict[str, Any]) -> str:
    errors = ", ".join(f"{k} {v}" for k, v in b["errors"].items()) or "none"
    limited = (f"RATE-LIMITED now ({b['back_off_left_s']} s left)" if b["rate_limited_now"]
               else "not rate-limited")
    requests = "?" if b["requests"] is None else b["requests"]
    return (f"{requests} requests · errors: {errors} · {b['retries']} create retries · "
            f"{b['lookups']} lookups · {b['back_offs']} rate-limit back-offs · {limited}")


def _failures_text(f: dict[str, Any]) -> str:
    reasons = ", ".join(f"{k} {v}" for k, v in f["by_reason"].items())
    text = (f"{f['rejected']} rejected, {f['cancel_failed']} cancel(s) failed"
            + (f" ({reasons})" if reasons else ""))
    if f["recent"]:
        last = f["recent"][-1]
        text += f"; last: {last['kind']} {last['client_order_id']} {last['symbol']}: {last['reason']}"
    return text
