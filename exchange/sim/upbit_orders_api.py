"""Upbit exchange (private) REST endpoints of the simulated exchange.

The same accounts and matching as the Binance face (`orders_api.py`, `account.py`, fills by
`model/fills.py`): an account opened here is a `SimAccount` in `sim.orders.accounts`, its
resting orders meet every closed minute bar, and it can be traded through either protocol.
This module only speaks Upbit: JWT auth (`upbit_auth.py`), Upbit's parameters, rules and
errors, and Upbit's bodies (`upbit_order_json.py`).

Endpoints: `GET /v1/accounts`, `GET /v1/orders/chance`, `POST /v1/orders` (limit bid/ask,
market ask; JSON body), `GET /v1/order` and `DELETE /v1/order` (by `uuid` or `identifier`;
uuid wins when both are sent), `GET /v1/orders/open`, `GET /v1/orders/closed`, and the older
`GET /v1/orders?state=`. Market bids by total (`ord_type=price`), `best` orders and
`time_in_force` are refused with a `validation_error` that says so.

Rules as Upbit applies them: prices on the tick grid of the market at the order's price
(KRW bands by era, `exchange.feeds.upbit_rest.upbit_instrument`), a minimum order total,
an `identifier` unique among *all* the account's orders, spent even when the order is then
refused (Upbit's documented rule; the retried create of a lost order is therefore always
refused, and a client must look the order up instead). Errors are `{"error": {"name",
"message"}}` with Upbit's names (`validation_error`, `invalid_price_bid`,
`under_min_total_bid`, `insufficient_funds_ask`, `order_not_found`, ...). Rate limits are per
account and group (orders 8/s, the rest 30/s); every answer carries `Remaining-Req`, and
over the limit the answer is 429 with a plain-text body.

Test hooks: `limiter.fail_next(status, n)` / `order_limiter.fail_next`; and
`drop_next_responses(n)`, which processes the next n private requests and cuts the
connection instead of answering (a lost acknowledgement).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from exchange.feeds.upbit_rest import upbit_instrument
from exchange.sim.account import SimAccount, SimOrder
from exchange.sim.auth import ApiCredentials, ApiError, RateLimiter
from exchange.sim.upbit_auth import (
    UpbitApiError,
    UpbitAuthenticator,
    body_hash_source,
    query_hash_source,
    validation_error,
)
from exchange.sim.upbit_order_json import (
    account_rows,
    chance_json,
    order_id_of,
    order_json,
    state_of,
)
from exchange.sim.upbit_protocol import market_code
from model.fills import FillParams
from model.instruments import Instrument, Side
from model.orders import OrderType

if TYPE_CHECKING:
    from exchange.sim.venue import SimVenue

Params = dict[str, Any]  # scalar values as str; `name[]` parameters as list[str]
Handler = Callable[[SimAccount, Params], Any]
MAX_TOTAL = Decimal(1_000_000_000_000)  # Upbit's max_total per order (KRW)
NOT_FOUND = UpbitApiError(404, "order_not_found", "주문을 찾지 못했습니다.")


class GroupLimiter(RateLimiter):
    """Binance-style rolling-second limiter that can also say what is left (Remaining-Req)."""

    def remaining(self, who: str) -> int:
        return max(0, self.requests_per_s - len(self._recent.get(who, ())))


def _decimal(params: Params, name: str) -> Decimal:
    text = params.get(name)
    if not isinstance(text, str) or not text:
        raise validation_error(f"{name} is missing")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise validation_error(f"{name} is not a number: {text[:30]!r}") from None
    if not value.is_finite() or value <= 0:
        raise validation_error(f"{name} must be a positive number")
    return value


def _int(params: Params, name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not isinstance(text, str) or not text.isdigit() or not low <= int(text) <= high:
        raise validation_error(f"{name} must be an integer in {low}..{high}")
    return int(text)


class UpbitOrdersApi:
    """Upbit's private endpoints over the simulator's accounts."""

    def __init__(self, sim: SimVenue) -> None:
        self.sim = sim
        self.auth = UpbitAuthenticator()
        self.limiter = GroupLimiter(requests_per_s=30)  # Upbit's "default" exchange group
        self.order_limiter = GroupLimiter(requests_per_s=8)  # the "order" group
        self.markets = {market_code(i): i for i in sim.instruments}
        self._identifiers: dict[str, dict[str, int]] = {}  # key -> identifier -> order id
        self._named: dict[int, str] = {}  # order id -> identifier
        self._drop_responses = 0
        self._serial = 0

    # -- accounts and hooks ----------------------------------------------------------------
    def open_account(self, credentials: ApiCredentials, balances: dict[str, Decimal],
                     fill_params: FillParams | None = None) -> SimAccount:
        """Create an account reachable with `credentials` (also over the Binance face)."""
        account = self.sim.orders.open_account(credentials, balances, fill_params)
        self.auth.add(credentials)
        self._identifiers[credentials.api_key] = {}
        return account

    def drop_next_responses(self, count: int = 1) -> None:
        """Process the next `count` private requests but cut the connection instead."""
        self._drop_responses += count

    def routes(self) -> list[web.RouteDef]:
        """aiohttp routes to add to the sim's application."""
        private: list[tuple[str, str, Handler, str]] = [
            ("GET", "/v1/accounts", self.accounts, "default"),
            ("GET", "/v1/orders/chance", self.chance, "default"),
            ("POST", "/v1/orders", self.new_order, "order"),
            ("GET", "/v1/order", self.get_order, "default"),
            ("DELETE", "/v1/order", self.cancel_order, "default"),
            ("GET", "/v1/orders/open", self.open_orders, "default"),
            ("GET", "/v1/orders/closed", self.closed_orders, "default"),
            ("GET", "/v1/orders", self.list_orders, "default"),
        ]
        return [web.route(m, path, self._private(h, group)) for m, path, h, group in private]

    # -- the request pipeline --------------------------------------------------------------
    def _private(self, handler: Handler, group: str) -> Any:
        limiter = self.order_limiter if group == "order" else self.limiter

        async def endpoint(request: web.Request) -> web.StreamResponse:
            key = ""
            try:
                params, hash_source = await _params(request)
                key = self.auth.verify(request.headers.get("Authorization"), hash_source)
                limiter.check(key)
                status = 201 if request.method == "POST" else 200
                body = handler(self.sim.orders.accounts[key], params)
                response = _json(body, status)
            except UpbitApiError as exc:
                response = _json(exc.body(), exc.status)
            except ApiError as exc:  # the limiter: 429/418 (or an injected 5xx)
                text = "Too many API requests." if exc.status in (429, 418) else "Internal Server Error"
                response = web.Response(status=exc.status, text=text)
            remaining = limiter.remaining(key) if key else limiter.requests_per_s
            response.headers["Remaining-Req"] = f"group={group}; min=1800; sec={remaining}"
            if self._drop_responses > 0:
                self._drop_responses -= 1
                if request.transport is not None:
                    request.transport.abort()
            return response

        return endpoint

    # -- orders ----------------------------------------------------------------------------
    def new_order(self, account: SimAccount, params: Params) -> dict[str, Any]:
        """`POST /v1/orders`: validate as Upbit does, then place on the matching core."""
        instrument = self._market(params.get("market"))
        side_text = params.get("side")
        if side_text not in ("bid", "ask"):
            raise validation_error("side is missing, side does not have a valid value")
        side = Side.BUY if side_text == "bid" else Side.SELL
        ord_type = params.get("ord_type")
        if ord_type in ("price", "best"):
            raise validation_error(f"ord_type={ord_type} is not supported by the simulator; "
                                   "use limit, or market for asks")
        if ord_type not in ("limit", "market"):
            raise validation_error("ord_type is missing or not one of limit, price, market, best")
        if params.get("time_in_force") or params.get("smp_type"):
            raise validation_error("time_in_force and smp_type are not supported by the simulator")
        identifier = self._claim_identifier(account, params.get("identifier"))
        qty = _decimal(params, "volume")
        if ord_type == "market":
            if side is Side.BUY or params.get("price"):
                raise UpbitApiError(400, f"create_{side_text}_error",
                                    "시장가 매도는 volume만, 시장가 매수는 ord_type=price로 주문하세요.")
            price, reference = None, Decimal(repr(self.sim.orders.top_of_book(instrument.symbol).last))
        else:
            price = reference = _decimal(params, "price")
        self._check_rules(instrument, side_text, reference, qty, is_market=price is None)
        order_type = OrderType.LIMIT if price is not None else OrderType.MARKET
        client_id = identifier or self._anonymous_id()
        try:
            order = account.place(instrument.symbol, side, order_type, qty, price, client_id,
                                  self.sim.now_ms, self.sim.orders.top_of_book(instrument.symbol))
        except ApiError as exc:
            raise _translated(exc, side_text, instrument) from None
        if identifier is not None:
            self._identifiers[self._key_of(account)][identifier] = order.order_id
            self._named[order.order_id] = identifier
        return order_json(account, order, identifier)

    def get_order(self, account: SimAccount, params: Params) -> dict[str, Any]:
        """`GET /v1/order`: one order with its trades."""
        order = self._find(account, params)
        return order_json(account, order, self._named.get(order.order_id), with_trades=True)

    def cancel_order(self, account: SimAccount, params: Params) -> dict[str, Any]:
        """`DELETE /v1/order`: Upbit answers the order as it was when the cancel was taken
        (state `wait`); the cancel itself is immediate here."""
        order = self._find(account, params)
        if not order.is_open:
            raise NOT_FOUND
        body = order_json(account, order, self._named.get(order.order_id), state="wait")
        account.cancel(order.symbol, order.order_id, None, self.sim.now_ms)
        return body

    def open_orders(self, account: SimAccount, params: Params) -> list[dict[str, Any]]:
        """`GET /v1/orders/open`: waiting orders, newest first unless `order_by=asc`."""
        states = _states(params, default=["wait"], allowed=("wait", "watch"))
        rows = [o for o in self._listed(account, params) if state_of(o) in states]
        page = _int(params, "page", 1, 1, 1_000_000)
        limit = _int(params, "limit", 100, 1, 100)
        return self._bodies(account, rows[(page - 1) * limit: page * limit])

    def closed_orders(self, account: SimAccount, params: Params) -> list[dict[str, Any]]:
        """`GET /v1/orders/closed`: done and cancelled orders, newest first by default."""
        states = _states(params, default=["done", "cancel"], allowed=("done", "cancel"))
        start = _int(params, "start_time", 0, 0, 10**15)
        end = _int(params, "end_time", 10**15, 0, 10**15)
        rows = [o for o in self._listed(account, params)
                if state_of(o) in states and start <= o.time_ms <= end]
        return self._bodies(account, rows[:_int(params, "limit", 100, 1, 1000)])

    def list_orders(self, account: SimAccount, params: Params) -> list[dict[str, Any]]:
        """The older `GET /v1/orders?state=` list (also by `uuids[]`/`identifiers[]`)."""
        states = _states(params, default=["wait"], allowed=("wait", "watch", "done", "cancel"))
        uuids, names = params.get("uuids[]") or [], params.get("identifiers[]") or []
        rows = [o for o in self._listed(account, params) if state_of(o) in states]
        if uuids or names:
            ids = {order_id_of(u) for u in uuids}
            rows = [o for o in rows if o.order_id in ids or self._named.get(o.order_id) in names]
        page = _int(params, "page", 1, 1, 1_000_000)
        limit = _int(params, "limit", 100, 1, 100)
        return self._bodies(account, rows[(page - 1) * limit: page * limit])

    # -- balances and rules ----------------------------------------------------------------
    def accounts(self, account: SimAccount, params: Params) -> list[dict[str, Any]]:
        """`GET /v1/accounts`: every currency held, free (`balance`) and `locked`."""
        return account_rows(account)

    def chance(self, account: SimAccount, params: Params) -> dict[str, Any]:
        """`GET /v1/orders/chance?market=`: fees, the market's rules and the two accounts."""
        instrument = self._market(params.get("market"))
        rules = upbit_instrument(market_code(instrument), self._last(instrument), self.sim.now_ms)
        return chance_json(account, rules, MAX_TOTAL)

    # -- internals -------------------------------------------------------------------------
    def _market(self, code: Any) -> Instrument:
        if not isinstance(code, str) or not code:
            raise validation_error("market is missing")
        instrument = self.markets.get(code)
        if instrument is None:
            raise UpbitApiError(404, "market_does_not_exist", f"마켓을 찾을 수 없습니다: {code[:20]}")
        return instrument

    def _last(self, instrument: Instrument) -> float:
        return self.sim.orders.top_of_book(instrument.symbol).last

    def _check_rules(self, instrument: Instrument, side_text: str, price: Decimal, qty: Decimal,
                     *, is_market: bool) -> None:
        """Upbit's own rules at the order's price and the market's date (KRW tick bands)."""
        rules = upbit_instrument(market_code(instrument), float(price), self.sim.now_ms)
        violation = rules.check(price, qty, is_market=is_market)
        if violation is None:
            return
        if violation.filter == "PRICE_FILTER":
            raise UpbitApiError(400, f"invalid_price_{side_text}",
                                f"주문가격 단위를 잘못 입력하셨습니다 ({violation.detail}).")
        if violation.filter == "LOT_SIZE":
            raise validation_error(f"volume: {violation.detail}")
        raise UpbitApiError(400, f"under_min_total_{side_text}",
                            f"최소주문금액 이상으로 주문해주세요 ({violation.detail}).")

    def _claim_identifier(self, account: SimAccount, identifier: Any) -> str | None:
        """Spend an identifier: unique among all the account's orders, even failed ones."""
        if identifier is None or identifier == "":
            return None
        if not isinstance(identifier, str) or len(identifier) > 100:
            raise validation_error("identifier must be a string of at most 100 characters")
        used = self._identifiers[self._key_of(account)]
        if identifier in used:
            raise validation_error(f"identifier {identifier[:40]!r} was already used by an "
                                   "order of this account; look that order up instead")
        used[identifier] = 0  # spent now; the order id is filled in once it exists
        return identifier

    def _anonymous_id(self) -> str:
        self._serial += 1
        return f"upbit-sim-{self._serial}"

    def _key_of(self, account: SimAccount) -> str:
        return next(k for k, a in self.sim.orders.accounts.items() if a is account)

    def _find(self, account: SimAccount, params: Params) -> SimOrder:
        uuid, identifier = params.get("uuid"), params.get("identifier")
        if not uuid and not identifier:
            raise validation_error("uuid 혹은 identifier 둘 중 하나의 값이 반드시 포함되어야 합니다.")
        if uuid:
            order_id = order_id_of(str(uuid))
        else:
            order_id = self._identifiers[self._key_of(account)].get(str(identifier)) or None
        order = next((o for o in account.orders if o.order_id == order_id), None)
        if order is None:
            raise NOT_FOUND
        return order

    def _listed(self, account: SimAccount, params: Params) -> list[SimOrder]:
        code = params.get("market")
        symbol = self._market(code).symbol if code else None
        rows = [o for o in account.orders if symbol in (None, o.symbol)]
        order_by = params.get("order_by", "desc")
        if order_by not in ("asc", "desc"):
            raise validation_error("order_by must be asc or desc")
        return rows if order_by == "asc" else rows[::-1]

    def _bodies(self, account: SimAccount, rows: list[SimOrder]) -> list[dict[str, Any]]:
        return [order_json(account, o, self._named.get(o.order_id)) for o in rows]


def _states(params: Params, default: list[str], allowed: tuple[str, ...]) -> list[str]:
    states = params.get("states[]") or ([params["state"]] if params.get("state") else default)
    if any(s not in allowed for s in states):
        raise validation_error(f"state must be one of {', '.join(allowed)}")
    return list(states)


def _translated(exc: ApiError, side_text: str, instrument: Instrument) -> UpbitApiError:
    """The matching core speaks Binance; say the same refusal the way Upbit does."""
    if "insufficient balance" in exc.msg:
        currency = instrument.quote if side_text == "bid" else instrument.base
        return UpbitApiError(400, f"insufficient_funds_{side_text}",
                             f"주문가능한 금액({currency})이 부족합니다.")
    if "PRICE_FILTER" in exc.msg:
        return UpbitApiError(400, f"invalid_price_{side_text}", "주문가격 단위를 잘못 입력하셨습니다.")
    if "NOTIONAL" in exc.msg:
        return UpbitApiError(400, f"under_min_total_{side_text}", "최소주문금액 이상으로 주문해주세요.")
    return validation_error(exc.msg)


async def _params(request: web.Request) -> tuple[Params, str | None]:
    """The request's parameters and the text its `query_hash` must be taken of."""
    if request.method == "POST":
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            raise validation_error("the body must be JSON (Content-Type: application/json)") from None
        if not isinstance(body, dict):
            raise validation_error("the body must be a JSON object")
        params: Params = {k: [str(x) for x in v] if isinstance(v, list) else str(v)
                          for k, v in body.items() if v is not None}
        return params, body_hash_source(body) if body else None
    query = request.rel_url.query
    params = {name: query.getall(name) if name.endswith("[]") else query[name] for name in query}
    raw_query = request.rel_url.raw_query_string
    return params, query_hash_source(raw_query) if raw_query else None


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")
