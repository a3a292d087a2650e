"""Control endpoint: loopback only, token in a 0600 file, wrong tokens refused."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import aiohttp
import pytest

from bot.ops.control import ControlServer, ControlUnavailable, call

CONTROL_FILE, TOKEN_FILE = "control.json", "control.token"  # bot.data_dir.DataDir names


def test_status_round_trips_through_the_loopback_endpoint_with_the_token(tmp_path: Path) -> None:
    async def scenario() -> None:
        server = ControlServer(tmp_path, {"status": lambda: {"ok": True, "n": 3}}, "127.0.0.1", 0)
        await server.start()
        try:
            info = json.loads((tmp_path / CONTROL_FILE).read_text())
            assert info["host"] == "127.0.0.1" and info["port"] == server.port
            assert stat.S_IMODE((tmp_path / TOKEN_FILE).stat().st_mode) == 0o600
            assert await call(tmp_path, "status") == {"ok": True, "n": 3}
        finally:
            await server.stop()
        assert not (tmp_path / CONTROL_FILE).exists()

    asyncio.run(scenario())


def test_requests_without_the_right_token_are_refused(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int, int]:
        server = ControlServer(tmp_path, {"status": lambda: {"secret": "x"}}, "127.0.0.1", 0)
        await server.start()
        url = f"http://127.0.0.1:{server.port}/api/status"
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(url) as none:
                    no_token = none.status
                async with http.get(url, headers={"Authorization": "Bearer wrong"}) as bad:
                    wrong = bad.status
                token = (tmp_path / TOKEN_FILE).read_text()
                async with http.get(
                    f"http://127.0.0.1:{server.port}/api/nope", headers={"Authorization": f"Bearer {token}"}
                ) as unknown:
                    missing = unknown.status
            return no_token, wrong, missing
        finally:
            await server.stop()

    assert asyncio.run(scenario()) == (401, 401, 404)


def test_status_without_a_daemon_says_how_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(ControlUnavailable, match="entasis run"):
        asyncio.run(call(tmp_path, "status"))
