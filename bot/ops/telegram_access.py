"""Who the Telegram bot answers, and how often: only the chats in `[telegram] chat_ids`, each
at most `commands_per_minute` commands a minute.

An update from any other chat gets no answer at all; it is counted and logged with its chat id
(never its content), at most once per `unauthorized_log_every_s` per chat. Apart from
bot/ops/telegram_bot.py because it is the bot's one security decision, made before any handler
runs, and reads no update: only a chat id.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from model.ratelimit import RateLimit

if TYPE_CHECKING:
    from bot.config import TelegramConfig

log = logging.getLogger("bot.ops.telegram_bot")  # one logger name for everything Telegram


class ChatAccess:
    """Admits the allowed chats within their rate; counts and logs what it turns away."""

    def __init__(self, settings: TelegramConfig,
                 allowed_chats: Callable[[], Collection[int]]) -> None:
        """`settings`: the rate and log interval, as at start; `allowed_chats`: the chat ids
        as of now (reload-config applies them live)."""
        self._settings = settings
        self._allowed_chats = allowed_chats
        self._recent: dict[int, deque[float]] = {}
        self._rate_warnings = RateLimit(60.0)  # per chat
        self._unauthorized_log = RateLimit(settings.unauthorized_log_every_s)  # per chat
        self.unauthorized_dropped = 0

    def admit(self, chat_id: int) -> bool:
        """Whether an update from `chat_id` is served: an allowed chat within its rate."""
        if chat_id not in self._allowed_chats():
            self.unauthorized_dropped += 1
            if self._unauthorized_log.admit(chat_id) is not None:
                log.warning("telegram: ignored an update from unauthorized chat %d "
                            "(%d ignored in total)", chat_id, self.unauthorized_dropped)
            return False
        return self._within_rate(chat_id)

    def _within_rate(self, chat_id: int) -> bool:
        now = time.monotonic()
        recent = self._recent.setdefault(chat_id, deque())
        while recent and now - recent[0] > 60.0:
            recent.popleft()
        if len(recent) >= self._settings.commands_per_minute:
            if self._rate_warnings.admit(chat_id) is not None:
                log.warning("telegram: chat %d is over %d commands a minute; ignoring it for now",
                            chat_id, self._settings.commands_per_minute)
            return False
        recent.append(now)
        return True
