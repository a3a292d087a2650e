"""Adapters that put every feed and broker behind one small interface, so the contract
tests in this package are written once and run against each of them.

Feeds: `BinanceFeed` and `UpbitFeed`, each against the simulator over real sockets.
Brokers: the paper broker (driven by the simulator's own closed bars) and `CcxtBroker`
(the real ccxt client against the simulator's signed order endpoints: Binance HMAC, and
Upbit JWT on KRW-BTC). Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.config import FeedConfig, SimConfig
from exchange.sim.server import SimExchange
from model.fills import FillParams
from model.instruments import Instrument, Side
from model.market import MINUTE_MS, Bar, BarHistory, Tick, TickBatch
from model.orders import OrderEvent, OrderRequest, OrderType
from tests.waiting import async_wait_until

FEED_CONFIG = FeedConfig(backfill_minutes=20, reconnect_min_s=0.02, reconnect_max_s=0.1)
QUOTE_BALANCE = Decimal(100_000_000)
FILLS = FillParams(max_volume_share=0.1, maker_fee_bps=10, taker_fee_bps=10)
BROKER_START_MS = 1_700_000_040_000
BROKER_MARKET = SimConfig(coins=3, history_days=0.05, seed=4)


# ---------------------------------------------------------------- feeds


@dataclass
class FeedRecorder:
    """What a feed delivered, in order."""

    ticks: list[Tick] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    histories: list[BarHistory] = field(default_factory=list)

    def on_batch(self, batch: TickBatch) -> None:
        from exchange.feeds.binance_parse import ticks_of

        self.ticks.extend(ticks_of(batch))

    def bar_opens(self) -> dict[str, list[int]]:
        opens: dict[str, list[int]] = {}
        for history in self.histories:
            opens.setdefault(history.symbol, []).extend(history.open_ms.tolist())
        for bar in self.bars:
            opens.setdefault(bar.symbol, []).append(bar.open_ms)
        return opens


@dataclass
class FeedHarness:
    """One feed kind against one simulator."""

    name: str
    symbols: Callable[[SimExchange], list[str]]
    build: Callable[[SimExchange, list[str], FeedRecorder], Any]
    inject: Callable[[SimExchange, bytes], None]  # a raw frame to every live connection


def _binance(sim: SimExchange, symbols: list[str], rec: FeedRecorder) -> Any:
    from exchange.feeds.binance import BinanceFeed

    return BinanceFeed(sim.rest_url, sim.ws_url, symbols, FEED_CONFIG, on_tick=rec.ticks.append,
                       on_bar=rec.bars.append, on_history=rec.histories.append,
                       clock_ms=lambda: sim.now_ms)


def _upbit(sim: SimExchange, symbols: list[str], rec: FeedRecorder) -> Any:
    from exchange.feeds.upbit import UpbitFeed
    from exchange.sim.upbit_server import WS_PATH

    return UpbitFeed(sim.rest_url, sim.ws_url + WS_PATH, symbols, FEED_CONFIG,
                     on_tick=rec.ticks.append, on_bar=rec.bars.append,
                     on_history=rec.histories.append, clock_ms=lambda: sim.now_ms,
                     request_interval_s=0.0)


def _inject_binance(sim: SimExchange, frame: bytes) -> None:
    for connection in sim.hub.connections:
        connection.push(frame)


FEEDS = {
    "binance-sim": FeedHarness("binance-sim", lambda sim: list(sim.symbols), _binance,
                               _inject_binance),
    "upbit-sim": FeedHarness("upbit-sim", lambda sim: list(sim.upbit.codes), _upbit,
                             lambda sim, frame: sim.upbit.push_raw(frame)),
}


async def until(predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    await async_wait_until(predicate, timeout_s)


# ---------------------------------------------------------------- brokers


class BrokerHarness:
    """A broker on the simulator's market; `events` collects every order event."""

    name = ""
    symbol, quote, quote_balance = "BTCUSDT", "USDT", QUOTE_BALANCE  # what the contract trades

    def __init__(self, sim: SimExchange) -> None:
        self.sim = sim
        self.events: list[OrderEvent] = []
        self.broker: Any = None

    def instrument(self, symbol: str) -> Instrument:
        return next(i for i in self.sim.instruments if i.symbol == symbol)

    def last_close(self, symbol: str) -> float:
        index = self.sim.symbol_index(symbol)
        assert index is not None
        return float(self.sim.kline_rows(index, None, None, 1)[-1][4])

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def submit(self, request: OrderRequest) -> None:
        self.events.extend(self.broker.submit(request))

    def cancel(self, client_order_id: str, ts_ms: int) -> None:
        self.events.extend(self.broker.cancel(client_order_id, ts_ms))

    async def minutes(self, count: int) -> None:
        """Let the market run `count` minutes and collect what the broker reports."""
        raise NotImplementedError

    def lose_next_acknowledgement(self) -> bool:
        """Make the next order's acknowledgement get lost on the way; False where that
        cannot happen (the paper broker answers in-process)."""
        return False

    def exchange_orders(self, client_order_id: str) -> int:
        """How many orders with this client id the venue holds (open or not)."""
        raise NotImplementedError


class PaperHarness(BrokerHarness):
    name = "paper"

    async def start(self) -> None:
        from exchange.brokers.sim import PaperBroker

        self.broker = PaperBroker(self.sim.instruments, FILLS, {"USDT": QUOTE_BALANCE})

    async def minutes(self, count: int) -> None:
        for _ in range(count):
            await self.sim.step(1)
            open_ms = self.sim.now_ms - MINUTE_MS
            bars = []
            for i, symbol in enumerate(self.sim.symbols):
                rows = self.sim.kline_rows(i, open_ms, open_ms, 1)
                if rows:
                    r = rows[0]
                    bars.append(Bar(symbol, int(r[0]), *(float(v) for v in r[1:6]),
                                    quote_volume=float(r[7]), trades=int(r[8])))
            self.events.extend(self.broker.on_bars(bars))

    def exchange_orders(self, client_order_id: str) -> int:
        accepted = [e for e in self.events if type(e).__name__ == "Accepted"
                    and e.client_order_id == client_order_id]
        return len(accepted)


class CcxtSimHarness(BrokerHarness):
    name = "ccxt-sim"
    exchange_id = "binance"
    user_stream = False  # fills by REST polling only
    KEY, SECRET = "contract-test-key", "contract-test-secret"

    def open_account(self, credentials: Any) -> None:
        self.sim.orders.open_account(credentials, {self.quote: self.quote_balance}, FILLS)

    async def start(self) -> None:
        from exchange.brokers.ccxt import CcxtBroker, LivePolicy
        from exchange.brokers.ccxt_client import make_exchange
        from exchange.sim.auth import ApiCredentials

        self.open_account(ApiCredentials(self.KEY, self.SECRET))
        exchange = make_exchange(self.exchange_id, self.KEY, self.SECRET,
                                 rest_url=self.sim.rest_url)
        self.broker = CcxtBroker(exchange, self.sim.instruments, fill_params=FILLS,
                                 policy=LivePolicy(poll_interval_s=0.05, backoff_initial_s=0.02),
                                 clock_ms=lambda: self.sim.now_ms)
        self.broker.listener = self.events.extend
        if self.user_stream:
            self.broker.use_user_stream(self.sim.ws_url)
        await self.broker.start()
        self._task = asyncio.create_task(self.broker.run())
        if self.user_stream:  # subscribed and caught up: from here fills come from it
            await until(lambda: self.broker.stats["stream_catchups"] >= 1, 5)

    async def stop(self) -> None:
        if self.broker is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.broker.close()

    def submit(self, request: OrderRequest) -> None:
        super().submit(request)

    async def settle(self) -> None:
        await self.broker.drain()
        # A window of a few polls (0.05 s apart) for fills and cancels to be reported: the
        # paper, REST and user-stream harnesses have no one event that says "all heard".
        await asyncio.sleep(0.3)

    async def minutes(self, count: int) -> None:
        await self.settle()
        for _ in range(count):
            await self.sim.step(1)
        await self.settle()

    def lose_next_acknowledgement(self) -> bool:
        self.sim.orders.drop_next_responses(1)
        return True

    def exchange_orders(self, client_order_id: str) -> int:
        account = self.sim.orders.accounts[self.KEY]
        return sum(1 for o in account.orders if o.client_order_id == client_order_id)


class CcxtStreamSimHarness(CcxtSimHarness):
    """The ccxt broker taking fills from the simulator's user data stream (REST polls only
    while it is silent, which it is not here)."""

    name = "ccxt-stream-sim"
    user_stream = True


class CcxtUpbitSimHarness(CcxtSimHarness):
    """The ccxt Upbit client (JWT-signed Upbit REST) against the simulator's Upbit face,
    trading KRW-BTC, whose prices follow Upbit's KRW tick bands."""

    name = "ccxt-upbit-sim"
    exchange_id = "upbit"
    symbol, quote, quote_balance = "BTCKRW", "KRW", Decimal(10) ** 12

    def open_account(self, credentials: Any) -> None:
        self.sim.upbit.orders.open_account(credentials, {self.quote: self.quote_balance}, FILLS)

    def lose_next_acknowledgement(self) -> bool:
        self.sim.upbit.orders.drop_next_responses(1)
        return True


BROKERS: dict[str, type[BrokerHarness]] = {"paper": PaperHarness, "ccxt-sim": CcxtSimHarness,
                                           "ccxt-stream-sim": CcxtStreamSimHarness,
                                           "ccxt-upbit-sim": CcxtUpbitSimHarness}


def run_broker(harness_type: type[BrokerHarness],
               scenario: Callable[[Any], Awaitable[None]]) -> None:
    """`scenario` against a started harness of `harness_type` on a paused simulator."""
    async def main() -> None:
        async with SimExchange(BROKER_MARKET, start_ms=BROKER_START_MS, autorun=False) as sim:
            harness = harness_type(sim)
            await harness.start()
            try:
                await scenario(harness)
            finally:
                await harness.stop()

    asyncio.run(asyncio.wait_for(main(), 60))


def limit_buy(harness: BrokerHarness, cid: str, price_factor: float, amount: str) -> OrderRequest:
    """A limit buy of the harness's symbol at `price_factor` times its last close."""
    instrument = harness.instrument(harness.symbol)
    price = instrument.price(harness.last_close(harness.symbol) * price_factor, Side.BUY)
    return OrderRequest(cid, harness.symbol, Side.BUY, OrderType.LIMIT, Decimal(amount), price,
                        harness.sim.now_ms)
