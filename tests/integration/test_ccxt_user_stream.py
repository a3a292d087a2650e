"""CcxtBroker's fills from the user data stream, against the simulator over real sockets.

The simulator's own listenKey endpoints and `/ws/<listenKey>` socket serve the stream; the
real ccxt client places orders. A middleware counts every REST request the broker makes, so
"no REST order poll" is measured, not assumed. Outages are real too: the socket is aborted
by the simulator and the listenKey endpoint answers 503 while a test keeps the stream down.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

from bot.config import SimConfig
from exchange.brokers.ccxt import CcxtBroker, LivePolicy
from exchange.brokers.ccxt_client import RequestGate, make_exchange
from exchange.brokers.ccxt_stream import BALANCE_WAIT_S
from exchange.sim.account import Execution, SimAccount
from exchange.sim.auth import ApiCredentials
from exchange.sim.chaos import Chaos, ChaosConfig
from exchange.sim.server import SimExchange
from exchange.sim.user_stream import execution_report
from model.fills import FillParams
from model.instruments import Side
from model.orders import Filled, OrderEvent, OrderRequest, OrderType, PartiallyFilled
from tests.waiting import async_wait_until

START_MS = 1_700_000_040_000
# params="": the old generator trades through a resting bid within minutes, so the partial
# fills these broker tests count come on cue; the calibrated market can stay away for hours.
CONFIG = SimConfig(coins=6, history_days=1, seed=13, speed=3000.0, params="")
KEY, SECRET = "u" * 64, "v" * 64
SYMBOL = "BTCUSDT"
ORDER_POLLS = ("/api/v3/openOrders", "/api/v3/myTrades", "GET /api/v3/order")
LISTEN_KEY_PATH = "/api/v3/userDataStream"


class Rig:
    """A simulator, a funded account, a streaming broker, and the REST requests it made."""

    def __init__(self, sim: SimExchange, broker: CcxtBroker, requests: Counter[str]) -> None:
        self.sim, self.broker, self.requests = sim, broker, requests
        self.events: list[OrderEvent] = []
        self.refuse_listen_keys = False
        self.chaos: Chaos | None = None
        broker.listener = self.events.extend

    @property
    def account(self) -> SimAccount:
        return self.sim.orders.accounts[KEY]

    def order_polls(self) -> int:
        return sum(self.requests[name] for name in ORDER_POLLS)

    def buy(self, amount: str, price: Decimal | None = None) -> OrderRequest:
        if price is None:
            stats = self.sim.ticker_stats(self.sim.symbol_index(SYMBOL))
            price = Decimal(f"{stats.bid:.2f}")
        request = OrderRequest(self.broker.next_client_order_id(), SYMBOL, Side.BUY,
                               OrderType.LIMIT, Decimal(amount), price, self.sim.now_ms)
        assert self.broker.submit(request) == []
        return request

    def fills(self) -> list[PartiallyFilled | Filled]:
        return [e for e in self.events if isinstance(e, (PartiallyFilled, Filled))]

    async def until(self, condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
        await async_wait_until(condition, timeout_s)

    async def stream_caught_up(self) -> None:
        """The stream is subscribed and its first catch-up poll is done."""
        await self.until(lambda: self.sim.orders.streams.connected(KEY) == 1
                         and self.broker.stats["stream_catchups"] >= 1
                         and not self.broker._catch_up)

    async def fill_on_exchange(self, trades: int, max_minutes: int = 60) -> None:
        """Play market minutes until the account has `trades` trades."""
        for _ in range(max_minutes):
            if len(self.account.trades) >= trades:
                return
            await self.sim.step(1)
        raise AssertionError(f"only {len(self.account.trades)} trades after {max_minutes} min")

    def assert_every_trade_once(self) -> None:
        theirs = sorted(str(t.trade_id) for t in self.account.trades)
        ours = sorted(f.trade_id for f in self.fills())
        assert ours == theirs, f"ledger trades {ours} != exchange trades {theirs}"
        amounts = {str(t.trade_id): t.qty for t in self.account.trades}
        assert all(f.amount == amounts[f.trade_id] for f in self.fills())


def run(test: Callable[[Rig], Awaitable[Any]], *, poll_interval_s: float = 0.05,
        safety_poll_s: float = 3600.0, chaos: ChaosConfig | None = None,
        fill_params: FillParams | None = None) -> Any:
    async def main() -> Any:
        requests: Counter[str] = Counter()
        rig_box: list[Rig] = []

        @web.middleware
        async def count(request: web.Request, handler: Any) -> web.StreamResponse:
            name = request.path if request.method != "GET" or request.path != "/api/v3/order" \
                else "GET /api/v3/order"
            requests[name] += 1
            if request.path == LISTEN_KEY_PATH and rig_box and rig_box[0].refuse_listen_keys:
                return web.Response(status=503, text="down for the test")
            return await handler(request)

        sim = SimExchange(CONFIG, start_ms=START_MS, autorun=False)
        chaos_on = Chaos(sim, chaos) if chaos is not None else None
        sim.middlewares.append(count)
        async with sim:
            sim.orders.open_account(ApiCredentials(KEY, SECRET), {"USDT": Decimal(10_000)},
                                    fill_params)
            exchange = make_exchange("binance", KEY, SECRET, rest_url=sim.rest_url,
                                     rate_limit_ms=5)
            policy = LivePolicy(poll_interval_s=poll_interval_s, backoff_initial_s=0.05,
                                backoff_max_s=0.3, stream_silent_after_s=2.0,
                                stream_safety_poll_s=safety_poll_s)
            broker = CcxtBroker(exchange, sim.instruments, gate=RequestGate(100), policy=policy)
            broker.use_user_stream(sim.ws_url)
            await broker.start()
            rig = Rig(sim, broker, requests)
            rig.chaos = chaos_on
            rig_box.append(rig)
            worker = asyncio.create_task(broker.run())
            try:
                await rig.stream_caught_up()
                return await test(rig)
            finally:
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)
                await broker.close()

    return asyncio.run(asyncio.wait_for(main(), 60))


def test_fill_arrives_over_the_stream_without_any_rest_order_poll() -> None:
    async def check(rig: Rig) -> None:
        polls_before, order_polls_before = rig.broker.stats["polls"], rig.order_polls()
        rig.buy("0.01")
        await rig.broker.drain()
        await rig.fill_on_exchange(1)
        await rig.until(lambda: any(isinstance(e, Filled) for e in rig.events))

        assert rig.order_polls() == order_polls_before, rig.requests
        assert rig.broker.stats["polls"] == polls_before
        assert rig.broker.stats["stream_events"] >= 3  # NEW, TRADE, balances
        assert rig.broker.stats["stream_malformed"] == 0  # the sim's frames all read
        assert [type(e).__name__ for e in rig.events] == ["Accepted", "Filled"]
        rig.assert_every_trade_once()
        await rig.until(lambda: not rig.broker._held)
        totals = {a: f + lk for a, (f, lk) in rig.account.balances().items()}
        assert {a: rig.broker.balances()[a] for a in totals} == totals  # from the stream
        assert rig.broker.open_orders() == []

    run(check)


def test_dropped_stream_is_caught_up_over_rest_on_reconnect_without_loss_or_duplicate() -> None:
    async def check(rig: Rig) -> None:
        first, second = rig.buy("0.01"), rig.buy("0.02")
        await rig.broker.drain()
        rig.refuse_listen_keys = True  # the stream stays down until the test lets it up
        rig.sim.orders.streams.drop_all()
        await rig.until(lambda: not rig.broker.user_stream.connected)
        await rig.fill_on_exchange(2)  # both fill while nobody listens
        await asyncio.sleep(0.3)
        assert rig.fills() == [], "only REST can know these fills yet"  # poll interval 30 s
        catch_ups = rig.broker.stats["stream_catchups"]

        rig.refuse_listen_keys = False
        await rig.until(lambda: len({f.client_order_id for f in rig.fills()
                                     if isinstance(f, Filled)}) == 2)
        assert rig.broker.stats["stream_catchups"] == catch_ups + 1
        assert rig.broker.user_stream.reconnects >= 1
        third = rig.buy("0.01")  # after the reconnect, fills come over the stream again
        await rig.broker.drain()
        polls = rig.broker.stats["polls"]
        await rig.fill_on_exchange(3)
        await rig.until(lambda: third.client_order_id in {f.client_order_id for f in rig.fills()})
        assert rig.broker.stats["polls"] == polls
        rig.assert_every_trade_once()
        assert {first.client_order_id, second.client_order_id} <= {
            f.client_order_id for f in rig.fills()}

    run(check, poll_interval_s=30.0)


def test_stream_and_rest_seeing_the_same_trades_apply_each_once() -> None:
    async def check(rig: Rig) -> None:
        orders = [rig.buy("0.01"), rig.buy("0.02"), rig.buy("0.03")]
        await rig.broker.drain()
        await rig.fill_on_exchange(3)
        done = {o.client_order_id for o in orders}
        await rig.until(lambda: {f.client_order_id for f in rig.fills()
                                 if isinstance(f, Filled)} == done)
        await asyncio.sleep(0.3)  # more polls and stream frames: nothing new may appear
        assert rig.broker.stats["polls"] >= 5  # REST polled all along (safety poll 0.05 s)
        rig.assert_every_trade_once()

    run(check, safety_poll_s=0.05)


def test_trades_rest_reported_while_the_stream_was_down_are_not_applied_again_by_it() -> None:
    async def check(rig: Rig) -> None:
        sent: list[Execution] = []
        rig.account.listeners.append(lambda executions, _assets, _ts: sent.extend(
            e for e in executions if e.kind == "TRADE"))
        request = rig.buy("0.05")
        await rig.broker.drain()
        rig.refuse_listen_keys = True
        rig.sim.orders.streams.drop_all()
        await rig.until(lambda: not rig.broker.user_stream.connected)
        polls = rig.broker.stats["polls"]
        await rig.fill_on_exchange(3)  # partial fills, polled over REST while the stream is down
        await rig.until(lambda: len(rig.fills()) >= 3)
        assert rig.broker.stats["polls"] > polls and rig.broker.stats["stream_silent"]
        assert isinstance(rig.fills()[0], PartiallyFilled)

        rig.refuse_listen_keys = False
        await rig.stream_caught_up()
        events = rig.broker.user_stream.events
        for execution in sent:  # the exchange delivers them again (a replay after reconnect)
            rig.sim.orders.streams.publish(KEY, execution_report(execution, rig.sim.now_ms))
        await rig.until(lambda: rig.broker.user_stream.events == events + len(sent))
        await async_wait_until(lambda: not rig.broker._held, BALANCE_WAIT_S + 0.3,
                               what="the held stream events released")
        rig.assert_every_trade_once()
        assert {f.client_order_id for f in rig.fills()} == {request.client_order_id}

    # Partial fills: a tiny share of the volume, touched or traded through.
    run(check, fill_params=FillParams(max_volume_share=0.0002, through_volume_share=0.0002))


def test_malformed_stream_frame_is_logged_and_the_stream_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    async def check(rig: Rig) -> None:
        polls = rig.broker.stats["polls"]
        with caplog.at_level(logging.WARNING, logger="exchange.brokers.user_stream"):
            assert rig.sim.orders.streams.publish_raw(KEY, b'{"e":"executionReport","s":') == 1
            await rig.until(lambda: rig.broker.user_stream.malformed == 1)
        warning = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
        assert warning and "user data stream: not JSON" in warning[0], caplog.text
        await rig.until(lambda: rig.broker.stats["polls"] == polls + 1)  # it may have been a fill
        assert rig.broker.user_stream.connected and rig.broker.user_stream.reconnects == 0

        order_polls = rig.order_polls()
        rig.buy("0.01")
        await rig.broker.drain()
        await rig.fill_on_exchange(1)
        await rig.until(lambda: any(isinstance(e, Filled) for e in rig.events))
        assert rig.order_polls() == order_polls  # still from the stream
        rig.assert_every_trade_once()

    run(check)


def test_stream_fill_before_the_delayed_acknowledgement_follows_its_accepted() -> None:
    async def check(rig: Rig) -> None:
        ask = rig.sim.ticker_stats(rig.sim.symbol_index(SYMBOL)).ask
        request = rig.buy("0.01", Decimal(f"{ask * 1.01:.2f}"))  # marketable: fills at once
        await rig.until(lambda: rig.broker._early.get(request.client_order_id))  # stream first
        await rig.broker.drain()
        await rig.until(lambda: any(isinstance(e, Filled) for e in rig.events))
        assert [type(e).__name__ for e in rig.events] == ["Accepted", "Filled"]
        assert rig.requests["/api/v3/myTrades"] == 0  # the stream's trade, not REST's
        rig.assert_every_trade_once()

    run(check, chaos=ChaosConfig(ack_delay_s=0.3))


def test_garbled_stream_frames_hide_no_fill() -> None:
    async def check(rig: Rig) -> None:
        assert rig.chaos is not None
        orders = [rig.buy("0.01"), rig.buy("0.02"), rig.buy("0.03"), rig.buy("0.04")]
        await rig.broker.drain()
        await rig.fill_on_exchange(4)
        done = {o.client_order_id for o in orders}
        await rig.until(lambda: {f.client_order_id for f in rig.fills()
                                 if isinstance(f, Filled)} == done)
        assert rig.chaos.counts.user_malformed >= 2  # some fills' frames were garbled ...
        assert rig.broker.user_stream.malformed == rig.chaos.counts.user_malformed
        assert rig.broker.stats["stream_catchups"] >= 2  # ... and caught up over REST
        rig.assert_every_trade_once()

    run(check, chaos=ChaosConfig(seed=11, user_malformed_share=0.4))
