"""Telegram: the command layer and the operator notices, in a chat (python-telegram-bot 22).

Runs as a task on the daemon's event loop (long polling, no webhook, no threads). Every
command calls `bot.commands.CommandLayer` — the same functions the CLI reaches through the
control endpoint — and renders the answer with `bot.command_text.render`, so a chat and a
terminal can never disagree. Destructive commands (pause, resume, stop, forceexit, reload)
run only after an inline-keyboard confirmation that expires.

Only the chats in `[telegram] chat_ids` are served. An update from any other chat gets no
answer at all; it is logged with its chat id and never its content, at most once per
`unauthorized_log_every_s` per chat. Allowed chats are rate-limited too
(`commands_per_minute`), so a stuck client cannot flood the daemon.

Robustness: the Bot API can fail, time out or send updates this library cannot parse.
`SafeBot` (bot/telegram_support.py) parses each update on its own and replaces one that does not parse by an empty
update with its id, so polling moves past it (python-telegram-bot would otherwise fetch the
same batch forever and log its raw content). Send errors are logged (without the text) and
the bot carries on; the token is never logged (httpx, which logs URLs, is quieted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    TypeHandler,
)
from telegram.request import HTTPXRequest

from bot.command_text import render
from bot.commands import CommandError
from bot.notify import Notice
from bot.telegram_support import SafeBot, equity_png

if TYPE_CHECKING:
    from bot.commands import CommandLayer, Runtime

log = logging.getLogger(__name__)

CONFIRM_TTL_S = 120.0
NOTICE_QUEUE = 200
NOTICE_BATCH_S = 0.5  # notices arriving within this are sent as one message
NOTICE_LINES = 20

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


@dataclass(frozen=True, slots=True)
class _Pending:
    """A destructive command waiting for its confirmation button."""

    chat_id: int
    command: str
    args: dict[str, Any]
    expires: float


class TelegramBot:
    """The bot of one daemon: serves its command layer and forwards its notices."""

    def __init__(self, runtime: Runtime, layer: CommandLayer | None = None) -> None:
        from bot.commands import CommandLayer

        self.runtime = runtime
        self.layer = layer or CommandLayer(runtime)
        settings = runtime.config.telegram
        self._settings = settings
        self.app: Application[Any, Any, Any, Any, Any, Any] = self._build(
            settings.token.get_secret_value() or "0:missing-token")  # run() refuses then
        self._pending: dict[str, _Pending] = {}
        self._recent: dict[int, deque[float]] = {}
        self._warned_rate: dict[int, float] = {}
        self._unauthorized_logged: dict[int, float] = {}
        self.unauthorized_dropped = 0
        self._notices: asyncio.Queue[Notice] = asyncio.Queue(NOTICE_QUEUE)
        self.notices_dropped = 0
        logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs URLs: the token

    def _build(self, token: str) -> Application[Any, Any, Any, Any, Any, Any]:
        timeout = self._settings.request_timeout_s
        api = self._settings.api_url.rstrip("/")

        def request() -> HTTPXRequest:  # HTTP/1.1: what every Bot API server speaks
            return HTTPXRequest(connect_timeout=timeout, read_timeout=timeout,
                                write_timeout=timeout, pool_timeout=timeout, http_version="1.1")

        bot = SafeBot(token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot",
                       request=request(), get_updates_request=request())
        app = ApplicationBuilder().bot(bot).build()
        app.add_handler(TypeHandler(Update, self._gate), group=-1)
        for name in CHAT_COMMANDS:
            app.add_handler(CommandHandler(name, self._on_command))
        app.add_handler(CommandHandler(["help", "start"], self._on_help))
        app.add_handler(CommandHandler("chart", self._on_chart))
        app.add_handler(CallbackQueryHandler(self._on_confirm))
        app.add_error_handler(self._on_error)
        return app

    # --- lifecycle -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect (retrying while the API is unreachable), poll and send until cancelled.
        A missing or rejected token logs an error and returns: trading goes on without it."""
        problem = self._settings.problem()
        if problem:
            log.error("telegram: %s; Telegram stays off", problem)
            return
        if not await self._connect():
            return
        unsubscribe = self.runtime.notifier.subscribe(self._enqueue)
        try:
            await self.app.start()
            assert self.app.updater is not None
            await self.app.updater.start_polling(
                poll_interval=0.0, timeout=int(self._settings.poll_timeout_s),
                allowed_updates=["message", "callback_query"],
                error_callback=lambda exc: log.warning("telegram: polling failed (%s); retrying",
                                                       exc.__class__.__name__))
            log.info("telegram bot @%s serving %d chat(s)", self.app.bot.username,
                     len(self._settings.chat_ids))
            await self._send_notices()
        finally:
            unsubscribe()
            await self._close()

    async def _connect(self) -> bool:
        delay = 1.0
        while True:
            try:
                await self.app.initialize()  # getMe
                await self.app.bot.set_my_commands(
                    [BotCommand(name, (self.layer.specs[target].summary or name)[:256])
                     for name, (target, _, _) in CHAT_COMMANDS.items()]
                    + [BotCommand("chart", "Equity curve with fills, as a picture"),
                       BotCommand("help", "Every command")])
                return True
            except InvalidToken:
                log.error("telegram: the Bot API rejected the token; Telegram stays off. Set "
                          "ENTASIS__TELEGRAM__TOKEN to the token @BotFather gave and restart")
                return False
            except TelegramError as exc:
                log.warning("telegram: cannot reach the Bot API (%s); retrying in %.0f s",
                            exc.__class__.__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    async def _close(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(3.0):
                if self.app.updater is not None and self.app.updater.running:
                    await self.app.updater.stop()
                if self.app.running:
                    await self.app.stop()
                await self.app.shutdown()

    # --- access control ----------------------------------------------------------------------
    def _allowed(self, chat_id: int) -> bool:
        return chat_id in self.runtime.config.telegram.chat_ids  # reload-config applies live

    async def _gate(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """First handler of every update: drop what no allowed chat sent, and floods."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            raise ApplicationHandlerStop  # empty or malformed update: nothing to answer
        if not self._allowed(chat.id):
            self.unauthorized_dropped += 1
            now = time.monotonic()
            last = self._unauthorized_logged.get(chat.id)
            if last is None or now - last >= self._settings.unauthorized_log_every_s:
                self._unauthorized_logged[chat.id] = now
                log.warning("telegram: ignored an update from unauthorized chat %d "
                            "(%d ignored in total)", chat.id, self.unauthorized_dropped)
            raise ApplicationHandlerStop
        if not self._within_rate(chat.id):
            raise ApplicationHandlerStop

    def _within_rate(self, chat_id: int) -> bool:
        now = time.monotonic()
        recent = self._recent.setdefault(chat_id, deque())
        while recent and now - recent[0] > 60.0:
            recent.popleft()
        if len(recent) >= self._settings.commands_per_minute:
            if now - self._warned_rate.get(chat_id, 0.0) > 60.0:
                self._warned_rate[chat_id] = now
                log.warning("telegram: chat %d is over %d commands a minute; ignoring it for now",
                            chat_id, self._settings.commands_per_minute)
            return False
        recent.append(now)
        return True

    # --- commands ---------------------------------------------------------------------------
    def _parse(self, update: Update, words: list[str]) -> tuple[str, dict[str, Any]]:
        text = update.effective_message.text if update.effective_message else ""
        name = (text or "/").split()[0][1:].split("@")[0].lower()
        target, defaults, positional = CHAT_COMMANDS[name]
        args = dict(defaults)
        if words:
            if positional is None:
                raise CommandError(f"/{name} takes no argument")
            args[positional] = words[0]
        return target, args

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        assert chat is not None
        target = ""
        try:
            target, args = self._parse(update, list(context.args or []))
            if self.layer.is_destructive(target):
                await self._ask(chat.id, target, args)
                return
            answer = render(target, self.layer.call(target, args))
        except CommandError as exc:
            answer = f"error: {exc}"
        await self.send(chat.id, answer)
        message = update.effective_message
        if (message and (message.text or "").split()[0].split("@")[0] == "/profit"
                and not answer.startswith("error")):
            await self._send_chart(chat.id)  # /profit: the figures and the curve

    async def _ask(self, chat_id: int, command: str, args: dict[str, Any]) -> None:
        now = time.monotonic()
        self._pending = {k: p for k, p in self._pending.items() if p.expires > now}
        nonce = secrets.token_urlsafe(8)
        self._pending[nonce] = _Pending(chat_id, command, args, now + CONFIRM_TTL_S)
        keyboard = InlineKeyboardMarkup([[
            InlineKeyboardButton("Yes, do it", callback_data=f"ok:{nonce}"),
            InlineKeyboardButton("Cancel", callback_data=f"no:{nonce}"),
        ]])
        await self.send(chat_id, QUESTIONS[command].format(**args), reply_markup=keyboard)

    async def _on_confirm(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        chat = update.effective_chat
        if query is None or chat is None:
            return
        with contextlib.suppress(TelegramError):
            await query.answer()
        verdict, _, nonce = (query.data or "").partition(":")
        pending = self._pending.pop(nonce, None)
        if pending is None or pending.chat_id != chat.id or pending.expires < time.monotonic():
            text = "this confirmation expired or was already used; send the command again"
        elif verdict != "ok":
            text = f"{pending.command}: canceled"
        else:
            try:
                text = render(pending.command, self.layer.call(pending.command, pending.args))
            except CommandError as exc:
                text = f"error: {exc}"
        try:
            await query.edit_message_text(text)
        except TelegramError as exc:
            log.warning("telegram: could not edit the confirmation (%s)", exc.__class__.__name__)
            await self.send(chat.id, text)

    async def _on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        assert chat is not None
        lines = [f"/{name}" + (f" [{arg}]" if arg else "") + f" - {self.layer.specs[target].summary}"
                 + (" (asks to confirm)" if self.layer.is_destructive(target) else "")
                 for name, (target, _, arg) in CHAT_COMMANDS.items()]
        lines += ["/chart - equity curve with fills, as a picture", "/help - this list"]
        await self.send(chat.id, "\n".join(lines))

    async def _on_chart(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        assert chat is not None
        await self._send_chart(chat.id)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        log.warning("telegram: handler failed (%s: %s)", error.__class__.__name__,
                    str(error)[:200] if not isinstance(error, TelegramError) else "Bot API error")

    # --- sending -------------------------------------------------------------------------------
    async def send(self, chat_id: int, text: str, **kwargs: Any) -> bool:
        """Send a message; an API error or timeout is logged (without the text), not raised.
        One retry after the wait a 429 asks for."""
        for attempt in (1, 2):
            try:
                await self.app.bot.send_message(chat_id, text, **kwargs)
                return True
            except RetryAfter as exc:
                wait = exc.retry_after
                seconds = wait.total_seconds() if hasattr(wait, "total_seconds") else float(wait)
                if attempt == 2 or seconds > 30:
                    break
                await asyncio.sleep(seconds)
            except TelegramError as exc:
                log.warning("telegram: sending to chat %d failed (%s)", chat_id,
                            exc.__class__.__name__)
                return False
        log.warning("telegram: sending to chat %d failed (rate limited)", chat_id)
        return False

    async def _send_chart(self, chat_id: int) -> None:
        ledger = self.runtime.ledger
        if ledger is None:
            return
        try:
            png = await asyncio.to_thread(equity_png, ledger.path)
        except Exception as exc:  # a chart is a nice-to-have; the text answer went out
            log.warning("telegram: equity chart failed (%s: %s)", exc.__class__.__name__, exc)
            await self.send(chat_id, f"chart unavailable: {exc}")
            return
        try:
            await self.app.bot.send_photo(chat_id, png, caption="equity with fills")
        except TelegramError as exc:
            log.warning("telegram: sending a chart to chat %d failed (%s)", chat_id,
                        exc.__class__.__name__)

    # --- notices ---------------------------------------------------------------------------------
    def _enqueue(self, notice: Notice) -> None:
        if notice.kind.value not in self.runtime.config.telegram.notify:
            return
        try:
            self._notices.put_nowait(notice)
        except asyncio.QueueFull:
            self.notices_dropped += 1

    async def _send_notices(self) -> None:
        """Forever: wait for a notice, gather what follows within NOTICE_BATCH_S, send one
        message to every allowed chat."""
        while True:
            batch = [await self._notices.get()]
            deadline = time.monotonic() + NOTICE_BATCH_S
            while len(batch) < NOTICE_LINES:
                try:  # asyncio.timeout, not wait_for: see bot/engine.py run_decisions
                    async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                        batch.append(await self._notices.get())
                except TimeoutError:
                    break
            lines = [n.text for n in batch]
            if self.notices_dropped:
                lines.append(f"({self.notices_dropped} notices dropped: too many at once)")
                self.notices_dropped = 0
            for chat_id in self.runtime.config.telegram.chat_ids:
                await self.send(chat_id, "\n".join(lines))
            for notice in batch:
                photo = notice.data.get("photo_path")
                if photo:
                    for chat_id in self.runtime.config.telegram.chat_ids:
                        with contextlib.suppress(TelegramError, OSError):
                            await self.app.bot.send_photo(chat_id, Path(photo).read_bytes(),
                                                          caption=notice.text[:1000])
                document = notice.data.get("document_path")
                if document:  # the daily report's self-contained HTML page
                    for chat_id in self.runtime.config.telegram.chat_ids:
                        with contextlib.suppress(TelegramError, OSError):
                            await self.app.bot.send_document(
                                chat_id, Path(document).read_bytes(), filename=Path(document).name)
