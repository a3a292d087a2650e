"""The Telegram chat's commands: which chat command calls which command-layer command with
which arguments, how a message's words become those arguments, the /help text and command
menu, and the destructive commands waiting for their confirmation button.

Apart from bot/ops/telegram_bot.py, which receives updates and sends messages: this is the
chat's vocabulary (tables and pure functions over them, no Bot API calls), so the bot's module
keeps to the handling of updates and the sending of notices.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup

from bot.ops.commands import CommandError

if TYPE_CHECKING:
    from bot.ops.commands import CommandLayer

CONFIRM_TTL_S = 120.0

# chat command -> (layer command, default arguments, name of a positional argument or None)
CHAT_COMMANDS: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "status": ("status", {}, None),
    "balance": ("balance", {}, None),
    "positions": ("positions", {}, None),
    "trades": ("trades", {"limit": 10}, "limit"),
    "profit": ("profit", {"period": "hourly", "count": 12}, "count"),
    "daily": ("profit", {"period": "daily", "count": 7}, "count"),
    "weekly": ("profit", {"period": "weekly", "count": 8}, "count"),
    "winrate": ("winrate", {}, "days"),
    "performance": ("performance", {}, None),
    "regime": ("regime", {}, None),
    "models": ("models", {}, None),
    "health": ("health", {}, None),
    "pause": ("pause", {}, None),
    "resume": ("resume", {}, None),
    "stop": ("stop", {}, None),
    "forceexit": ("forceexit", {}, "symbol"),
    "reload_config": ("reload-config", {}, None),
}
QUESTIONS = {
    "pause": "Pause trading? New entries stop; exits and cancels go on.",
    "resume": "Resume trading (back to ACTIVE, drawdown peak re-based)?",
    "stop": "Stop the daemon? It does not restart by itself unless run as a service.",
    "forceexit": "Cancel the orders of {symbol} and sell it at market?",
    "reload-config": "Re-read config.toml (risk, strategy and telegram apply now)?",
}


def parse_chat_command(text: str | None, words: list[str]) -> tuple[str, dict[str, Any]]:
    """The layer command and its arguments for a chat message `text` ("/trades@bot 5") whose
    words after the command are `words`; a word given to a command that takes none is an
    error the chat is told."""
    name = (text or "/").split()[0][1:].split("@")[0].lower()
    target, defaults, positional = CHAT_COMMANDS[name]
    args = dict(defaults)
    if words:
        if positional is None:
            raise CommandError(f"/{name} takes no argument")
        args[positional] = words[0]
    return target, args


def command_menu(layer: CommandLayer) -> list[BotCommand]:
    """The command list Telegram shows in the chat's menu (setMyCommands)."""
    return ([BotCommand(name, (layer.specs[target].summary or name)[:256])
             for name, (target, _, _) in CHAT_COMMANDS.items()]
            + [BotCommand("chart", "Equity curve with fills, as a picture"),
               BotCommand("help", "Every command")])


def help_text(layer: CommandLayer) -> str:
    """/help's answer: every chat command, its argument, what it does and whether it asks."""
    lines = [f"/{name}" + (f" [{arg}]" if arg else "") + f" - {layer.specs[target].summary}"
             + (" (asks to confirm)" if layer.is_destructive(target) else "")
             for name, (target, _, arg) in CHAT_COMMANDS.items()]
    lines += ["/chart - equity curve with fills, as a picture", "/help - this list"]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class PendingCommand:
    """A destructive command waiting for its confirmation button."""

    chat_id: int
    command: str
    args: dict[str, Any]
    expires: float


class PendingConfirmations:
    """Destructive commands asked about and not yet answered, each under a random nonce that
    its buttons carry; an answer is good once, from the chat that asked, within CONFIRM_TTL_S."""

    def __init__(self) -> None:
        self._pending: dict[str, PendingCommand] = {}

    def add(self, chat_id: int, command: str, args: dict[str, Any]) -> str:
        """Hold `command` for `chat_id` (dropping the expired ones); its nonce."""
        now = time.monotonic()
        self._pending = {k: p for k, p in self._pending.items() if p.expires > now}
        nonce = secrets.token_urlsafe(8)
        self._pending[nonce] = PendingCommand(chat_id, command, args, now + CONFIRM_TTL_S)
        return nonce

    def take(self, nonce: str, chat_id: int) -> PendingCommand | None:
        """The command under `nonce`, used up; None when there is none, it expired, or
        another chat holds it."""
        pending = self._pending.pop(nonce, None)
        if pending is None or pending.chat_id != chat_id or pending.expires < time.monotonic():
            return None
        return pending


def confirmation_keyboard(nonce: str) -> InlineKeyboardMarkup:
    """The "Yes, do it" and "Cancel" buttons under a question (callback data "ok:"/"no:")."""
    return InlineKeyboardMarkup([[
        InlineKeyboardButton("Yes, do it", callback_data=f"ok:{nonce}"),
        InlineKeyboardButton("Cancel", callback_data=f"no:{nonce}"),
    ]])
