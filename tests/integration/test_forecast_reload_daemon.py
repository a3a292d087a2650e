"""The paper daemon against the stepped simulator over 127.0.0.1 with the forecast on: a
retrained bundle swapped into `[forecast] bundle` serves from the next decision step with no
restart, and a corrupt one is refused (logged, notified) while the old keeps serving."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app.daemon import Daemon
from bot.config import Config
from exchange.sim.server import SimExchange
from tests.forecast_bundles import save_new, swap_in, train_tiny
from tests.integration.stepped_daemon import until_decided, until_streaming
from trading.notices import Notice, NoticeKind


@pytest.fixture(scope="module")
def trained() -> dict[int, Any]:
    return train_tiny()


def config_for(tmp_path: Path, bundle: Path) -> Config:
    return Config.model_validate({
        "app": {"data_dir": str(tmp_path / "var")},
        "sim": {"coins": 4, "seed": 5, "history_days": 0.2},
        "feed": {"backfill_minutes": 60, "stale_after_s": 30},
        "strategy": {"max_spread_bps": 500, "top_k": 4, "min_quote_volume_24h": 0},
        "schedule": {"enabled": False},
        # look at every step: the test's minutes pass in milliseconds
        "forecast": {"enabled": True, "bundle": str(bundle), "horizons": [15], "horizon": 15,
                     "reload_every_s": 0.001},
    })


async def run_steps(config: Config, script: list[Callable[[], None]],
                    notices: list[Notice]) -> tuple[list[str], dict[str, Any]]:
    """Start the daemon on a stepped simulator; before each simulated minute run the next
    script entry, then wait for the decision step. Returns the bundle version each step
    served (the forecast batch's own tag) and the `status` command's forecast section at the
    end; the daemon's notices go to `notices`."""
    sim = SimExchange(config.sim, autorun=False)
    daemon = Daemon(config, sim=sim)
    daemon.notifier.subscribe(notices.append)
    task = asyncio.create_task(daemon.run())
    served: list[str] = []
    try:
        async with asyncio.timeout(60):
            await until_streaming(daemon, task)
            for action in script:
                action()
                before = daemon.engine.steps
                assert await sim.step(1) == 1
                await until_decided(daemon, before)
                forecast = daemon.engine.forecast
                assert forecast is not None and forecast.latest is not None
                served.append(forecast.latest.version)
            status = daemon.commands.call("status")["forecast"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return served, status


@pytest.mark.slow
def test_the_daemon_swaps_a_retrained_bundle_in_and_refuses_a_corrupt_one(
        trained, tmp_path: Path, one_torch_thread: None) -> None:
    bundle = tmp_path / "forecast"
    v1 = save_new(bundle, trained)
    v2 = save_new(tmp_path / "retrained", trained)
    v_bad = save_new(tmp_path / "corrupt", trained)
    with open(tmp_path / "corrupt" / "h15" / "lightgbm.txt", "a") as handle:
        handle.write("\n")  # a truncated or edited copy: the sha256 no longer matches
    notices: list[Notice] = []

    def nothing() -> None:
        pass

    def retrain() -> None:
        swap_in(tmp_path / "retrained", bundle)

    def corrupt() -> None:
        swap_in(tmp_path / "corrupt", bundle)

    config = config_for(tmp_path, bundle)
    served, status = asyncio.run(run_steps(config, [nothing, nothing, retrain, nothing, corrupt,
                                            nothing], notices))
    # then v1 served until the swap, v2 from the very next step on, and v2 kept serving
    # after the corrupt bundle replaced it on disk
    assert served == [v1, v1, v2, v2, v2, v2]
    kinds = [(n.kind, n.data.get("version")) for n in notices if n.data.get("model") == "forecast"]
    assert kinds == [(NoticeKind.MODEL_PROMOTED, v2), (NoticeKind.FORECAST_DEGRADED, v_bad)]
    refused = next(n for n in notices if n.kind is NoticeKind.FORECAST_DEGRADED)
    assert f"still serving {v2}" in refused.text and "altered" in refused.text
    # and `entasis status` names the bundle in use and the refused one
    assert status["bundle_version"] == v2 and status["reloads"] == 1
    assert status["last_refused"]["version"] == v_bad
