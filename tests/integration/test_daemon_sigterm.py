"""A real SIGTERM (what systemd sends on `systemctl stop`) to `entasis run`: the chat hears
"daemon stopping" before the process exits, and the exit is a clean 0.

The daemon runs as a subprocess (paper, embedded sim) with its Telegram bot pointed at the
fake Bot API server of tests/fake_telegram.py on 127.0.0.1; nothing inside it is patched.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.bot_daemon import bot_daemon
from tests.fake_telegram import FakeBotApi
from tests.waiting import async_wait_until

TOKEN = "765432:SIGTERM-test-token"
CHAT = 333
CONFIG = """
[sim]
coins = 4
speed = 600.0
history_days = 1.2
[feed]
backfill_minutes = 1500
[telegram]
enabled = true
chat_ids = [{chat}]
api_url = "{url}"
poll_timeout_s = 1
"""
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0  # shutdown_flush_s (3 s) and the daemon's own shutdown (4 s) fit in it


async def wait_until_up(api: FakeBotApi, data_dir: Path, daemon: asyncio.subprocess.Process,
                        log: Path) -> None:
    """Up: the control endpoint is serving (control.json) and the bot polls for updates."""
    def up() -> bool:
        assert daemon.returncode is None, f"the daemon exited at start:\n{log.read_text()}"
        return (data_dir / "control.json").exists() and bool(api.sent("getUpdates"))

    await async_wait_until(up, START_TIMEOUT_S, interval_s=0.2,
                           what="control.json and the bot's first getUpdates")


@pytest.mark.slow
def test_sigterm_sends_daemon_stopping_to_the_chat_then_exits_0(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"

    async def scenario() -> tuple[int | None, list[str]]:
        async with bot_daemon(tmp_path, CONFIG, TOKEN, CHAT) as daemon:
            await wait_until_up(daemon.api, tmp_path / "var", daemon.process, log)
            daemon.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(daemon.process.wait(), STOP_TIMEOUT_S)
            # The fake API is in this process: what it holds now was received before the exit.
            messages = [c.params["text"] for c in daemon.api.sent("sendMessage", CHAT)]
            return daemon.process.returncode, messages

    returncode, messages = asyncio.run(scenario())
    output = log.read_text()
    assert returncode == 0, output
    assert any("daemon stopping" in text for text in messages), (messages, output[-3000:])
    assert "SIGTERM received: shutting down" in output
    assert "Traceback" not in output and TOKEN not in output
    assert not (tmp_path / "var" / "control.json").exists()
