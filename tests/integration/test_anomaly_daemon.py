"""The daemon against the simulator over 127.0.0.1, anomaly detection on: the REST backfill
warms the detector, so its first decision step already has a score for every coin, the
ranking carries them in its reasons, and the decisions table records them."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from bot.app.daemon import Daemon
from bot.config import Config
from bot.data_dir import DataDir
from bot.research.anomaly_io import load_grid
from exchange.sim.server import SimExchange
from risk.anomaly import train_bundle
from risk.anomaly_features import INPUT_FEATURES
from risk.anomaly_models import NetShape, TrainSettings
from tests.integration.stepped_daemon import until_decided, until_streaming
from tests.replay_data import write_random_walk_market


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model with the production warm-up (one day) and half-life."""
    import torch

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("anomaly")
    grid = load_grid(write_random_walk_market(folder / "market", coins=4, minutes=2_000))
    bundle = train_bundle(grid.features, warmup_minutes=1440, halflife_minutes=1440.0,
                          shape=NetShape(len(INPUT_FEATURES), 8, 3),
                          settings=TrainSettings(epochs=1, batch_size=256, seed=1))
    return bundle.save(folder / "anomaly.pt")


def config_for(tmp_path: Path, model: Path, backfill_minutes: int) -> Config:
    return Config.model_validate({
        "app": {"data_dir": str(tmp_path / "var")},
        "sim": {"coins": 6, "seed": 3, "history_days": 1.1},
        "feed": {"backfill_minutes": backfill_minutes, "stale_after_s": 30},
        "strategy": {"max_spread_bps": 500, "top_k": 6, "min_quote_volume_24h": 0},
        "anomaly": {"enabled": True, "model_path": str(model), "in_ranking": True},
    })


async def first_steps(config: Config, steps: int) -> Daemon:
    """Start the daemon on a stepped simulator, wait for the backfill, play `steps` minutes."""
    sim = SimExchange(config.sim, autorun=False)
    daemon = Daemon(config, sim=sim)
    task = asyncio.create_task(daemon.run())
    try:
        async with asyncio.timeout(60):
            await until_streaming(daemon, task)
            for _ in range(steps):
                before = daemon.engine.steps
                assert await sim.step(1) == 1
                await until_decided(daemon, before)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return daemon


def test_a_daemon_started_with_a_day_of_backfill_scores_at_its_first_step(
        tmp_path: Path, model: Path, one_torch_thread: None) -> None:
    config = config_for(tmp_path, model, backfill_minutes=1_500)
    daemon = asyncio.run(first_steps(config, steps=1))
    detector = daemon.trader.anomaly  # type: ignore[union-attr]
    assert detector is not None and daemon.engine is not None
    # then the first decision step's reading has a finite score for every coin
    reading = detector.latest
    assert reading is not None and reading.symbols == tuple(daemon.engine.symbols)
    assert np.isfinite(reading.scores).all(), reading.scores
    assert np.isfinite(reading.market_score)
    assert detector.backfill.rows_folded >= 1440
    # and the ranking of that step names each coin's score among its reasons
    ranking = daemon.engine.latest.ranking  # type: ignore[union-attr]
    assert ranking and all(c.anomaly_score is not None for c in ranking)
    assert all(c.reasons[-1][0].startswith("anomaly ") for c in ranking)
    # and every decision the trader recorded at that step carries its coin's score
    with sqlite3.connect(DataDir(config.data_dir).ledger) as conn:
        scores = [r[0] for r in conn.execute("SELECT anomaly_score FROM decisions")]
    assert all(s is not None and np.isfinite(s) for s in scores)


def test_without_enough_backfill_the_first_step_has_no_scores(
        tmp_path: Path, model: Path, one_torch_thread: None) -> None:
    config = config_for(tmp_path, model, backfill_minutes=600)
    daemon = asyncio.run(first_steps(config, steps=1))
    reading = daemon.trader.anomaly.latest  # type: ignore[union-attr]
    assert reading is not None and np.isnan(reading.scores).all()
    assert daemon.trader.anomaly.backfill.rows_folded < 1440  # type: ignore[union-attr]
