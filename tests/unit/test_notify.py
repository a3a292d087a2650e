"""The notifier: fan-out that never breaks a publisher, and the watcher that turns feed
staleness and model promotions into one notice per change."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.ops.commands import CommandLayer
from bot.ops.notify import watch_runtime
from exchange.feeds.common import FeedHealth
from rl.registry import ModelRegistry
from tests.waiting import async_wait_until
from trading.notices import Notice, NoticeKind, Notifier


def test_a_failing_subscriber_is_logged_and_the_others_still_hear(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier()
    heard: list[Notice] = []

    def broken(notice: Notice) -> None:
        raise RuntimeError("subscriber bug")

    notifier.subscribe(broken)
    unsubscribe = notifier.subscribe(heard.append)
    notifier.emit(NoticeKind.FILL, "filled: BUY 1 AAAUSDT @ 10", 5, symbol="AAAUSDT")
    assert [(n.kind, n.text, n.ts_ms, dict(n.data)) for n in heard] == [
        (NoticeKind.FILL, "filled: BUY 1 AAAUSDT @ 10", 5, {"symbol": "AAAUSDT"})]
    assert "subscriber" in caplog.text and "fill notice" in caplog.text
    unsubscribe()
    notifier.emit(NoticeKind.FILL, "again")
    assert len(heard) == 1 and notifier.published == 2


@dataclass
class FeedStandIn:
    """Only `health()` of a feed: the watcher reads nothing else (a real feed needs sockets;
    the daemon test in tests/integration/test_ops_daemon.py runs the real one)."""

    stale: list[bool]
    calls: int = 0

    def health(self) -> FeedHealth:
        stale = self.stale[min(self.calls, len(self.stale) - 1)]
        self.calls += 1
        return FeedHealth(True, stale, 0.0, 1, 0, 0, 12.0 if stale else 0.1, 0, 0)


@dataclass
class Watched:
    feed: FeedStandIn
    notifier: Notifier = field(default_factory=Notifier)


def test_watcher_reports_each_stale_flip_and_each_new_best_model_once(tmp_path: Path) -> None:
    registry_path = tmp_path / "models.sqlite"
    with ModelRegistry.open(registry_path) as registry:
        registry.register("g1", tmp_path / "g1.pt")
        registry.promote("g1")
    runtime = Watched(FeedStandIn([False, True, True, True, False, False]))
    heard: list[Notice] = []
    runtime.notifier.subscribe(heard.append)

    async def scenario() -> None:
        task = asyncio.create_task(watch_runtime(runtime, registry_path, interval_s=0.01,
                                                 model_every=3))
        await async_wait_until(lambda: len(heard) == 2, what="the stale flip and the recovery")
        with ModelRegistry.open(registry_path) as registry:
            registry.register("g2", tmp_path / "g2.pt", parent="g1")
            registry.promote("g2")
        await async_wait_until(lambda: len(heard) == 3, what="the promotion notice")
        promoted_at = runtime.feed.calls  # two more registry reads: a repeat notice shows here
        await async_wait_until(lambda: runtime.feed.calls >= promoted_at + 2 * 3,
                               what="two more registry reads")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    assert [(n.kind, n.text) for n in heard] == [
        (NoticeKind.STALE_FEED, "market feed STALE: no message for 12 s"),
        (NoticeKind.STALE_FEED, "market feed live again"),
        (NoticeKind.MODEL_PROMOTED, "model g2 promoted to best_player (was g1)"),
    ]


def test_the_models_command_reads_the_same_registry(tmp_path: Path) -> None:
    from tests.ops_runtime import make_runtime

    runtime = make_runtime(tmp_path, minutes=5)
    try:
        with ModelRegistry.open(runtime.config.data_dir / "models.sqlite") as registry:
            registry.register("g1", tmp_path / "g1.pt")
            registry.promote("g1", {"failed": [], "checks": {"sprt": {"passed": True}}})
        rows = CommandLayer(runtime).call("models")["models"]
        assert [(r["version"], r["status"], r["checks"]) for r in rows] == [
            ("g1", "best", {"sprt": True})]
        done = CliRunner().invoke(app, ["models", "--json", "--config", str(runtime.config_path)])
        assert json.loads(done.stdout)["models"] == rows  # `entasis models` reads it directly
    finally:
        runtime.close()


def test_every_notice_kind_can_be_chosen_in_the_config_and_nothing_else() -> None:
    """`[telegram] notify` names kinds by string; config.py cannot import bot.ops.notify, so the
    two lists are kept equal here."""
    from bot.config import NOTICE_KINDS

    assert set(NOTICE_KINDS) == {kind.value for kind in NoticeKind}
