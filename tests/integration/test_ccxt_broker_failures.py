"""CcxtBroker reports each command it gives up on as exactly one `CommandFailed`, through its
`on_command_failed` hook, after the order's own events reached its listener.

Against the simulator over 127.0.0.1 with the real ccxt client; the refusals are the
exchange's own answers: a buy beyond the balance (-2010, InsufficientFunds), an order below
the exchange's minimum notional that stale local rules let through (-1013, which ccxt raises
as BadRequest), a cancel signed with a rotated secret (-1022, AuthenticationError), and a
cancel answered 503 with Binance's -1000 "unknown error" (OperationFailed) through every
retry (`limiter.fail_next`)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from exchange.brokers.failures import CommandFailed
from model.instruments import Side
from model.orders import OrderEvent, Rejected, RejectReason
from tests.integration.test_ccxt_broker import KEY, SECRET, SYMBOL, Harness, run

LOW = Decimal("1000.00")  # far below the market: a buy there rests and never fills


def watch(h: Harness) -> tuple[list[CommandFailed], list[OrderEvent | CommandFailed]]:
    """Collect the failures, and everything the broker says in the order it says it."""
    failures: list[CommandFailed] = []
    said: list[OrderEvent | CommandFailed] = []

    def listener(events: list[OrderEvent]) -> None:
        h.events.extend(events)
        said.extend(events)

    def on_failed(failure: CommandFailed) -> None:
        failures.append(failure)
        said.append(failure)

    h.broker.listener = listener
    h.broker.on_command_failed = on_failed
    return failures, said


def test_refused_creates_each_give_one_command_failed_after_their_rejection() -> None:
    async def check(h: Harness) -> None:
        failures, said = watch(h)
        broke = h.order(Side.BUY, "100")  # ~3M USDT of BTC on a 10k account
        rules = h.broker.instruments[SYMBOL]
        h.broker.instruments[SYMBOL] = replace(rules, min_notional=Decimal(0))  # stale copy
        tiny = h.order(Side.BUY, "0.00001")
        await h.settle()
        await h.settle()  # a second poll reports nothing more
        assert [(f.client_order_id, f.symbol, f.command, f.error_class, f.retryable)
                for f in failures] == [
            (broke.client_order_id, SYMBOL, "create", "InsufficientFunds", False),
            (tiny.client_order_id, SYMBOL, "create", "BadRequest", False)]
        assert "insufficient balance" in failures[0].message
        assert "MIN_NOTIONAL" in failures[1].message
        assert all(f.ts_ms > 1_600_000_000_000 for f in failures)  # wall clock, epoch ms
        # the ledger's Rejected of each order comes first, then its failure
        kinds = [(type(e).__name__, e.client_order_id) for e in said]
        assert kinds == [("Rejected", broke.client_order_id),
                         ("CommandFailed", broke.client_order_id),
                         ("Rejected", tiny.client_order_id),
                         ("CommandFailed", tiny.client_order_id)]
        reasons = [e.reason for e in said if isinstance(e, Rejected)]
        assert reasons == [RejectReason.INSUFFICIENT_FUNDS, RejectReason.MIN_NOTIONAL]
        assert h.broker.stats["create_failures"] == 2 and h.broker.stats["create_retries"] == 0
        assert h.account.orders == []

    run(check)


def test_refused_cancel_gives_one_command_failed_and_keeps_its_cancel_request() -> None:
    async def check(h: Harness) -> None:
        failures, _ = watch(h)
        request = h.order(Side.BUY, "0.01", LOW)
        await h.settle()
        h.broker.exchange.secret = "rotated" + SECRET[7:]  # the key no longer signs us in
        h.broker.cancel(request.client_order_id, h.sim.now_ms)
        await h.broker.drain()
        h.broker.cancel(request.client_order_id, h.sim.now_ms)  # asked already: not resent
        await h.broker.drain()
        assert [(f.client_order_id, f.symbol, f.command, f.error_class, f.retryable)
                for f in failures] == [
            (request.client_order_id, SYMBOL, "cancel", "AuthenticationError", False)]
        assert "-1022" in failures[0].message or "ignature" in failures[0].message
        for secret in (KEY, SECRET, h.broker.exchange.secret):
            assert secret not in failures[0].message
        # the order is still working on the exchange and keeps its cancel request, so the
        # trader's policy does not see it as a resting order to cancel again
        assert h.account.orders[0].status == "NEW"
        [still_open] = h.broker.open_orders()
        assert still_open.cancel_requested_ms is not None
        assert h.kinds(request.client_order_id) == ["Accepted"]
        assert h.broker.stats["cancel_failures"] == 1

    run(check, poll_interval_s=60.0)


def test_cancel_unanswered_through_every_retry_gives_one_retryable_failure() -> None:
    async def check(h: Harness) -> None:
        failures, _ = watch(h)
        request = h.order(Side.BUY, "0.01", LOW)
        await h.settle()
        attempts = h.broker.policy.max_cancel_attempts
        h.sim.orders.limiter.fail_next(503, attempts)
        h.broker.cancel(request.client_order_id, h.sim.now_ms)
        await h.broker.drain()
        assert [(f.client_order_id, f.command, f.retryable) for f in failures] == [
            (request.client_order_id, "cancel", True)]
        assert failures[0].error_class == "OperationFailed"  # 503 + -1000: transient
        assert h.broker.stats["cancel_retries"] == attempts - 1
        # handed back to the trader: working again, and a new cancel request goes through
        [working] = h.broker.open_orders()
        assert working.cancel_requested_ms is None and h.account.orders[0].status == "NEW"
        h.broker.cancel(request.client_order_id, h.sim.now_ms)
        await h.broker.drain()
        assert h.kinds(request.client_order_id) == ["Accepted", "Canceled"]
        assert len(failures) == 1 and h.account.orders[0].status == "CANCELED"

    run(check, poll_interval_s=60.0)
