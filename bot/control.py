"""The control endpoint: the command layer (bot/commands.py) served on loopback, with a token.

The CLI calls it here and Telegram calls the same layer in-process, so they can never
disagree. The server binds 127.0.0.1 only and writes two files into the data directory:
`control.json` (host, port, pid) and `control.token` (random, file mode 0600). A client must
present the token as `Authorization: Bearer <token>`.

`GET /api/<command>?arg=value` runs a read-only command; `POST /api/<command>` with a JSON
object body runs any command, and is the only way to run a destructive one (pause, resume,
stop, forceexit, reload-config), so a stray GET (a browser prefetch, a link) changes nothing.
Errors come back as `{"error": "..."}` with 400 (bad arguments), 404 (unknown command), 405
(destructive by GET) or 503 (daemon still starting).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from aiohttp import web

log = logging.getLogger(__name__)

CONTROL_FILE = "control.json"
TOKEN_FILE = "control.token"

Command = Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]


class ControlUnavailable(Exception):
    """No running daemon answered; the message says how to start one."""


class CommandRefused(ControlUnavailable):
    """The daemon answered but refused the command; the message is the daemon's reason."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Layer(Protocol):
    """What the server serves: `bot.commands.CommandLayer`, or `MappingLayer` for tests."""

    def call(self, name: str, args: Mapping[str, Any] | None = None) -> Mapping[str, Any]: ...
    def is_destructive(self, name: str) -> bool: ...


class MappingLayer:
    """Zero-argument callables by name, none destructive (a minimal layer for tests)."""

    def __init__(self, commands: Mapping[str, Command]) -> None:
        self._commands = dict(commands)

    def call(self, name: str, args: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        from bot.commands import CommandError, UnknownCommand

        command = self._commands.get(name)
        if command is None:
            known = ", ".join(sorted(self._commands))
            raise UnknownCommand(f"unknown command {name!r}; known: {known}")
        if args:
            raise CommandError(f"{name} takes no arguments")
        return command()  # type: ignore[return-value]

    def is_destructive(self, name: str) -> bool:
        return False


def write_token(data_dir: Path) -> str:
    """Create a fresh random token readable by the owner only (mode 0600)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    path = data_dir / TOKEN_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to an existing file
    return token


class ControlServer:
    """Serves a command layer at `/api/<command>` on loopback (GET read-only, POST any)."""

    def __init__(self, data_dir: Path, commands: Layer | Mapping[str, Command], host: str,
                 port: int):
        self._data_dir = data_dir
        self._layer: Layer = (MappingLayer(commands) if isinstance(commands, Mapping)
                              else commands)
        self._host = host
        self._port = port
        self._token = ""
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        self._token = write_token(self._data_dir)
        app = web.Application(middlewares=[self._auth], client_max_size=64 * 1024)
        app.router.add_get("/api/{command}", self._handle_get)
        app.router.add_post("/api/{command}", self._handle_post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr,attr-defined]
        self.port = sockets[0].getsockname()[1]
        info = {"host": self._host, "port": self.port, "pid": os.getpid()}
        (self._data_dir / CONTROL_FILE).write_text(json.dumps(info))
        log.info("control endpoint on http://%s:%d", self._host, self.port)

    async def stop(self) -> None:
        (self._data_dir / CONTROL_FILE).unlink(missing_ok=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not given or not hmac.compare_digest(given, self._token):
            log.warning("control request without a valid token refused (%s)", request.path)
            return web.json_response({"error": "missing or wrong token"}, status=401)
        return await handler(request)

    async def _handle_get(self, request: web.Request) -> web.Response:
        name = request.match_info["command"]
        if self._layer.is_destructive(name):
            return _error(f"{name} changes the daemon: send it by POST", 405)
        return await self._run(name, dict(request.query))

    async def _handle_post(self, request: web.Request) -> web.Response:
        text = await request.text()
        try:
            args = json.loads(text) if text.strip() else {}
        except ValueError:
            return _error("the body must be a JSON object of arguments, e.g. {\"symbol\": \"all\"}", 400)
        if not isinstance(args, dict):
            return _error("the body must be a JSON object of arguments", 400)
        return await self._run(request.match_info["command"], args)

    async def _run(self, name: str, args: Mapping[str, Any]) -> web.Response:
        from bot.commands import CommandError

        try:
            result = self._layer.call(name, args)
            if isinstance(result, Awaitable):
                result = await result
        except CommandError as exc:
            return _error(str(exc), exc.status)
        except Exception as exc:  # a bug in one command must not look like a dead daemon
            log.exception("control command %s failed", name)
            return _error(f"{name} failed inside the daemon ({exc.__class__.__name__}: {exc}); "
                          "see the daemon log", 500)
        return web.json_response(result, dumps=lambda obj: json.dumps(obj, default=str))


def _error(message: str, status: int) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def call(data_dir: Path, command: str, args: Mapping[str, Any] | None = None, *,
               post: bool = False, timeout_s: float = 5.0) -> dict[str, Any]:
    """Ask the running daemon for `command` (by POST when `post` or `args` are given).

    Raises ControlUnavailable if no daemon answers, CommandRefused if it refuses."""
    try:
        info = json.loads((data_dir / CONTROL_FILE).read_text())
        token = (data_dir / TOKEN_FILE).read_text().strip()
    except (OSError, ValueError):
        raise ControlUnavailable(
            f"no running daemon found in {data_dir} (no {CONTROL_FILE}); start it with "
            "`entasis run` from the folder that holds config.toml"
        ) from None
    url = f"http://{info['host']}:{info['port']}/api/{command}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as http:
            if post or args:
                request = http.post(url, headers=headers, json=dict(args or {}))
            else:
                request = http.get(url, headers=headers)
            async with request as response:
                body = await response.json(content_type=None)
                if response.status != 200:
                    error = body.get("error") if isinstance(body, dict) else body
                    raise CommandRefused(f"daemon refused {command}: {error}", response.status)
                return dict(body)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise ControlUnavailable(
            f"daemon at {url} did not answer ({exc.__class__.__name__}); is it running? "
            "(pid in control.json: %s)" % info.get("pid")
        ) from None
