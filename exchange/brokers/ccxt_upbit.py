"""ccxt's Upbit client with the two calls the live broker needs and ccxt does not give.

Everything else (JWT signing, endpoints, parsing, error mapping) is ccxt's own `upbit` class,
unchanged; `make_exchange("upbit", ...)` builds this subclass.

* `fetch_order(None, symbol, {"clientOrderId": cid})`: ccxt always sends `uuid`, and Upbit
  looks an order up by `uuid` whenever one is present (`uuid=None` finds nothing), so a
  lookup by our client id must send `identifier` alone. This is how the broker finds an
  order whose acknowledgement was lost.
* `fetch_order_trades(id)`: ccxt has none for Upbit; the trades are in `GET /v1/order`.
  Upbit reports no fee per trade there, only the order's `paid_fee`, so each new trade's fee
  is its share (by funds) of what `paid_fee` grew by since the trades already seen. The fees
  reported for an order then always add up to its `paid_fee`, exactly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
from ccxt.base.errors import ArgumentsRequired

ZERO = Decimal(0)
_SHARE_QUANTUM = Decimal("1e-12")


class UpbitClient(ccxt_async.upbit):  # type: ignore[misc, name-defined]
    """ccxt's async Upbit client plus lookups by `identifier` and per-order trades."""

    def describe(self) -> Any:
        return self.deep_extend(super().describe(), {"has": {"fetchOrderTrades": True}})

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        super().__init__(config or {})
        self._trade_fees: dict[str, dict[str, Decimal]] = {}  # order uuid -> trade id -> fee

    async def fetch_order(self, id: str | None, symbol: str | None = None,
                          params: dict[str, Any] | None = None) -> Any:
        params = dict(params or {})
        identifier = params.pop("clientOrderId", None) or params.pop("identifier", None)
        if id is not None:
            return await super().fetch_order(id, symbol, params)
        if identifier is None:
            raise ArgumentsRequired("upbit fetchOrder() needs an order id or a clientOrderId")
        if self.markets is None:
            await self.load_markets()
        response = await self.privateGetOrder(self.extend({"identifier": identifier}, params))
        return self.parse_order(response)

    async def fetch_order_trades(self, id: str, symbol: str | None = None, since: int | None = None,
                                 limit: int | None = None,
                                 params: dict[str, Any] | None = None) -> list[Any]:
        order = await self.fetch_order(id, symbol, params or {})
        trades = list(order.get("trades") or [])
        paid_fee = Decimal(str((order.get("info") or {}).get("paid_fee") or "0"))
        self._assign_fees(str(order["id"]), trades, paid_fee, order.get("symbol"))
        return trades

    def _assign_fees(self, order_id: str, trades: list[dict[str, Any]], paid_fee: Decimal,
                     symbol: str | None) -> None:
        """Give every trade without a fee its share of the order's new `paid_fee`."""
        seen = self._trade_fees.setdefault(order_id, {})
        fresh = [t for t in trades if str(t["id"]) not in seen and not _has_fee(t)]
        for trade in trades:
            if str(trade["id"]) in seen:
                trade["fee"] = {"cost": str(seen[str(trade["id"])]), "currency": _quote(symbol)}
            elif _has_fee(trade):
                seen[str(trade["id"])] = Decimal(str(trade["fee"]["cost"]))
        if not fresh:
            return
        left = paid_fee - sum(seen.values(), ZERO)
        funds = [Decimal(str(t.get("cost") or 0)) for t in fresh]
        total = sum(funds, ZERO)
        assigned = ZERO
        for k, (trade, cost) in enumerate(zip(fresh, funds)):
            if k == len(fresh) - 1:
                fee = left - assigned  # the remainder: the shares add up exactly
            elif total > 0:
                fee = (left * cost / total).quantize(_SHARE_QUANTUM)
            else:
                fee = ZERO
            assigned += fee
            seen[str(trade["id"])] = fee
            trade["fee"] = {"cost": str(fee), "currency": _quote(symbol)}


def _has_fee(trade: dict[str, Any]) -> bool:
    fee = trade.get("fee")
    return isinstance(fee, dict) and fee.get("cost") is not None


def _quote(symbol: str | None) -> str | None:
    return symbol.split("/")[1] if symbol and "/" in symbol else None
