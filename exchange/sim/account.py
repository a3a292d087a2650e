"""A trading account on the simulated exchange: balances, orders, trades and their matching.

Matching is `model/fills.py`, the model the paper broker and the backtester use, with
what a real exchange adds around it:

* an order is matched once at arrival against the current top of book (a marketable limit
  or a market order takes liquidity at once, as on Binance; a market order's unfilled rest
  EXPIRES), then rests and meets every closed 1m bar that *starts* after it arrived;
* a cancel is immediate (fills only happen at bar closes, so nothing can fill in between);
* balances lock what an open order could spend (the paper broker's rules, `Wallet`): quote
  for buys including the worst fee, base for sells. Fees are charged in the quote asset,
  for buys and sells alike, so the ledger's quote-denominated fees equal the exchange's.

Pure and synchronous: no sockets, no clock (times are passed in), ids from counters. The
REST layer (`orders_api.py`) validates parameters and formats Binance JSON.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

import numpy as np

from exchange.brokers.sim_wallet import Wallet
from exchange.sim.auth import bad_request
from model import fills
from model.fills import FillParams
from model.instruments import Instrument, Side, float_to_grid
from model.orders import OrderType

ZERO = Decimal(0)
FEE_QUANTUM = Decimal("0.00000001")
MARKET_BUY_MARGIN = Decimal("1.05")  # a market buy locks the ask + 5% until it fills
_BPS = Decimal(10_000)
_SIDES = {Side.BUY: fills.BUY, Side.SELL: fills.SELL}

NEW, PARTIALLY_FILLED, FILLED = "NEW", "PARTIALLY_FILLED", "FILLED"
CANCELED, EXPIRED = "CANCELED", "EXPIRED"
OPEN_STATUSES = (NEW, PARTIALLY_FILLED)


@dataclass(slots=True)
class SimOrder:
    """An order as the exchange keeps it (Binance field meanings)."""

    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    price: Decimal  # 0 for market orders, as Binance reports them
    orig_qty: Decimal
    time_ms: int
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = NEW
    update_ms: int = 0
    reserved: Decimal = ZERO
    tick: Decimal = ZERO
    queue_ahead: float = math.nan

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty


@dataclass(frozen=True, slots=True)
class SimTrade:
    """One fill of one of the account's orders."""

    trade_id: int
    order_id: int
    symbol: str
    side: Side
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_maker: bool

    @property
    def quote_qty(self) -> Decimal:
        return self.price * self.qty


@dataclass(frozen=True, slots=True)
class Execution:
    """What one executionReport says: the order after the change, why it changed (NEW,
    TRADE, CANCELED, EXPIRED), the trade if any, and when."""

    order: SimOrder  # a snapshot, never mutated
    kind: str
    trade: SimTrade | None
    ts_ms: int


@dataclass(frozen=True, slots=True)
class TopOfBook:
    """The market an arriving order meets."""

    last: float
    bid: float
    ask: float
    bid_qty: float
    ask_qty: float


@dataclass(frozen=True, slots=True)
class MinuteBar:
    """A closed 1m bar of one symbol, as the account's matching needs it."""

    symbol: str
    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


Listener = Callable[[list[Execution], list[str], int], None]


@dataclass
class IdCounters:
    """Exchange-wide order and trade ids (shared by every account of one exchange)."""

    order_id: int = 0
    trade_id: int = 0

    def next_order(self) -> int:
        self.order_id += 1
        return self.order_id

    def next_trade(self) -> int:
        self.trade_id += 1
        return self.trade_id


@dataclass
class SimAccount:
    """One account's balances, orders and trades; `listeners` hear every change."""

    instruments: dict[str, Instrument]
    wallet: Wallet
    fill_params: FillParams
    ids: IdCounters = field(default_factory=IdCounters)
    listeners: list[Listener] = field(default_factory=list)
    orders: list[SimOrder] = field(default_factory=list)  # every order, oldest first
    trades: list[SimTrade] = field(default_factory=list)

    @classmethod
    def open(cls, instruments: dict[str, Instrument], balances: dict[str, Decimal],
             fill_params: FillParams, ids: IdCounters | None = None) -> SimAccount:
        """A fresh account holding `balances`."""
        return cls(instruments, Wallet(balances), fill_params, ids or IdCounters())

    # -- queries ---------------------------------------------------------------------------
    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """(free, locked) per asset."""
        totals, locked = self.wallet.totals(), self.wallet.reserved()
        return {a: (t - locked.get(a, ZERO), locked.get(a, ZERO)) for a, t in totals.items()}

    def open_orders(self, symbol: str | None = None) -> list[SimOrder]:
        return [o for o in self.orders if o.is_open and symbol in (None, o.symbol)]

    def find(self, symbol: str, order_id: int | None = None,
             client_order_id: str | None = None) -> SimOrder | None:
        """The order with this id (or the newest with this client id) on `symbol`."""
        for order in reversed(self.orders):
            if order.symbol != symbol:
                continue
            if order_id is not None and order.order_id == order_id:
                return order
            if order_id is None and order.client_order_id == client_order_id:
                return order
        return None

    # -- requests --------------------------------------------------------------------------
    def place(self, symbol: str, side: Side, type_: OrderType, qty: Decimal,
              price: Decimal | None, client_order_id: str, ts_ms: int,
              book: TopOfBook) -> SimOrder:
        """Accept an order (locking its funds) and match it against `book`, or raise the
        Binance error: -1013 filter failure, -2010 duplicate id or insufficient balance."""
        instrument = self.instruments.get(symbol)
        if instrument is None:
            raise bad_request(-1121, "Invalid symbol.")
        is_market = type_ is OrderType.MARKET
        reference = Decimal(repr(book.last)) if is_market else price
        assert reference is not None
        violation = instrument.check(reference, qty, is_market=is_market)
        if violation is not None:
            raise bad_request(-1013, f"Filter failure: {violation.filter}")
        if any(o.client_order_id == client_order_id for o in self.open_orders()):
            raise bad_request(-2010, "Duplicate order sent.")
        asset, need = self._reservation(instrument, side, is_market, qty, price, book)
        if need > self.wallet.free().get(asset, ZERO):
            raise bad_request(-2010, "Account has insufficient balance for requested action.")
        self.wallet.reserve(asset, need)
        order = SimOrder(self.ids.next_order(), client_order_id, symbol, side, type_,
                         price if price is not None else ZERO, qty, ts_ms, update_ms=ts_ms,
                         reserved=need, tick=instrument.tick_at(reference))
        self.orders.append(order)
        executions = [Execution(copy.copy(order), NEW, None, ts_ms)]
        market = fills.market_from_ticks([ts_ms], [book.last], [book.bid], [book.ask],
                                         [book.bid_qty], [book.ask_qty], [0.0])
        executions += self._match([order], market, [0], [ts_ms])
        if order.is_open and is_market:  # what the book could not give expires
            executions.append(self._close(order, EXPIRED, ts_ms))
        self._notify(executions, ts_ms)
        return order

    def cancel(self, symbol: str, order_id: int | None, client_order_id: str | None,
               ts_ms: int) -> SimOrder:
        """Cancel an open order at once; -2011 when it is unknown or already closed."""
        order = self.find(symbol, order_id, client_order_id)
        if order is None or not order.is_open:
            raise bad_request(-2011, "Unknown order sent.")
        self._notify([self._close(order, CANCELED, ts_ms)], ts_ms)
        return order

    # -- market events ---------------------------------------------------------------------
    def on_bars(self, bars: list[MinuteBar]) -> None:
        """Match every open order against its symbol's closed bar (one fill-model call)."""
        by_symbol = {bar.symbol: k for k, bar in enumerate(bars)}
        waiting = [o for o in self.open_orders() if o.symbol in by_symbol]
        if not waiting:
            return
        market = fills.market_from_bars(
            [b.open_ms for b in bars], [b.open for b in bars], [b.high for b in bars],
            [b.low for b in bars], [b.close for b in bars], [b.volume for b in bars],
            [float(self.instruments[b.symbol].tick_at(b.open)) for b in bars], self.fill_params,
        )  # fmt: skip
        rows = [by_symbol[o.symbol] for o in waiting]
        close_ms = [bars[k].open_ms + 60_000 for k in rows]
        executions = self._match(waiting, market, rows, close_ms)
        if executions:
            self._notify(executions, max(close_ms))

    # -- internals -------------------------------------------------------------------------
    def _reservation(self, instrument: Instrument, side: Side, is_market: bool, qty: Decimal,
                     price: Decimal | None, book: TopOfBook) -> tuple[str, Decimal]:
        if side is Side.SELL:
            return instrument.base, qty
        maker, taker = self._rates()
        if is_market:
            cost = qty * Decimal(repr(book.ask)) * MARKET_BUY_MARGIN * (1 + taker)
        else:
            assert price is not None
            cost = qty * price * (1 + max(maker, taker))
        return instrument.quote, cost.quantize(FEE_QUANTUM, rounding=ROUND_CEILING)

    def _rates(self) -> tuple[Decimal, Decimal]:
        params = self.fill_params
        return (Decimal(str(params.maker_fee_bps)) / _BPS,
                Decimal(str(params.taker_fee_bps)) / _BPS)

    def _match(self, orders: list[SimOrder], market: fills.MarketArrays, rows: list[int],
               ts_ms: list[int]) -> list[Execution]:
        batch = fills.OrderArrays(
            event=np.array(rows, np.int64),
            side=np.array([_SIDES[o.side] for o in orders], np.int8),
            is_market=np.array([o.type is OrderType.MARKET for o in orders], bool),
            price=np.array([math.nan if o.type is OrderType.MARKET else float(o.price)
                            for o in orders]),
            remaining=np.array([float(o.remaining) for o in orders]),
            queue_ahead=np.array([o.queue_ahead for o in orders]),
            placed_ms=np.array([o.time_ms for o in orders], np.int64),
            cancel_ms=np.full(len(orders), fills.NO_CANCEL_MS, np.int64),
            budget=np.array([_budget(o) for o in orders]),
            tick=np.array([float(o.tick) for o in orders]),
            lot=np.array([float(self.instruments[o.symbol].lot) for o in orders]),
        )
        result = fills.match(batch, market, self.fill_params)
        executions: list[Execution] = []
        for row, order in enumerate(orders):
            executions += self._apply(order, result, row, ts_ms[row])
        return executions

    def _apply(self, order: SimOrder, result: fills.FillArrays, row: int,
               ts_ms: int) -> list[Execution]:
        instrument = self.instruments[order.symbol]
        is_maker = bool(result.liquidity[row] == fills.MAKER)
        maker, taker = self._rates()
        rate = maker if is_maker else taker
        executions: list[Execution] = []
        for price_f, amount_f in zip(result.level_price[row], result.level_amount[row]):
            qty = min(float_to_grid(float(amount_f), instrument.lot), order.remaining)
            if qty <= 0:
                continue
            price = float_to_grid(float(price_f), order.tick)
            notional = price * qty
            fee = (notional * rate).quantize(FEE_QUANTUM, rounding=ROUND_CEILING)
            order.reserved -= self.wallet.settle(order.side, instrument, qty, notional, fee,
                                                 order.reserved)
            order.executed_qty += qty
            order.cum_quote += notional
            order.status = FILLED if order.remaining == 0 else PARTIALLY_FILLED
            order.update_ms = ts_ms
            trade = SimTrade(self.ids.next_trade(), order.order_id, order.symbol, order.side,
                             price, qty, fee, instrument.quote, ts_ms, is_maker)
            self.trades.append(trade)
            executions.append(Execution(copy.copy(order), "TRADE", trade, ts_ms))
        order.queue_ahead = float(result.queue_ahead[row])
        if order.status == FILLED:
            self._release(order)
        return executions

    def _close(self, order: SimOrder, status: str, ts_ms: int) -> Execution:
        order.status, order.update_ms = status, ts_ms
        self._release(order)
        return Execution(copy.copy(order), status, None, ts_ms)

    def _release(self, order: SimOrder) -> None:
        instrument = self.instruments[order.symbol]
        asset = instrument.quote if order.side is Side.BUY else instrument.base
        self.wallet.release(asset, order.reserved)
        order.reserved = ZERO

    def _notify(self, executions: list[Execution], ts_ms: int) -> None:
        assets: dict[str, None] = {}
        for execution in executions:
            instrument = self.instruments[execution.order.symbol]
            assets[instrument.base] = assets[instrument.quote] = None
        for listener in list(self.listeners):
            listener(executions, list(assets), ts_ms)


def _budget(order: SimOrder) -> float:
    """What an order may still spend. A limit price already caps a buy's cost within its
    lock (price x remaining x (1 + worst fee)), so only market buys get a budget; shaving
    a limit buy's lock for float safety would leave its last lot unfilled when maker and
    taker fees are equal."""
    if order.side is Side.SELL or order.type is OrderType.LIMIT:
        return math.inf
    return float(order.reserved) * (1 - 1e-12)

