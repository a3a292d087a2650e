"""Pieces of the Telegram bot that talk to the library and the charts, kept apart from the
command handling in bot/ops/telegram_bot.py: a getUpdates that survives malformed updates, a
sendMessage with its one retry after a 429, a notice's attachments, the equity chart as PNG
bytes, the count of dropped notices, and the /forceexit pre-check."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from telegram import Bot, Update
from telegram.error import RetryAfter, TelegramError
from telegram.ext import ExtBot

from model.ratelimit import RateLimit
from trading.notices import Notice

log = logging.getLogger("bot.ops.telegram_bot")  # one logger name for everything Telegram

Sent = Literal["sent", "rate_limited", "failed"]


class SafeBot(ExtBot[None]):
    """An ExtBot whose getUpdates survives updates it cannot parse (see module docstring)."""

    async def _post(self, endpoint: str, data: Any = None, **kwargs: Any) -> Any:
        result = await super()._post(endpoint, data, **kwargs)
        if endpoint != "getUpdates":
            return result
        if not isinstance(result, list):
            log.warning("telegram: getUpdates answered %s, not a list; ignored",
                        type(result).__name__)
            return []
        clean = []
        for item in result:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if not isinstance(update_id, int) or isinstance(update_id, bool):
                log.warning("telegram: update without an integer update_id dropped")
                continue
            try:
                Update.de_json(item, self)
                clean.append(item)
            except Exception as exc:  # noqa: BLE001  what a malformed update raises is unspecified
                log.warning("telegram: malformed update %d skipped (%s)", update_id,
                            exc.__class__.__name__)
                clean.append({"update_id": update_id})
        return clean


async def post_text(bot: Bot, chat_id: int, text: str, **kwargs: Any) -> Sent:
    """Send a message, one retry after the wait a 429 asks for; an API error or timeout is
    logged (without the text), not raised. Says whether a failure was Telegram's flood
    control (the notices in it are then counted as dropped) or anything else."""
    for attempt in (1, 2):
        try:
            await bot.send_message(chat_id, text, **kwargs)
            return "sent"
        except RetryAfter as exc:
            with warnings.catch_warnings():  # PTB 22.2+: int now, timedelta later; both fine
                warnings.simplefilter("ignore", DeprecationWarning)
                wait = exc.retry_after
            seconds = wait.total_seconds() if hasattr(wait, "total_seconds") else float(wait)
            if attempt == 2 or seconds > 30:
                break
            await asyncio.sleep(seconds)
        except TelegramError as exc:
            log.warning("telegram: sending to chat %d failed (%s)", chat_id,
                        exc.__class__.__name__)
            return "failed"
    log.debug("telegram: sending to chat %d failed (rate limited)", chat_id)
    return "rate_limited"


async def send_attachments(bot: Bot, chat_ids: Iterable[int], notice: Notice) -> None:
    """The daily report's chart (photo) and self-contained HTML page (document), to every
    chat; a file or API error skips that one."""
    photo = notice.data.get("photo_path")
    document = notice.data.get("document_path")
    for chat_id in chat_ids:
        if photo:
            with contextlib.suppress(TelegramError, OSError):
                await bot.send_photo(chat_id, Path(photo).read_bytes(),
                                     caption=notice.text[:1000])
        if document:
            with contextlib.suppress(TelegramError, OSError):
                await bot.send_document(chat_id, Path(document).read_bytes(),
                                        filename=Path(document).name)


def equity_png(ledger_path: Any) -> bytes:
    """The report's equity chart (bot/research/charts.py) of a ledger file, as PNG bytes. Reads the
    ledger through its own read-only connection, so it runs in a worker thread."""
    from bot.research.charts import equity_chart
    from bot.research.report import load_ledger

    figure = equity_chart(load_ledger(ledger_path))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


class DropCounter:
    """Notices that never reached the chat (queue full, or Telegram's 429 flood control):
    counted, logged at WARNING at most once per `warn_every_s`, and owed to the next message.

    Why: drops used to be silent, so a burst of fills simply vanished from the chat."""

    def __init__(self, warn_every_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total = 0
        self.unreported = 0
        self._warnings = RateLimit(warn_every_s, clock=clock)

    def add(self, count: int, reason: str) -> None:
        """Count `count` dropped notices; warn unless a warning went out within the interval."""
        if count <= 0:
            return
        self.total += count
        self.unreported += count
        if self._warnings.admit() is not None:
            log.warning("telegram: %d notice(s) dropped (%s); %d since start", count, reason,
                        self.total)

    def note(self) -> str:
        """The line the next message carries ("" when nothing was dropped since the last)."""
        return f"({self.unreported} notices dropped: rate limit)" if self.unreported else ""

    def reported(self, count: int) -> None:
        """`count` of the drops were mentioned in a message that went out."""
        self.unreported = max(0, self.unreported - count)


def forceexit_problem(trader: Any, symbol: str) -> str:
    """Why `/forceexit symbol` has nothing to do ("" when it has), checked before the chat is
    asked to confirm: a confirmation keyboard for a typo or an empty position is noise.
    `all` always passes; the command itself reports what it did."""
    if trader is None:
        return "the trader is not running yet"
    wanted = symbol.strip().upper()
    if wanted == "ALL":
        return ""
    if wanted not in trader.instruments:
        examples = ", ".join(sorted(trader.instruments)[:10])
        return f"{symbol!r} is not a traded symbol (e.g. {examples}); or pass 'all'"
    held = any(name == wanted and position.amount > 0
               for name, position in trader.positions.items())
    ordered = any(order.symbol == wanted for order in trader.broker.open_orders())
    if not held and not ordered:
        return f"nothing to exit: {wanted} is not held and has no open orders"
    return ""
