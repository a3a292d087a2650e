"""The command layer over the loopback control endpoint, driven by the real `entasis` CLI.

The endpoint serves `CommandLayer` over real sockets on 127.0.0.1; the CLI runs in a worker
thread (its own `asyncio.run`, as in a terminal) while the test's loop serves it. The
runtime's state is frozen between the two calls, so the CLI's `--json` answer must equal the
layer's own answer to the same command, field for field.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.ops.commands import CommandLayer
from bot.ops.control import ControlServer
from tests.ops_runtime import OpsRuntime, make_runtime

TOKEN_FILE = "control.token"  # bot.data_dir.DataDir.token

# (CLI arguments, layer command, layer arguments)
READ_COMMANDS: list[tuple[list[str], str, dict[str, Any]]] = [
    (["status"], "status", {}),
    (["balance"], "balance", {}),
    (["positions"], "positions", {}),
    (["trades", "--limit", "4"], "trades", {"limit": 4}),
    (["profit"], "profit", {"period": "all", "count": 24}),
    (["profit", "--period", "daily", "--count", "7"], "profit", {"period": "daily", "count": 7}),
    (["winrate", "--days", "3"], "winrate", {"days": 3}),
    (["performance"], "performance", {}),
    (["regime"], "regime", {}),
]


def cli(runtime: OpsRuntime, *args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--config", str(runtime.config_path)])
    return result


def without_clock(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "uptime_s"}


@pytest.fixture
def runtime(tmp_path: Path) -> OpsRuntime:
    built = make_runtime(tmp_path)
    yield built
    built.close()


async def serve(runtime: OpsRuntime) -> ControlServer:
    server = ControlServer(runtime.config.data_dir, CommandLayer(runtime), "127.0.0.1", 0)
    await server.start()
    return server


def test_cli_json_answers_equal_the_command_layer(runtime: OpsRuntime) -> None:
    async def scenario() -> None:
        server = await serve(runtime)
        layer = CommandLayer(runtime)
        try:
            for cli_args, name, args in READ_COMMANDS:
                done = await asyncio.to_thread(cli, runtime, *cli_args, "--json")
                assert done.exit_code == 0, done.output
                answer = json.loads(done.stdout)
                assert without_clock(answer) == without_clock(layer.call(name, args)), cli_args
                human = await asyncio.to_thread(cli, runtime, *cli_args)
                assert human.exit_code == 0 and human.stdout.strip(), human.output
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_cli_changes_the_daemon_by_post_and_reports_refusals(runtime: OpsRuntime) -> None:
    async def scenario() -> None:
        server = await serve(runtime)
        try:
            paused = await asyncio.to_thread(cli, runtime, "pause", "--json")
            assert json.loads(paused.stdout)["trading_state"] == "REDUCING"
            assert runtime.trader.state.paused
            resumed = await asyncio.to_thread(cli, runtime, "resume")
            assert resumed.exit_code == 0 and "ACTIVE" in resumed.stdout
            forced = await asyncio.to_thread(cli, runtime, "forceexit", "CCCUSDT", "--json")
            assert json.loads(forced.stdout)["exits_queued"] == ["CCCUSDT"]
            bad = await asyncio.to_thread(cli, runtime, "forceexit", "NOPE")
            assert bad.exit_code == 1 and "not a traded symbol" in bad.output
            reload = await asyncio.to_thread(cli, runtime, "reload-config", "--json")
            assert json.loads(reload.stdout)["changed"] == []
            stopped = await asyncio.to_thread(cli, runtime, "stop")
            assert stopped.exit_code == 0 and runtime.stop_requests == ["operator stop command"]
        finally:
            await server.stop()

    asyncio.run(scenario())


def test_endpoint_refuses_destructive_gets_bad_bodies_and_unknown_commands(runtime: OpsRuntime) -> None:
    async def scenario() -> list[tuple[int, str]]:
        server = await serve(runtime)
        token = (runtime.config.data_dir / TOKEN_FILE).read_text()
        base = f"http://127.0.0.1:{server.port}/api"
        headers = {"Authorization": f"Bearer {token}"}
        seen = []
        try:
            async with aiohttp.ClientSession(headers=headers) as http:
                for method, path, body in [
                    ("GET", "/pause", None), ("POST", "/forceexit", "{not json"),
                    ("POST", "/forceexit", "[1, 2]"), ("POST", "/nope", "{}"),
                    ("GET", "/trades?limit=2", None), ("POST", "/trades", '{"limit": 2}'),
                ]:
                    async with http.request(method, base + path, data=body) as response:
                        answer = await response.json()
                        seen.append((response.status, answer.get("error", "")))
                async with http.post(base + "/pause", data="{}",
                                     headers={"Authorization": "Bearer x"}) as denied:
                    seen.append((denied.status, (await denied.json())["error"]))
        finally:
            await server.stop()
        return seen

    seen = asyncio.run(scenario())
    assert [status for status, _ in seen] == [405, 400, 400, 404, 200, 200, 401]
    assert "send it by POST" in seen[0][1] and "JSON object" in seen[1][1]
    assert runtime.trader.state.mode.value == "ACTIVE"  # the refused GET changed nothing


def test_cli_without_a_daemon_says_how_to_start_one(runtime: OpsRuntime) -> None:
    done = cli(runtime, "balance")
    assert done.exit_code == 1 and "entasis run" in done.output
