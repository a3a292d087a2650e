"""A live daemon whose `auto` pick is unproven stays flat and says so: in `status` (CLI over
the real control endpoint, and Telegram), in `health` (a failing check, exit 1) and in a
Telegram notice when the bot starts; in paper mode the pick is marked unproven.

The runtime is tests/ops_runtime.py's real-parts stand-in (real trader, ledger, engine), the
control endpoint is the real one and the Telegram bot polls a fake Bot API on 127.0.0.1, as
in tests/integration/test_telegram.py; the trader is the one `auto` builds in live mode:
the scripted buys of the runtime, held back."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from bot.app.policy_choice import StayFlat, choose_policy
from bot.cli import app
from bot.config import load_config
from bot.data_dir import DataDir
from bot.ops.command_text import render
from bot.ops.commands import CommandLayer
from bot.ops.control import ControlServer
from bot.ops.telegram_bot import TelegramBot
from bot.research.verdicts import Verdict, record_verdicts
from tests.fake_telegram import FakeBotApi
from tests.ops_runtime import OpsRuntime, ScriptedPolicy, make_runtime

TOKEN = "123456:TEST-secret-token-value"
CHAT = 111
TELEGRAM = '[telegram]\nenabled = true\ntoken = "{token}"\nchat_ids = [{chat}]\n' \
           'api_url = "{url}"\npoll_timeout_s = 1\nrequest_timeout_s = 1.0\n'


def cli(runtime: OpsRuntime, *args: str) -> tuple[int, dict[str, Any]]:
    done = CliRunner().invoke(app, [*args, "--json", "--config", str(runtime.config_path)])
    return done.exit_code, json.loads(done.stdout)


def lost_to_flat(data_dir: Path, market: str) -> None:
    """The market's only verdict: sma lost to flat."""
    record_verdicts(DataDir(data_dir).walkforward_trials, [Verdict(
        market=market, policy="sma", batch_policy="sma", params={}, whole_universe=True,
        sharpe=-0.5, deflated_sharpe=0.0, total_return=-0.1, max_drawdown=0.2,
        beat_flat=False, folds=9, n_trials=7, data="/data/sim_1m", timeframe="1m",
        start_ms=0, end_ms=1)])


@contextlib.asynccontextmanager
async def live_auto_daemon(tmp_path: Path, mode: str = "live"
                           ) -> AsyncIterator[tuple[FakeBotApi, OpsRuntime]]:
    """Fake Bot API, the runtime with `auto`'s choice for `mode` (the trader it builds: the
    script's policy, staying flat when the choice says so), control endpoint, the bot."""
    api = FakeBotApi(TOKEN)
    await api.start()
    folder = tmp_path / "daemon"
    (folder / "var").mkdir(parents=True)
    lost_to_flat(folder / "var", "sim/USDT/1m")
    config_text = f'[app]\nmode = "{mode}"\n' + TELEGRAM.format(token=TOKEN, chat=CHAT,
                                                                 url=api.url)
    (folder / "choice.toml").write_text(config_text)  # the runtime's config, as the daemon
    choice = choose_policy(load_config(folder / "choice.toml", environ={}))  # would choose
    policy = StayFlat(ScriptedPolicy(), choice.reason) if choice.stay_flat else ScriptedPolicy()
    runtime = make_runtime(folder, config_text, policy=policy)
    runtime.policy_choice = choice
    layer = CommandLayer(runtime)
    control = ControlServer(runtime.config.data_dir, layer, "127.0.0.1", 0)
    await control.start()
    task = asyncio.create_task(TelegramBot(runtime, layer).run())
    try:
        await api.wait_sent("getUpdates", 1)
        yield api, runtime
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await control.stop()
        await api.stop()
        runtime.close()


def test_live_auto_on_a_policy_that_lost_to_flat_stays_flat_and_says_so(tmp_path: Path) -> None:
    reason = ("live: staying flat — best walk-forward policy sma lost to flat: Sharpe -0.50, "
              "return -10.0%")

    async def scenario() -> None:
        async with live_auto_daemon(tmp_path) as (api, runtime):
            # the Telegram notice on start
            started = await api.wait_sent("sendMessage", 1, CHAT, timeout_s=10)
            assert reason in started[0].params["text"]
            # status over the control endpoint, and the same answer rendered in the chat
            code, status = await asyncio.to_thread(cli, runtime, "status")
            choice = status["policy_choice"]
            assert code == 0 and choice["stay_flat"] and not choice["proven"]
            assert choice["reason"].startswith(reason) and choice["market"] == "sim/USDT/1m"
            assert choice["verdict"]["sharpe"] == -0.5
            before = len(api.sent("sendMessage", CHAT))
            await api.push_text(CHAT, "/status")
            replies = await api.wait_sent("sendMessage", before + 1, CHAT)
            assert replies[before].params["text"] == render("status", status)
            assert reason in replies[before].params["text"]
            # health fails on it, naming why (`entasis health` exits 1)
            code, health = await asyncio.to_thread(cli, runtime, "health")
            policy_check = next(c for c in health["checks"] if c["name"] == "policy")
            assert code == 1 and not health["ok"] and not policy_check["ok"]
            assert policy_check["detail"].startswith(reason)
            # and the scripted buys were held back: no position, no fill, every one audited
            assert status["trading"]["positions"] == [] and status["trading"]["fills"] == 0
            held = [d for d in runtime.ledger.decisions() if (d.detail or "").startswith(reason)]
            assert {d.symbol for d in held} == {"AAAUSDT", "BBBUSDT", "CCCUSDT"}

    asyncio.run(scenario())


def test_paper_auto_trades_the_pick_marked_unproven_with_its_figures(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with live_auto_daemon(tmp_path, mode="paper") as (api, runtime):
            code, status = await asyncio.to_thread(cli, runtime, "status")
            choice = status["policy_choice"]
            assert code == 0 and choice["policy"] == "sma" and not choice["stay_flat"]
            assert choice["reason"].startswith(
                "unproven: best walk-forward policy sma lost to flat: Sharpe -0.50")
            assert status["trading"]["fills"] > 0  # it trades
            code, health = await asyncio.to_thread(cli, runtime, "health")
            policy_check = next(c for c in health["checks"] if c["name"] == "policy")
            assert policy_check["ok"] and policy_check["detail"].startswith("unproven")
            assert "unproven: best walk-forward policy sma" in render("status", status)
            await asyncio.sleep(1.5)  # a poll or two: no notice for paper
            assert api.sent("sendMessage", CHAT) == []

    asyncio.run(scenario())
