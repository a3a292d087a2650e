"""Policy "rl" in the replay backtester: the registry's best trades, and a newly promoted
best is swapped in between decision steps; without a best the baseline trades."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.research.backtest import run_backtest
from rl.env import ACTIONS
from rl.live_policy import OBSERVATION_NAMES, REGISTRY_FILE
from rl.networks import Player
from rl.registry import ModelRegistry
from state.ledger import Ledger
from tests.replay_data import START_MS, write_random_walk_market

FROM_MS = START_MS + 1_380 * 60_000  # the last 180 minutes: enough steps, test-sized


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_walk_market(tmp_path_factory.mktemp("market"), minutes=1_560)


def config_in(data_dir: Path) -> Config:
    config = load_config(None, environ={})
    return config.model_copy(update={"app": config.app.model_copy(update={"data_dir": data_dir})})


def register(registry: ModelRegistry, data_dir: Path, version: str, seed: int,
             parent: str | None = None) -> None:
    player = Player.create(len(OBSERVATION_NAMES), len(ACTIONS), hidden=(32,),
                           feature_names=OBSERVATION_NAMES, seed=seed)
    path = player.save(data_dir / "models" / f"{version}.pt")
    registry.register(version, path, parent=parent)
    registry.promote(version)


def reasons(db: Path) -> list[tuple[int, str]]:
    with Ledger.open(db) as ledger:
        return [(row["ts"], row["detail"]) for row in ledger.db.query(
            "SELECT ts, detail FROM decisions ORDER BY id")]


@pytest.mark.slow
def test_rl_trades_the_best_and_hot_swaps_a_new_promotion(market: Path, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    registry = ModelRegistry.open(data_dir / REGISTRY_FILE)
    register(registry, data_dir, "v0000", seed=0)
    promoted_at: list[int] = []

    def progress(done: int, total: int) -> None:
        if done == total // 2:
            register(registry, data_dir, "v0001", seed=1, parent="v0000")
            promoted_at.append(done)

    with caplog.at_level(logging.INFO):
        result = run_backtest(config_in(data_dir), market, tmp_path / "bt.sqlite", policy="rl",
                              quote_asset="USDT", balance=Decimal(10000),
                              from_ms=FROM_MS, progress=progress)
    registry.close()
    assert result.minutes > 20 and promoted_at
    rows = reasons(tmp_path / "bt.sqlite")
    rl_rows = [(ts, d) for ts, d in rows if d.startswith("rl v")]
    assert rl_rows, rows[:5]
    versions = [d.split(":")[0] for _, d in rl_rows]
    assert versions[0] == "rl v0000" and versions[-1] == "rl v0001"
    first_new = versions.index("rl v0001")
    assert set(versions[:first_new]) == {"rl v0000"}  # no step mixes the two nets
    assert set(versions[first_new:]) == {"rl v0001"}
    assert "policy rl: now v0001 (was v0000)" in caplog.text
    # Item 7: every decision of the learned policy records the chosen action's probability,
    # the value estimate and the whole action distribution (percent, one per action).
    for _, detail in rl_rows:
        assert " p=" in detail and " v=" in detail, detail
        spread = detail.split("probs%=")[1].split()[0].rstrip(";")
        percents = [int(p) for p in spread.split("/")]
        assert len(percents) == len(ACTIONS) and abs(sum(percents) - 100) <= len(ACTIONS)


@pytest.mark.slow
def test_rl_without_a_best_falls_back_to_the_baseline(market: Path, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        result = run_backtest(config_in(tmp_path / "empty"), market, tmp_path / "bt.sqlite",
                              policy="rl", quote_asset="USDT", balance=Decimal(10000),
                              from_ms=FROM_MS)
    assert result.minutes > 0
    assert "trading the baseline policy instead" in caplog.text
    assert not any(d.startswith("rl v") for _, d in reasons(tmp_path / "bt.sqlite"))
