"""The control endpoint: one command layer served on loopback, with a token.

The CLI (and, with issue 6, Telegram) call the same functions, so they can never disagree.
The server binds 127.0.0.1 only and writes two files into the data directory:
`control.json` (host, port, pid) and `control.token` (random, file mode 0600). A client must
present the token as `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

import aiohttp
from aiohttp import web

log = logging.getLogger(__name__)

CONTROL_FILE = "control.json"
TOKEN_FILE = "control.token"

Command = Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]


class ControlUnavailable(Exception):
    """No running daemon answered; the message says how to start one."""


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
    """Serves the command layer at `GET /api/<command>` on loopback."""

    def __init__(self, data_dir: Path, commands: Mapping[str, Command], host: str, port: int):
        self._data_dir = data_dir
        self._commands = dict(commands)
        self._host = host
        self._port = port
        self._token = ""
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        self._token = write_token(self._data_dir)
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/api/{command}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
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

    async def _handle(self, request: web.Request) -> web.Response:
        name = request.match_info["command"]
        command = self._commands.get(name)
        if command is None:
            known = ", ".join(sorted(self._commands))
            return web.json_response({"error": f"unknown command {name!r}; known: {known}"}, status=404)
        result = command()
        if isinstance(result, Awaitable):
            result = await result
        return web.json_response(result, dumps=lambda obj: json.dumps(obj, default=str))


async def call(data_dir: Path, command: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """Ask the running daemon for `command`; raises ControlUnavailable if none answers."""
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
            async with http.get(url, headers=headers) as response:
                body = await response.json()
                if response.status != 200:
                    raise ControlUnavailable(f"daemon answered {response.status}: {body.get('error')}")
                return dict(body)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ControlUnavailable(
            f"daemon at {url} did not answer ({exc.__class__.__name__}); is it running? "
            "(pid in control.json: %s)" % info.get("pid")
        ) from None
