"""What a ccxt exception means for an order: retry it, look it up, or reject it, and why.

The live broker (`exchange/brokers/ccxt.py`) steers by these answers:
* NetworkError / RequestTimeout / 5xx (ExchangeNotAvailable, OperationFailed) and Binance's
  "unknown error" codes (-1000, -1001, -1006, -1007, -1008; `is_transient`): the request
  may or may not have reached the exchange. Back off, then look the order up by its client
  order id; only if the exchange does not know it is the create sent again, with the same
  client id. A retried create therefore never makes a second order.
* DDoSProtection (429, 418): global back-off (`RequestGate`), honouring `Retry-After`;
  the request was refused, so it is simply sent again after the wait.
* InsufficientFunds / InvalidOrder / BadRequest / BadSymbol (`CERTAIN_REFUSALS`): `Rejected`
  with the exchange's reason (`reject_reason`), never retried. ("Duplicate order sent."
  means our first attempt did arrive: look it up instead.)
* OrderNotFound on cancel: reconcile — fetch the order; it filled (fills are reported) or it
  was already closed (Canceled is reported). A cancel that finds its order not yet
  acknowledged (its place was interrupted and queued again) waits behind it. Any other
  error that is not transient (`is_final_cancel_error`: a key without trade rights, a
  refused cancel) is final: the broker reports a `CommandFailed` and does not send it again.
* Any other error on a create: look the order up before rejecting it.
Reads that change nothing (markets, balances) are retried in place a few times, so one 5xx
neither stops `start()` nor interrupts the command that needed them.

Pure functions, no I/O: the retry loops that use them are in `ccxt_requests.py`.
"""

from __future__ import annotations

import re

import ccxt

from exchange.brokers.failures import redacted
from model.orders import RejectReason

# An instrument filter's name (ours, and the text of the exchange's filter-failure answers) to its reason.
FILTERS = {"PRICE_FILTER": RejectReason.PRICE_FILTER, "LOT_SIZE": RejectReason.LOT_SIZE,
           "MIN_NOTIONAL": RejectReason.MIN_NOTIONAL, "NOTIONAL": RejectReason.MIN_NOTIONAL}

# A create refused with one of these certainly made no order: reject without a lookup.
CERTAIN_REFUSALS: tuple[type[ccxt.BaseError], ...] = (
    ccxt.InvalidOrder, ccxt.BadRequest, ccxt.BadSymbol, ccxt.AuthenticationError,
    ccxt.PermissionDenied)


def reject_reason(exc: Exception) -> RejectReason:
    """The ledger's reason for an exchange's refusal, from the filter its text names."""
    text = str(exc)
    for name, reason in FILTERS.items():
        if name in text:
            return reason
    if isinstance(exc, ccxt.BadSymbol):
        return RejectReason.UNKNOWN_SYMBOL
    return RejectReason.EXCHANGE_REJECTED


# Binance answers that say "we do not know what happened, ask again": -1000 UNKNOWN,
# -1001 DISCONNECTED, -1006 UNEXPECTED_RESP, -1007 TIMEOUT, -1008 SERVER_BUSY. ccxt maps
# them to OperationFailed for spot, but to plain ExchangeError for some market types and
# ccxt versions, which would make a retryable answer look final.
TRANSIENT_CODES = frozenset({-1000, -1001, -1006, -1007, -1008})
_CODE = re.compile(r'"code"\s*:\s*(-?\d+)')


def is_transient(exc: BaseException) -> bool:
    """Whether a failed request may have gone either way and is safe to look up and retry:
    network errors, timeouts, 5xx, and the exchange's own "unknown error" codes."""
    if isinstance(exc, ccxt.OperationFailed):
        return True
    if isinstance(exc, ccxt.ExchangeError) and not isinstance(
            exc, (ccxt.InvalidOrder, ccxt.InsufficientFunds, ccxt.AuthenticationError,
                  ccxt.PermissionDenied, ccxt.BadSymbol)):
        found = _CODE.search(str(exc))
        return found is not None and int(found.group(1)) in TRANSIENT_CODES
    return False


def is_final_cancel_error(exc: BaseException) -> bool:
    """Whether a cancel's error is final: not transient (retried) and not OrderNotFound
    (reconciled: the order is no longer open, it filled or was closed)."""
    return (isinstance(exc, ccxt.BaseError) and not isinstance(exc, ccxt.OrderNotFound)
            and not is_transient(exc))


def exchange_message(exc: Exception) -> str:
    """The exchange's words with the error class, for logs and a `Rejected`'s detail; never
    includes request headers, and a quoted request URL loses its signature (ccxt puts the
    signed URL in network errors: a signature stays replayable for `recvWindow`)."""
    return f"{type(exc).__name__}: {redacted(str(exc))}"
