"""The control endpoint: the command layer (bot/ops/commands.py) served on loopback, with a token.

The CLI calls it here and Telegram calls the same layer in-process, so they can never
disagree. The server binds 127.0.0.1 only and writes two files into the data directory:
`control.json` (host, port, pid) and `control.token` (random, file mode 0600). A client must
present the token as `Authorization: Bearer <token>`.

`GET /api/<command>?arg=value` runs a read-only command; `POST /api/<command>` with a JSON
object body runs any command, and is the only way to run a destructive one (pause, resume,
stop, forceexit, reload-config), so a stray GET (a browser prefetch, a link) changes nothing.
Errors come back as `{"error": "..."}` with 400 (bad arguments, or a body that is not a
UTF-8 JSON object), 404 (unknown command), 405 (destructive by GET), 408 (body too slow),
413 (body too large) or 503 (daemon still starting).

Loopback is not a guarantee of politeness (any local process can connect), so nothing a
client sends can hold the server or flood its log: a connection idle (or still sending its
headers) for `idle_timeout_s` is closed, a body must arrive within `body_timeout_s` and fit
in `MAX_BODY_BYTES`, and refused tokens are logged at most once a minute per peer address.
Both files are written 0600 whatever the umask, each replaced in one rename.
"""

from __future__ import annotations

import asyncio
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

from bot.data_dir import DataDir
from model import errors
from model.ratelimit import RateLimitedLog

log = logging.getLogger(__name__)

IDLE_TIMEOUT_S = 10.0  # also bounds the headers: aiohttp closes a connection idle this long
BODY_TIMEOUT_S = 10.0  # a POST body must be in by then (the CLI sends it at once)
MAX_BODY_BYTES = 64 * 1024  # arguments are a few short fields
UNAUTHORIZED_LOG_EVERY_S = 60.0
LOGGED_PATH_CHARS = 200

Command = Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]


class ControlUnavailable(errors.OperatorError):
    """No running daemon answered; the message says how to start one."""


class CommandRefused(ControlUnavailable):
    """The daemon answered but refused the command; the message is the daemon's reason."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class Layer(Protocol):
    """What the server serves: `bot.ops.commands.CommandLayer`, or `MappingLayer` for tests."""

    def call(self, name: str, args: Mapping[str, Any] | None = None) -> Mapping[str, Any]: ...
    def is_destructive(self, name: str) -> bool: ...


class MappingLayer:
    """Zero-argument callables by name, none destructive (a minimal layer for tests)."""

    def __init__(self, commands: Mapping[str, Command]) -> None:
        self._commands = dict(commands)

    def call(self, name: str, args: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        from bot.ops.commands import CommandError, UnknownCommand

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
    write_private(DataDir(data_dir).token, token)
    return token


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text`, mode 0600 whatever the umask: written to a fresh file
    beside it, then renamed over it, so a reader sees the old content or the new, never half
    of it, and a link planted at `path` is replaced, not followed."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)  # left by a crash under a reused pid
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)  # the umask may have taken the owner's bits too
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class _Refused(Exception):
    """A request the server answers with `{"error": message}` and `status`."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ControlServer:
    """Serves a command layer at `/api/<command>` on loopback (GET read-only, POST any)."""

    def __init__(self, data_dir: Path, commands: Layer | Mapping[str, Command], host: str,
                 port: int, *, idle_timeout_s: float = IDLE_TIMEOUT_S,
                 body_timeout_s: float = BODY_TIMEOUT_S):
        self._data_dir = data_dir
        self._idle_timeout_s = idle_timeout_s
        self._body_timeout_s = body_timeout_s
        self._refusals = RateLimitedLog(log, UNAUTHORIZED_LOG_EVERY_S)
        self._layer: Layer = (MappingLayer(commands) if isinstance(commands, Mapping)
                              else commands)
        self._host = host
        self._port = port
        self._token = ""
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        self._token = write_token(self._data_dir)
        app = web.Application(middlewares=[self._auth], client_max_size=MAX_BODY_BYTES)
        app.router.add_get("/api/{command}", self._handle_get)
        app.router.add_post("/api/{command}", self._handle_post)
        # keepalive_timeout counts from the connection (or the last answer) until a complete
        # request head: it closes idle, half-open and slow-header connections alike.
        # lingering_time bounds how long an unread body is drained after the answer.
        self._runner = web.AppRunner(app, access_log=None, keepalive_timeout=self._idle_timeout_s,
                                     lingering_time=self._body_timeout_s)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr,attr-defined]
        self.port = sockets[0].getsockname()[1]
        info = {"host": self._host, "port": self.port, "pid": os.getpid()}
        write_private(DataDir(self._data_dir).control, json.dumps(info))
        log.info("control endpoint on http://%s:%d", self._host, self.port)

    async def stop(self) -> None:
        DataDir(self._data_dir).control.unlink(missing_ok=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not given or not hmac.compare_digest(given.encode(errors="replace"), self._token.encode()):
            self._refusals.warning(request.remote, "control request without a valid token "
                                   "refused from %s (%s)", request.remote,
                                   request.path[:LOGGED_PATH_CHARS])
            return web.json_response({"error": "missing or wrong token"}, status=401)
        return await handler(request)

    async def _handle_get(self, request: web.Request) -> web.Response:
        name = request.match_info["command"]
        if self._layer.is_destructive(name):
            return _error(f"{name} changes the daemon: send it by POST", 405)
        return await self._run(name, dict(request.query))

    async def _handle_post(self, request: web.Request) -> web.Response:
        try:
            args = _json_object(await self._body(request))
        except _Refused as refused:
            response = _error(str(refused), refused.status)
            if refused.status in (408, 413):  # the rest of the body is not worth waiting for
                response.force_close()
            return response
        return await self._run(request.match_info["command"], args)

    async def _body(self, request: web.Request) -> bytes:
        """The whole body, within `body_timeout_s` and `MAX_BODY_BYTES`."""
        try:
            async with asyncio.timeout(self._body_timeout_s):
                return await request.read()
        except TimeoutError:
            raise _Refused(f"the body did not arrive within {self._body_timeout_s:g} s",
                           408) from None
        except web.HTTPRequestEntityTooLarge:
            raise _Refused(f"the body is larger than {MAX_BODY_BYTES} bytes", 413) from None

    async def _run(self, name: str, args: Mapping[str, Any]) -> web.Response:
        from bot.ops.commands import CommandError

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


def _json_object(body: bytes) -> dict[str, Any]:
    """The arguments in a POST body: a UTF-8 JSON object, or nothing at all."""
    usage = 'the body must be a UTF-8 JSON object of arguments, e.g. {"symbol": "all"}'
    try:
        text = body.decode("utf-8")
        args = json.loads(text) if text.strip() else {}
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; [[[[... recurses
        raise _Refused(usage, 400) from None
    if not isinstance(args, dict):
        raise _Refused(usage, 400)
    return args


def _error(message: str, status: int) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def call(data_dir: Path, command: str, args: Mapping[str, Any] | None = None, *,
               post: bool = False, timeout_s: float = 5.0) -> dict[str, Any]:
    """Ask the running daemon for `command` (by POST when `post` or `args` are given).

    Raises ControlUnavailable if no daemon answers, CommandRefused if it refuses."""
    files = DataDir(data_dir)
    try:
        info = json.loads(files.control.read_text())
        token = files.token.read_text().strip()
    except (OSError, ValueError):
        raise ControlUnavailable(
            f"no running daemon found in {data_dir} (no {files.control.name}); start it with "
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
