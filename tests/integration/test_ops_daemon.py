"""The operator commands end to end: `entasis run` as a subprocess (sim, feed, engine, paper
trading, control endpoint, Telegram), driven by the `entasis` CLI as an operator would, with
the daemon's Telegram bot polling a fake Bot API server (tests/fake_telegram.py) run by this
test on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.bot_daemon import bot_daemon
from tests.conftest import REPO_ROOT

TOKEN = "654321:DAEMON-test-token"
CHAT = 222
# speed 60 (a market minute a second): on the calibrated market a position at the default 1 %
# take-profit/stop often lasts only ~10 minutes, i.e. seconds here, and the operator's pause
# and forceexit must find one still held: 2 % barriers make positions last ~4x longer.
FAST = """
[sim]
coins = 12
speed = 60.0
history_days = 1.2
[feed]
backfill_minutes = 1500
stale_after_s = 5.0
[strategy]
top_k = 5
max_spread_bps = 500.0
target_return_pct = 2.0
stop_return_pct = 2.0
[trading]
edge_cost_margin = -1  # weigh no cost: the test needs positions (strategies/edge.py)
[telegram]
enabled = true
chat_ids = [{chat}]
api_url = "{url}"
poll_timeout_s = 1
batch_window_s = 1  # fills are batched per window (60 s by default): a second keeps this short
"""


def entasis(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args, "--config", str(config)],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=30, check=False)


def answer(config: Path, *args: str) -> dict[str, Any]:
    done = entasis(config, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def wait_status(config: Path, ready: Callable[[dict[str, Any]], bool],
                      timeout_s: float = 60, log: Path | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (config.parent / "var" / "control.json").exists():
            done = await asyncio.to_thread(entasis, config, "status", "--json")
            if done.returncode == 0 and ready(json.loads(done.stdout)):
                return json.loads(done.stdout)
        await asyncio.sleep(1.0)  # each poll is a CLI process: ~0.5 s of CPU
    output = log.read_text()[-3000:] if log else ""
    raise AssertionError(f"the daemon never reached the expected state; its log:\n{output}")


@pytest.mark.slow
def test_operator_pauses_flattens_and_stops_the_daemon_from_cli_and_chat(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    log = tmp_path / "daemon.log"

    async def scenario() -> str:
        async with bot_daemon(tmp_path, FAST, TOKEN, CHAT) as daemon:
            status = await wait_status(
                config, lambda s: bool(s["trading"] and s["trading"]["positions"]), log=log)
            # policy = "auto" in paper mode without a walk-forward verdict: the baseline, as
            # before, marked unproven (bot/app/policy_choice.py)
            assert status["policy_choice"]["policy"] == "baseline"
            assert status["policy_choice"]["reason"].startswith(
                "unproven: no walk-forward verdict for market sim/USDT/1m")
            # pause and forceexit at once: a position held now may reach its take-profit or
            # stop within seconds, and forceexit must still find one to sell
            paused = await asyncio.to_thread(answer, config, "pause")
            assert paused["trading_state"] == "REDUCING" and paused["paused"]
            forced = await asyncio.to_thread(answer, config, "forceexit", "all")
            assert forced["exits_queued"], forced

            notices = await daemon.api.wait_sent("sendMessage", 1, CHAT, timeout_s=20)
            text = "\n".join(c.params["text"] for c in notices)
            assert "fill: BUY" in text or "filled: BUY" in text, text  # notifier -> chat
            before = len(daemon.api.sent("sendMessage", CHAT))
            await daemon.api.push_text(CHAT, "/status")
            replies = await daemon.api.wait_sent("sendMessage", before + 1, CHAT)
            assert any("state REDUCING" in c.params["text"] for c in replies[before:])
            flat = await wait_status(config, lambda s: not s["trading"]["positions"]
                                     and not s["trading"]["open_orders"], timeout_s=30, log=log)
            assert flat["trading"]["trading_state"] == "REDUCING"  # no new entries while paused
            # (every command's answer is checked in-process in test_ops_control/test_telegram)
            assert (await asyncio.to_thread(answer, config, "positions"))["positions"] == []

            stopped = await asyncio.to_thread(answer, config, "stop")
            assert stopped["stopping"]
            await asyncio.wait_for(daemon.process.wait(), 15)
            assert daemon.process.returncode == 0, log.read_text()
            return log.read_text()

    output = asyncio.run(scenario())
    assert "Traceback" not in output and TOKEN not in output
    assert "stop requested: operator stop command" in output
    assert not (tmp_path / "var" / "control.json").exists()
