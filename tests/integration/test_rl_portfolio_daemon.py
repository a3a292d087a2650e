"""Policy "rl_portfolio" end to end: the paper daemon (embedded simulator, 600x) and the
replay backtester, both on the one engine and trader, trade a tiny promoted portfolio model
on its own 5m bars aggregated from the 1m stream, deciding on the 5-minute closes only; and
the league saves with every model what the daemon needs to know of its training."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import load_config
from bot.research.backtest import run_backtest
from rl.portfolio_env import PORTFOLIO_STATE
from rl.portfolio_league import run_league, trained_on
from rl.portfolio_live_policy import COIN_NAMES
from rl.portfolio_network import PortfolioPlayer
from rl.registry import PORTFOLIO_REGISTRY_FILE, ModelRegistry
from state.ledger import Ledger
from tests.integration.test_daemon import FAST, _start, _stop, _wait_for
from tests.integration.test_portfolio_league import SMALL, planted_factories
from tests.replay_data import START_MS, write_random_walk_market

FIVE_MINUTES_MS = 300_000


def install_promoted(data_dir: Path) -> None:
    """A league's registry in `data_dir`: the untrained v0000, then a promoted v0001 of
    5m bars (its policy head scaled up so that it does place orders)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with ModelRegistry.open(data_dir / PORTFOLIO_REGISTRY_FILE) as registry:
        for version, promote in (("v0000", False), ("v0001", True)):
            player = PortfolioPlayer.create(len(COIN_NAMES), len(PORTFOLIO_STATE), 9, (16, 16),
                                            COIN_NAMES, PORTFOLIO_STATE, seed=3)
            player.net.policy_head.weight.data.mul_(100.0)
            player.trained_on = {"bar_ms": FIVE_MINUTES_MS, "decision_every": 1,
                                 "offsets_ticks": [-1, 0, 1], "stop_pct": 1.0}
            path = player.save(data_dir / "models" / f"{version}.pt")
            registry.register(version, path, parent=None if version == "v0000" else "v0000")
            registry.promote(version, {"promote": promote})


def portfolio_decisions(db: Path) -> list[tuple[int, str, str, str]]:
    """(ts, detail, action, the gate's verdict) of every decision the model made."""
    with Ledger.open(db) as ledger:
        return [(row["ts"], row["detail"], row["action"], row["verdict"]) for row in
                ledger.db.query("SELECT ts, detail, action, verdict FROM decisions WHERE "
                                "detail LIKE 'rl_portfolio %' ORDER BY id")]


@pytest.mark.slow
def test_the_replay_engine_trades_the_promoted_model_on_its_five_minute_closes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    market = write_random_walk_market(tmp_path / "market", minutes=1_560)
    data_dir = tmp_path / "data"
    install_promoted(data_dir)
    config = load_config(None, environ={})
    config = config.model_copy(update={"app": config.app.model_copy(
        update={"data_dir": data_dir})})
    with caplog.at_level(logging.INFO):
        result = run_backtest(config, market, tmp_path / "bt.sqlite", policy="rl_portfolio",
                              quote_asset="USDT", balance=Decimal(10_000),
                              from_ms=START_MS + 1_380 * 60_000)
    assert result.minutes > 100
    decided = portfolio_decisions(tmp_path / "bt.sqlite")
    assert decided and all(d.startswith("rl_portfolio v0001: ") for _, d, _, _ in decided)
    assert {ts % FIVE_MINUTES_MS for ts, *_ in decided} == {0}  # on its own cadence only
    assert len({ts for ts, *_ in decided}) >= 30
    verdicts = {(action, verdict) for _, _, action, verdict in decided}
    assert ("BUY", "APPROVED") in verdicts and ("SELL", "APPROVED") in verdicts
    assert ("BUY", "DENIED:POSITION_LIMIT") in verdicts  # the risk gate still rules
    assert "decision step failed" not in caplog.text


@pytest.mark.slow
def test_the_paper_daemon_starts_on_rl_portfolio_and_decides(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(FAST.replace("[trading]\n", '[trading]\npolicy = "rl_portfolio"\n'))
    install_promoted(tmp_path / "var")
    daemon = _start(config)
    try:
        _wait_for(config, lambda s: s["decisions"]["steps"] >= 25, timeout_s=60)
    finally:
        output = _stop(daemon)
    assert "Traceback" not in output and "decision step failed" not in output, output[-3000:]
    assert "policy rl_portfolio: trading v0001, deciding every 5m" in output
    decided = portfolio_decisions(tmp_path / "var" / "ledger.sqlite")
    assert decided and {ts % FIVE_MINUTES_MS for ts, *_ in decided} == {0}


@pytest.mark.slow
def test_every_model_the_league_registers_says_what_it_was_trained_on(tmp_path: Path) -> None:
    train, validation = planted_factories()
    with ModelRegistry.open(tmp_path / PORTFOLIO_REGISTRY_FILE) as registry:
        run_league(registry, train, validation, tmp_path, generations=1, config=SMALL)
        records = registry.list()
        assert [r.version for r in records] == ["v0000", "v0001"]
        for record in records:
            assert PortfolioPlayer.load(record.path).trained_on == trained_on(train)
