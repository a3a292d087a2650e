"""Live mode end to end: the daemon with `app.mode = "live"` sends its orders through the real
ccxt Binance client (signed REST over 127.0.0.1) to an account on the embedded simulator.

The simulator's clock is stepped by the test, as in the parity test; after each decision the
test waits until the live broker has sent what the step queued and polled the exchange, so
orders land in the minute they were decided. At the end the ledger must agree with the
exchange account: same fills (ids, prices, amounts, fees), same totals per asset, same open
orders. Every captured output is then searched for the API key and secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from pathlib import Path

import pytest

from bot.app.daemon import Daemon
from bot.config import Config, load_config
from bot.logs import setup_logging
from bot.secrets import load_api_keys
from exchange.sim.server import SimExchange
from state.ledger import Ledger
from tests.integration.stepped_daemon import until_streaming
from tests.replay_data import write_random_walk_market

API_KEY = "testKEYvq8Jq2cYH1u0N7mLrB3xZk5sWd9TfEa6Gp4Hj2Lk8Mn0Pq1Rs3Tu5Vw7Xy9z"
API_SECRET = "testSECRETm2Nb4Vc6Xz8Lk0Jh2Gf4Ds6Aq8Wp0Oi2Uy4Tr6Ee8Ww0Qq2Zz4Xx6Cc8V"


def live_config(tmp_path: Path, minutes: int) -> Config:
    market = write_random_walk_market(tmp_path / "market", coins=4, minutes=minutes, gaps=0)
    (tmp_path / "config.toml").write_text(
        f'[app]\nmode = "live"\n[sim]\nreplay_dir = "{market}"\nspeed = 1.0\n'
        '[trading]\npolicy = "baseline"\nquote_asset = "USDT"\ncancel_buy_after_s = 120.0\n'
        'edge_cost_margin = -1\n'  # weigh no cost: the test needs entries (strategies/edge.py)
        "[live]\npoll_interval_s = 1.0\nrequests_per_s = 40.0\n"
    )
    return load_config(tmp_path / "config.toml", environ={
        "ENTASIS__EXCHANGE__API_KEY": API_KEY, "ENTASIS__EXCHANGE__API_SECRET": API_SECRET})


async def run_live_stepped(config: Config, sim: SimExchange, max_minutes: int) -> Daemon:
    daemon = Daemon(config, sim=sim)
    task = asyncio.create_task(daemon.run())
    try:
        async with asyncio.timeout(90):
            await until_streaming(daemon, task, timeout_s=90)
            broker = daemon.live_broker
            assert broker is not None, "live mode must put the ccxt broker behind the trader"
            for _ in range(max_minutes):
                steps = daemon.engine.steps
                if await sim.step(1) == 0:
                    break
                for _ in range(200):
                    if daemon.engine.steps > steps:
                        break
                    await asyncio.sleep(0.005)
                await broker.drain()  # what this step queued reached the exchange
                await broker.poll_once()  # and what the exchange did is in the ledger
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return daemon


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, SimExchange, Daemon, str]:
    tmp_path = tmp_path_factory.mktemp("live")
    config = live_config(tmp_path, minutes=1_500)
    sim = SimExchange(config.sim, autorun=False)
    stderr = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    with contextlib.redirect_stderr(stderr):  # the daemon's own logging setup, at DEBUG
        setup_logging("human", "DEBUG", load_api_keys(config).values())
    try:
        daemon = asyncio.run(run_live_stepped(config, sim, max_minutes=1_500))
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    status = json.dumps(daemon.status(), default=str)
    return config, sim, daemon, stderr.getvalue() + "\n" + status


@pytest.mark.slow
def test_live_daemon_places_fills_and_cancels_orders_on_the_simulator(live_run) -> None:
    config, sim, daemon, _ = live_run
    account = sim.orders.accounts[API_KEY]
    statuses = [o.status for o in account.orders]
    assert len(account.trades) > 0, "the scenario must fill orders on the exchange"
    assert "CANCELED" in statuses, "the scenario must cancel at least one order"
    assert all(o.client_order_id.startswith(daemon.live_broker.id_prefix) for o in account.orders)
    with Ledger.open(config.data_dir / "ledger.sqlite") as ledger:
        ledger_fills = {f.trade_id: (f.client_order_id, f.price, f.amount, f.fee)
                        for f in ledger.fills()}
        cids = {o.order_id: o.client_order_id for o in account.orders}
        exchange_fills = {str(t.trade_id): (cids[t.order_id], t.price, t.qty, t.commission)
                          for t in account.trades}
        assert ledger_fills == exchange_fills
        ledger_totals = {b.asset: b.free + b.locked for b in ledger.balances() if b.free + b.locked}
        exchange_totals = {a: f + lk for a, (f, lk) in account.balances().items() if f + lk}
        assert ledger_totals == exchange_totals
        ledger_open = sorted(r.client_order_id for r in ledger.open_orders())
        assert ledger_open == sorted(o.client_order_id for o in account.open_orders())
        # Every order the exchange knows was requested once and acknowledged once.
        assert {r.client_order_id for r in ledger.open_orders()} <= set(cids.values())
        assert len(cids.values()) == len(set(cids.values()))


@pytest.mark.slow
def test_live_daemon_never_shows_the_keys_in_logs_status_or_files(live_run) -> None:
    config, _, _, captured = live_run
    assert "live broker" in captured  # the capture did see the live path's logs
    for secret in (API_KEY, API_SECRET):
        assert secret not in captured
        assert secret[:16] not in captured
        for path in config.data_dir.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
