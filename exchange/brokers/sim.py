"""Paper broker: simulated order execution on live or replayed market data.

It is the `model/fills.py` model with a batch of one symbol's open orders per market
event, plus what a real exchange adds around matching: filter checks, balance reservation,
client and trade ids, and the order lifecycle of `model.orders`. Everything is exact
`Decimal` here; floats exist only inside the fill model. Conversion back at the boundary: a
fill price is the nearest point of the order's tick grid to the model's price (which is on
the grid up to float error), an amount the nearest lot multiple, clamped to the remaining
and, for a buy, to the whole lots the account can pay (so cash never goes negative).

Deterministic by construction: no clock (event times come from requests and market data),
no randomness, orders matched in submission order, ids from counters.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import ROUND_CEILING, Decimal

import numpy as np

from exchange.brokers.fill_grid import fill_on_grid
from exchange.brokers.sim_ids import PaperIdCounters
from exchange.brokers.sim_market import Quote, SeenMarket
from exchange.brokers.sim_orders import (
    PaperOrder,
    order_arrays,
    reference_price,
    request_refusal,
    reservation,
)
from exchange.brokers.sim_wallet import Wallet
from model import fills
from model.fills import FillParams
from model.instruments import Instrument, Side
from model.market import Bar, BarBatch
from model.orders import (
    Accepted,
    Canceled,
    Filled,
    Liquidity,
    OpenOrder,
    OrderEvent,
    OrderRequest,
    PartiallyFilled,
    Rejected,
    RejectReason,
)
from model.settlement import FEE_QUANTUM, payable_buy

log = logging.getLogger(__name__)

_BPS = Decimal(10_000)


class PaperBroker(PaperIdCounters):
    """Simulated broker: `submit`, `cancel`, then feed it market events (`on_bars`,
    `close_market_until`); every call returns the order events it caused, in a
    deterministic order."""

    # Its balances move in the same call that returns the fill (trading/broker.py).
    balances_run_ahead = False
    # A requested cancel is final for matching: the order meets no later event (ADR-011).
    cancel_may_still_fill = False

    def __init__(
        self,
        instruments: Iterable[Instrument],
        fill_params: FillParams,
        balances: dict[str, Decimal],
        id_prefix: str = "E",
        *,
        market_buy_reserve_pct: Decimal = Decimal(5),
        spreads: Mapping[str, float] | None = None,
    ) -> None:
        """`spreads`: each symbol's relative bid-ask spread (model/costs.py) for the book
        a bar is given; a symbol not in it gets `bar_spread_ticks` ticks."""
        self._instruments = {i.symbol: i for i in instruments}
        self._params = fill_params
        self._spreads = dict(spreads or {})  # each new account's SeenMarket starts with them
        self.fill_params = fill_params
        self.id_prefix = id_prefix
        self._prefix = id_prefix
        # A market buy's cost is unknown until it fills: reserve the reference ask plus this
        # margin (and the taker fee); the fill model never spends more than the reservation.
        self._market_buy_margin = 1 + market_buy_reserve_pct / 100
        self._maker_rate = Decimal(str(fill_params.maker_fee_bps)) / _BPS
        self._taker_rate = Decimal(str(fill_params.taker_fee_bps)) / _BPS
        self._open_account(balances)

    def _open_account(self, balances: Mapping[str, Decimal]) -> None:
        """The account's state: `balances`, no order, no market seen, counters at zero."""
        self._wallet = Wallet(dict(balances))
        self._orders: dict[str, PaperOrder] = {}  # open orders, in submission order
        self._used_ids: set[str] = set()
        # Each symbol's last close, the quote it leaves, and its closed-until time.
        self._market = SeenMarket(self._instruments, self._params.bar_spread_ticks,
                                  self._spreads)
        self._order_seq = 0
        self._trade_seq = 0
        # The last BarBatch symbols' tuple found all traded here (`_saw_batch`), and whether
        # it holds every traded symbol.
        self._traded_batch_symbols: tuple[str, ...] | None = None
        self._batch_every_symbol = False

    # ------------------------------------------------------------ restart (ids: sim_ids.py)

    def restore_balances(self, totals: Mapping[str, Decimal]) -> None:
        """Restart: the simulated account starts again from the ledger's balances, as a
        fresh broker would (no open order, no market seen, counters at zero); the trader
        then restores the open orders and the counters."""
        self._open_account(totals)

    # ------------------------------------------------------------ queries

    def balances(self) -> dict[str, Decimal]:
        """Total holdings per asset (free + reserved by open orders)."""
        return self._wallet.totals()

    def free_balances(self) -> dict[str, Decimal]:
        """Holdings not reserved by open orders."""
        return self._wallet.free()

    def free_balance(self, asset: str) -> Decimal:
        """`free_balances().get(asset, Decimal(0))` without building every asset's."""
        return self._wallet.free_of(asset)

    def reserved_balances(self) -> dict[str, Decimal]:
        """Amounts locked by open orders (buys: limit cost + worst fee; sells: base)."""
        return self._wallet.reserved()

    def open_orders(self) -> list[OpenOrder]:
        """Open orders in submission order."""
        if not self._orders:  # most decision steps
            return []
        return [o.open_order(cid) for cid, o in self._orders.items()]

    # ------------------------------------------------------------ requests

    def submit(self, request: OrderRequest) -> list[OrderEvent]:
        """Validate and accept an order (reserving its funds), or reject it with a reason."""
        ts = request.ts_event

        def reject(reason: RejectReason, detail: str) -> list[OrderEvent]:
            return [Rejected(request.client_order_id, request.symbol, reason, detail, ts, ts)]

        if request.client_order_id in self._used_ids:
            return reject(RejectReason.DUPLICATE_CLIENT_ID, f"{request.client_order_id} used")
        instrument = self._instruments.get(request.symbol)
        if instrument is None:
            return reject(RejectReason.UNKNOWN_SYMBOL, f"no instrument {request.symbol}")
        quote = self._market.quote(request.symbol)
        refused = request_refusal(request, instrument, quote)
        if refused is not None:
            return reject(*refused)
        price = reference_price(request, quote)
        assert price is not None
        asset, need = self._reservation(request, instrument, quote)
        free = self._wallet.free_of(asset)
        if need > free:
            detail = f"need {need} {asset}, free {free}"
            return reject(RejectReason.INSUFFICIENT_FUNDS, detail)
        self._wallet.reserve(asset, need)
        self._used_ids.add(request.client_order_id)
        self._orders[request.client_order_id] = PaperOrder(
            request, request.amount, need, instrument.tick_at(price)
        )
        return [
            Accepted(
                request.client_order_id,
                request.symbol,
                request.side,
                request.type,
                request.amount,
                request.price,
                ts,
                ts,
            )
        ]

    def restore_open_order(self, request: OrderRequest, remaining: Decimal, *,
                           acknowledged: bool = True) -> bool:
        """Re-open an order the ledger says was open when the process stopped (restart).

        No event is emitted: the ledger already has its Accepted and fills. Its funds are
        reserved again by the broker's own rules; its place in the queue is lost (it
        re-queues behind the book on the next event, the pessimistic choice). An order sent
        but never acknowledged never reached this broker: it is not restored (False).
        """
        if not acknowledged:
            return False
        instrument = self._instruments[request.symbol]
        partial = OrderRequest(request.client_order_id, request.symbol, request.side,
                               request.type, remaining, request.price, request.ts_event)
        asset, need = self._reservation(partial, instrument, self._market.quote(request.symbol))
        self._wallet.reserve(asset, need)
        self._used_ids.add(request.client_order_id)
        price = request.price if request.price is not None else Decimal(0)
        self._orders[request.client_order_id] = PaperOrder(request, remaining, need,
                                                           instrument.tick_at(price))
        return True

    def cancel(self, client_order_id: str, ts: int) -> list[OrderEvent]:
        """Cancel at `ts`: at once when no market event that could still fill the order can
        come (its symbol's market is closed up to `ts`: a decision at a bar boundary, after
        that minute's bar), else at the symbol's next market event, which may still fill the
        order if it was already in progress at `ts` (a cancel in the middle of a bar).

        At once means what a real exchange's synchronous cancel does: `Canceled` is returned
        now and the reservation is free for an order placed in the same step (ADR-011)."""
        order = self._orders.get(client_order_id)
        if order is None:
            detail = f"{client_order_id} is not an open order"
            return [Rejected(client_order_id, "", RejectReason.UNKNOWN_ORDER, detail, ts, ts)]
        order.cancel_ms = min(order.cancel_ms, ts)
        symbol = order.request.symbol
        if order.cancel_ms > self._market.closed_until(symbol):
            return []  # an event starting before the cancel may still come and fill it
        self._close(client_order_id)
        return [Canceled(client_order_id, symbol, order.remaining, ts, ts)]

    def close_market_until(self, ts_ms: int) -> list[OrderEvent]:
        """Declare every symbol's market closed up to `ts_ms` (the trader's decision step at
        a minute boundary: a minute without a bar had no trade, ADR-003), so no event that
        starts earlier will be fed any more. Cancels already requested before `ts_ms` can
        then meet no event: they end now, with their `Canceled`, and free their funds."""
        self._market.close_all_until(ts_ms)
        if not self._orders:  # most steps: nothing open, nothing to end
            return []
        due = [cid for cid, o in self._orders.items() if o.cancel_ms <= ts_ms]
        events: list[OrderEvent] = []
        for cid in due:
            order = self._orders[cid]
            self._close(cid)
            events.append(Canceled(cid, order.request.symbol, order.remaining, ts_ms, ts_ms))
        return events

    # ------------------------------------------------------------ market events

    def on_bar(self, bar: Bar) -> list[OrderEvent]:
        """Match the symbol's open orders against one closed 1m bar along its path."""
        instrument = self._instruments.get(bar.symbol)
        if instrument is None:
            return []
        market = self._market.fill_market([bar], self._params)
        self._market.saw_bar(bar)
        return self._match(bar.symbol, market, bar.close_ms, bar.close_ms)

    def on_bars(self, bars: Iterable[Bar]) -> list[OrderEvent]:
        """`on_bar` for a minute's bars of many symbols in one fill-model call: the same
        events in the same order as calling `on_bar` bar by bar (orders are matched
        independently, so batching across symbols changes nothing but the cost). A replay's
        BarBatch meeting no open order is only seen, from its columns."""
        if isinstance(bars, BarBatch):
            symbols = bars.symbols
            if symbols is self._traded_batch_symbols and not self._orders:  # most minutes
                self._market.saw_close_column(symbols, bars.close, bars.close_ms,
                                              every_symbol=self._batch_every_symbol)
                return []
            if self._saw_batch(bars):
                return []
        rows = [b for b in bars if b.symbol in self._instruments]
        if len({b.symbol for b in rows}) != len(rows):  # two bars of a symbol: state carries
            return [event for bar in rows for event in self.on_bar(bar)]
        owners: list[tuple[int, str]] = []
        for index, bar in enumerate(rows):
            owners.extend((index, cid) for cid, o in self._orders.items()
                          if o.request.symbol == bar.symbol)
        events: list[OrderEvent] = []
        if owners:
            market = self._market.fill_market(rows, self._params)
            batch = order_arrays([self._orders[cid] for _, cid in owners], self._instruments)
            batch = replace(batch, event=np.array([index for index, _ in owners], np.int64))
            result = fills.match(batch, market, self._params)
            for row, (index, cid) in enumerate(owners):
                close_ms = rows[index].close_ms
                events.extend(self._apply(cid, result, row, close_ms, close_ms))
        for bar in rows:
            self._market.saw_bar(bar)
        return events

    def _saw_batch(self, batch: BarBatch) -> bool:
        """A minute's bars seen from their columns when the batch's symbols are all traded
        here and none has an open order (nothing to match); False, changing nothing,
        otherwise. A replay brings the same symbols' tuple every minute: once it is found
        all traded, that tuple (kept, so its identity stands for its contents) is not
        checked again."""
        symbols = batch.symbols
        if symbols is not self._traded_batch_symbols:
            instruments = self._instruments
            if not all(s in instruments for s in symbols):
                return False
            self._traded_batch_symbols = symbols
            self._batch_every_symbol = len(symbols) == len(instruments)
        if self._orders and any(o.request.symbol in symbols for o in self._orders.values()):
            return False
        self._market.saw_close_column(symbols, batch.close, batch.close_ms,
                                      every_symbol=self._batch_every_symbol)
        return True

    # ------------------------------------------------------------ internals

    def _close(self, cid: str) -> None:
        """Drop an order that ends unfilled or filled, unlocking what it still reserves."""
        order = self._orders.pop(cid)
        instrument = self._instruments[order.request.symbol]
        asset = instrument.quote if order.request.side is Side.BUY else instrument.base
        self._wallet.release(asset, order.reserved)

    def _reservation(
        self, request: OrderRequest, instrument: Instrument, quote: Quote | None
    ) -> tuple[str, Decimal]:
        """`sim_orders.reservation` at this account's fee rates and market-buy margin."""
        return reservation(request, instrument, quote, market_buy_margin=self._market_buy_margin,
                           maker_rate=self._maker_rate, taker_rate=self._taker_rate)

    def _match(
        self, symbol: str, market: fills.MarketArrays, ts_event: int, ts_recv: int
    ) -> list[OrderEvent]:
        ids = [cid for cid, o in self._orders.items() if o.request.symbol == symbol]
        if not ids:
            return []
        batch = order_arrays([self._orders[cid] for cid in ids], self._instruments)
        result = fills.match(batch, market, self._params)
        events: list[OrderEvent] = []
        for row, cid in enumerate(ids):
            events.extend(self._apply(cid, result, row, ts_event, ts_recv))
        return events

    def _apply(
        self, cid: str, result: fills.FillArrays, row: int, ts_event: int, ts_recv: int
    ) -> list[OrderEvent]:
        """Turn one order's row of fill-model output into ledger events and balance moves."""
        order = self._orders[cid]
        request = order.request
        instrument = self._instruments[request.symbol]
        liquidity = Liquidity.TAKER if result.liquidity[row] == fills.TAKER else Liquidity.MAKER
        rate = self._taker_rate if liquidity is Liquidity.TAKER else self._maker_rate
        events: list[OrderEvent] = []
        for price_f, amount_f in zip(result.level_price[row], result.level_amount[row]):
            if amount_f == 0:
                continue  # nothing filled at this level
            grid = fill_on_grid(float(price_f), float(amount_f), order.tick, instrument.lot)
            if grid is None:
                log.warning("order %s on %s: the fill model gave price %r amount %r; not booked, "
                            "the order stays open", cid, request.symbol, float(price_f),
                            float(amount_f))
                continue
            price, amount = grid[0], min(grid[1], order.remaining)
            if amount <= 0:
                continue
            if request.side is Side.BUY:
                free = self._wallet.free_of(instrument.quote)
                amount, fee, prepaid = payable_buy(amount, price, rate, instrument.lot,
                                                  order.reserved + free)
                order.fee_prepaid += prepaid
                if amount <= 0:
                    break  # the account cannot pay another lot
            else:
                fee = (price * amount * rate).quantize(FEE_QUANTUM, rounding=ROUND_CEILING)
            notional = price * amount
            order.reserved -= self._wallet.settle(
                request.side, instrument, amount, notional, fee, order.reserved
            )
            order.remaining -= amount
            self._trade_seq += 1
            trade_id = f"{self.id_stems()[1]}{self._trade_seq:08d}"
            common = (cid, request.symbol, request.side, trade_id, price, amount, fee, liquidity)
            if order.remaining == 0:
                events.append(Filled(*common, ts_event, ts_recv))
            else:
                events.append(PartiallyFilled(*common, order.remaining, ts_event, ts_recv))
        order.queue_ahead = float(result.queue_ahead[row])
        if order.remaining == 0 or result.canceled[row]:
            if order.remaining > 0:
                events.append(Canceled(cid, request.symbol, order.remaining, ts_event, ts_recv))
            self._close(cid)
        return events
