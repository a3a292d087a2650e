"""Telegram: the command layer and the operator notices, in a chat (python-telegram-bot 22).

Runs as a task on the daemon's event loop (long polling, no webhook, no threads). Every
command calls `bot.ops.commands.CommandLayer` — the same functions the CLI reaches through the
control endpoint — and renders the answer with `bot.ops.command_text.render`, so a chat and a
terminal can never disagree. Destructive commands (pause, resume, stop, forceexit, reload)
run only after an inline-keyboard confirmation that expires.

Only the chats in `[telegram] chat_ids` are served. An update from any other chat gets no
answer at all; it is logged with its chat id and never its content, at most once per
`unauthorized_log_every_s` per chat. Allowed chats are rate-limited too
(`commands_per_minute`), so a stuck client cannot flood the daemon (bot/ops/telegram_access.py).
The chat commands, their arguments, /help and the pending confirmations are
bot/ops/telegram_commands.py's.

Notices: kinds in `[telegram] immediate` (breaker, halt, daemon, refused order, report) go
out at once; the rest (fills above all) are held and sent as one message per
`batch_window_s` ("5 fills: 3 buys, 2 sells" and the lines), so a busy minute is one message
and not Telegram's flood control. Notices Telegram refuses with a 429 are counted, warned
about at most once a minute and mentioned in the next message. When the daemon cancels this
task it sends "daemon stopping" and whatever is pending, within `shutdown_flush_s`.

Robustness: the Bot API can fail, time out or send updates this library cannot parse.
`SafeBot` (bot/ops/telegram_support.py) parses each update on its own and replaces one that
does not parse by an empty update with its id, so polling moves past it (python-telegram-bot
would otherwise fetch the same batch forever and log its raw content). Send errors are
logged (without the text) and the bot carries on; the token is never logged (httpx, which
logs URLs, is quieted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.error import InvalidToken, TelegramError
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

from bot.ops.command_text import render
from bot.ops.commands import CommandError
from bot.ops.notify import summarize
from bot.ops.telegram_access import ChatAccess
from bot.ops.telegram_commands import (
    CHAT_COMMANDS,
    QUESTIONS,
    PendingConfirmations,
    command_menu,
    confirmation_keyboard,
    help_text,
    parse_chat_command,
)
from bot.ops.telegram_support import (
    DropCounter,
    SafeBot,
    equity_png,
    forceexit_problem,
    post_text,
    send_attachments,
)
from trading.notices import Notice, NoticeKind, wall_ms

if TYPE_CHECKING:
    from bot.ops.commands import CommandLayer, Runtime

log = logging.getLogger(__name__)

NOTICE_QUEUE = 200  # immediate notices waiting, and notices held for one batch
NOTICE_BATCH_S = 0.5  # immediate notices arriving within this are sent as one message
NOTICE_LINES = 20
STOPPING = "daemon stopping"


class TelegramBot:
    """The bot of one daemon: serves its command layer and forwards its notices."""

    def __init__(self, runtime: Runtime, layer: CommandLayer | None = None) -> None:
        from bot.ops.commands import CommandLayer

        self.runtime = runtime
        self.layer = layer or CommandLayer(runtime)
        settings = runtime.config.telegram
        self._settings = settings
        self.app: Application[Any, Any, Any, Any, Any, Any] = self._build(
            settings.token.get_secret_value() or "0:missing-token")  # run() refuses then
        self._confirmations = PendingConfirmations()
        self._access = ChatAccess(  # reload-config applies the chat ids live
            settings, lambda: self.runtime.config.telegram.chat_ids)
        self._immediate: list[Notice] = []
        self._batch: list[Notice] = []
        self._batch_due: float | None = None  # monotonic time the held batch goes out
        self._wake = asyncio.Event()
        self._stop_announced = False
        self.drops = DropCounter()
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
        self._announce_staying_flat()
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
        except asyncio.CancelledError:
            await self._farewell()  # the daemon is shutting down: say so, flush, then stop
            raise
        finally:
            unsubscribe()
            await self._close()

    async def _connect(self) -> bool:
        delay = 1.0
        while True:
            try:
                await self.app.initialize()  # getMe
                await self.app.bot.set_my_commands(command_menu(self.layer))
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
    @property
    def unauthorized_dropped(self) -> int:
        """Updates ignored because no allowed chat sent them, since start."""
        return self._access.unauthorized_dropped

    async def _gate(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """First handler of every update: drop what no allowed chat sent, and floods."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            raise ApplicationHandlerStop  # empty or malformed update: nothing to answer
        if not self._access.admit(chat.id):
            raise ApplicationHandlerStop

    # --- commands ---------------------------------------------------------------------------
    def _parse(self, update: Update, words: list[str]) -> tuple[str, dict[str, Any]]:
        text = update.effective_message.text if update.effective_message else ""
        return parse_chat_command(text, words)

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        assert chat is not None
        target = ""
        try:
            target, args = self._parse(update, list(context.args or []))
            if self.layer.is_destructive(target):
                problem = (forceexit_problem(self.runtime.trader, str(args.get("symbol", "")))
                           if target == "forceexit" else "")
                if not problem:
                    await self._ask(chat.id, target, args)
                    return
                raise CommandError(f"forceexit: {problem}")
            answer = render(target, self.layer.call(target, args))
        except CommandError as exc:
            answer = f"error: {exc}"
        await self.send(chat.id, answer)
        message = update.effective_message
        if (message and (message.text or "").split()[0].split("@")[0] == "/profit"
                and not answer.startswith("error")):
            await self._send_chart(chat.id)  # /profit: the figures and the curve

    async def _ask(self, chat_id: int, command: str, args: dict[str, Any]) -> None:
        nonce = self._confirmations.add(chat_id, command, args)
        await self.send(chat_id, QUESTIONS[command].format(**args),
                        reply_markup=confirmation_keyboard(nonce))

    async def _on_confirm(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        chat = update.effective_chat
        if query is None or chat is None:
            return
        with contextlib.suppress(TelegramError):
            await query.answer()
        verdict, _, nonce = (query.data or "").partition(":")
        pending = self._confirmations.take(nonce, chat.id)
        if pending is None:
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
        await self.send(chat.id, help_text(self.layer))

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
        return await post_text(self.app.bot, chat_id, text, **kwargs) == "sent"

    async def _send_chart(self, chat_id: int) -> None:
        ledger = self.runtime.ledger
        if ledger is None:
            return
        try:
            png = await asyncio.to_thread(equity_png, ledger.path)
        except Exception as exc:  # noqa: BLE001  a chart is a nice-to-have; the text went out
            log.warning("telegram: equity chart failed (%s: %s)", exc.__class__.__name__, exc)
            await self.send(chat_id, f"chart unavailable: {exc}")
            return
        try:
            await self.app.bot.send_photo(chat_id, png, caption="equity with fills")
        except TelegramError as exc:
            log.warning("telegram: sending a chart to chat %d failed (%s)", chat_id,
                        exc.__class__.__name__)

    # --- notices ---------------------------------------------------------------------------------
    def _announce_staying_flat(self) -> None:
        """On start: a live `auto` that will not trade its unproven pick says so, and why."""
        choice = getattr(self.runtime, "policy_choice", None)  # bot/app/policy_choice.py
        if choice is not None and choice.stay_flat:
            self._enqueue(Notice(NoticeKind.DAEMON, choice.reason, wall_ms(), choice.as_dict()))

    def _enqueue(self, notice: Notice) -> None:
        """Subscriber (runs inside the publisher): hold the notice for its batch, or for the
        immediate sender; never blocks, never raises."""
        settings = self.runtime.config.telegram  # reload-config applies live
        if notice.kind.value not in settings.notify:
            return
        if notice.kind is NoticeKind.DAEMON and notice.text.startswith(STOPPING):
            self._stop_announced = True
        if notice.kind.value in settings.immediate or settings.batch_window_s <= 0:
            held = self._immediate
        else:
            held = self._batch
            if self._batch_due is None:
                self._batch_due = time.monotonic() + settings.batch_window_s
        if len(held) >= NOTICE_QUEUE:
            self.drops.add(1, "too many notices waiting")
            return
        held.append(notice)
        self._wake.set()

    async def _send_notices(self) -> None:
        """Forever: send immediate notices as they come (what arrives within NOTICE_BATCH_S
        shares a message) and the held batch when its window ends."""
        while True:
            await self._wait_for_notices()
            if self._immediate:
                await asyncio.sleep(NOTICE_BATCH_S)  # a burst (breaker + halt) is one message
            await self._flush(force=False)

    async def _wait_for_notices(self) -> None:
        """Until an immediate notice arrives or the held batch is due."""
        while not self._immediate and not self._batch_is_due():
            wait = None if self._batch_due is None else max(0.0, self._batch_due - time.monotonic())
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    def _batch_is_due(self) -> bool:
        return self._batch_due is not None and time.monotonic() >= self._batch_due

    async def _flush(self, force: bool) -> None:
        """Send the immediate notices, then the batch if due (or `force`: at shutdown)."""
        # Removed only once delivered: a shutdown in the middle sends them again, not never.
        while self._immediate:
            chunk = self._immediate[:NOTICE_LINES]
            await self._deliver(chunk)
            del self._immediate[:len(chunk)]
        if self._batch and (force or self._batch_is_due()):
            batch = list(self._batch)
            await self._deliver(batch)
            del self._batch[:len(batch)]
            window = self.runtime.config.telegram.batch_window_s
            self._batch_due = time.monotonic() + window if self._batch else None

    async def _deliver(self, notices: list[Notice]) -> None:
        """One message for `notices` to every allowed chat, owed drops mentioned; then the
        photos and documents they carry. A 429 counts the notices as dropped."""
        owed = self.drops.unreported
        text = "\n".join(filter(None, [summarize(notices, NOTICE_LINES), self.drops.note()]))
        results = [await post_text(self.app.bot, chat_id, text)
                   for chat_id in self.runtime.config.telegram.chat_ids]
        if "sent" in results:
            self.drops.reported(owed)
        if "rate_limited" in results:
            self.drops.add(len(notices), "Telegram flood control (429)")
        for notice in notices:
            await send_attachments(self.app.bot, self.runtime.config.telegram.chat_ids, notice)

    async def _farewell(self) -> None:
        """On shutdown: "daemon stopping" (unless a stop command already said so) and every
        pending notice, within `shutdown_flush_s`; what is left then is logged, not sent.
        Why here: the daemon cancels this task and nobody else would ever send them."""
        if not self._stop_announced and "daemon" in self.runtime.config.telegram.notify:
            self._immediate.append(Notice(NoticeKind.DAEMON, STOPPING, wall_ms()))
        try:
            async with asyncio.timeout(self.runtime.config.telegram.shutdown_flush_s):
                await self._flush(force=True)
        except TimeoutError:
            log.warning("telegram: %d notice(s) not sent before shutdown",
                        len(self._immediate) + len(self._batch))
