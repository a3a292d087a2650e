"""Parity: the daemon in paper mode (real sockets to the sim exchange replaying a folder) and
`entasis backtest` on the same folder make the same decisions and get the same fills.

The sim's clock is stepped by the test (`autorun=False`), one minute at a time after the
daemon's decision for the previous minute: the only freedom a wall clock would add is which
minute a decision lands in, and that is what the stepping pins down.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from bot.app.daemon import Daemon
from bot.config import Config, load_config
from bot.research.backtest import run_backtest
from exchange.sim.server import SimExchange
from state.ledger import Ledger
from tests.integration.stepped_daemon import until_streaming
from tests.replay_data import write_random_walk_market


def fills_of(path: Path) -> list[tuple]:
    with Ledger.open(path) as ledger:
        return [(f.trade_id, f.client_order_id, f.symbol, f.side, f.price, f.amount, f.fee,
                 f.ts_event) for f in ledger.fills()]


def decisions_of(path: Path) -> list[tuple]:
    with Ledger.open(path) as ledger:
        return [(r["ts"], r["symbol"], r["action"], r["verdict"]) for r in
                ledger.db.query("SELECT ts, symbol, action, verdict FROM decisions ORDER BY id")]


async def run_daemon_stepped(config: Config) -> None:
    sim = SimExchange(config.sim, autorun=False, spread=config.fills.spread)  # as the daemon
    daemon = Daemon(config, sim=sim)
    task = asyncio.create_task(daemon.run())
    try:
        async with asyncio.timeout(60):
            await until_streaming(daemon, task)
            while not sim.finished:
                steps = daemon.engine.steps
                if await sim.step(1) == 0:
                    break
                for _ in range(200):  # until the decision for that minute ran (or no bar came)
                    if daemon.engine.steps > steps:
                        break
                    await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.slow
def test_daemon_on_sockets_and_backtest_make_the_same_fills(tmp_path: Path) -> None:
    market = write_random_walk_market(tmp_path / "market", coins=4, minutes=1_500, gaps=0)
    (tmp_path / "config.toml").write_text(
        f'[sim]\nreplay_dir = "{market}"\nspeed = 1.0\n'
        '[trading]\nquote_asset = "USDT"\nedge_cost_margin = -1\n'  # the test needs entries
    )
    config = load_config(tmp_path / "config.toml", environ={})

    asyncio.run(run_daemon_stepped(config))
    backtest = run_backtest(config, market, tmp_path / "backtest.sqlite", policy="baseline",
                            quote_asset="USDT", balance=Decimal(str(config.trading.starting_balance)))

    daemon_fills = fills_of(config.data_dir / "ledger.sqlite")
    backtest_fills = fills_of(tmp_path / "backtest.sqlite")
    assert backtest.minutes > 0 and len(backtest_fills) > 0, "the scenario must trade"
    assert decisions_of(config.data_dir / "ledger.sqlite") == decisions_of(tmp_path / "backtest.sqlite")
    assert daemon_fills == backtest_fills
