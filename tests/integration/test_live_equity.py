"""Live equity comes from one consistent snapshot: a fill the exchange made but the daemon has
not booked yet changes neither the equity nor the breakers (ADR-029).

The real `Trader` with the real `CcxtBroker` against the simulator over 127.0.0.1 (real
ccxt client, signed REST). The gap is made explicit: the broker's events go to an "in
flight" list instead of straight to the trader, as they are in the daemon between the
broker's balance refresh and the moment it reports the trades (awaits in between). Before
the fix, `Trader.equity()` added the exchange's cash (already paid for the fill) to the
ledger's positions (not holding the coins yet), and the default daily-loss breaker halted
trading on a fill of 6 % of equity.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.app.live import open_live_account
from bot.config import SimConfig
from exchange.brokers.ccxt import CcxtBroker, LivePolicy
from exchange.brokers.ccxt_client import RequestGate, make_exchange
from exchange.sim.auth import ApiCredentials
from exchange.sim.server import SimExchange
from model.instruments import Side
from model.orders import Filled, OrderEvent, OrderRequest, OrderType, PartiallyFilled
from risk.limits import RiskLimits
from risk.state import TradingMode, TradingState, evaluate
from state.ledger import Ledger
from strategies.baselines import BuyHoldPolicy
from trading.trader import Trader

START_MS = 1_700_000_040_000
CONFIG = SimConfig(coins=4, history_days=1, seed=13, speed=3000.0)
KEY, SECRET = "e" * 64, "q" * 64
SYMBOL = "BTCUSDT"
START_CASH = Decimal(10_000)


async def with_live_trader(tmp_path: Path,
                           test: Callable[[SimExchange, Trader, CcxtBroker], Awaitable[Any]]) -> Any:
    """A funded sim account, a started CcxtBroker and a Trader over a real ledger file."""
    async with SimExchange(CONFIG, start_ms=START_MS, autorun=False) as sim:
        sim.orders.open_account(ApiCredentials(KEY, SECRET), {"USDT": START_CASH})
        exchange = make_exchange("binance", KEY, SECRET, rest_url=sim.rest_url, rate_limit_ms=5)
        # Polls only when asked (the test decides when the broker looks at its orders).
        broker = CcxtBroker(exchange, sim.instruments, gate=RequestGate(100),
                            policy=LivePolicy(poll_interval_s=60.0, backoff_initial_s=0.05))
        await broker.start()
        instruments = {i.symbol: i for i in sim.instruments}
        with Ledger.open(tmp_path / "ledger.sqlite", instruments=instruments) as ledger:
            trader = Trader(instruments=instruments, policy=BuyHoldPolicy(), broker=broker,
                            ledger=ledger, limits=RiskLimits(), quote_asset="USDT")
            broker.listener = trader.on_order_events
            open_live_account(trader, broker, sim.now_ms)
            worker = asyncio.create_task(broker.run())
            try:
                return await test(sim, trader, broker)
            finally:
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)
                await broker.close()


def test_a_fill_on_the_exchange_not_yet_booked_leaves_equity_and_breakers_alone(
        tmp_path: Path) -> None:
    async def check(sim: SimExchange, trader: Trader, broker: CcxtBroker) -> None:
        before = trader.equity()
        assert before == START_CASH
        state = TradingState.initial(before, sim.now_ms)

        # Given a fill the exchange made and the broker saw, but the trader has not booked,
        in_flight: list[OrderEvent] = []
        broker.listener = in_flight.extend
        rules = broker.instruments[SYMBOL]
        ask = Decimal(repr(sim.ticker_stats(sim.symbol_index(SYMBOL)).ask))
        price = rules.price(ask * Decimal("1.01"), Side.BUY)  # marketable: fills at once
        amount = rules.amount(START_CASH * Decimal("0.06") / price)  # 6 % of equity
        request = OrderRequest(broker.next_client_order_id(), SYMBOL, Side.BUY,
                               OrderType.LIMIT, amount, price, sim.now_ms)
        trader.ledger.record(request)
        assert broker.submit(request) == []
        await broker.drain()
        for _ in range(30):
            fills = [e for e in in_flight if isinstance(e, (PartiallyFilled, Filled))]
            if sum(f.amount for f in fills) == amount:
                break
            await sim.step(1)
            await broker.poll_once()
        assert sum(f.amount for f in fills) == amount, in_flight
        exchange_cash = broker.balances()["USDT"]
        notional = sum((f.price * f.amount for f in fills), Decimal(0))
        assert START_CASH - exchange_cash >= notional  # the exchange has paid for the coins
        assert trader.positions.get(SYMBOL) is None  # the books do not hold them yet

        # then equity does not move by the fill's notional, and no breaker fires,
        assert trader.equity() == before
        held = sum((p.amount * trader.last_price.get(s, p.avg_price)
                    for s, p in trader.positions.items()), Decimal(0))
        mixed = exchange_cash + held  # the old formula: exchange cash + booked positions
        assert before - mixed >= notional
        _, tripped = evaluate(state, mixed, sim.now_ms, False, trader.limits)
        assert [e.to_mode for e in tripped] == [TradingMode.HALTED], "the old formula must trip"
        _, quiet = evaluate(state, trader.equity(), sim.now_ms, False, trader.limits)
        assert quiet == ()

        # and once the fill is booked, equity has moved by its fee only (marked at its price).
        trader.on_order_events(in_flight)
        fees = sum((f.fee for f in fills), Decimal(0))
        assert trader.positions[SYMBOL].amount == amount
        assert trader.equity() == before - fees
        assert trader.cash() == exchange_cash  # the books caught up with the exchange

    asyncio.run(asyncio.wait_for(with_live_trader(tmp_path, check), 60))
