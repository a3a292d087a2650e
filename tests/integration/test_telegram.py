"""Telegram against a fake Bot API server on 127.0.0.1 (tests/fake_telegram.py), over HTTP.

python-telegram-bot runs unmodified (long polling, real HTTP requests); only the server is
fake. The daemon is the real-parts stand-in of tests/ops_runtime.py with the real control
endpoint, so every chat answer is compared with the real CLI's `--json` answer rendered by
the same text renderer: identical, or the test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.ops.command_text import render
from bot.ops.commands import CommandLayer
from bot.ops.control import ControlServer
from bot.ops.telegram_bot import TelegramBot
from tests.fake_telegram import FakeBotApi
from tests.ops_runtime import OpsRuntime, make_runtime
from trading.notices import NoticeKind

TOKEN = "123456:TEST-secret-token-value"
CHAT = 111
STRANGER = 999

# chat command -> the CLI arguments that ask the layer the same question
SAME_AS_CLI = {
    "/status": ["status"], "/balance": ["balance"], "/positions": ["positions"],
    "/trades": ["trades", "--limit", "10"], "/trades 3": ["trades", "--limit", "3"],
    "/profit": ["profit", "--period", "hourly", "--count", "12"],
    "/daily": ["profit", "--period", "daily", "--count", "7"],
    "/weekly": ["profit", "--period", "weekly", "--count", "8"],
    "/winrate": ["winrate"], "/performance": ["performance"], "/regime": ["regime"],
    "/health": ["health"],
}


def cli_json(runtime: OpsRuntime, *args: str) -> dict[str, Any]:
    done = CliRunner().invoke(app, [*args, "--json", "--config", str(runtime.config_path)])
    return json.loads(done.stdout)


@contextlib.asynccontextmanager
async def session(tmp_path: Path, minutes: int = 140, **settings: Any
                  ) -> AsyncIterator[tuple[FakeBotApi, OpsRuntime, TelegramBot]]:
    """Fake Bot API + runtime + control endpoint + the bot polling, all on this loop."""
    api = FakeBotApi(TOKEN)
    await api.start()
    options = {"enabled": "true", "token": f'"{TOKEN}"', "chat_ids": f"[{CHAT}]",
               "api_url": f'"{api.url}"', "poll_timeout_s": "1", "request_timeout_s": "1.0",
               **{k: str(v) for k, v in settings.items()}}
    runtime = make_runtime(tmp_path, "[telegram]\n" + "".join(f"{k} = {v}\n" for k, v in options.items()),
                           minutes=minutes)
    layer = CommandLayer(runtime)
    control = ControlServer(runtime.config.data_dir, layer, "127.0.0.1", 0)
    await control.start()
    bot = TelegramBot(runtime, layer)
    task = asyncio.create_task(bot.run())
    try:
        await api.wait_sent("getUpdates", 1)
        yield api, runtime, bot
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await control.stop()
        await api.stop()
        runtime.close()


async def ask(api: FakeBotApi, text: str, chat_id: int = CHAT) -> str:
    """Send `text` from `chat_id` and return the bot's next message to that chat."""
    before = len(api.sent("sendMessage", chat_id))
    await api.push_text(chat_id, text)
    return (await api.wait_sent("sendMessage", before + 1, chat_id))[before].params["text"]


async def confirm(api: FakeBotApi, text: str, press: str = "ok") -> str:
    """Send a destructive command, press a button of its keyboard, return the edited text."""
    before = len(api.sent("sendMessage", CHAT))
    await api.push_text(CHAT, text)
    asked = (await api.wait_sent("sendMessage", before + 1, CHAT))[before]
    buttons = asked.params["reply_markup"]["inline_keyboard"][0]
    data = next(b["callback_data"] for b in buttons if b["callback_data"].startswith(press + ":"))
    edits = len(api.sent("editMessageText", CHAT))
    await api.push_button(CHAT, data)
    return (await api.wait_sent("editMessageText", edits + 1, CHAT))[edits].params["text"]


@pytest.mark.slow
def test_every_command_answers_in_telegram_as_the_cli_does(tmp_path: Path) -> None:
    async def scenario() -> None:
        # No notices in this chat: the pause/resume/stop notices' batch falls due after
        # batch_window_s (60 s), which a slow machine reaches mid-test, and the batch would
        # be "the bot's next message" an `ask` reads. Notices have their own tests below.
        async with session(tmp_path, notify="[]") as (api, runtime, _bot):
            commands = await api.wait_sent("setMyCommands", 1)
            assert {c["command"] for c in commands[0].params["commands"]} >= {
                "status", "balance", "positions", "trades", "profit", "daily", "weekly",
                "winrate", "regime", "performance", "models", "pause", "resume", "stop",
                "forceexit", "help"}
            for chat_text, cli_args in SAME_AS_CLI.items():
                expected = await asyncio.to_thread(cli_json, runtime, *cli_args)
                name = "profit" if cli_args[0] == "profit" else cli_args[0]
                assert await ask(api, chat_text) == render(name, expected), chat_text
            photos = await api.wait_sent("sendPhoto", 1, CHAT, timeout_s=20)
            assert len(photos) == 1 and photos[0].params["photo"][:4] == b"\x89PNG"  # /profit only
            # models: the CLI's `entasis models` reads the registry itself; the layer agrees
            assert await ask(api, "/models") == render("models", CommandLayer(runtime).call("models"))
            assert "/forceexit [symbol]" in await ask(api, "/help")

            # Destructive: the CLI acts first, is undone, then the chat does the same.
            cli_pause = await asyncio.to_thread(cli_json, runtime, "pause")
            cli_resume = await asyncio.to_thread(cli_json, runtime, "resume")
            assert await confirm(api, "/pause") == render("pause", cli_pause)
            assert runtime.trader.state.paused
            assert await confirm(api, "/resume") == render("resume", cli_resume)
            cli_exit = await asyncio.to_thread(cli_json, runtime, "forceexit", "CCCUSDT")
            assert await confirm(api, "/forceexit CCCUSDT") == render("forceexit", cli_exit)
            cli_reload = await asyncio.to_thread(cli_json, runtime, "reload-config")
            assert await confirm(api, "/reload_config") == render("reload-config", cli_reload)
            assert await confirm(api, "/pause", press="no") == "pause: canceled"
            assert not runtime.trader.state.paused
            cli_stop = await asyncio.to_thread(cli_json, runtime, "stop")
            assert await confirm(api, "/stop") == render("stop", cli_stop)
            assert runtime.stop_requests == ["operator stop command"] * 2

            # A used or forged confirmation does nothing.
            await api.push_button(CHAT, "ok:forged-nonce")
            edits = await api.wait_sent("editMessageText", 7, CHAT)
            assert "expired or was already used" in edits[-1].params["text"]
            assert await ask(api, "/trades lots") == "error: trades: limit must be an integer, got 'lots'"

    asyncio.run(scenario())


def test_unauthorized_chats_get_nothing_and_are_logged_without_content(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> FakeBotApi:
        async with session(tmp_path, unauthorized_log_every_s=600) as (api, runtime, bot):
            for text in ("/status", "/balance secret-words", "/pause", "/forceexit all", "hello"):
                await api.push_text(STRANGER, text)
            await api.push_button(STRANGER, "ok:whatever")
            answer = await ask(api, "/health")  # processed after every stranger update
            assert answer.startswith("health:")
            assert bot.unauthorized_dropped == 6
            assert not runtime.trader.state.paused and runtime.trader.force_exits == {}
            return api

    with caplog.at_level(logging.INFO):
        api = asyncio.run(scenario())
    to_stranger = [c for c in api.calls if str(c.params.get("chat_id")) == str(STRANGER)]
    assert to_stranger == [] and api.sent("answerCallbackQuery") == []
    warnings = [r.getMessage() for r in caplog.records if "unauthorized chat" in r.getMessage()]
    assert warnings == [f"telegram: ignored an update from unauthorized chat {STRANGER} (1 ignored in total)"]
    logged = caplog.text
    assert "secret-words" not in logged and TOKEN not in logged


@pytest.mark.slow
def test_malformed_updates_api_errors_and_timeouts_do_not_stop_the_bot(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        api = FakeBotApi(TOKEN)
        await api.start()
        api.fail("getMe", 502, "Bad Gateway")  # the API is down when the daemon starts
        runtime = make_runtime(tmp_path, f'[telegram]\nenabled = true\ntoken = "{TOKEN}"\n'
                               f'chat_ids = [{CHAT}]\napi_url = "{api.url}"\npoll_timeout_s = 1\n'
                               'request_timeout_s = 1.0\n')
        bot = TelegramBot(runtime)
        task = asyncio.create_task(bot.run())
        try:
            await api.wait_sent("getUpdates", 1, timeout_s=15)
            assert len(api.sent("getMe")) == 2  # retried after the 502
            for garbage in ({"update_id": api.next_update_id(), "message": {"text": "/status"}},
                            {"update_id": api.next_update_id(), "message": "not an object"},
                            {"update_id": api.next_update_id(), "callback_query": {"id": "x"}},
                            {"no_update_id": True}):
                await api.push(garbage)
            assert (await ask(api, "/health")).startswith("health:")

            api.fail("getUpdates", 500, {"ok": False, "error_code": 500, "description": "Internal"})
            assert (await ask(api, "/balance")).startswith("equity")  # polling recovered

            api.fail("sendMessage", 500, "oops")
            api.fail("sendMessage", 400, {"ok": False, "error_code": 400,
                                          "description": "Bad Request: chat not found"})
            api.fail("sendMessage", 200, {"ok": True, "result": "late"})
            api.delay("sendMessage", 0, times=2)
            api.delay("sendMessage", 1.6)  # the third: longer than request_timeout_s
            for _ in range(3):
                await api.push_text(CHAT, "/positions")
            await api.wait_sent("sendMessage", 5, CHAT, timeout_s=15)
            assert (await ask(api, "/winrate")).startswith("win rate")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await api.stop()
            runtime.close()

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    messages = [r.getMessage() for r in caplog.records]
    assert sum("malformed update" in m for m in messages) == 3
    assert any("update without an integer update_id" in m for m in messages)
    failures = [m for m in messages if m.startswith(f"telegram: sending to chat {CHAT} failed")]
    assert [m.split("(")[-1] for m in failures] == ["NetworkError)", "BadRequest)", "TimedOut)"]
    assert TOKEN not in caplog.text and "/status" not in caplog.text


@pytest.mark.slow
def test_notices_charts_and_the_rate_limit(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with session(tmp_path, minutes=128, commands_per_minute=4, batch_window_s=1.0,
                           notify='["fill", "trading_state"]') as (api, runtime, bot):
            runtime.play(6)  # the script sells AAA and BBB: two fills -> one batched notice
            runtime.notifier.emit(NoticeKind.STALE_FEED, "market feed STALE")  # not subscribed
            notices = await api.wait_sent("sendMessage", 1, CHAT)
            assert notices[0].params["text"].splitlines() == ["2 fills: 2 sells"] + [
                n.text for n in runtime.notices if n.kind is NoticeKind.FILL][-2:]
            await asyncio.sleep(0.8)
            assert not any("STALE" in c.params["text"] for c in api.sent("sendMessage"))

            await api.push_text(CHAT, "/chart")
            photo = (await api.wait_sent("sendPhoto", 1, CHAT, timeout_s=20))[0]
            assert photo.params["photo"][:8] == b"\x89PNG\r\n\x1a\n" and len(photo.params["photo"]) > 5000

            answered = len(api.sent("sendMessage", CHAT))
            for _ in range(5):
                await api.push_text(CHAT, "/health")
            await api.wait_sent("sendMessage", answered + 3, CHAT)
            await asyncio.sleep(0.8)
            assert len(api.sent("sendMessage", CHAT)) == answered + 3  # /chart was the first
            assert bot.unauthorized_dropped == 0

    asyncio.run(scenario())


def test_the_daily_report_notice_arrives_as_a_photo_and_an_html_document(tmp_path: Path) -> None:
    chart = tmp_path / "equity.png"
    chart.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(6000))
    page = tmp_path / "report.html"
    page.write_text("<html><body>daily report</body></html>")

    async def scenario() -> None:
        async with session(tmp_path) as (api, runtime, _bot):
            runtime.notifier.emit(NoticeKind.REPORT, "daily report: return +0.000%",
                                  photo_path=str(chart), document_path=str(page))
            text = (await api.wait_sent("sendMessage", 1, CHAT))[0]
            assert text.params["text"] == "daily report: return +0.000%"
            photo = (await api.wait_sent("sendPhoto", 1, CHAT))[0]
            assert photo.params["photo"] == chart.read_bytes()
            document = (await api.wait_sent("sendDocument", 1, CHAT))[0]
            assert document.params["document"] == page.read_bytes()

    asyncio.run(scenario())


def test_fills_are_batched_urgent_notices_go_at_once_and_shutdown_flushes_both(
        tmp_path: Path) -> None:
    async def scenario() -> FakeBotApi:
        async with session(tmp_path, batch_window_s=600) as (api, runtime, bot):
            for i, side in enumerate(["BUY", "SELL", "BUY", "BUY", "SELL"]):
                runtime.notifier.emit(NoticeKind.FILL, f"filled: {side} 1 AAAUSDT @ {10 + i}",
                                      side=side)
            runtime.notifier.emit(NoticeKind.BREAKER, "breaker: daily loss 3.1% > 3.0%: HALTED")
            first = (await api.wait_sent("sendMessage", 1, CHAT))[0]
            assert first.params["text"] == "breaker: daily loss 3.1% > 3.0%: HALTED"
            assert len(bot._batch) == 5  # the fills wait for their window
        return api  # leaving the session cancels the bot, as the daemon's shutdown does

    api = asyncio.run(scenario())
    texts = [c.params["text"] for c in api.sent("sendMessage", CHAT)]
    assert texts[1] == "daemon stopping"
    assert texts[2].splitlines() == ["5 fills: 3 buys, 2 sells"] + [
        f"filled: {side} 1 AAAUSDT @ {10 + i}"
        for i, side in enumerate(["BUY", "SELL", "BUY", "BUY", "SELL"])]
    assert len(texts) == 3


@pytest.mark.slow
def test_a_stop_command_notice_is_not_repeated_and_the_flush_wait_is_bounded(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> FakeBotApi:
        async with session(tmp_path, shutdown_flush_s=0.3, request_timeout_s=10.0,
                           batch_window_s=600) as (api, runtime, _bot):
            runtime.notifier.emit(NoticeKind.DAEMON, "daemon stopping (operator stop command)")
            await api.wait_sent("sendMessage", 1, CHAT)
            # the server holds every later send past shutdown_flush_s: set before the notice,
            # so the notice cannot reach it first, however the machine schedules the send
            api.delay("sendMessage", 3.0)
            runtime.notifier.emit(NoticeKind.FILL, "filled: BUY 1 AAAUSDT @ 10", side="BUY")
        return api

    with caplog.at_level(logging.INFO):
        api = asyncio.run(scenario())
    texts = [c.params["text"] for c in api.sent("sendMessage", CHAT)]
    assert texts[0] == "daemon stopping (operator stop command)"
    assert not any(t == "daemon stopping" for t in texts)  # no second farewell
    assert "telegram: 1 notice(s) not sent before shutdown" in caplog.text


@pytest.mark.slow
def test_flood_drops_are_counted_warned_once_and_reported_in_the_next_message(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    too_many = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 45",
                "parameters": {"retry_after": 45}}

    async def scenario() -> None:
        async with session(tmp_path, batch_window_s=0) as (api, runtime, bot):
            api.fail("sendMessage", 429, too_many, times=2)
            runtime.notifier.emit(NoticeKind.FILL, "fill one", side="BUY")
            await api.wait_sent("sendMessage", 1, CHAT)
            runtime.notifier.emit(NoticeKind.FILL, "fill two", side="BUY")
            await api.wait_sent("sendMessage", 2, CHAT)
            runtime.notifier.emit(NoticeKind.FILL, "fill three", side="SELL")
            third = (await api.wait_sent("sendMessage", 3, CHAT))[2]
            assert third.params["text"].splitlines() == ["fill three", "(2 notices dropped: rate limit)"]
            runtime.notifier.emit(NoticeKind.FILL, "fill four", side="SELL")
            fourth = (await api.wait_sent("sendMessage", 4, CHAT))[3]
            assert fourth.params["text"] == "fill four" and bot.drops.total == 2

    with caplog.at_level(logging.WARNING):
        asyncio.run(scenario())
    warnings = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert warnings == ["telegram: 1 notice(s) dropped (Telegram flood control (429)); 1 since start"]


def test_forceexit_checks_the_symbol_before_asking_to_confirm(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with session(tmp_path) as (api, runtime, _bot):
            trader = runtime.trader
            idle = next(s for s in sorted(trader.instruments)
                        if not (s in trader.positions and trader.positions[s].amount > 0)
                        and all(o.symbol != s for o in trader.broker.open_orders()))
            answer = await ask(api, "/forceexit NOPE")
            assert answer.startswith("error: forceexit: 'NOPE' is not a traded symbol")
            assert await ask(api, f"/forceexit {idle.lower()}") == (
                f"error: forceexit: nothing to exit: {idle} is not held and has no open orders")
            assert not any("reply_markup" in c.params for c in api.sent("sendMessage", CHAT))
            assert runtime.trader.force_exits == {}

    asyncio.run(scenario())
