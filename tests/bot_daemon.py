"""`entasis run` as a subprocess whose Telegram bot talks to a fake Bot API on 127.0.0.1.

The scenario tests of the whole daemon (operator commands, SIGTERM) start it the same way:
the fake API first (its URL goes into the config), the daemon's output to a file (a full pipe
would block it), the token only in its environment, and on the way out the daemon killed if
the scenario left it running and the API stopped. Nothing inside the daemon is patched.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.fake_telegram import FakeBotApi


@dataclass(frozen=True)
class BotDaemon:
    """A running daemon and the fake Bot API its Telegram bot polls."""

    api: FakeBotApi
    process: asyncio.subprocess.Process
    config: Path
    log: Path


@asynccontextmanager
async def bot_daemon(workdir: Path, config_template: str, token: str, chat: int
                     ) -> AsyncIterator[BotDaemon]:
    """Start the fake API, write `config_template` (its `{url}` and `{chat}` filled in) to
    workdir/config.toml and run `entasis run` on it with `token` in ENTASIS__TELEGRAM__TOKEN;
    the daemon's data dir is workdir/var and its output goes to workdir/daemon.log."""
    config, log = workdir / "config.toml", workdir / "daemon.log"
    api = FakeBotApi(token)
    await api.start()
    try:
        config.write_text(config_template.format(chat=chat, url=api.url))
        with log.open("w") as log_file:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "run", "--config", str(config), cwd=REPO_ROOT,
                stdout=log_file, stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "ENTASIS__TELEGRAM__TOKEN": token})
            try:
                yield BotDaemon(api, process, config, log)
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    finally:
        await api.stop()
