"""Errors raised by exchange adapters, named for what the caller should do about them.

`MalformedFrame`: skip the message and count it; the connection is still good.
`ExchangeError`: the exchange answered a REST call with an error; `temporary` says whether to
retry with backoff (rate limits, server trouble) or to stop and tell the operator (bad symbol,
bad request), in the Freqtrade manner of letting exception classes steer the loop.
"""

from __future__ import annotations


class MalformedFrame(ValueError):
    """A message from the exchange could not be turned into valid market data.

    `reason` says what was wrong, short and without the raw payload (which may be huge or
    hostile); callers log it rate-limited and carry on with the next message.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ExchangeError(Exception):
    """A REST call failed: HTTP status plus Binance's own error code and message.

    Binance answers errors as `{"code": -1121, "msg": "Invalid symbol."}`; `code` is 0 and
    `msg` the (truncated) body when the server sent something else.
    """

    def __init__(self, http_status: int, code: int, msg: str, url: str = "") -> None:
        super().__init__(f"HTTP {http_status} from {url or 'exchange'}: code {code}: {msg}")
        self.http_status = http_status
        self.code = code
        self.msg = msg
        self.url = url

    @property
    def temporary(self) -> bool:
        """True when retrying later can succeed: 5xx, 429 rate limit, 418 IP ban,
        -1003 too many requests; a 4xx otherwise means our request is wrong."""
        return self.http_status >= 500 or self.http_status in (418, 429) or self.code == -1003


class TooManySymbols(ValueError):
    """The exchange lists more symbols than the daemon is configured to follow. Raised before
    any per-symbol state exists: 20,000 symbols took a daemon to 3.7 GB."""

    def __init__(self, listed: int, limit: int, where: str = "exchangeInfo") -> None:
        super().__init__(
            f"{where} lists {listed} symbols, more than [feed] max_symbols = {limit}; "
            "set exchange.symbols to the ones to trade, or raise [feed] max_symbols if this "
            "machine has the memory (each symbol holds a month of 1m bars)")
        self.listed = listed
        self.limit = limit
