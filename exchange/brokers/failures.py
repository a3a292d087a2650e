"""A broker's word that it gave up on a command: the `CommandFailed` event and its hook.

A live broker sends creates and cancels from its own worker, long after `submit`/`cancel`
returned, so the trader cannot learn of a final failure from their answers. The ledger hears
of a create that failed through the order's `Rejected` event; a cancel that failed has no
ledger event at all (the order is still open on the exchange). Both reach the operator
through this one event, which the broker hands to its `on_command_failed` hook
(`exchange/brokers/ccxt.py`; the daemon sets it in bot/app/live_health.py) after the ledger's
own events, so a notice never gets ahead of the books.

Kept free of ccxt and of I/O so the command layer (bot/app/live_status.py) can import it cheaply.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

Command = Literal["create", "cancel"]

MAX_MESSAGE_CHARS = 300
# Signed query strings (Binance's `signature=`, anything carrying a key or a token) that an
# error text quoting a URL could contain; never shown to an operator or a chat.
_SIGNED = re.compile(r"(?i)\b(signature|apikey|api_key|secret|token|access_key)=[^&\s\"']+")
_BEARER = re.compile(r"(?i)bearer\s+[A-Za-z0-9._\-]+")


@dataclass(frozen=True, slots=True)
class CommandFailed:
    """The broker gave up on a create or a cancel and will not send it again by itself.

    `retryable` says whether the same command could work later: True when the exchange never
    refused it (it stayed unreachable through every retry, or never received the order);
    False when the exchange refused it (insufficient funds, a filter, a key without trade
    rights), so sending it again unchanged fails the same way. `error_class` is the ccxt
    exception's class name (or the broker's own word when no exception was raised, e.g.
    `NotReceived`); `message` is the exchange's text with anything secret removed."""

    client_order_id: str
    symbol: str
    command: Command
    error_class: str
    message: str
    retryable: bool
    ts_ms: int


CommandFailureListener = Callable[[CommandFailed], None]


def redacted(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` without the given secrets, signed-query values or bearer tokens, and cut to
    `MAX_MESSAGE_CHARS`: an error text may quote a request URL, and it goes to Telegram."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _SIGNED.sub(lambda m: f"{m.group(1)}=***", text)
    text = _BEARER.sub("Bearer ***", text)
    return text[:MAX_MESSAGE_CHARS]
