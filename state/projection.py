"""Projections: what one event does to orders, fills, positions and balances.

The rules live here once, behind a small `Store` interface, so the live write path, the
sqlite-utils path measured by the benchmark, and `rebuild_projections()` all run the same
code: a replay can only reproduce the tables if nothing else ever computed them.

Accounting (spot, fees in the quote asset):
- position: average entry price over the open amount (fees excluded, so it is the market
  price paid); reducing or closing realizes (price - average) x amount; every fee, buy or
  sell, is subtracted from realized PnL when it is paid. A sell larger than the position
  flips it, the remainder opening at the fill price.
- balances: an accepted limit buy locks price x amount of quote, any accepted sell locks the
  base amount; a fill releases its share of the lock and moves the traded amounts and the
  fee; a cancel releases what is still locked. `BalanceSet` overwrites an asset with the
  broker's figures. Balances are only projected for symbols whose assets are known.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Context, Decimal, localcontext
from typing import Protocol

from model.instruments import Side
from model.orders import Accepted, Canceled, Filled, OrderRequest, PartiallyFilled, Rejected
from state.codec import BalanceSet, LedgerEvent, decimal_text, optional_text

ZERO = Decimal(0)
LEDGER_CONTEXT = Context(prec=34)
"""Arithmetic context of all ledger math, fixed so results never depend on a caller's
global context (IEEE decimal128 precision: far beyond any exchange's grid)."""

OPEN_STATUSES = ("SUBMITTED", "ACCEPTED", "PARTIALLY_FILLED")

AssetsOf = Callable[[str], "tuple[str, str] | None"]
"""symbol -> (base, quote), or None when the ledger should not project its balances."""

Row = dict[str, object]


class Store(Protocol):
    """Reads and writes of projection rows (stored form: money as TEXT) in the open
    transaction. Two implementations exist: plain sqlite3 (the ledger) and sqlite-utils
    (the benchmark's reference)."""

    def order(self, client_order_id: str) -> Row | None: ...
    def put_order(self, row: Row) -> None: ...
    def add_fill(self, row: Row) -> None: ...
    def position(self, symbol: str) -> Row | None: ...
    def put_position(self, row: Row) -> None: ...
    def balance(self, asset: str) -> Row | None: ...
    def put_balance(self, row: Row) -> None: ...


def next_position(amount: Decimal, avg_price: Decimal, realized: Decimal, side: Side,
                  price: Decimal, qty: Decimal, fee: Decimal
                  ) -> tuple[Decimal, Decimal, Decimal]:
    """(amount, avg_price, realized_pnl) after one fill; pure, so it is tested alone."""
    signed = qty if side is Side.BUY else -qty
    with localcontext(LEDGER_CONTEXT):
        realized -= fee
        if amount == 0 or (amount > 0) == (signed > 0):  # opening or adding
            new_amount = amount + signed
            avg_price = (abs(amount) * avg_price + qty * price) / abs(new_amount)
            return new_amount, avg_price, realized
        closing = min(qty, abs(amount))
        direction = 1 if amount > 0 else -1
        realized += closing * (price - avg_price) * direction
        new_amount = amount + signed
        if new_amount == 0:
            return ZERO, ZERO, realized
        if (new_amount > 0) != (amount > 0):  # flipped: the rest opens at this price
            return new_amount, price, realized
        return new_amount, avg_price, realized


class Projector:
    """Applies events to a `Store`: the single definition of every projection rule."""

    def __init__(self, assets_of: AssetsOf) -> None:
        self._assets_of = assets_of

    def apply(self, event: LedgerEvent, store: Store) -> None:
        """Update the projection rows for one event (the caller owns the transaction)."""
        with localcontext(LEDGER_CONTEXT):
            if isinstance(event, (PartiallyFilled, Filled)):
                self._fill(event, store)
            elif isinstance(event, Accepted):
                self._accepted(event, store)
            elif isinstance(event, Canceled):
                self._canceled(event, store)
            elif isinstance(event, Rejected):
                self._rejected(event, store)
            elif isinstance(event, OrderRequest):
                self._requested(event, store)
            elif isinstance(event, BalanceSet):
                store.put_balance({"asset": event.asset, "free": decimal_text(event.free),
                                   "locked": decimal_text(event.locked),
                                   "updated_ts": event.ts_event})
            else:
                raise TypeError(f"not a ledger event: {event!r}")

    def _requested(self, event: OrderRequest, store: Store) -> None:
        if store.order(event.client_order_id) is not None:
            return  # a resubmission after restart: the first request stands
        store.put_order(_new_order(event.client_order_id, event.symbol, event.ts_event,
                                   "SUBMITTED", event.side, event.type.value,
                                   event.price, event.amount))

    def _accepted(self, event: Accepted, store: Store) -> None:
        row = store.order(event.client_order_id)
        first = row is None or row["status"] == "SUBMITTED"  # a repeated ack locks nothing
        if row is None:
            row = _new_order(event.client_order_id, event.symbol, event.ts_event, "ACCEPTED")
        row.update(side=event.side.value, type=event.type.value,
                   price=optional_text(event.price), amount=decimal_text(event.amount),
                   updated_ts=event.ts_event)
        if not first:
            store.put_order(row)
            return
        lock = ZERO
        if event.side is Side.SELL:
            lock = event.amount
        elif event.price is not None:
            lock = event.price * event.amount
        row.update(status="ACCEPTED", locked=decimal_text(lock))
        store.put_order(row)
        assets = self._assets(event.symbol)
        if lock and assets:
            base, quote = assets
            self._move(store, base if event.side is Side.SELL else quote, -lock, lock,
                       event.ts_event)

    def _rejected(self, event: Rejected, store: Store) -> None:
        row = store.order(event.client_order_id) or _new_order(
            event.client_order_id, event.symbol, event.ts_event, "REJECTED")
        row.update(status="REJECTED", updated_ts=event.ts_event)
        store.put_order(row)

    def _canceled(self, event: Canceled, store: Store) -> None:
        row = store.order(event.client_order_id) or _new_order(
            event.client_order_id, event.symbol, event.ts_event, "CANCELED")
        released = Decimal(str(row["locked"]))
        row.update(status="CANCELED", locked="0", updated_ts=event.ts_event)
        store.put_order(row)
        assets = self._assets(event.symbol)
        if released and assets and row["side"] is not None:
            base, quote = assets
            asset = base if row["side"] == Side.SELL.value else quote
            self._move(store, asset, released, -released, event.ts_event)

    def _fill(self, event: PartiallyFilled | Filled, store: Store) -> None:
        row = store.order(event.client_order_id) or _new_order(
            event.client_order_id, event.symbol, event.ts_event, "ACCEPTED", event.side)
        locked = Decimal(str(row["locked"]))
        if event.side is Side.SELL:
            release = min(locked, event.amount)
        else:
            limit = row["price"]
            release = min(locked, Decimal(str(limit)) * event.amount) if limit else ZERO
        row.update(filled=decimal_text(Decimal(str(row["filled"])) + event.amount),
                   locked=decimal_text(locked - release), updated_ts=event.ts_event,
                   status="FILLED" if isinstance(event, Filled) else "PARTIALLY_FILLED")
        store.put_order(row)
        store.add_fill({"trade_id": event.trade_id, "client_order_id": event.client_order_id,
                        "symbol": event.symbol, "side": event.side.value,
                        "price": decimal_text(event.price),
                        "amount": decimal_text(event.amount), "fee": decimal_text(event.fee),
                        "liquidity": event.liquidity.value, "ts_event": event.ts_event})
        self._position(event, store)
        assets = self._assets(event.symbol)
        if assets is None:
            return
        base, quote = assets
        notional = event.price * event.amount
        if event.side is Side.BUY:
            self._move(store, quote, release - notional - event.fee, -release, event.ts_event)
            self._move(store, base, event.amount, ZERO, event.ts_event)
        else:
            self._move(store, base, release - event.amount, -release, event.ts_event)
            self._move(store, quote, notional - event.fee, ZERO, event.ts_event)

    def _position(self, event: PartiallyFilled | Filled, store: Store) -> None:
        row = store.position(event.symbol)
        amount, avg, realized = (ZERO, ZERO, ZERO) if row is None else (
            Decimal(str(row["amount"])), Decimal(str(row["avg_price"])),
            Decimal(str(row["realized_pnl"])))
        amount, avg, realized = next_position(amount, avg, realized, event.side,
                                              event.price, event.amount, event.fee)
        store.put_position({"symbol": event.symbol, "amount": decimal_text(amount),
                            "avg_price": decimal_text(avg),
                            "realized_pnl": decimal_text(realized),
                            "updated_ts": event.ts_event})

    def _assets(self, symbol: str) -> tuple[str, str] | None:
        return self._assets_of(symbol)

    @staticmethod
    def _move(store: Store, asset: str, free_delta: Decimal, locked_delta: Decimal,
              ts: int) -> None:
        """Add deltas to one asset's balance (creating it at zero)."""
        row = store.balance(asset)
        free, locked = (ZERO, ZERO) if row is None else (
            Decimal(str(row["free"])), Decimal(str(row["locked"])))
        store.put_balance({"asset": asset, "free": decimal_text(free + free_delta),
                           "locked": decimal_text(locked + locked_delta), "updated_ts": ts})


def _new_order(client_order_id: str, symbol: str, ts: int, status: str,
               side: Side | None = None, order_type: str | None = None,
               price: Decimal | None = None, amount: Decimal | None = None) -> Row:
    """An orders row; fields we have not heard yet stay NULL."""
    return {"client_order_id": client_order_id, "symbol": symbol,
            "side": None if side is None else side.value, "type": order_type,
            "price": optional_text(price), "amount": optional_text(amount), "filled": "0",
            "locked": "0", "status": status, "created_ts": ts, "updated_ts": ts}
