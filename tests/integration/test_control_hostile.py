"""The control endpoint against hostile or broken local clients, on real sockets on
127.0.0.1: bad bodies get a clean JSON 400, slow or half-open connections are closed,
refusals cannot flood or forge the log, and the two files stay private whatever the umask.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from bot.logs import HumanFormatter
from bot.ops.control import MAX_BODY_BYTES, ControlServer, call

CONTROL_FILE, TOKEN_FILE = "control.json", "control.token"  # bot.data_dir.DataDir names

CLOSE_BOUND_S = 30.0  # generous: the assertions are "it closes", never "how fast"


@contextlib.asynccontextmanager
async def serving(data_dir: Path, **timeouts: float) -> AsyncIterator[ControlServer]:
    server = ControlServer(data_dir, {"status": lambda: {"ok": True}}, "127.0.0.1", 0, **timeouts)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def auth(data_dir: Path) -> dict[str, str]:
    return {"Authorization": f"Bearer {(data_dir / TOKEN_FILE).read_text()}"}


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    return await asyncio.wait_for(reader.read(), CLOSE_BOUND_S)


@pytest.mark.parametrize("body", [b"\xff\xfe{}", b"{nope", b"[1, 2]", b'"all"', b"null", b"7",
                                  b"[" * 50_000], ids=["not-utf8", "not-json", "array", "string",
                                                       "null", "number", "deeply-nested"])
def test_a_body_that_is_not_a_json_object_gets_a_400_json_error(tmp_path: Path, body: bytes) -> None:
    async def scenario() -> tuple[int, dict[str, str], dict[str, object]]:
        async with serving(tmp_path) as server, aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{server.port}/api/status"
            async with http.post(url, data=body, headers=auth(tmp_path)) as refused:
                answer = (refused.status, await refused.json())
            return (*answer, await call(tmp_path, "status"))

    status, error, still_serving = asyncio.run(scenario())
    assert status == 400 and "must be a UTF-8 JSON object of arguments" in error["error"]
    assert still_serving == {"ok": True}


def test_a_body_over_the_size_limit_gets_a_413_json_error(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, dict[str, str]]:
        async with serving(tmp_path) as server, aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{server.port}/api/status"
            body = b'{"pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
            async with http.post(url, data=body, headers=auth(tmp_path)) as refused:
                return refused.status, await refused.json()

    status, error = asyncio.run(scenario())
    assert status == 413 and error == {"error": f"the body is larger than {MAX_BODY_BYTES} bytes"}


def test_a_body_that_never_arrives_gets_a_408_and_the_connection_is_closed(tmp_path: Path) -> None:
    async def scenario() -> bytes:
        async with serving(tmp_path, body_timeout_s=0.5) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            head = (f"POST /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                    f"{auth(tmp_path)['Authorization']}\r\nContent-Length: 100\r\n\r\n{{")
            writer.write(head.encode())
            try:
                return await closed_by_server(reader)
            finally:
                writer.close()

    answer = asyncio.run(scenario())
    assert answer.startswith(b"HTTP/1.1 408")
    assert answer.endswith(b'{"error": "the body did not arrive within 0.5 s"}')


def test_300_half_open_connections_are_closed_and_the_endpoint_keeps_serving(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[bytes], dict[str, object]]:
        async with serving(tmp_path, idle_timeout_s=1.0) as server:
            connections = []
            for n in range(300):  # silent, or stuck inside the request head (slow headers)
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                if n % 2:
                    writer.write(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                connections.append((reader, writer))
            answered = await call(tmp_path, "status")  # while all 300 are still open
            received = await asyncio.gather(*(closed_by_server(r) for r, _ in connections))
            for _, writer in connections:
                writer.close()
            return received, answered

    received, answered = asyncio.run(scenario())
    assert answered == {"ok": True}
    assert received == [b""] * 300  # closed by the server, and nothing served to any of them


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.parametrize("mask", [0o022, 0o000, 0o277])
def test_control_files_are_private_whatever_the_umask(tmp_path: Path, mask: int) -> None:
    (tmp_path / CONTROL_FILE).write_text("{}")  # left world-readable by an older release
    os.chmod(tmp_path / CONTROL_FILE, 0o644)

    async def scenario() -> dict[str, int]:
        async with serving(tmp_path):
            return {name: stat.S_IMODE((tmp_path / name).stat().st_mode)
                    for name in (CONTROL_FILE, TOKEN_FILE)}

    with umask(mask):
        modes = asyncio.run(scenario())
    assert modes == {CONTROL_FILE: 0o600, TOKEN_FILE: 0o600}
    assert sorted(p.name for p in tmp_path.iterdir()) == [TOKEN_FILE]  # no temporary left


def test_a_flood_of_wrong_tokens_is_logged_once_naming_the_peer(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> list[int]:
        async with serving(tmp_path) as server, aiohttp.ClientSession() as http:
            statuses = []
            for n in range(50):
                url = f"http://127.0.0.1:{server.port}/api/status{n}"
                async with http.get(url, headers={"Authorization": "Bearer guess"}) as refused:
                    statuses.append(refused.status)
            return statuses

    with caplog.at_level(logging.WARNING, logger="bot.ops.control"):
        statuses = asyncio.run(scenario())
    assert statuses == [401] * 50
    assert [r.getMessage() for r in caplog.records] == [
        "control request without a valid token refused from 127.0.0.1 (/api/status0)"]


def test_a_newline_in_the_path_cannot_forge_a_log_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> bytes:
        async with serving(tmp_path) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /api/x%0d%0a12:00:00%20INFO%20bot.ops.control:%20token%20ok%1b[8m "
                         b"HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            try:
                return await closed_by_server(reader)
            finally:
                writer.close()

    with caplog.at_level(logging.WARNING, logger="bot.ops.control"):
        answer = asyncio.run(scenario())
    assert answer.startswith(b"HTTP/1.1 401")
    (record,) = caplog.records
    shown = HumanFormatter().format(record)
    assert "\n" not in shown and "\r" not in shown and "\x1b" not in shown
    assert shown.endswith("(/api/x\\r\\n12:00:00 INFO bot.ops.control: token ok\\x1b[8m)")


@pytest.mark.slow
def test_a_newline_in_a_forceexit_symbol_cannot_forge_a_log_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from bot.ops.commands import CommandLayer
    from tests.ops_runtime import make_runtime

    runtime = make_runtime(tmp_path)
    forged = "CCCUSDT\n12:00:00 WARNING trading.operator: forced exit of ALL cancelled\x1b[1A"

    async def scenario() -> int:
        server = ControlServer(runtime.config.data_dir, CommandLayer(runtime), "127.0.0.1", 0)
        await server.start()
        try:
            async with aiohttp.ClientSession() as http:
                url = f"http://127.0.0.1:{server.port}/api/forceexit"
                async with http.post(url, json={"symbol": forged},
                                     headers=auth(runtime.config.data_dir)) as answer:
                    return answer.status
        finally:
            await server.stop()

    try:
        with caplog.at_level(logging.INFO):
            status = asyncio.run(scenario())
    finally:
        runtime.close()
    assert status == 400  # not a traded symbol; the request is still logged, on one line
    shown = [HumanFormatter().format(r) for r in caplog.records if "CCCUSDT" in r.getMessage()]
    assert shown and all("\n" not in line and "\x1b" not in line for line in shown)
    assert any("CCCUSDT\\n12:00:00 WARNING trading.operator: forced exit of ALL cancelled\\x1b[1A"
               in line for line in shown)
