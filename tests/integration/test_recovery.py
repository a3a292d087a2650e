"""Startup reconciliation against the simulated exchange over real sockets, with the real ccxt
client, and against the paper ledger.

Each test writes the ledger a daemon would have left at the moment it died (a request
recorded but not acknowledged, an order acknowledged but not yet filled, ...), lets the
exchange move on, then reconciles and checks the ledger now says what the exchange says:
every fill once, no order lost or invented, balances and positions equal to the account.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.app.reconcile import reconcile_at_start
from bot.config import SimConfig
from exchange.brokers.ccxt_client import RequestGate, make_exchange
from exchange.sim.auth import ApiCredentials
from exchange.sim.server import SimExchange
from model.instruments import Instrument, Side
from model.orders import Accepted, OrderRequest, OrderType
from state.codec import BalanceSet
from state.ledger import Ledger
from state.recovery import ProblemKind, RecoveryRefused

KEY, SECRET = "recoverykey0123456789", "recoverysecret0123456789abcdef"
QUOTE = "USDT"


@dataclass
class World:
    sim: SimExchange
    exchange: Any
    ledger: Ledger
    instruments: dict[str, Instrument]

    @property
    def usdt(self) -> dict[str, Instrument]:
        return {s: i for s, i in self.instruments.items() if i.quote == QUOTE}

    def request(self, cid: str, symbol: str, side: Side, price: Decimal,
                amount: Decimal) -> OrderRequest:
        return OrderRequest(cid, symbol, side, OrderType.LIMIT, amount, price, self.sim.now_ms)

    async def place(self, request: OrderRequest) -> dict[str, Any]:
        """Send an order as the broker would (the ledger is not told)."""
        market = self.exchange.markets_by_id[request.symbol][0]["symbol"]
        return await self.exchange.create_order(
            market, "limit", request.side.value.lower(), float(request.amount),
            float(request.price or 0), {"clientOrderId": request.client_order_id})

    def priced(self, symbol: str, side: Side, away_pct: float) -> tuple[Decimal, Decimal]:
        """A limit price `away_pct` from the last trade (+: marketable for a buy), and an
        amount worth about 50 USDT."""
        instrument = self.instruments[symbol]
        index = self.sim.symbol_index(symbol)
        assert index is not None
        last = self.sim.ticker_stats(index).last
        price = instrument.price(last * (1 + away_pct / 100), side)
        return price, instrument.amount(Decimal(50) / price)

    async def reconcile(self, **kwargs: Any) -> Any:
        return await reconcile_at_start(self.ledger, self.usdt, QUOTE, self.sim.now_ms,
                                        exchange=self.exchange, lost_grace_s=0.05,
                                        gate=RequestGate(100), **kwargs)

    async def account(self) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        """(exchange totals, ledger totals) of USDT and every coin either side holds."""
        balance = await self.exchange.fetch_balance()
        theirs = {a: Decimal(str(v)) for a, v in balance["total"].items() if v}
        ours = {b.asset: b.free + b.locked for b in self.ledger.balances() if b.free + b.locked}
        return theirs, ours


@asynccontextmanager
async def open_world(tmp_path: Path) -> AsyncIterator[World]:
    """A sim (market clock stepped by the test) with one account, ccxt and a fresh ledger."""
    sim = SimExchange(SimConfig(coins=6, history_days=0.05, seed=11), autorun=False)
    await sim.start()
    sim.orders.open_account(ApiCredentials(KEY, SECRET), {QUOTE: Decimal(10_000)})
    exchange = make_exchange("binance", KEY, SECRET, rest_url=sim.rest_url)
    # ccxt's own limiter paces Binance's request weights (symbol-less openOrders costs 80):
    # right against Binance, only slow against the sim, which enforces its own limits.
    exchange.enableRateLimit = False
    await exchange.load_markets()
    instruments = {i.symbol: i for i in sim.instruments}
    ledger = Ledger.open(tmp_path / "ledger.sqlite", instruments=instruments)
    # the account as bot.app.live opens it on a first live start: the exchange's balance
    ledger.record(BalanceSet(QUOTE, Decimal(10_000), Decimal(0), sim.now_ms, sim.now_ms))
    ledger.set_kv("account_opened", sim.now_ms)
    try:
        yield World(sim, exchange, ledger, instruments)
    finally:
        ledger.close()
        await exchange.close()
        await sim.stop()


def _usdt_symbols(world: World) -> list[str]:
    return sorted(world.usdt)


def in_world(tmp_path: Path, scenario: Callable[[World], Awaitable[None]]) -> None:
    """Run one async scenario against a fresh world, bounded in time."""
    async def main() -> None:
        async with open_world(tmp_path) as world:
            await scenario(world)
    asyncio.run(asyncio.wait_for(main(), 60))


def test_orders_sent_filled_cancelled_and_lost_while_down_are_all_recorded_once(
        tmp_path: Path) -> None:
    in_world(tmp_path, _when_orders_sent_filled_cancelled_and_lost_while_down_are_all_recorded_once)


async def _when_orders_sent_filled_cancelled_and_lost_while_down_are_all_recorded_once(world: World) -> None:
    # Given a ledger opened on the exchange's balance, then four orders in four states of
    # "the daemon died here":
    await world.reconcile()
    first, second = _usdt_symbols(world)[:2]
    # 1. acknowledged, resting; it fills while we are down
    price, amount = world.priced(first, Side.BUY, -0.05)
    resting = world.request("E-00000001", first, Side.BUY, price, amount)
    answer = await world.place(resting)
    world.ledger.record_all([resting, Accepted(
        resting.client_order_id, first, Side.BUY, OrderType.LIMIT, amount, price,
        int(answer["timestamp"]), int(answer["timestamp"]))])
    # 2. recorded as sent, reached the exchange, acknowledgement never recorded; fills at once
    price, amount = world.priced(second, Side.BUY, +1.0)
    unacked = world.request("E-00000002", second, Side.BUY, price, amount)
    world.ledger.record(unacked)
    await world.place(unacked)
    # 3. recorded as sent, never reached the exchange
    price, amount = world.priced(first, Side.BUY, -5.0)
    lost = world.request("E-00000003", first, Side.BUY, price, amount)
    world.ledger.record(lost)
    # 4. acknowledged and resting far away; someone cancels it on the exchange meanwhile
    far = world.request("E-00000004", second, Side.BUY, price=world.priced(second, Side.BUY, -8.0)[0],
                        amount=world.priced(second, Side.BUY, -8.0)[1])
    answer = await world.place(far)
    world.ledger.record_all([far, Accepted(far.client_order_id, second, Side.BUY,
                                           OrderType.LIMIT, far.amount, far.price,
                                           int(answer["timestamp"]), int(answer["timestamp"]))])
    await world.exchange.cancel_order(answer["id"], world.exchange.markets_by_id[second][0]["symbol"])
    for _ in range(30):  # the market moves on until the resting buy has traded
        await world.sim.step(1)
        order = world.sim.orders.accounts[KEY].find(first, client_order_id="E-00000001")
        if order is not None and order.status == "FILLED":
            break

    # When the daemon restarts and reconciles
    report = await world.reconcile()

    # Then each gap is closed by the event that was missed, and nothing else
    assert report.ok and set(report.adopted) == {"E-00000002"}
    assert report.lost == ("E-00000003",) and report.closed == ("E-00000004",)
    statuses = {cid: getattr(world.ledger.order(cid), "status", None) for cid in
                ("E-00000001", "E-00000002", "E-00000003", "E-00000004")}
    exchange_trades = world.sim.orders.accounts[KEY].trades
    assert statuses["E-00000003"] == "REJECTED" and statuses["E-00000004"] == "CANCELED"
    assert statuses["E-00000002"] == "FILLED"
    assert sorted(f.trade_id for f in world.ledger.fills()) == sorted(
        str(t.trade_id) for t in exchange_trades)
    theirs, ours = await world.account()
    assert ours == theirs
    positions = {p.symbol: p.amount for p in world.ledger.positions() if p.amount}
    assert positions == {s: theirs[i.base] for s, i in world.usdt.items() if i.base in theirs}

    # And reconciling again changes nothing (idempotent)
    digest = world.ledger.table_digest(("events", "orders", "fills", "balances", "positions"))
    again = await world.reconcile()
    assert again.ok and again.events == 0
    assert world.ledger.table_digest(("events", "orders", "fills", "balances", "positions")) == digest


def test_an_order_the_ledger_never_sent_refuses_trading_and_says_what_to_do(
        tmp_path: Path) -> None:
    in_world(tmp_path, _when_an_order_the_ledger_never_sent_refuses_trading_and_says_what_to_do)


async def _when_an_order_the_ledger_never_sent_refuses_trading_and_says_what_to_do(world: World) -> None:
    await world.reconcile()
    symbol = _usdt_symbols(world)[0]
    price, amount = world.priced(symbol, Side.BUY, -3.0)
    await world.place(world.request("manual-1", symbol, Side.BUY, price, amount))

    with pytest.raises(RecoveryRefused) as refused:
        await world.reconcile()

    kinds = {p.kind for p in refused.value.report.problems}
    assert kinds == {ProblemKind.UNKNOWN_ORDER}
    assert "manual-1" in str(refused.value) and "cancel it on the exchange" in str(refused.value)
    assert world.ledger.get_kv("recovery_last")["ok"] is False


def test_a_coin_bought_outside_the_ledger_is_an_unknown_position(
        tmp_path: Path) -> None:
    in_world(tmp_path, _when_a_coin_bought_outside_the_ledger_is_an_unknown_position)


async def _when_a_coin_bought_outside_the_ledger_is_an_unknown_position(world: World) -> None:
    await world.reconcile()
    symbol = _usdt_symbols(world)[0]
    price, amount = world.priced(symbol, Side.BUY, +1.0)
    await world.place(world.request("manual-2", symbol, Side.BUY, price, amount))  # fills now

    with pytest.raises(RecoveryRefused) as refused:
        await world.reconcile()

    kinds = {p.kind: p for p in refused.value.report.problems}
    assert set(kinds) == {ProblemKind.UNKNOWN_FILL, ProblemKind.UNKNOWN_POSITION,
                          ProblemKind.BALANCE_MISMATCH}  # USDT went down by what it cost
    assert kinds[ProblemKind.UNKNOWN_POSITION].subject == symbol
    assert "dedicated account" in kinds[ProblemKind.UNKNOWN_FILL].detail


def test_balance_off_within_tolerance_is_adopted_beyond_it_refused(
        tmp_path: Path) -> None:
    in_world(tmp_path, _when_balance_off_within_tolerance_is_adopted_beyond_it_refused)


async def _when_balance_off_within_tolerance_is_adopted_beyond_it_refused(world: World) -> None:
    await world.reconcile()
    now = world.sim.now_ms
    world.ledger.record(BalanceSet(QUOTE, Decimal("10000.5"), Decimal(0), now, now))  # 0.005 %
    report = await world.reconcile(tolerance_pct=0.01)
    assert report.ok and report.balance_fixes == (QUOTE,)
    assert {b.asset: b.free for b in world.ledger.balances()}[QUOTE] == Decimal(10_000)

    world.ledger.record(BalanceSet(QUOTE, Decimal(10100), Decimal(0), now, now))  # 1 %
    with pytest.raises(RecoveryRefused) as refused:
        await world.reconcile(tolerance_pct=0.01)
    problem, = refused.value.report.problems
    assert problem.kind is ProblemKind.BALANCE_MISMATCH and problem.subject == QUOTE
    assert "ledger 10100 vs exchange 10000" in problem.detail


def test_reconciliation_rides_out_rate_limits_and_server_errors(
        tmp_path: Path) -> None:
    in_world(tmp_path, _when_reconciliation_rides_out_rate_limits_and_server_errors)


async def _when_reconciliation_rides_out_rate_limits_and_server_errors(world: World) -> None:
    await world.reconcile()
    world.sim.orders.limiter.fail_next(429, 1)
    world.sim.orders.limiter.fail_next(503, 2)
    report = await world.reconcile()
    assert report.ok


def test_paper_restart_marks_never_acknowledged_orders_lost(tmp_path: Path) -> None:
    btc = Instrument("BTCUSDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), Decimal(5))
    with Ledger.open(tmp_path / "paper.sqlite", instruments={"BTCUSDT": btc}) as ledger:
        ledger.record(BalanceSet("USDT", Decimal(1000), Decimal(0), 0, 0))
        ledger.set_kv("account_opened", 0)
        acked = OrderRequest("E-1", "BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.001"),
                             Decimal(20_000), 1)
        ledger.record_all([acked, Accepted("E-1", "BTCUSDT", Side.BUY, OrderType.LIMIT,
                                           acked.amount, acked.price, 1, 1)])
        ledger.record(OrderRequest("E-2", "BTCUSDT", Side.BUY, OrderType.LIMIT,
                                   Decimal("0.001"), Decimal(19_000), 2))

        report = asyncio.run(reconcile_at_start(ledger, {"BTCUSDT": btc}, "USDT", 5))

        assert report.ok and report.lost == ("E-2",) and report.adopted == ()
        assert getattr(ledger.order("E-2"), "status", None) == "REJECTED"
        assert [o.client_order_id for o in ledger.open_orders()] == ["E-1"]
