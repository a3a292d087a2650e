"""Errors raised by exchange adapters, named for what the caller should do about them.

`MalformedFrame`: skip the message and count it; the connection is still good.
`ExchangeError`: the exchange answered a REST call with an error. `exchange_error` raises it
as one of two classes, so loops steer by class (model/errors.py): `ExchangeBusy` (a
`TemporaryError`: rate limits, server trouble; retry with backoff) or `ExchangeRefused` (an
`OperatorError`: bad symbol, bad key, bad request; stop and tell the operator).
`TooManySymbols`: the configuration asks for more symbols than the exchange lists allow.
"""

from __future__ import annotations

from model.errors import ConfigError, DataError, EntasisError, OperatorError, TemporaryError


class MalformedFrame(DataError, ValueError):
    """A message from the exchange could not be turned into valid market data.

    `reason` says what was wrong, short and without the raw payload (which may be huge or
    hostile); callers log it rate-limited and carry on with the next message.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ExchangeError(EntasisError):
    """A REST call failed: HTTP status plus Binance's own error code and message.

    Binance answers errors as `{"code": -1121, "msg": "Invalid symbol."}`; `code` is 0 and
    `msg` the (truncated) body when the server sent something else. Never raised itself:
    `exchange_error` picks `ExchangeBusy` or `ExchangeRefused`; catch this family only where
    both end the same way.
    """

    def __init__(self, http_status: int, code: int, msg: str, url: str = "") -> None:
        super().__init__(f"HTTP {http_status} from {url or 'exchange'}: code {code}: {msg}")
        self.http_status = http_status
        self.code = code
        self.msg = msg
        self.url = url



class ExchangeBusy(ExchangeError, TemporaryError):
    """The exchange cannot answer now (5xx, 429 rate limit, 418 IP ban, -1003 too many
    requests): retrying later can succeed."""


class ExchangeRefused(ExchangeError, OperatorError):
    """The exchange refused the request itself (a 4xx other than the rate limits: bad
    symbol, bad key, bad parameter): the same request will fail again."""


def is_busy(http_status: int, code: int) -> bool:
    """True when retrying later can succeed: 5xx, 429 rate limit, 418 IP ban, -1003 too many
    requests; a 4xx otherwise means our request is wrong."""
    return http_status >= 500 or http_status in (418, 429) or code == -1003


def exchange_error(http_status: int, code: int, msg: str, url: str = "") -> ExchangeError:
    """The error to raise for an HTTP error answer: `ExchangeBusy` or `ExchangeRefused`."""
    kind = ExchangeBusy if is_busy(http_status, code) else ExchangeRefused
    return kind(http_status, code, msg, url)


class TooManySymbols(ConfigError, ValueError):
    """The exchange lists more symbols than the daemon is configured to follow. Raised before
    any per-symbol state exists: 20,000 symbols took a daemon to 3.7 GB."""

    def __init__(self, listed: int, limit: int, where: str = "exchangeInfo") -> None:
        super().__init__(
            f"{where} lists {listed} symbols, more than [feed] max_symbols = {limit}; "
            "set exchange.symbols to the ones to trade, or raise [feed] max_symbols if this "
            "machine has the memory (each symbol holds a month of 1m bars)")
        self.listed = listed
        self.limit = limit
