"""Request authentication of the simulated exchange's Upbit face, as Upbit does it.

Every exchange (private) request carries `Authorization: Bearer <JWT>`. The token is signed
with the account's secret key (HS256; HS512 is accepted too) and its payload holds:

* `access_key` -- which account;
* `nonce` -- a fresh string per request (a UUID); a nonce seen before is refused;
* `query_hash` and `query_hash_alg` ("SHA512", the default) -- required whenever the request
  has parameters: the SHA-512 hex digest of the *unencoded* query string. For GET and DELETE
  that is the URL's query as sent, percent-decoded (`unquote`); for a POST it is the JSON
  body's keys and values in body order joined as `k=v&k=v` (lists as repeated `k=v`), as
  Upbit's guide builds it with `unquote(urlencode(body, doseq=True))`.

Refusals are Upbit's: HTTP 401 with `{"error": {"name", "message"}}` and names
`jwt_verification` (bad token or signature), `invalid_query_payload` (missing or wrong
query hash, bad payload), `invalid_access_key`, `nonce_used`. Error bodies never echo a key,
a token or a secret. Pure and synchronous; the HTTP layer is `upbit_orders_api.py`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections import deque
from typing import Any
from urllib.parse import unquote, urlencode

import orjson

from exchange.sim.auth import ApiCredentials
from model import errors

_ALGORITHMS = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}
NONCE_MEMORY = 100_000  # nonces remembered per key (Upbit forbids any reuse)


class UpbitApiError(errors.OperatorError):
    """A request the Upbit face refuses: HTTP status, Upbit error name and message."""

    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.status, self.name, self.message = status, name, message

    def body(self) -> dict[str, Any]:
        """Upbit's error body."""
        return {"error": {"name": self.name, "message": self.message}}


def validation_error(message: str) -> UpbitApiError:
    """A 400 for a missing or malformed parameter."""
    return UpbitApiError(400, "validation_error", message)


def query_hash_source(raw_query: str) -> str:
    """What a GET or DELETE request's `query_hash` is taken of: the query, unencoded."""
    return unquote(raw_query)


def body_hash_source(body: dict[str, Any]) -> str:
    """What a POST request's `query_hash` is taken of: the JSON body as `k=v&...`."""
    pairs: list[tuple[str, str]] = []
    for key, value in body.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, _text(item)))
    return unquote(urlencode(pairs))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class UpbitAuthenticator:
    """Known access keys, JWT signature, nonce and query-hash checks."""

    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}
        self._nonces: dict[str, tuple[set[str], deque[str]]] = {}

    def add(self, credentials: ApiCredentials) -> None:
        """Accept tokens signed with this key pair."""
        self._secrets[credentials.api_key] = credentials.secret
        self._nonces.setdefault(credentials.api_key, (set(), deque()))

    def verify(self, authorization: str | None, hash_source: str | None) -> str:
        """Check one private request; returns its account key or raises the Upbit error.

        `hash_source` is the unencoded query (`query_hash_source`/`body_hash_source`), or
        None when the request has no parameters."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme != "Bearer" or not token:
            raise UpbitApiError(401, "jwt_verification",
                                "Authorization 헤더가 없거나 Bearer 형식이 아닙니다.")
        header, payload, signed, signature = self._split(token)
        key = payload.get("access_key")
        if not isinstance(key, str) or key not in self._secrets:
            raise UpbitApiError(401, "invalid_access_key", "잘못된 엑세스 키입니다.")
        digest = _ALGORITHMS[header["alg"]]
        expected = hmac.new(self._secrets[key].encode(), signed, digest).digest()
        if not hmac.compare_digest(expected, signature):
            raise UpbitApiError(401, "jwt_verification", "Jwt 토큰 검증에 실패했습니다.")
        self._check_query_hash(payload, hash_source)
        self._use_nonce(key, payload.get("nonce"))
        return key

    @staticmethod
    def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
        """(header, payload, signed bytes, signature) of a compact JWT, or jwt_verification."""
        refused = UpbitApiError(401, "jwt_verification", "Jwt 토큰 검증에 실패했습니다.")
        parts = token.split(".")
        if len(parts) != 3:
            raise refused
        try:
            header = orjson.loads(_b64decode(parts[0]))
            payload = orjson.loads(_b64decode(parts[1]))
            signature = _b64decode(parts[2])
        except (binascii.Error, ValueError):
            raise refused from None
        if not isinstance(header, dict) or header.get("alg") not in _ALGORITHMS:
            raise refused  # "none" and asymmetric algorithms are never accepted
        if not isinstance(payload, dict):
            raise UpbitApiError(401, "invalid_query_payload", "JWT 페이로드가 올바르지 않습니다.")
        return header, payload, f"{parts[0]}.{parts[1]}".encode(), signature

    @staticmethod
    def _check_query_hash(payload: dict[str, Any], hash_source: str | None) -> None:
        sent = payload.get("query_hash")
        if hash_source is None and sent is None:
            return
        if payload.get("query_hash_alg", "SHA512") != "SHA512" or not isinstance(sent, str):
            raise UpbitApiError(401, "invalid_query_payload",
                                "query_hash(SHA512)가 없거나 올바르지 않습니다.")
        expected = hashlib.sha512((hash_source or "").encode()).hexdigest()
        if not hmac.compare_digest(expected, sent.lower()):
            raise UpbitApiError(401, "invalid_query_payload",
                                "query_hash가 요청 파라미터와 일치하지 않습니다.")

    def _use_nonce(self, key: str, nonce: Any) -> None:
        if not isinstance(nonce, str) or not nonce:
            raise UpbitApiError(401, "invalid_query_payload", "nonce가 없습니다.")
        seen, order = self._nonces[key]
        if nonce in seen:
            raise UpbitApiError(401, "nonce_used", "이미 요청한 nonce값이 다시 사용되었습니다.")
        seen.add(nonce)
        order.append(nonce)
        if len(order) > NONCE_MEMORY:
            seen.discard(order.popleft())
