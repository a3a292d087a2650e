"""`entasis status` and `health` show live health, and the exchange's refusals reach the
operator: the live daemon (`mode = "live"`, real ccxt client, embedded simulator) asked
through its real control endpoint by the real CLI, as tests/integration/test_ops_control.py
does for paper.

The scenario, on a running live daemon:
* an order far beyond the balance: the exchange answers InsufficientFunds;
* a resting order whose cancel the exchange refuses for good: the ccxt client's secret is
  replaced (a rotated key: every signed request now fails with -1022, AuthenticationError);
* one injected 429 on the way, so a rate-limit back-off shows.
Then status must show the start's reconciliation report, the stream watch and the broker's
requests, errors by class and back-offs, plus both failures counted; health must fail on
the failed cancel; Telegram gets an ORDER_FAILED notice for each.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.app.daemon import Daemon
from bot.cli import app
from bot.config import load_config
from bot.ops.command_text import render
from exchange.sim.server import SimExchange
from model.instruments import Side
from model.orders import OrderRequest, OrderType
from tests.waiting import async_wait_until
from trading.notices import Notice, NoticeKind

KEY, SECRET = "statusKEY" + "k" * 55, "statusSECRET" + "s" * 52
SYMBOL = "BTCUSDT"
CONFIG = """
[app]
mode = "live"
[exchange]
source = "sim"
quote_asset = "USDT"
[trading]
policy = "baseline"  # live "auto" stays flat without a walk-forward verdict (policy_choice.py)
edge_cost_margin = -1  # weigh no cost: the test needs entries (strategies/edge.py)
[sim]
coins = 3
history_days = 0.2
seed = 11
[feed]
backfill_minutes = 120
[schedule]
enabled = false
[live]
poll_interval_s = 0.2
requests_per_s = 50.0
"""


def cli(config_path: Path, *args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--config", str(config_path)])


async def started(daemon: Daemon, run: asyncio.Task[None]) -> None:
    def up() -> bool:
        assert not run.done(), run.exception()
        return (daemon.stream_watch is not None and daemon.feed is not None
                and daemon.feed.health().connected)

    await async_wait_until(up, 60, what="the daemon's feed connected", interval_s=0.05)


def send(daemon: Daemon, side: Side, amount: str, price: Decimal) -> OrderRequest:
    """What `Trader._act` does with an approved order: record it as sent, then submit."""
    broker, sim = daemon.live_broker, daemon.sim
    assert broker is not None and sim is not None and daemon.ledger is not None
    request = OrderRequest(broker.next_client_order_id(), SYMBOL, side, OrderType.LIMIT,
                           Decimal(amount), price, sim.now_ms)
    daemon.ledger.record(request)
    assert broker.submit(request) == []
    return request


@pytest.mark.timeout(120)
def test_status_and_health_show_live_health_and_failures_reach_the_operator(
        tmp_path: Path) -> None:
    config_path = tmp_path / "config.toml"
    config_path.write_text(CONFIG)
    config = load_config(config_path, environ={
        "ENTASIS__EXCHANGE__API_KEY": KEY, "ENTASIS__EXCHANGE__API_SECRET": SECRET})
    sim = SimExchange(config.sim, autorun=False)
    daemon = Daemon(config, sim=sim, config_path=config_path)
    notices: list[Notice] = []
    daemon.notifier.subscribe(notices.append)
    answers: dict[str, Any] = {}

    async def scenario() -> None:
        run = asyncio.create_task(daemon.run())
        try:
            await started(daemon, run)
            broker = daemon.live_broker
            assert broker is not None
            bid = Decimal(repr(sim.ticker_stats(sim.symbol_index(SYMBOL)).bid))
            rules = broker.instruments[SYMBOL]
            broke = send(daemon, Side.BUY, "1000", rules.price(bid, Side.BUY))
            sim.orders.limiter.fail_next(429)  # one rate limit on the way
            resting = send(daemon, Side.BUY, "0.01", rules.price(bid / 2, Side.BUY))
            await broker.drain()
            assert daemon.ledger.order(resting.client_order_id).status == "ACCEPTED"
            broker.exchange.secret = "rotated" + SECRET[7:]  # the exchange no longer signs us in
            broker.cancel(resting.client_order_id, sim.now_ms)
            await broker.drain()
            answers["rejected_id"], answers["resting_id"] = broke.client_order_id, resting.client_order_id
            for name in ("status", "health"):
                done = await asyncio.to_thread(cli, config_path, name, "--json")
                answers[name] = (done.exit_code, json.loads(done.stdout))
            answers["human"] = await asyncio.to_thread(cli, config_path, "status")
            answers["recovery"] = daemon.recovery.to_dict() if daemon.recovery else None
        finally:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)

    asyncio.run(asyncio.wait_for(scenario(), 100))

    code, status = answers["status"]
    assert code == 0
    live = status["live"]
    # the start's reconciliation, as the daemon has it (a fresh ledger: nothing to fix)
    assert live["recovery"] == answers["recovery"] and live["recovery"]["ok"] is True
    # the stream watch: live, not stale now
    assert live["stream"]["state"] == "LIVE" and live["stream"]["stale_now"] is False
    assert {"stale_episodes", "rest_polls", "steps_paused", "entries_held"} <= set(live["stream"])
    # the broker: requests, errors by class, the 429's back-off, its own counters
    broker = live["broker"]
    assert broker["requests"] > 5 and broker["back_offs"] >= 1
    assert broker["errors"]["InsufficientFunds"] == 1
    assert broker["errors"]["AuthenticationError"] >= 1 and broker["errors"]["DDoSProtection"] >= 1
    assert broker["counters"]["rejects"] == 1 and "rate_limited_now" in broker
    # the failures, counted with their reasons
    failures = live["order_failures"]
    assert (failures["rejected"], failures["cancel_failed"]) == (1, 1)
    assert failures["by_reason"] == {"AuthenticationError": 1, "InsufficientFunds": 1}
    assert [(f["kind"], f["client_order_id"]) for f in failures["recent"]] == [
        ("rejected", answers["rejected_id"]), ("cancel_failed", answers["resting_id"])]

    code, health = answers["health"]
    assert code == 1 and health["ok"] is False  # a cancel that failed needs the operator
    checks = {c["name"]: c for c in health["checks"]}
    assert checks["reconciliation"]["ok"] and checks["stream"]["ok"]
    assert not checks["orders"]["ok"] and "1 cancel(s) failed" in checks["orders"]["detail"]
    assert "requests" in checks["broker"]["detail"]

    human = answers["human"].stdout
    assert answers["human"].exit_code == 0
    for line in ("reconciliation: ok", "stream: live", "broker: ", "orders: 1 rejected, 1 cancel(s) failed"):
        assert line in human, human
        assert line in render("status", status)  # Telegram's /status text says the same

    failed = [n for n in notices if n.kind is NoticeKind.ORDER_FAILED]
    assert [n.data["failure"] for n in failed] == ["rejected", "cancel_failed"]
    assert "InsufficientFunds" in failed[0].text and "Nothing was placed" in failed[0].text
    assert "FAILED (AuthenticationError" in failed[1].text and "cancel it on the exchange" in failed[1].text
    for secret in (KEY, SECRET):  # the errors quoted to the operator never carry the keys
        assert secret not in json.dumps(status) and all(secret not in n.text for n in notices)
