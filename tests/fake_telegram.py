"""A fake Telegram Bot API server on 127.0.0.1 (aiohttp), for tests of bot/ops/telegram_bot.py.

It speaks the real wire protocol python-telegram-bot uses: `POST /bot<token>/<method>` with
form or multipart parameters, answers `{"ok": true, "result": ...}` or Telegram's error shape
`{"ok": false, "error_code": ..., "description": ...}`. A test queues updates (`push_*`),
reads what the bot sent (`sent`, `wait_sent`), and injects failures: an HTTP error or a
Telegram error for the next calls of a method (`fail`), or a delay longer than the client's
timeout (`delay`). Nothing is mocked inside the library: only the server is fake.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Entasis", "username": "entasis_test_bot",
            "can_join_groups": False, "can_read_all_group_messages": False,
            "supports_inline_queries": False}


@dataclass
class Call:
    """One request the bot made: the method and its decoded parameters."""

    method: str
    params: dict[str, Any]
    token: str


@dataclass
class FakeBotApi:
    token: str
    max_poll_s: float = 0.3  # cap on long polls, so the bot's shutdown is quick
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, list[tuple[int, dict[str, Any] | str]]] = field(default_factory=dict)
    delays: dict[str, list[float]] = field(default_factory=dict)
    url: str = ""
    _next_update: int = 1
    _next_message: int = 1000
    _changed: asyncio.Condition | None = None
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._changed = asyncio.Condition()
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- what a test does --------------------------------------------------------------------
    async def push(self, update: dict[str, Any]) -> int:
        """Queue a raw update (a malformed one too); returns its update_id if it has one."""
        assert self._changed is not None
        async with self._changed:
            self.updates.append(update)
            self._changed.notify_all()
        return update.get("update_id", -1) if isinstance(update, dict) else -1

    def next_update_id(self) -> int:
        self._next_update += 1
        return self._next_update - 1

    async def push_text(self, chat_id: int, text: str) -> int:
        """A user in `chat_id` sends `text` (a /command gets its bot_command entity)."""
        message: dict[str, Any] = {
            "message_id": self._new_message_id(), "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "operator"}, "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(text.split()[0])}]
        return await self.push({"update_id": self.next_update_id(), "message": message})

    async def push_button(self, chat_id: int, data: str, message_id: int = 1) -> int:
        """A user in `chat_id` presses an inline button carrying `data`."""
        return await self.push({"update_id": self.next_update_id(), "callback_query": {
            "id": f"cq{self._new_message_id()}", "chat_instance": "ci", "data": data,
            "from": {"id": chat_id, "is_bot": False, "first_name": "operator"},
            "message": {"message_id": message_id, "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "private"}, "text": "question"}}})

    def fail(self, method: str, status: int, body: dict[str, Any] | str, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with this HTTP status and body."""
        self.failures.setdefault(method, []).extend([(status, body)] * times)

    def delay(self, method: str, seconds: float, times: int = 1) -> None:
        """Hold the next `times` calls of `method` for `seconds` before answering."""
        self.delays.setdefault(method, []).extend([seconds] * times)

    def sent(self, method: str = "sendMessage", chat_id: int | None = None) -> list[Call]:
        return [c for c in self.calls if c.method == method
                and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))]

    async def wait_sent(self, method: str, count: int, chat_id: int | None = None,
                        timeout_s: float = 10.0) -> list[Call]:
        """Wait until the bot made `count` calls of `method` (to `chat_id`); returns them."""
        deadline = time.monotonic() + timeout_s
        while len(self.sent(method, chat_id)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"bot made {len(self.sent(method, chat_id))} {method} "
                                     f"calls, expected {count}: {[c.params for c in self.calls][-5:]}")
            await asyncio.sleep(0.02)
        return self.sent(method, chat_id)

    async def wait_consumed(self, update_id: int, timeout_s: float = 10.0) -> None:
        """Wait until the bot confirmed (by its getUpdates offset) that it took `update_id`."""
        deadline = time.monotonic() + timeout_s
        while not any(c.method == "getUpdates" and int(c.params.get("offset") or 0) > update_id
                      for c in self.calls):
            if time.monotonic() > deadline:
                raise AssertionError(f"update {update_id} never consumed")
            await asyncio.sleep(0.02)

    # --- the server ----------------------------------------------------------------------------
    def _new_message_id(self) -> int:
        self._next_message += 1
        return self._next_message

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = value.file.read()
                continue
            try:
                params[key] = json.loads(value)
            except (TypeError, ValueError):
                params[key] = value
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        params = await self._params(request)
        self.calls.append(Call(method, params, token))
        if token != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)
        failure = self.failures[method].pop(0) if self.failures.get(method) else None
        if self.delays.get(method):  # taken at arrival, so overlapping calls keep their order
            await asyncio.sleep(self.delays[method].pop(0))
        if failure is not None:
            status, body = failure
            if isinstance(body, str):
                return web.Response(status=status, text=body)
            return web.json_response(body, status=status)
        if method == "getUpdates":
            return await self._get_updates(params)
        return web.json_response({"ok": True, "result": self._result(method, params)})

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        assert self._changed is not None
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), self.max_poll_s)

        def fresh() -> list[dict[str, Any]]:
            return [u for u in self.updates
                    if not isinstance(u, dict) or not isinstance(u.get("update_id"), int)
                    or u["update_id"] >= offset]

        async with self._changed:
            if not fresh() and wait > 0:
                try:
                    await asyncio.wait_for(self._changed.wait_for(lambda: bool(fresh())), wait)
                except TimeoutError:
                    pass
            ready = fresh()
        # Id-less garbage is delivered once, as a real server would not resend it either.
        self.updates = [u for u in self.updates if u not in ready or
                        (isinstance(u, dict) and isinstance(u.get("update_id"), int))]
        return web.json_response({"ok": True, "result": ready})

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method in ("deleteWebhook", "setMyCommands", "answerCallbackQuery"):
            return True
        chat = {"id": int(params.get("chat_id", 0)), "type": "private"}
        message: dict[str, Any] = {"message_id": int(params.get("message_id") or self._new_message_id()),
                                   "date": int(time.time()), "chat": chat}
        if method in ("sendMessage", "editMessageText"):
            message["text"] = params.get("text", "")
            return message
        if method == "sendPhoto":
            message["photo"] = [{"file_id": "photo1", "file_unique_id": "p1", "width": 800,
                                 "height": 400}]
            return message
        if method == "sendDocument":
            message["document"] = {"file_id": "doc1", "file_unique_id": "d1",
                                   "file_name": "report.html"}
            return message
        return True
