"""Request authentication and rate limits of the simulated exchange, as Binance does them.

SIGNED endpoints carry `X-MBX-APIKEY` and a `signature` = HMAC-SHA256(secret, totalParams),
where totalParams is the query string followed by the form body, exactly as sent (the
signature itself is the last parameter and is excluded). `timestamp` must be within
`recvWindow` (default 5000 ms, at most 60000) of the server clock and not more than 1 s ahead.

The clock used here is the *transport* clock (wall time by default): clients sign with their
own wall clock, while the market clock of the simulator may run 60x faster or replay 2017.
Error bodies never echo a key, a secret or a signature back.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from model import errors

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60_000
_SIGNATURE = re.compile(r"(^|&)signature=[^&]*")


class ApiError(errors.OperatorError):
    """A request the exchange refuses: HTTP status, Binance code and message, and (429/418)
    the seconds to wait, sent as `Retry-After`."""

    def __init__(self, status: int, code: int, msg: str, retry_after_s: int | None = None):
        super().__init__(msg)
        self.status, self.code, self.msg, self.retry_after_s = status, code, msg, retry_after_s


def bad_request(code: int, msg: str) -> ApiError:
    """An HTTP 400 with a Binance error code."""
    return ApiError(400, code, msg)


@dataclass(frozen=True, slots=True)
class ApiCredentials:
    """One account's key pair. `repr` never shows the secret."""

    api_key: str
    secret: str

    def __repr__(self) -> str:
        return f"ApiCredentials(api_key='{self.api_key[:4]}…', secret='***')"


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


def split_params(query_string: str, body: str) -> tuple[dict[str, str], str, str | None]:
    """(parameters, the signed payload, the signature) of one request.

    Binance signs `query + body` when both are present; the `signature` parameter (wherever
    it is) is removed from the payload by cutting `&signature=...` off the raw text."""
    params: dict[str, str] = {}
    for text in (query_string, body):
        for name, value in parse_qsl(text, keep_blank_values=True):
            if name in params and name != "signature":
                raise bad_request(-1101, "Duplicate values for a parameter detected.")
            params[name] = value
    signature = params.pop("signature", None)
    payload = query_string + body if query_string and body else (query_string or body)
    payload = _SIGNATURE.sub("", payload).lstrip("&")
    return params, payload, signature


class Authenticator:
    """Known API keys, signature and timestamp checks."""

    def __init__(self, clock_ms: Callable[[], int] = wall_clock_ms) -> None:
        self._secrets: dict[str, str] = {}
        self.clock_ms = clock_ms

    def add(self, credentials: ApiCredentials) -> None:
        """Accept requests signed with this key pair."""
        self._secrets[credentials.api_key] = credentials.secret

    def known_key(self, api_key: str | None) -> str:
        """The account key of an API-key-only request (user data stream endpoints)."""
        if not api_key:
            raise ApiError(401, -2014, "API-key format invalid.")
        if api_key not in self._secrets:
            raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        return api_key

    def verify(self, api_key: str | None, params: dict[str, str], payload: str,
               signature: str | None) -> str:
        """Check a SIGNED request; returns its account key or raises the Binance error."""
        key = self.known_key(api_key)
        timestamp = params.get("timestamp", "")
        if not timestamp:
            raise bad_request(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null,"
                                     " or malformed.")
        recv_window = _recv_window(params.get("recvWindow"))
        if not signature:
            raise bad_request(-1102, "Mandatory parameter 'signature' was not sent, was empty/null,"
                                     " or malformed.")
        expected = hmac.new(self._secrets[key].encode(), payload.encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), signature.lower()):
            raise bad_request(-1022, "Signature for this request is not valid.")
        try:
            sent_ms = int(timestamp)
        except ValueError:
            raise bad_request(-1100, "Illegal characters found in parameter 'timestamp'; legal "
                                     "range is '^[0-9]{1,20}$'.") from None
        now = self.clock_ms()
        if sent_ms >= now + 1000:
            raise bad_request(-1021, "Timestamp for this request was 1000ms ahead of the server's "
                                     "time.")
        if now - sent_ms > recv_window:
            raise bad_request(-1021, "Timestamp for this request is outside of the recvWindow.")
        return key


def _recv_window(value: str | None) -> float:
    if value is None or value == "":
        return DEFAULT_RECV_WINDOW_MS
    try:
        window = float(value)
    except ValueError:
        window = math.nan
    if not 0 < window <= MAX_RECV_WINDOW_MS:
        raise bad_request(-1131, "recvWindow must be less than 60000")
    return window


class RateLimiter:
    """Requests per rolling second per account, with Binance's escalation: over the limit
    answers 429 with `Retry-After`; a client that keeps hammering during that wait is banned
    (418) for `ban_s`. `fail_next()` injects 429/418/5xx answers for tests."""

    def __init__(self, requests_per_s: int = 50, ban_after: int = 20, ban_s: int = 2,
                 clock_s: Callable[[], float] = time.monotonic) -> None:
        self.requests_per_s, self.ban_after, self.ban_s = requests_per_s, ban_after, ban_s
        self.clock_s = clock_s
        self._recent: dict[str, deque[float]] = {}
        self._limited_until: dict[str, float] = {}
        self._ignored: dict[str, int] = {}
        self._banned_until: dict[str, float] = {}
        self._injected: deque[int] = deque()
        self.requests = 0
        self.answered_429 = 0
        self.answered_418 = 0

    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next `count` limited requests with `status` (429, 418, 500, 503)."""
        self._injected.extend([status] * count)

    def check(self, who: str) -> None:
        """Count one request by `who`; raise the 429/418/5xx it must get instead."""
        self.requests += 1
        if self._injected:
            status = self._injected.popleft()
            if status in (429, 418):
                self._count_refusal(status)
                raise ApiError(status, -1003, f"Way too many requests; injected {status}.", 1)
            raise ApiError(status, -1000, "An unknown error occurred while processing the request.")
        now = self.clock_s()
        if now < self._banned_until.get(who, 0.0):
            self._count_refusal(418)
            wait = math.ceil(self._banned_until[who] - now)
            raise ApiError(418, -1003, f"Way too many requests; IP banned for {wait} s.", wait)
        if now < self._limited_until.get(who, 0.0):
            self._ignored[who] = self._ignored.get(who, 0) + 1
            if self._ignored[who] >= self.ban_after:
                self._banned_until[who] = now + self.ban_s
                self._ignored[who] = 0
            self._count_refusal(429)
            raise ApiError(429, -1003, self._limit_text(), 1)
        recent = self._recent.setdefault(who, deque())
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) >= self.requests_per_s:
            self._limited_until[who] = recent[0] + 1.0
            self._count_refusal(429)
            raise ApiError(429, -1003, self._limit_text(), 1)
        recent.append(now)

    def _limit_text(self) -> str:
        return f"Too many requests; current limit is {self.requests_per_s} requests per SECOND."

    def _count_refusal(self, status: int) -> None:
        if status == 429:
            self.answered_429 += 1
        else:
            self.answered_418 += 1
