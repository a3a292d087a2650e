"""Upbit exchange-API bodies for the simulator's orders, trades and balances.

Pure functions from the matching core's records (`exchange/sim/account.py`) to the JSON
Upbit answers, in the field names and shapes of Upbit's API reference and of what ccxt's
`upbit.parse_order` / `parse_trade` / `parse_balance` read: numbers are decimal strings,
times ISO 8601 in KST (`+09:00`), sides `bid`/`ask`, states `wait`/`done`/`cancel`.

Order and trade ids are UUID-shaped strings that encode the exchange's integer ids, so they
are deterministic (same seed, same ids) and can be read back without a table.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from exchange.sim.account import CANCELED, EXPIRED, FILLED, SimAccount, SimOrder, SimTrade
from exchange.sim.upbit_protocol import KST, market_code
from model.instruments import Instrument, Side
from model.orders import OrderType

ZERO = Decimal(0)
_ORDER_PREFIX = "5e1f0c2a-7b3d-4e8a-9c41-"
_TRADE_PREFIX = "a3d94b70-1e6c-4f25-8b07-"
_STATES = {FILLED: "done", CANCELED: "cancel", EXPIRED: "cancel"}


def order_uuid(order_id: int) -> str:
    """The Upbit `uuid` of the exchange's order `order_id`."""
    return f"{_ORDER_PREFIX}{order_id:012x}"


def order_id_of(uuid: str) -> int | None:
    """The integer order id a `uuid` from `order_uuid` encodes, or None for any other text."""
    if not uuid.startswith(_ORDER_PREFIX) or len(uuid) != 36:
        return None
    try:
        return int(uuid[len(_ORDER_PREFIX):], 16)
    except ValueError:
        return None


def trade_uuid(trade_id: int) -> str:
    """The Upbit `uuid` of the exchange's trade `trade_id`."""
    return f"{_TRADE_PREFIX}{trade_id:012x}"


def num(value: Decimal) -> str:
    """Upbit's decimal strings: plain notation, no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def kst_iso(ts_ms: int, *, fraction: bool = False) -> str:
    """`2023-11-15T07:14:00+09:00` (orders) or with microseconds (trades), as Upbit sends."""
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=KST)
    return moment.isoformat(timespec="microseconds" if fraction else "seconds")


def state_of(order: SimOrder) -> str:
    """Upbit's order state: open orders `wait`, filled `done`, cancelled or expired `cancel`."""
    return "wait" if order.is_open else _STATES[order.status]


def fee_rate(account: SimAccount) -> Decimal:
    """The rate Upbit would reserve for a bid: the worse of maker and taker."""
    params = account.fill_params
    return Decimal(str(max(params.maker_fee_bps, params.taker_fee_bps))) / 10_000


def trade_json(trade: SimTrade, code: str) -> dict[str, Any]:
    """One entry of `GET /v1/order`'s `trades` (Upbit reports no per-trade fee there)."""
    return {
        "market": code, "uuid": trade_uuid(trade.trade_id), "price": num(trade.price),
        "volume": num(trade.qty), "funds": num(trade.quote_qty),
        "trend": "up" if trade.side is Side.BUY else "down",
        "created_at": kst_iso(trade.time_ms, fraction=True),
        "side": "bid" if trade.side is Side.BUY else "ask",
    }  # fmt: skip


def order_json(account: SimAccount, order: SimOrder, identifier: str | None, *,
               with_trades: bool = False, state: str | None = None) -> dict[str, Any]:
    """An order as `POST /v1/orders`, `GET /v1/order` (with `trades`), `DELETE /v1/order` and
    the order lists answer it. `state` overrides the current state (a cancel's answer shows
    the order as it was when the cancel was accepted)."""
    instrument = account.instruments[order.symbol]
    code = market_code(instrument)
    trades = [t for t in account.trades if t.order_id == order.order_id]
    paid_fee = sum((t.commission for t in trades), ZERO)
    is_bid = order.side is Side.BUY
    is_limit = order.type is OrderType.LIMIT
    reserved_fee = order.orig_qty * order.price * fee_rate(account) if is_bid and is_limit else ZERO
    remaining_fee = order.remaining * order.price * fee_rate(account) if is_bid and order.is_open \
        and is_limit else ZERO
    body: dict[str, Any] = {
        "uuid": order_uuid(order.order_id), "side": "bid" if is_bid else "ask",
        "ord_type": "limit" if is_limit else "market",
        "price": num(order.price) if is_limit else None,
        "state": state or state_of(order), "market": code,
        "created_at": kst_iso(order.time_ms), "volume": num(order.orig_qty),
        "remaining_volume": num(order.remaining), "reserved_fee": num(reserved_fee),
        "remaining_fee": num(remaining_fee), "paid_fee": num(paid_fee),
        "locked": num(order.reserved if order.is_open else ZERO),
        "executed_volume": num(order.executed_qty), "executed_funds": num(order.cum_quote),
        "trades_count": len(trades), "identifier": identifier,
        "prevented_volume": "0", "prevented_locked": "0",
    }  # fmt: skip
    if body["price"] is None:
        del body["price"]
    if identifier is None:
        del body["identifier"]
    if with_trades:
        body["trades"] = [trade_json(t, code) for t in trades]
    return body


def account_rows(account: SimAccount, unit_currency: str = "KRW") -> list[dict[str, Any]]:
    """`GET /v1/accounts`: one row per currency the account holds (free or locked)."""
    return [
        {"currency": asset, "balance": num(free), "locked": num(locked),
         "avg_buy_price": "0", "avg_buy_price_modified": False, "unit_currency": unit_currency}
        for asset, (free, locked) in sorted(account.balances().items())
        if free != 0 or locked != 0
    ]  # fmt: skip


def _account_row(account: SimAccount, asset: str, unit_currency: str) -> dict[str, Any]:
    free, locked = account.balances().get(asset, (ZERO, ZERO))
    return {"currency": asset, "balance": num(free), "locked": num(locked),
            "avg_buy_price": "0", "avg_buy_price_modified": False,
            "unit_currency": unit_currency}


def chance_json(account: SimAccount, instrument: Instrument, max_total: Decimal) -> dict[str, Any]:
    """`GET /v1/orders/chance?market=`: fees, the market's rules and both sides' accounts."""
    params = account.fill_params
    maker = num(Decimal(str(params.maker_fee_bps)) / 10_000)
    taker = num(Decimal(str(params.taker_fee_bps)) / 10_000)
    code, quote, base = market_code(instrument), instrument.quote, instrument.base
    return {
        "bid_fee": taker, "ask_fee": taker, "maker_bid_fee": maker, "maker_ask_fee": maker,
        "market": {
            "id": code, "name": f"{base}/{quote}", "order_types": ["limit"],
            "ord_types": ["limit", "market"], "order_sides": ["ask", "bid"],
            "bid": {"currency": quote, "price_unit": None, "min_total": num(instrument.min_notional)},
            "ask": {"currency": base, "price_unit": None, "min_total": num(instrument.min_notional)},
            "max_total": num(max_total), "state": "active",
        },
        "bid_account": _account_row(account, quote, quote),
        "ask_account": _account_row(account, base, quote),
    }  # fmt: skip
