"""The live-health pieces without a daemon: which cancel errors are final, how the broker's
`CommandFailed` events are counted and told, and how status renders a paper daemon (no
broker) and a troubled one."""

from __future__ import annotations

import ccxt
import pytest

from bot.app.live_status import OrderFailures, live_checks, live_lines
from exchange.brokers.ccxt_errors import exchange_message, is_final_cancel_error
from exchange.brokers.failures import CommandFailed, redacted
from trading.notices import Notice, NoticeKind, Notifier


@pytest.mark.parametrize(("error", "final"), [
    (ccxt.OrderNotFound("binance -2011 Unknown order sent."), False),  # reconciled: it closed
    (ccxt.NetworkError("connection reset"), False),  # retried by the broker
    (ccxt.RequestTimeout("timed out"), False),
    (ccxt.DDoSProtection("429"), False),  # global back-off, then sent again
    (ccxt.ExchangeError('binance {"code":-1001,"msg":"Internal error"}'), False),
    (ccxt.AuthenticationError('binance {"code":-1022,"msg":"Signature ..."}'), True),
    (ccxt.PermissionDenied("key may not trade"), True),
    (ccxt.InvalidOrder("cancel refused"), True),
    (ValueError("not an exchange answer"), False),
])
def test_only_errors_the_broker_gives_up_on_are_cancel_failures(error: Exception,
                                                                 final: bool) -> None:
    assert is_final_cancel_error(error) is final


def test_refusals_are_counted_by_reason_and_told_once_each() -> None:
    notifier = Notifier()
    seen: list[Notice] = []
    notifier.subscribe(seen.append)
    failures = OrderFailures(lambda: notifier)
    failures.command_failed(CommandFailed("E-1", "BTCUSDT", "create", "InsufficientFunds",
                                          "Account has insufficient balance.", False, 11))
    failures.command_failed(CommandFailed("E-2", "ETHUSDT", "cancel", "PermissionDenied",
                                          "no trade right", False, 42))
    failures.command_failed(CommandFailed("E-3", "ETHUSDT", "cancel", "RequestTimeout",
                                          "timed out", True, 43))
    summary = failures.to_dict()
    assert (summary["rejected"], summary["cancel_failed"]) == (1, 2)
    assert summary["by_reason"] == {"InsufficientFunds": 1, "PermissionDenied": 1,
                                    "RequestTimeout": 1}
    assert [(n.kind, n.data["failure"], n.data["retryable"], n.ts_ms) for n in seen] == [
        (NoticeKind.ORDER_FAILED, "rejected", False, 11),
        (NoticeKind.ORDER_FAILED, "cancel_failed", False, 42),
        (NoticeKind.ORDER_FAILED, "cancel_failed", True, 43)]
    assert "(InsufficientFunds: Account has insufficient balance). Nothing was placed" in seen[0].text
    assert "cancel it on the exchange by hand" in seen[1].text and "will not" in seen[1].text
    assert "may ask for the cancel again" in seen[2].text


def test_a_broken_notifier_never_reaches_the_broker() -> None:
    class Broken(Notifier):
        def emit(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("telegram queue gone")

    failures = OrderFailures(lambda: Broken())
    failures.command_failed(CommandFailed("E-3", "BTCUSDT", "cancel", "InvalidOrder", "no",
                                          False, 1))  # logged, not raised
    assert failures.cancel_failed == 1


def test_failure_messages_lose_keys_signatures_and_tokens() -> None:
    text = ('binance GET https://127.0.0.1/api/v3/order?symbol=BTCUSDT&timestamp=1&'
            'signature=abc123def "X-MBX-APIKEY": "KEY123456" Authorization: Bearer eyJ.a-b.c')
    clean = redacted(text, ["KEY123456", None, ""])
    assert "abc123def" not in clean and "KEY123456" not in clean and "eyJ" not in clean
    assert "signature=***" in clean and clean.startswith("binance GET https://127.0.0.1")
    assert len(redacted("x" * 1000)) == 300
    logged = exchange_message(ccxt.RequestTimeout(
        "binance GET http://127.0.0.1/api/v3/openOrders?timestamp=1&signature=ef211ac1 timed out"))
    assert logged.startswith("RequestTimeout: binance GET") and "ef211ac1" not in logged


def test_paper_status_shows_reconciliation_and_stream_but_no_broker() -> None:
    live = {"recovery": {"ts_ms": 1, "ok": True, "events": 1, "adopted": [], "lost": ["P-1"],
                         "fills": [], "closed": [], "balance_fixes": [], "problems": []},
            "stream": {"state": "RECOVERING", "stale_now": False, "entries_paused": True,
                       "stale_episodes": 2, "rest_polls": 5, "rest_poll_errors": 1,
                       "steps_paused": 3, "entries_held": 4, "paused_s": 9.5},
            "broker": None, "order_failures": None}
    assert live_lines({"live": live}) == [
        ("reconciliation: ok, 1 event(s) written: 0 adopted, 1 lost, 0 fills, 0 closed; "
         "balances set: none"),
        ("stream: recovering: entries still paused · 2 stale episode(s) · 5 REST polls "
         "(1 failed) · 3 steps paused · 4 entries held")]
    assert [(c["name"], c["ok"]) for c in live_checks(live)] == [
        ("reconciliation", True), ("stream", True)]


def test_a_rate_limited_broker_and_a_refused_start_fail_their_checks() -> None:
    live = {"recovery": {"ts_ms": 1, "ok": False, "events": 0, "adopted": [], "lost": [],
                         "fills": [], "closed": [], "balance_fixes": [],
                         "problems": [{"kind": "UNKNOWN_ORDER", "subject": "manual-1",
                                       "detail": "cancel it"}]},
            "stream": None,
            "broker": {"requests": 12, "errors": {"DDoSProtection": 2}, "retries": 0,
                       "lookups": 1, "back_offs": 2, "rate_limited_now": True,
                       "back_off_left_s": 1.5, "open_orders": 0, "counters": {}},
            "order_failures": {"rejected": 0, "cancel_failed": 0, "by_reason": {},
                               "recent": []}}
    checks = {c["name"]: c for c in live_checks(live)}
    assert not checks["reconciliation"]["ok"]
    assert checks["reconciliation"]["detail"] == "REFUSED: UNKNOWN_ORDER manual-1"
    assert not checks["broker"]["ok"] and "RATE-LIMITED now (1.5 s left)" in checks["broker"]["detail"]
    assert checks["orders"]["ok"] and checks["orders"]["detail"] == "0 rejected, 0 cancel(s) failed"
    assert checks["broker"]["detail"].startswith("12 requests · errors: DDoSProtection 2")
