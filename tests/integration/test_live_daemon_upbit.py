"""Live mode on Upbit end to end: the daemon with `app.mode = "live"`, Upbit market data
(`sim.protocol = "upbit"`) and `live.ccxt_id = "upbit"` sends its orders through ccxt's Upbit
client (JWT-signed REST over 127.0.0.1) to a KRW account on the embedded simulator.

Stepped like the Binance live test (`test_live_daemon.py`, whose driver it reuses). At the end
the ledger must agree with the exchange account: the same trades (Upbit trade uuids, prices,
amounts), fees that add up per order to what the exchange charged, the same totals per asset
and the same open orders."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import Config, load_config
from exchange.sim.server import SimExchange
from exchange.sim.upbit_order_json import trade_uuid
from state.ledger import Ledger
from tests.integration.test_live_daemon import API_KEY, API_SECRET, run_live_stepped

MINUTES = 240
# Sept 2026: Upbit's newest KRW tick table (from 2025-07-31). The simulator's catalog and the
# daemon's instruments both take the table in force at the sim clock's start, so fill prices
# sit on the grid the broker rounds to (they once disagreed after 2024-01-28).
START_MS = 1_790_000_040_000


def upbit_live_config(tmp_path: Path) -> Config:
    (tmp_path / "config.toml").write_text(
        f'[app]\nmode = "live"\ndata_dir = "{tmp_path / "var"}"\n'
        '[sim]\ncoins = 15\nseed = 5\nhistory_days = 0.3\nspeed = 1.0\nprotocol = "upbit"\n'
        "[feed]\nbackfill_minutes = 120\n"
        '[trading]\npolicy = "sma"\nquote_asset = "KRW"\nstarting_balance = 100000000\n'
        '[strategy]\nmax_spread_bps = 500\n[exchange]\nquote_asset = "KRW"\n'
        '[live]\nccxt_id = "upbit"\npoll_interval_s = 1.0\nrequests_per_s = 40.0\n'
        "user_stream = false\n"
    )
    return load_config(tmp_path / "config.toml", environ={
        "ENTASIS__EXCHANGE__API_KEY": API_KEY, "ENTASIS__EXCHANGE__API_SECRET": API_SECRET})


@pytest.mark.slow
def test_live_daemon_on_upbit_keeps_the_ledger_equal_to_the_exchange(tmp_path: Path) -> None:
    config = upbit_live_config(tmp_path)
    sim = SimExchange(config.sim, start_ms=START_MS, autorun=False)
    daemon = asyncio.run(run_live_stepped(config, sim, max_minutes=MINUTES))
    assert daemon.live_broker is not None and daemon.live_broker.exchange.id == "upbit"
    assert all(s.startswith("KRW-") for s in daemon.engine.symbols)
    account = sim.orders.accounts[API_KEY]
    assert len(account.trades) > 0, "the scenario must fill orders on the exchange"
    assert all(o.client_order_id.startswith(daemon.live_broker.id_prefix) for o in account.orders)
    cids = {o.order_id: o.client_order_id for o in account.orders}
    with Ledger.open(config.data_dir / "ledger.sqlite") as ledger:
        fills = list(ledger.fills())
        assert {f.trade_id: (f.client_order_id, f.price, f.amount) for f in fills} == {
            trade_uuid(t.trade_id): (cids[t.order_id], t.price, t.qty) for t in account.trades}
        ledger_fees: dict[str, Decimal] = defaultdict(Decimal)
        exchange_fees: dict[str, Decimal] = defaultdict(Decimal)
        for fill in fills:
            ledger_fees[fill.client_order_id] += fill.fee
        for trade in account.trades:
            exchange_fees[cids[trade.order_id]] += trade.commission
        assert ledger_fees == exchange_fees
        ledger_totals = {b.asset: b.free + b.locked for b in ledger.balances() if b.free + b.locked}
        exchange_totals = {a: f + lk for a, (f, lk) in account.balances().items() if f + lk}
        assert ledger_totals == exchange_totals
        ledger_open = sorted(r.client_order_id for r in ledger.open_orders())
        assert ledger_open == sorted(o.client_order_id for o in account.open_orders())
