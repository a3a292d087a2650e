"""The fast backtester's account: the paper broker's books and the trader's positions.

What `exchange/brokers/sim.py` (PaperBroker) and `trading/trader.py` do with an order and a
fill, for limit orders, in the same exact `Decimal` arithmetic: reservation at submit
(limit cost plus the worst fee, rounded up to the fee quantum), fills put back on the tick
and lot grids (`model.instruments.float_to_grid`), each fill's fee rounded up, a buy cut to
the whole lots the account can pay, positions and round trips by `state.projection`. The
matching itself is the one fill model (`model.fills.match`), called per bar with the open
orders of the symbols that have one. trading/ sits below exchange/ in the layering, so this
mirrors the broker's bookkeeping rather than importing it, except the settlement both take
from model/settlement.py (fee rounding, what a buy can pay); the parity test
(tests/integration/test_fast_backtest_parity.py) holds the two to the same fills.

Fills happen only on bars with open orders, so the booking is Python; the fill model's book and
match of a row's orders are one compiled call (trading/fast_match_kernel.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

import numpy as np

from model import fill_kernel, fills
from model.fills import FillParams
from model.instruments import Instrument, Side, float_to_grid
from model.orders import (
    Accepted,
    Canceled,
    Filled,
    Liquidity,
    OrderEvent,
    OrderRequest,
    OrderType,
    PartiallyFilled,
    Rejected,
    RejectReason,
)
from model.settlement import FEE_QUANTUM, payable_buy
from risk.gate import PortfolioView
from strategies.policy import Holding, RestingOrder
from trading import fast_match_kernel
from trading.performance import RoundTrip
from trading.positions import Position

_BPS = Decimal(10_000)
_SIDES = {Side.BUY: fills.BUY, Side.SELL: fills.SELL}
_FILTER_REASONS = {"PRICE_FILTER": RejectReason.PRICE_FILTER, "LOT_SIZE": RejectReason.LOT_SIZE,
                   "MIN_NOTIONAL": RejectReason.MIN_NOTIONAL, "NOTIONAL": RejectReason.MIN_NOTIONAL}


@dataclass(slots=True)
class _Order:
    request: OrderRequest
    column: int
    remaining: Decimal
    reserved: Decimal
    tick: Decimal
    queue_ahead: float = math.nan
    fee_prepaid: Decimal = Decimal(0)
    # The fill model's fixed columns of this order (side, limit, tick, lot), converted once
    fixed: tuple[int, float, float, float] = (0, math.nan, math.nan, math.nan)


@dataclass(frozen=True, slots=True)
class FillRecord:
    """One booked fill (the ledger's fills row, in floats for the arrays)."""

    ts_ms: int
    column: int
    side: int  # fills.BUY or fills.SELL
    price: Decimal
    amount: Decimal
    fee: Decimal
    liquidity: int  # fills.MAKER or fills.TAKER


class FastAccount:
    """Cash, reservations, open limit orders and positions of one quote asset."""

    def __init__(self, instruments: Mapping[str, Instrument], columns: Mapping[str, int],
                 quote_asset: str, balance: Decimal, params: FillParams, id_prefix: str = "E",
                 spreads: np.ndarray | None = None):
        """`spreads`: each grid column's relative spread for the book a bar is given
        (PaperBroker's `spreads`); None = `bar_spread_ticks` ticks for all."""
        self.instruments = dict(instruments)
        self.spreads = spreads
        self.columns = dict(columns)
        self._by_column = {columns[s]: i for s, i in self.instruments.items()}
        # float(tick_at(price)) of the columns whose tick is one size at every price
        self._flat_tick = {c: float(i.tick) for c, i in self._by_column.items()
                           if not i.tick_bands}
        self.quote_asset = quote_asset
        self.params = params
        self._maker_rate = Decimal(str(params.maker_fee_bps)) / _BPS
        self._taker_rate = Decimal(str(params.taker_fee_bps)) / _BPS
        self._totals: dict[str, Decimal] = {quote_asset: balance}
        self._reserved: dict[str, Decimal] = {}
        self.orders: dict[str, _Order] = {}
        self.positions: dict[str, Position] = {}
        self.last_price: dict[str, Decimal] = {}
        self._prefix = id_prefix
        self._order_seq = 0
        self._trade_seq = 0
        self.events: list[OrderEvent | OrderRequest] = []  # for the ledger, in order
        self.fills: list[FillRecord] = []
        self.fees_paid = Decimal(0)
        self.traded_notional = Decimal(0)
        self.round_trips: list[RoundTrip] = []
        self._held: np.ndarray | None = None  # held()'s mask until a fill moves a position
        self._held_any: tuple[np.ndarray | None, bool] = (None, False)  # (held(), any of it)
        self._amounts: np.ndarray | None = None  # amounts() as of the last fill
        # what the match kernel reads beside the orders: each column's relative spread (an
        # empty array for none) and the book levels' growth table
        self._spread_column = (np.zeros(0) if spreads is None
                               else np.ascontiguousarray(spreads, np.float64))
        self._powers = fill_kernel.level_growth(params.book_level_growth, params.book_levels)

    # --- queries ---------------------------------------------------------------------------
    def cash(self) -> Decimal:
        """The quote balance, free and reserved (PaperBroker.balances)."""
        return self._totals.get(self.quote_asset, Decimal(0))

    def free(self, asset: str) -> Decimal:
        return self._totals.get(asset, Decimal(0)) - self._reserved.get(asset, Decimal(0))

    def equity(self) -> Decimal:
        """Trader.equity: cash plus every position at its last price."""
        held = sum((p.amount * self.last_price.get(s, p.avg_price)
                    for s, p in self.positions.items()), Decimal(0))
        return self.cash() + held

    def portfolio(self, equity: Decimal) -> PortfolioView:
        """Trader._portfolio for a paper account (a canceled order is gone at once)."""
        pending: dict[str, Decimal] = {}
        for order in self.orders.values():
            request = order.request
            if request.side is Side.BUY and request.price is not None:
                pending[request.symbol] = (pending.get(request.symbol, Decimal(0))
                                           + order.remaining * request.price)
        positions = {s: (p.amount, self.last_price.get(s, p.avg_price))
                     for s, p in self.positions.items() if p.amount > 0}
        return PortfolioView(equity=equity, cash=self.free(self.quote_asset),
                             positions=positions, pending_buys=pending)

    def resting(self) -> tuple[RestingOrder, ...]:
        """The open orders as a policy sees them."""
        return tuple(RestingOrder(cid, o.request.symbol, o.request.side.value,
                                  float(o.request.price or 0), float(o.remaining),
                                  o.request.ts_event, amount=float(o.request.amount))
                     for cid, o in self.orders.items())

    def holdings(self) -> dict[str, Holding]:
        """The positions as a policy sees them (Trader._view)."""
        return {s: Holding(float(p.amount), float(p.avg_price), p.opened_ms)
                for s, p in self.positions.items() if p.amount > 0}

    def held(self, n: int) -> np.ndarray:
        """Bool [n] per grid column: a position > 0 (kept until a fill moves a position;
        callers must not write to it)."""
        if self._held is None or len(self._held) != n:
            out = np.zeros(n, bool)
            for symbol, position in self.positions.items():
                if position.amount > 0:
                    out[self.columns[symbol]] = True
            out.flags.writeable = False
            self._held = out
        return self._held

    def amounts(self, n: int) -> np.ndarray:
        """Position amounts per grid column, as floats (for the equity marks): a new array
        at every call, copied from the one each fill keeps up to date."""
        if self._amounts is None or len(self._amounts) != n:
            self._amounts = np.zeros(n)
            for symbol, position in self.positions.items():
                self._amounts[self.columns[symbol]] = float(position.amount)
        return self._amounts.copy()

    def held_any(self, n: int) -> bool:
        """Whether `held(n)` holds anything (kept with it)."""
        held = self.held(n)
        if self._held_any[0] is not held:
            self._held_any = (held, bool(held.any()))
        return self._held_any[1]

    # --- requests --------------------------------------------------------------------------
    def next_client_order_id(self) -> str:
        self._order_seq += 1
        return f"{self._prefix}-{self._order_seq:08d}"

    def submit(self, request: OrderRequest) -> None:
        """PaperBroker.submit for a limit order: filters, reservation, Accepted/Rejected."""
        self.events.append(request)
        ts = request.ts_event
        instrument = self.instruments[request.symbol]
        assert request.type is OrderType.LIMIT and request.price is not None
        violation = instrument.check(request.price, request.amount)
        if violation is not None:
            self._record(Rejected(request.client_order_id, request.symbol,
                                  _FILTER_REASONS[violation.filter], violation.detail, ts, ts))
            return
        if request.side is Side.SELL:
            asset, need = instrument.base, request.amount
        else:
            worst = max(self._maker_rate, self._taker_rate)
            asset = instrument.quote
            need = (request.amount * request.price * (1 + worst)).quantize(
                FEE_QUANTUM, rounding=ROUND_CEILING)
        free = self.free(asset)
        if need > free:
            self._record(Rejected(request.client_order_id, request.symbol,
                                  RejectReason.INSUFFICIENT_FUNDS,
                                  f"need {need} {asset}, free {free}", ts, ts))
            return
        self._reserved[asset] = self._reserved.get(asset, Decimal(0)) + need
        tick = instrument.tick_at(request.price)
        self.orders[request.client_order_id] = _Order(
            request, self.columns[request.symbol], request.amount, need, tick,
            fixed=(_SIDES[request.side], float(request.price), float(tick),
                   float(instrument.lot)))
        self._record(Accepted(request.client_order_id, request.symbol, request.side,
                              request.type, request.amount, request.price, ts, ts))

    def cancel(self, client_order_id: str, ts: int) -> None:
        """A cancel at a decision step, after the market closed up to it: final at once."""
        order = self.orders.get(client_order_id)
        if order is None:
            self._record(Rejected(client_order_id, "", RejectReason.UNKNOWN_ORDER,
                                  f"{client_order_id} is not an open order", ts, ts))
            return
        self._close(client_order_id)
        self._record(Canceled(client_order_id, order.request.symbol, order.remaining, ts, ts))

    # --- market ------------------------------------------------------------------------------
    def match_bars(self, open_ms: int, close_ms: int, has_bar: np.ndarray, open_: np.ndarray,
                   high: np.ndarray, low: np.ndarray, close: np.ndarray,
                   volume: np.ndarray) -> None:
        """PaperBroker.on_bars: open orders of symbols with a bar this row meet it, in
        column order, each symbol's orders in submission order; the fill model's book and
        match for all of them in one compiled call (trading/fast_match_kernel.py: what
        `fills.market_from_bars` and `fills.match` give, bit for bit)."""
        by_column: dict[int, list[str]] = {}
        for cid, order in self.orders.items():
            if has_bar[order.column]:
                by_column.setdefault(order.column, []).append(cid)
        if not by_column:
            return
        owners = [cid for column in sorted(by_column) for cid in by_column[column]]
        flat, by_column_instrument = self._flat_tick, self._by_column
        table = []
        for cid in owners:
            order = self.orders[cid]
            c = order.column
            side, price, tick, lot = order.fixed
            request = order.request
            table.append((c, side, price, float(order.remaining), order.queue_ahead,
                          request.ts_event, math.inf if request.side is Side.SELL
                          else float(order.reserved + order.fee_prepaid), tick, lot,
                          flat[c] if c in flat
                          else float(by_column_instrument[c].tick_at(float(open_[c])))))
        params = self.params
        liquidity, level_price, level_amount, queue, canceled = fast_match_kernel.match_row(
            np.array(table, np.float64), open_ms, open_, high, low, close, volume,
            self._spread_column, self.spreads is not None, float(params.bar_spread_ticks),
            float(params.bar_book_share), float(params.max_volume_share),
            float(params.through_volume_share), float(params.maker_fee_bps),
            float(params.taker_fee_bps), int(params.book_levels),
            float(params.book_level_growth), self._powers, int(params.book_level_spacing_ticks),
            fills.NO_CANCEL_MS)
        # As Python values (the same ones): numpy scalars cost more than the booking
        for cid, taker, prices, amounts, queue_after, closed in zip(
                owners, (liquidity == fills.TAKER).tolist(), level_price.tolist(),
                level_amount.tolist(), queue.tolist(), canceled.tolist()):
            self._apply(cid, taker, prices, amounts, queue_after, closed, close_ms)

    # --- internals ---------------------------------------------------------------------------
    def _apply(self, cid: str, taker: bool, level_price: list[float],
               level_amount: list[float], queue_ahead: float, canceled: bool, ts: int) -> None:
        """PaperBroker._apply: one order's fill-model row into booked fills."""
        order = self.orders[cid]
        request = order.request
        instrument = self.instruments[request.symbol]
        liquidity = Liquidity.TAKER if taker else Liquidity.MAKER
        rate = self._taker_rate if taker else self._maker_rate
        for price_f, amount_f in zip(level_price, level_amount):
            if amount_f == 0:
                continue
            grid = _on_grid(price_f, amount_f, order.tick, instrument.lot, order.fixed)
            if grid is None:
                continue
            price, amount = grid[0], min(grid[1], order.remaining)
            if amount <= 0:
                continue
            if request.side is Side.BUY:
                amount, fee, prepaid = payable_buy(amount, price, rate, instrument.lot,
                                                  order.reserved + self.free(instrument.quote))
                order.fee_prepaid += prepaid
                if amount <= 0:
                    break
            else:
                fee = (price * amount * rate).quantize(FEE_QUANTUM, rounding=ROUND_CEILING)
            order.reserved -= self._settle(request.side, instrument, amount, price * amount,
                                           fee, order.reserved)
            order.remaining -= amount
            self._trade_seq += 1
            trade_id = f"{self._prefix}-T{self._trade_seq:08d}"
            common = (cid, request.symbol, request.side, trade_id, price, amount, fee, liquidity)
            if order.remaining == 0:
                self._record(Filled(*common, ts, ts))
            else:
                self._record(PartiallyFilled(*common, order.remaining, ts, ts))
            self.fills.append(FillRecord(ts, order.column, _SIDES[request.side], price, amount,
                                         fee, fills.TAKER if taker else fills.MAKER))
        order.queue_ahead = queue_ahead
        if order.remaining == 0 or canceled:
            if order.remaining > 0:
                self._record(Canceled(cid, request.symbol, order.remaining, ts, ts))
            self._close(cid)

    def _settle(self, side: Side, instrument: Instrument, amount: Decimal, notional: Decimal,
                fee: Decimal, reserved_left: Decimal) -> Decimal:
        """Wallet.settle: book one fill; returns how much of the reservation it used."""
        base, quote, zero = instrument.base, instrument.quote, Decimal(0)
        if side is Side.BUY:
            cost = notional + fee
            used = min(cost, reserved_left)
            self._totals[quote] = self._totals.get(quote, zero) - cost
            self._totals[base] = self._totals.get(base, zero) + amount
            self._reserved[quote] = self._reserved.get(quote, zero) - used
            return used
        self._totals[base] = self._totals.get(base, zero) - amount
        self._reserved[base] = self._reserved.get(base, zero) - amount
        self._totals[quote] = self._totals.get(quote, zero) + notional - fee
        return amount

    def _close(self, cid: str) -> None:
        order = self.orders.pop(cid)
        instrument = self.instruments[order.request.symbol]
        asset = instrument.quote if order.request.side is Side.BUY else instrument.base
        self._reserved[asset] = self._reserved.get(asset, Decimal(0)) - order.reserved

    def _record(self, event: OrderEvent) -> None:
        """Trader._record: keep the event; a fill moves the position (Trader._apply_fill)."""
        self.events.append(event)
        if not isinstance(event, (PartiallyFilled, Filled)):
            return
        self.fees_paid += event.fee
        self.traded_notional += event.price * event.amount
        position = self.positions.get(event.symbol)
        if position is None:  # (not setdefault: a Position built per fill costs)
            position = self.positions[event.symbol] = Position()
        self._held = None
        closed = position.book(event.symbol, event.side, event.price, event.amount, event.fee,
                               event.ts_event)
        if closed is not None:
            self.round_trips.append(closed)
        if self._amounts is not None:
            self._amounts[self.columns[event.symbol]] = float(position.amount)
        self.last_price.setdefault(event.symbol, event.price)


def _on_grid(price: float, amount: float, tick: Decimal, lot: Decimal,
             fixed: tuple[int, float, float, float]) -> tuple[Decimal, Decimal] | None:
    """exchange.brokers.fill_grid.fill_on_grid: a level on the order's grids, or None.
    `fixed`: the order's fill-model columns, float(tick) and float(lot) among them."""
    isfinite, ticks, lots = math.isfinite, price / fixed[2], amount / fixed[3]
    if not (isfinite(price) and isfinite(amount) and isfinite(ticks) and isfinite(lots)):
        return None
    exact = float_to_grid(price, tick), float_to_grid(amount, lot)
    return exact if exact[0] > 0 and exact[1] >= 0 else None
