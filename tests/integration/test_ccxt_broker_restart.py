"""CcxtBroker across a restart and through errors around cancels, against the simulator over
real sockets, with a real SQLite ledger.

Faults are the simulator's own (`limiter.fail_next` answers 5xx or 429 before the request is
processed), so the real ccxt client sees real HTTP status codes. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

import ccxt
import pytest

from bot.app.live import restore_known_trades
from bot.config import SimConfig
from exchange.brokers.ccxt import CcxtBroker, LivePolicy
from exchange.brokers.ccxt_client import (
    LOCAL_RATE_LIMIT_MS,
    RequestGate,
    is_loopback,
    make_exchange,
)
from exchange.brokers.ccxt_errors import is_transient
from exchange.sim.auth import ApiCredentials
from exchange.sim.server import SimExchange
from model.fills import FillParams
from model.instruments import Side
from model.orders import (
    Canceled,
    Filled,
    OrderEvent,
    OrderRequest,
    OrderType,
    PartiallyFilled,
)
from state.ledger import Ledger
from tests.waiting import async_wait_until

START_MS = 1_700_000_040_000
# params="": the old generator trades through a resting bid within minutes, so the partial
# fills these broker tests count come on cue; the calibrated market can stay away for hours.
CONFIG = SimConfig(coins=6, history_days=1, seed=13, speed=3000.0, params="")
KEY, SECRET = "r" * 64, "t" * 64
SYMBOL = "BTCUSDT"
# A tiny share of each bar's volume: a resting order fills a little per minute, so it is
# partly filled for many minutes (the state a restart must handle). Both caps: a trade
# through the price would otherwise fill it whole.
TRICKLE = FillParams(max_volume_share=0.00002, through_volume_share=0.00002)


def new_broker(sim: SimExchange, poll_interval_s: float = 0.05) -> CcxtBroker:
    exchange = make_exchange("binance", KEY, SECRET, rest_url=sim.rest_url, rate_limit_ms=5)
    return CcxtBroker(exchange, sim.instruments, gate=RequestGate(100),
                      policy=LivePolicy(poll_interval_s=poll_interval_s, backoff_initial_s=0.05))


class Session:
    """One broker life: its events go straight into the ledger, as the trader does."""

    def __init__(self, broker: CcxtBroker, ledger: Ledger) -> None:
        self.broker, self.ledger = broker, ledger
        self.events: list[OrderEvent] = []
        broker.listener = self.record
        self._worker: asyncio.Task[None] | None = None

    def record(self, events: list[OrderEvent]) -> None:
        self.events.extend(events)
        with self.ledger.batch():  # a trade id twice raises here, as in the daemon
            for event in events:
                self.ledger.record(event)

    async def __aenter__(self) -> Self:
        await self.broker.start()
        return self

    def run(self) -> None:
        self._worker = asyncio.create_task(self.broker.run())

    async def drain(self) -> None:
        """`broker.drain()`, but a broker task that died (say, the ledger refused a trade
        reported twice) raises its error here instead of a timeout."""
        assert self._worker is not None
        drained = asyncio.ensure_future(self.broker.drain())
        await asyncio.wait({drained, self._worker}, return_when=asyncio.FIRST_COMPLETED)
        if self._worker.done():
            drained.cancel()
            self._worker.result()
        await drained

    async def __aexit__(self, *exc: object) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        await self.broker.close()

    def fills(self, client_order_id: str) -> list[PartiallyFilled | Filled]:
        return [e for e in self.events if isinstance(e, (PartiallyFilled, Filled))
                and e.client_order_id == client_order_id]


def with_sim(test: Callable[[SimExchange, Ledger], Awaitable[Any]], tmp_path: Path,
             fill_params: FillParams | None = None) -> Any:
    async def main() -> Any:
        async with SimExchange(CONFIG, start_ms=START_MS, autorun=False) as sim:
            sim.orders.open_account(ApiCredentials(KEY, SECRET), {"USDT": Decimal(100_000)},
                                    fill_params)
            instruments = {i.symbol: i for i in sim.instruments}
            with Ledger.open(tmp_path / "ledger.sqlite", instruments=instruments) as ledger:
                return await test(sim, ledger)

    return asyncio.run(asyncio.wait_for(main(), 60))


def resting_buy(sim: SimExchange, broker: CcxtBroker, amount: str,
                price: Decimal | None = None) -> OrderRequest:
    stats = sim.ticker_stats(sim.symbol_index(SYMBOL))
    request = OrderRequest(broker.next_client_order_id(), SYMBOL, Side.BUY, OrderType.LIMIT,
                           Decimal(amount), price or Decimal(f"{stats.bid:.2f}"),
                           sim.now_ms)
    assert broker.submit(request) == []
    return request


def exchange_trade_ids(sim: SimExchange) -> list[str]:
    return [str(t.trade_id) for t in sim.orders.accounts[KEY].trades]


def test_restart_with_a_partly_filled_order_reports_only_its_new_trades(tmp_path: Path) -> None:
    """Given an order partly filled before a restart, when it fills further after the
    restart, then only the new trades are reported: no trade twice, and the ledger's filled
    amount equals the exchange's when the rest is cancelled."""

    async def check(sim: SimExchange, ledger: Ledger) -> None:
        async with Session(new_broker(sim), ledger) as first:
            first.run()
            # At the bid and far larger than a trickle: it fills a bit each minute the market
            # trades through its price.
            request = resting_buy(sim, first.broker, "0.5")
            ledger.record(request)
            for _ in range(40):
                await sim.step(1)
                await first.broker.drain()
                await first.broker.poll_once()
                if len(first.fills(request.client_order_id)) >= 2:
                    break
            before = first.fills(request.client_order_id)
            assert len(before) >= 2 and all(isinstance(f, PartiallyFilled) for f in before)
            # More trades happen while the daemon is down.
            await sim.step(2)

        row = ledger.order(request.client_order_id)
        assert row is not None and row.status == "PARTIALLY_FILLED"
        async with Session(new_broker(sim), ledger) as second:
            second.broker.restore_open_order(request, row.amount - row.filled)
            assert restore_known_trades(ledger, second.broker) == len(before)
            second.run()
            for _ in range(60):
                await second.drain()
                await second.broker.poll_once()
                if len(second.fills(request.client_order_id)) >= 3:
                    break
                await sim.step(1)
            after = second.fills(request.client_order_id)
            second.broker.cancel(request.client_order_id, sim.now_ms)
            await second.drain()
            canceled = [e for e in second.events if isinstance(e, Canceled)]

        reported = [f.trade_id for f in before + after]
        assert len(after) >= 3, "the order did not trade after the restart"
        assert len(reported) == len(set(reported)), "a trade was reported twice"
        assert sorted(reported, key=int) == exchange_trade_ids(sim)
        on_exchange = sim.orders.accounts[KEY].orders[0]
        final = ledger.order(request.client_order_id)
        assert final is not None and final.status == "CANCELED"
        assert final.filled == on_exchange.executed_qty == sum(f.amount for f in before + after)
        assert [e.remaining for e in canceled] == [Decimal("0.5") - on_exchange.executed_qty]

    with_sim(check, tmp_path, TRICKLE)


def test_cancel_whose_followup_requests_fail_is_still_reported(tmp_path: Path) -> None:
    """Given a resting order, when the cancel goes through but every request after it
    (order lookup, balances) first meets a 5xx, then Canceled still reaches the ledger and
    the balances come back."""

    async def check(sim: SimExchange, ledger: Ledger) -> None:
        async with Session(new_broker(sim, poll_interval_s=60.0), ledger) as session:
            session.run()
            request = resting_buy(sim, session.broker, "0.01", Decimal("1000.00"))
            ledger.record(request)
            await session.broker.drain()
            limiter = sim.orders.limiter
            for status in (None, 503, 500, 502, 503):  # the DELETE passes, then errors
                session.broker.cancel(request.client_order_id, sim.now_ms) if status is None \
                    else limiter.fail_next(status)
            await session.broker.drain()
            await async_wait_until(lambda: any(isinstance(e, Canceled) for e in session.events),
                                   2.0, what="Canceled")
        assert sim.orders.accounts[KEY].orders[0].status == "CANCELED"
        canceled = [e for e in session.events if isinstance(e, Canceled)]
        assert [(e.client_order_id, e.remaining) for e in canceled] == [
            (request.client_order_id, Decimal("0.01"))]
        row = ledger.order(request.client_order_id)
        assert row is not None and row.status == "CANCELED"
        assert session.broker.balances()["USDT"] == Decimal(100_000)

    with_sim(check, tmp_path)


def test_cancel_queued_behind_an_interrupted_place_is_still_sent(tmp_path: Path) -> None:
    """Given an order whose acknowledgement could not be recorded (the balance read after
    the create kept failing, so its place command went back in the queue), when a cancel
    for it was already queued, then the cancel waits for the acknowledgement and is sent:
    the order ends CANCELED on the exchange and in the ledger."""

    async def check(sim: SimExchange, ledger: Ledger) -> None:
        broker = new_broker(sim, poll_interval_s=60.0)
        broker.policy = LivePolicy(poll_interval_s=60.0, backoff_initial_s=0.01,
                                   max_place_attempts=2)
        async with Session(broker, ledger) as session:
            account = sim.orders.accounts[KEY]

            def fail_after_create(*_: object) -> None:
                # Runs inside the POST that created the order: the next two requests
                # (the balance read and its one retry) get a 503.
                if len(account.orders) == 1 and account.orders[0].status == "NEW":
                    account.listeners.remove(fail_after_create)
                    sim.orders.limiter.fail_next(503, 2)

            account.listeners.append(fail_after_create)
            request = resting_buy(sim, broker, "0.01", Decimal("1000.00"))
            ledger.record(request)
            broker.cancel(request.client_order_id, sim.now_ms)  # queued behind the place
            session.run()
            await asyncio.sleep(0.05)
            await broker.drain()
            await async_wait_until(lambda: any(isinstance(e, Canceled) for e in session.events),
                                   2.0, what="Canceled")
        assert [o.status for o in sim.orders.accounts[KEY].orders] == ["CANCELED"]
        row = ledger.order(request.client_order_id)
        assert row is not None and row.status == "CANCELED"

    with_sim(check, tmp_path)


@pytest.mark.parametrize(("error", "transient"), [
    (ccxt.ExchangeError('binance {"code":-1001,"msg":"Internal error; unable to process '
                        'your request. Please try again."}'), True),
    (ccxt.ExchangeError('binance {"code": -1000, "msg": "An unknown error occurred."}'), True),
    (ccxt.ExchangeNotAvailable("binance GET ... 502 Bad Gateway <html>"), True),
    (ccxt.OperationFailed('binance {"code":-1000,"msg":"unknown"}'), True),
    (ccxt.InvalidOrder('binance {"code":-1013,"msg":"Filter failure: LOT_SIZE"}'), False),
    (ccxt.InsufficientFunds('binance {"code":-2010,"msg":"insufficient balance"}'), False),
    (ccxt.ExchangeError('binance {"code":-2015,"msg":"Invalid API-key"}'), False),
])
def test_exchange_unknown_error_codes_are_retried_not_final(error: Exception,
                                                            transient: bool) -> None:
    assert is_transient(error) is transient


@pytest.mark.parametrize(("url", "expected_ms"), [
    ("http://127.0.0.1:8123", LOCAL_RATE_LIMIT_MS),
    ("http://localhost:8123", LOCAL_RATE_LIMIT_MS),
    ("http://[::1]:8123", LOCAL_RATE_LIMIT_MS),
    ("https://api.binance.com", None),
    (None, None),
])
def test_loopback_servers_get_a_short_ccxt_spacing(url: str | None,
                                                   expected_ms: int | None) -> None:
    """A local simulator enforces its own limit; ccxt's 50 ms spacing for Binance would
    only slow reconciliation. The real exchange keeps ccxt's default."""
    exchange = make_exchange("binance", KEY, SECRET, rest_url=url)
    try:
        default_ms = make_exchange("binance", KEY, SECRET).rateLimit
        assert exchange.rateLimit == (expected_ms if expected_ms is not None else default_ms)
        assert is_loopback(url or "https://api.binance.com") is (expected_ms is not None)
    finally:
        asyncio.run(exchange.close())
