"""Building a ccxt async exchange for live trading, and pacing every request it makes.

`make_exchange` creates the client (Binance or Upbit; any ccxt id works with the generic
dialect) and can point it at a local server such as our simulator, the way
../shared/data/README.md describes. `RequestGate` sits on top of ccxt's own limiter
(`enableRateLimit`): an `asyncio-throttle` budget per exchange, and one global back-off that
every request waits out after a 429/418 (DDoSProtection), so a rate-limited bot goes quiet
instead of earning a ban.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
from asyncio_throttle import Throttler  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one exchange spells client order ids, and our request budget for it."""

    name: str
    client_id_param: str  # create_order param carrying our client order id
    requests_per_s: float  # our own budget, below the exchange's published limit
    max_client_id_len: int


DIALECTS = {
    # Binance spot: 6,000 request weight per minute per IP; orders 100 per 10 s. We stay far
    # below: 10 requests per second.
    "binance": Dialect("binance", "clientOrderId", 10.0, 36),
    # Upbit: 8 order requests and 30 other requests per second per account.
    "upbit": Dialect("upbit", "clientOrderId", 8.0, 36),
}
GENERIC = Dialect("generic", "clientOrderId", 5.0, 32)
LOCAL_RATE_LIMIT_MS = 5  # ccxt's spacing for a server on this machine (the simulator)


def dialect_for(exchange_id: str) -> Dialect:
    """Known exchanges get their own budget; any other ccxt id gets a cautious default."""
    return DIALECTS.get(exchange_id, GENERIC)


def make_exchange(exchange_id: str, api_key: str, api_secret: str, *,
                  rest_url: str | None = None, timeout_ms: int = 10_000,
                  rate_limit_ms: int | None = None) -> Any:
    """A ccxt async client for `exchange_id` with the given keys.

    `rest_url` (e.g. `http://127.0.0.1:PORT` of the simulator) replaces the exchange's API
    host. `rate_limit_ms` replaces ccxt's own spacing between requests: by default the
    exchange's (50 ms for Binance), but `LOCAL_RATE_LIMIT_MS` for a loopback `rest_url`,
    where that spacing only slows reconciliation (a local server enforces its own limit,
    and our `RequestGate` budget still applies). Keys live only inside the ccxt object;
    never log it or its `__dict__`.
    """
    cls = getattr(ccxt_async, exchange_id, None)
    if exchange_id == "upbit":  # ccxt's class plus lookups by identifier and order trades
        from exchange.brokers.ccxt_upbit import UpbitClient

        cls = UpbitClient
    if cls is None:
        raise ValueError(f"ccxt has no exchange '{exchange_id}'; see ccxt.exchanges for the ids")
    options: dict[str, Any] = {}
    if exchange_id == "binance":
        options = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                   "fetchMargins": False, "defaultType": "spot"}
    settings: dict[str, Any] = {"apiKey": api_key, "secret": api_secret, "enableRateLimit": True,
                                "timeout": timeout_ms, "options": options}
    if rate_limit_ms is None and rest_url and is_loopback(rest_url):
        rate_limit_ms = LOCAL_RATE_LIMIT_MS
    if rate_limit_ms is not None:
        settings["rateLimit"] = rate_limit_ms
    exchange = cls(settings)
    if rest_url:
        point_at(exchange, rest_url.rstrip("/"))
    return exchange


def is_loopback(url: str) -> bool:
    """Whether `url` names this machine (127.0.0.0/8, ::1 or localhost)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def point_at(exchange: Any, base_url: str) -> None:
    """Send every REST call of a Binance or Upbit client to `base_url` instead."""
    api = exchange.urls["api"]
    if exchange.id == "binance":
        for key in ("public", "private", "v1", "sapi"):
            api[key] = api[key].replace("https://api.binance.com", base_url)
    elif exchange.id == "upbit":
        host = base_url.split("://", 1)[-1]
        exchange.hostname = host
        exchange.urls["api"] = {"public": base_url, "private": base_url,
                                "ws": base_url.replace("http", "ws", 1)}
    else:
        raise ValueError(f"pointing {exchange.id} at a local server is not supported")


class RequestGate:
    """Paces requests: a per-exchange budget plus a global back-off after rate limits."""

    def __init__(self, requests_per_s: float, *, clock: Callable[[], float] = time.monotonic,
                 max_backoff_s: float = 60.0) -> None:
        # asyncio-throttle counts requests per period; a 1 s period with N slots.
        self._throttler = Throttler(rate_limit=max(1, round(requests_per_s)), period=1.0)
        self._clock = clock
        self._resume_at = 0.0
        self._penalty_s = 0.0
        self.max_backoff_s = max_backoff_s
        self.rate_limited = 0  # how many 429/418 answers we took
        self.requests = 0  # how many requests went out (for status)
        self.errors: dict[str, int] = {}  # failed requests by error class (for status)

    def back_off(self, retry_after_s: float | None) -> float:
        """A 429/418 arrived: every request waits `Retry-After` (or a doubling penalty).
        Returns the wait."""
        self.rate_limited += 1
        self._penalty_s = min(self.max_backoff_s, max(1.0, self._penalty_s * 2))
        wait = max(retry_after_s or 0.0, self._penalty_s)
        self._resume_at = max(self._resume_at, self._clock() + wait)
        log.warning("exchange rate limit hit: all requests pause for %.1f s", wait)
        return wait

    def calm(self) -> None:
        """A request went through: the next rate-limit penalty starts small again."""
        self._penalty_s = 0.0

    @property
    def paused_s(self) -> float:
        """Seconds left in the global back-off."""
        return max(0.0, self._resume_at - self._clock())

    async def call(self, request: Callable[[], Awaitable[T]]) -> T:
        """Run one request once the back-off is over and the budget has room; counted, and a
        failure counted by its error class and raised on (the caller decides what it means)."""
        while (wait := self.paused_s) > 0:
            await asyncio.sleep(wait)
        self.requests += 1
        try:
            async with self._throttler:
                result = await request()
        except Exception as exc:
            name = type(exc).__name__
            self.errors[name] = self.errors.get(name, 0) + 1
            raise
        self.calm()
        return result


def retry_after_s(exchange: Any) -> float | None:
    """The `Retry-After` header of the exchange's last response, in seconds, if any."""
    headers = getattr(exchange, "last_response_headers", None) or {}
    for name, value in dict(headers).items():
        if str(name).lower() == "retry-after":
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None
