"""Binance spot trading endpoints of the simulated exchange.

SIGNED (HMAC-SHA256, `auth.py`): `POST/GET/DELETE /api/v3/order`, `GET /api/v3/openOrders`,
`/allOrders`, `/myTrades`, `/account`. API-key only: `POST/PUT/DELETE /api/v3/userDataStream`.
Every request counts against the account's rate limit (429 + `Retry-After`, then 418).
Errors use Binance's codes and messages (so ccxt maps them to the same exception classes
as against the real exchange) and never echo credentials.

Test hooks: `limiter.fail_next(status, n)` answers the next n requests with 429/418/5xx;
`drop_next_responses(n)` processes the next n requests and then cuts the connection before
answering (a lost acknowledgement: the order exists, the client does not know it).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from exchange.sim.account import (
    IdCounters,
    MinuteBar,
    SimAccount,
    SimOrder,
    SimTrade,
    TopOfBook,
)
from exchange.sim.auth import (
    ApiCredentials,
    ApiError,
    Authenticator,
    RateLimiter,
    bad_request,
    split_params,
)
from exchange.sim.bars import MinuteBars
from exchange.sim.user_stream import UserStreams, account_position, execution_report, num
from model.fills import FillParams
from model.instruments import Side
from model.orders import OrderType

if TYPE_CHECKING:
    from exchange.sim.venue import SimVenue

Params = dict[str, str]
_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
DEFAULT_LIMIT, MAX_LIMIT = 500, 1000


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers=headers,
                        content_type="application/json")


def _error(exc: ApiError) -> web.Response:
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s is not None else None
    return _json({"code": exc.code, "msg": exc.msg}, exc.status, headers)


def _mandatory(params: Params, name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise bad_request(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or "
                                 "malformed.")
    return value


def _decimal(params: Params, name: str) -> Decimal:
    text = _mandatory(params, name)
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise bad_request(-1100, f"Illegal characters found in parameter '{name}'; legal range "
                                 "is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")
    return value


def _int(params: Params, name: str) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    if not text.isdigit() or len(text) > 20:
        raise bad_request(-1100, f"Illegal characters found in parameter '{name}'; legal range "
                                 "is '^[0-9]{1,20}$'.")
    return int(text)


def _limit(params: Params) -> int:
    limit = _int(params, "limit")
    return DEFAULT_LIMIT if limit is None else max(1, min(limit, MAX_LIMIT))


def order_json(order: SimOrder) -> dict[str, Any]:
    """`GET /api/v3/order` (and openOrders/allOrders rows)."""
    return {
        "symbol": order.symbol, "orderId": order.order_id, "orderListId": -1,
        "clientOrderId": order.client_order_id, "price": num(order.price),
        "origQty": num(order.orig_qty), "executedQty": num(order.executed_qty),
        "cummulativeQuoteQty": num(order.cum_quote), "status": order.status,
        "timeInForce": "GTC", "type": order.type.value, "side": order.side.value,
        "stopPrice": num(Decimal(0)), "icebergQty": num(Decimal(0)), "time": order.time_ms,
        "updateTime": order.update_ms, "isWorking": True, "workingTime": order.time_ms,
        "origQuoteOrderQty": num(Decimal(0)), "selfTradePreventionMode": "NONE",
    }


def trade_json(trade: SimTrade) -> dict[str, Any]:
    """One `GET /api/v3/myTrades` row."""
    return {
        "symbol": trade.symbol, "id": trade.trade_id, "orderId": trade.order_id,
        "orderListId": -1, "price": num(trade.price), "qty": num(trade.qty),
        "quoteQty": num(trade.quote_qty), "commission": num(trade.commission),
        "commissionAsset": trade.commission_asset, "time": trade.time_ms,
        "isBuyer": trade.side is Side.BUY, "isMaker": trade.is_maker, "isBestMatch": True,
    }


class OrdersApi:
    """Accounts of the simulated exchange and their HTTP endpoints."""

    def __init__(self, sim: SimVenue) -> None:
        self.sim = sim
        self.auth = Authenticator()
        self.limiter = RateLimiter()
        self.streams = UserStreams()
        self.ids = IdCounters()
        self.accounts: dict[str, SimAccount] = {}
        self._drop_responses = 0

    # -- accounts --------------------------------------------------------------------------
    def open_account(self, credentials: ApiCredentials, balances: dict[str, Decimal],
                     fill_params: FillParams | None = None) -> SimAccount:
        """Create an account reachable with `credentials`, holding `balances`."""
        if credentials.api_key in self.accounts:
            raise ValueError("an account with this API key already exists")
        instruments = {i.symbol: i for i in self.sim.instruments}
        account = SimAccount.open(instruments, balances, fill_params or FillParams(), self.ids)
        key = credentials.api_key

        def publish(executions: list[Any], assets: list[str], ts_ms: int) -> None:
            for execution in executions:
                self.streams.publish(key, execution_report(execution, ts_ms))
            self.streams.publish(key, account_position(account.balances(), assets, ts_ms))

        account.listeners.append(publish)
        self.auth.add(credentials)
        self.accounts[key] = account
        return account

    def drop_next_responses(self, count: int = 1) -> None:
        """Process the next `count` signed requests but cut the connection instead of
        answering (see module docstring)."""
        self._drop_responses += count

    def top_of_book(self, symbol: str) -> TopOfBook:
        index = self.sim.symbol_index(symbol)
        if index is None:
            raise bad_request(-1121, "Invalid symbol.")
        stats = self.sim.ticker_stats(index)
        return TopOfBook(stats.last, stats.bid, stats.ask, stats.bid_qty, stats.ask_qty)

    def on_minute_closed(self, bars: MinuteBars) -> None:
        """Match every account's resting orders against the minute's closed bars."""
        if not any(a.open_orders() for a in self.accounts.values()):
            return
        rows = [
            MinuteBar(self.sim.symbols[i], bars.open_ms, float(bars.open[k]), float(bars.high[k]),
                      float(bars.low[k]), float(bars.close[k]), float(bars.volume[k]))
            for k, i in enumerate(bars.index.tolist())
        ]
        for account in self.accounts.values():
            account.on_bars(rows)

    # -- routes ----------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        signed: list[tuple[str, str, Callable[[SimAccount, Params], Any]]] = [
            ("POST", "/api/v3/order", self.new_order),
            ("GET", "/api/v3/order", self.query_order),
            ("DELETE", "/api/v3/order", self.cancel_order),
            ("GET", "/api/v3/openOrders", self.open_orders),
            ("GET", "/api/v3/allOrders", self.all_orders),
            ("GET", "/api/v3/myTrades", self.my_trades),
            ("GET", "/api/v3/account", self.account),
        ]
        routes = [web.route(m, path, self._signed(h)) for m, path, h in signed]
        routes += [web.route(m, "/api/v3/userDataStream", self._user_stream)
                   for m in ("POST", "PUT", "DELETE")]
        return routes

    def _signed(self, handler: Callable[[SimAccount, Params], Any]) -> Any:
        async def endpoint(request: web.Request) -> web.Response:
            api_key = request.headers.get("X-MBX-APIKEY")
            try:
                self.limiter.check(api_key or str(request.remote))
                body = await request.text() if request.method in ("POST", "PUT") else ""
                params, payload, signature = split_params(request.rel_url.raw_query_string, body)
                account = self.auth.verify(api_key, params, payload, signature)
                response = _json(handler(self.accounts[account], params))
            except ApiError as exc:
                response = _error(exc)
            if self._drop_responses > 0:
                self._drop_responses -= 1
                if request.transport is not None:
                    request.transport.abort()
            return response

        return endpoint

    async def _user_stream(self, request: web.Request) -> web.Response:
        try:
            self.limiter.check(request.headers.get("X-MBX-APIKEY") or str(request.remote))
            account = self.auth.known_key(request.headers.get("X-MBX-APIKEY"))
            if request.method == "POST":
                return _json({"listenKey": self.streams.create(account)})
            body = await request.text()
            params, _, _ = split_params(request.rel_url.raw_query_string, body)
            listen_key = _mandatory(params, "listenKey")
            if request.method == "PUT":
                self.streams.keepalive(account, listen_key)
            else:
                self.streams.close(account, listen_key)
            return _json({})
        except ApiError as exc:
            return _error(exc)

    # -- signed endpoints ------------------------------------------------------------------
    def new_order(self, account: SimAccount, params: Params) -> dict[str, Any]:
        symbol = _mandatory(params, "symbol")
        side_text, type_text = _mandatory(params, "side"), _mandatory(params, "type")
        if side_text not in ("BUY", "SELL"):
            raise bad_request(-1117, "Invalid side.")
        if type_text not in ("LIMIT", "MARKET"):
            raise bad_request(-1116, "Invalid orderType.")
        order_type = OrderType(type_text)
        price: Decimal | None = None
        if order_type is OrderType.LIMIT:
            if _mandatory(params, "timeInForce") != "GTC":
                raise bad_request(-1115, "Invalid timeInForce.")
            price = _decimal(params, "price")
        qty = _decimal(params, "quantity")
        client_id = params.get("newClientOrderId") or f"sim-{secrets.token_hex(8)}"
        if not _CLIENT_ID.match(client_id):
            raise bad_request(-1100, "Illegal characters found in parameter 'newClientOrderId'; "
                                     "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
        response_type = params.get("newOrderRespType", "FULL")
        if response_type not in ("ACK", "RESULT", "FULL"):
            raise bad_request(-1177, "Invalid newOrderRespType.")
        before = len(account.trades)
        order = account.place(symbol, Side(side_text), order_type, qty, price, client_id,
                              self.sim.now_ms, self.top_of_book(symbol))
        ack = {"symbol": order.symbol, "orderId": order.order_id, "orderListId": -1,
               "clientOrderId": order.client_order_id, "transactTime": order.time_ms}
        if response_type == "ACK":
            return ack
        result = {**ack, **{k: v for k, v in order_json(order).items()
                            if k not in ("time", "updateTime", "isWorking", "stopPrice",
                                         "icebergQty")}}
        if response_type == "FULL":
            result["fills"] = [
                {"price": num(t.price), "qty": num(t.qty), "commission": num(t.commission),
                 "commissionAsset": t.commission_asset, "tradeId": t.trade_id}
                for t in account.trades[before:] if t.order_id == order.order_id
            ]
        return result

    def _find(self, account: SimAccount, params: Params) -> SimOrder | None:
        symbol = _mandatory(params, "symbol")
        order_id, client_id = _int(params, "orderId"), params.get("origClientOrderId")
        if order_id is None and not client_id:
            raise bad_request(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but "
                                     "both were empty/null!")
        if self.sim.symbol_index(symbol) is None:
            raise bad_request(-1121, "Invalid symbol.")
        return account.find(symbol, order_id, client_id)

    def query_order(self, account: SimAccount, params: Params) -> dict[str, Any]:
        order = self._find(account, params)
        if order is None:
            raise bad_request(-2013, "Order does not exist.")
        return order_json(order)

    def cancel_order(self, account: SimAccount, params: Params) -> dict[str, Any]:
        order = self._find(account, params)
        if order is None:
            raise bad_request(-2011, "Unknown order sent.")
        account.cancel(order.symbol, order.order_id, None, self.sim.now_ms)
        body = order_json(order)
        for name in ("time", "updateTime", "isWorking", "workingTime", "stopPrice", "icebergQty"):
            body.pop(name)
        return {**body, "origClientOrderId": order.client_order_id,
                "clientOrderId": params.get("newClientOrderId") or f"cancel-{order.order_id}",
                "transactTime": self.sim.now_ms}

    def open_orders(self, account: SimAccount, params: Params) -> list[dict[str, Any]]:
        symbol = params.get("symbol") or None
        if symbol is not None and self.sim.symbol_index(symbol) is None:
            raise bad_request(-1121, "Invalid symbol.")
        return [order_json(o) for o in account.open_orders(symbol)]

    def all_orders(self, account: SimAccount, params: Params) -> list[dict[str, Any]]:
        symbol = _mandatory(params, "symbol")
        from_id, start, end = _int(params, "orderId"), _int(params, "startTime"), _int(params, "endTime")
        rows = [o for o in account.orders if o.symbol == symbol
                and (from_id is None or o.order_id >= from_id)
                and (start is None or o.time_ms >= start) and (end is None or o.time_ms <= end)]
        rows = rows[:_limit(params)] if from_id is not None or start is not None else rows[-_limit(params):]
        return [order_json(o) for o in rows]

    def my_trades(self, account: SimAccount, params: Params) -> list[dict[str, Any]]:
        symbol = _mandatory(params, "symbol")
        order_id, from_id = _int(params, "orderId"), _int(params, "fromId")
        start, end = _int(params, "startTime"), _int(params, "endTime")
        rows = [t for t in account.trades if t.symbol == symbol
                and (order_id is None or t.order_id == order_id)
                and (from_id is None or t.trade_id >= from_id)
                and (start is None or t.time_ms >= start) and (end is None or t.time_ms <= end)]
        limit = _limit(params)
        rows = rows[:limit] if from_id is not None or start is not None else rows[-limit:]
        return [trade_json(t) for t in rows]

    def account(self, account: SimAccount, params: Params) -> dict[str, Any]:
        maker, taker = account.fill_params.maker_fee_bps, account.fill_params.taker_fee_bps
        omit_zero = params.get("omitZeroBalances", "false").lower() == "true"
        balances = [
            {"asset": asset, "free": num(free), "locked": num(locked)}
            for asset, (free, locked) in sorted(account.balances().items())
            if not (omit_zero and free == 0 and locked == 0)
        ]
        rates = {"maker": num(Decimal(str(maker)) / 10_000), "taker": num(Decimal(str(taker)) / 10_000),
                 "buyer": num(Decimal(0)), "seller": num(Decimal(0))}
        return {
            "makerCommission": int(maker), "takerCommission": int(taker), "buyerCommission": 0,
            "sellerCommission": 0, "commissionRates": rates, "canTrade": True,
            "canWithdraw": False, "canDeposit": False, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": self.sim.now_ms, "accountType": "SPOT", "balances": balances,
            "permissions": ["SPOT"], "uid": 1,
        }
