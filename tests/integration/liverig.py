"""Processes for the crash and chaos tests: the simulated exchange in a process of its own
(so it outlives every daemon it serves) and the real daemon (`entasis run --confirm-live`)
against it, plus the account-versus-ledger audit both tests end with.

Only 127.0.0.1. Keys are test keys, passed through the environment, never argv.
"""

from __future__ import annotations

import asyncio
import ctypes  # noqa: F401  loaded here so die_with_parent in a forked child imports nothing
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT
from tests.integration.crashpoint import die_with_parent

API_KEY, API_SECRET = "crashtestkey0123456789", "crashtestsecret0123456789abcdef"
QUOTE = "USDT"
# The live daemon's config sections both the crash and the chaos test use: a fast feed, a
# small strategy, quick polls, no schedule.
FAST_LIVE = """[feed]
backfill_minutes = 1500
stale_after_s = 3.0
reconnect_min_s = 0.2
reconnect_max_s = 1.0
[strategy]
top_k = 5
max_spread_bps = 500.0
[live]
poll_interval_s = 0.3
[schedule]
enabled = false
"""


class Proc:
    """A child process whose combined output is collected line by line in a thread."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        # die_with_parent: a pytest run killed mid-test must not leave daemons and exchanges
        # running (it runs no `finally`). Started from the test's main thread, whose exit is
        # the process's (the signal follows the thread that forked).
        self.popen = subprocess.Popen(
            argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env}, preexec_fn=die_with_parent)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        """The first output line matching `pattern` (waits for it)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            lines = self.lines
            for line in lines[seen:]:
                if found := regex.search(line):
                    return found
            seen = len(lines)
            if not self.alive() and seen == len(self.lines):
                break
            time.sleep(0.02)
        raise AssertionError(f"no line matching {pattern!r}; output:\n" + self.tail())

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])

    def kill9(self) -> None:
        """SIGKILL by pid, then reap."""
        if self.alive():
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        self._reader.join(timeout=5)

    def interrupt(self, timeout_s: float = 15) -> int:
        """SIGINT (a clean stop); returns the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGINT)
        code = self.popen.wait(timeout=timeout_s)
        self._reader.join(timeout=5)
        return code


def start_exchange(*args: str) -> tuple[Proc, int]:
    """`python -m bot.app.chaos_server ARGS` with the test account; returns it and its port."""
    proc = Proc([sys.executable, "-m", "bot.app.chaos_server", *args],
                {"ENTASIS_SIM_API_KEY": API_KEY, "ENTASIS_SIM_API_SECRET": API_SECRET})
    port = int(proc.wait_for(r"^READY (\d+)$", 60).group(1))
    return proc, port


def daemon_config(path: Path, port: int) -> Path:
    """A live config against the exchange on `port`; fast and small."""
    path.write_text(f"""
[app]
mode = "live"
[exchange]
source = "binance"
rest_url = "http://127.0.0.1:{port}"
ws_url = "ws://127.0.0.1:{port}"
quote_asset = "USDT"
{FAST_LIVE}[trading]
policy = "baseline"  # live "auto" stays flat without a walk-forward verdict (policy_choice.py)
min_score = 0.0
edge_cost_margin = -1  # weigh no cost: the test needs entries (strategies/edge.py)
cancel_buy_after_s = 120.0
reprice_sell_after_s = 300.0
[recovery]
lost_grace_s = 0.3
""")
    return path


def start_daemon(config: Path) -> Proc:
    """`entasis run --confirm-live` with the test keys."""
    return Proc([sys.executable, "-m", "bot.cli", "run", "--confirm-live", "--config",
                 str(config)],
                {"ENTASIS__EXCHANGE__API_KEY": API_KEY, "ENTASIS__EXCHANGE__API_SECRET": API_SECRET})


def submitted_orders(ledger: Path) -> set[str]:
    """Client ids the ledger has as sent but not acknowledged (read-only, beside the
    writer)."""
    if not ledger.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=0.5) as conn:
            return {row[0] for row in conn.execute(
                "SELECT client_order_id FROM orders WHERE status = 'SUBMITTED'")}
    except sqlite3.Error:
        return set()  # not created yet, or busy: ask again


@dataclass
class Audit:
    """The account on the exchange against the ledger, after both came to rest."""

    exchange_orders: int = 0
    ledger_orders: int = 0
    exchange_fills: int = 0
    ledger_fills: int = 0
    mismatches: list[str] = field(default_factory=list)


def audit(port: int, ledger_path: Path) -> Audit:
    """Compare every order, fill, balance and position of the account with the ledger."""
    return asyncio.run(asyncio.wait_for(_audit(port, ledger_path), 60))


async def _audit(port: int, ledger_path: Path) -> Audit:
    from exchange.brokers.ccxt_client import make_exchange
    from state.ledger import Ledger

    exchange = make_exchange("binance", API_KEY, API_SECRET, rest_url=f"http://127.0.0.1:{port}",
                             rate_limit_ms=5)
    try:
        await exchange.load_markets()
        with Ledger.open(ledger_path) as ledger:
            symbols = sorted({r["symbol"] for r in ledger.db.query(
                "SELECT DISTINCT symbol FROM orders")})
        orders: list[dict[str, Any]] = []
        trades: list[dict[str, Any]] = []
        for symbol in symbols:
            market = exchange.markets_by_id[symbol][0]["symbol"]
            orders += [{"clientOrderId": o["clientOrderId"], "status": o["status"],
                        "filled": Decimal(str(o["filled"]))}
                       for o in await exchange.fetch_orders(market, None, 1000)]
            trades += [{"id": str(t["id"]), "amount": Decimal(str(t["amount"])),
                        "price": Decimal(str(t["price"]))}
                       for t in await exchange.fetch_my_trades(market, None, 1000)]
        balance = await exchange.fetch_balance()
    finally:
        await exchange.close()
    totals = {a: Decimal(str(v)) for a, v in balance["total"].items() if v}
    return compare(orders, trades, totals, ledger_path)


def audit_account(account: Any, ledger_path: Path) -> Audit:
    """`audit` for an in-process simulator account (`exchange.sim.account.SimAccount`)."""
    status = {"NEW": "open", "PARTIALLY_FILLED": "open", "FILLED": "closed",
              "CANCELED": "canceled", "EXPIRED": "expired"}
    orders = [{"clientOrderId": o.client_order_id, "status": status[o.status],
               "filled": o.executed_qty} for o in account.orders]
    trades = [{"id": str(t.trade_id), "amount": t.qty, "price": t.price}
              for t in account.trades]
    totals = {a: free + locked for a, (free, locked) in account.balances().items()
              if free + locked}
    return compare(orders, trades, totals, ledger_path)


def compare(theirs_orders: list[dict[str, Any]], theirs_trades: list[dict[str, Any]],
            totals: dict[str, Decimal], ledger_path: Path) -> Audit:
    """Every exchange order in the ledger with its status and filled amount, no client id
    twice, every fill once, equal balances and positions; each difference is one line."""
    from state.ledger import Ledger

    with Ledger.open(ledger_path) as ledger:
        mine = {r["client_order_id"]: ledger.order(r["client_order_id"])
                for r in ledger.db.query("SELECT client_order_id FROM orders")}
        fills = {f.trade_id: f for f in ledger.fills()}
        balances = {b.asset: b.free + b.locked for b in ledger.balances()}
        positions = {p.symbol: p.amount for p in ledger.positions()}
    result = Audit(len(theirs_orders), len(mine), len(theirs_trades), len(fills))
    bad = result.mismatches
    seen: dict[str, int] = {}
    status_of = {"open": {"ACCEPTED", "PARTIALLY_FILLED"}, "closed": {"FILLED"},
                 "canceled": {"CANCELED"}, "expired": {"CANCELED"}}
    for order in theirs_orders:
        cid = order["clientOrderId"]
        seen[cid] = seen.get(cid, 0) + 1
        ours = mine.get(cid)
        if ours is None:
            bad.append(f"order {cid} is on the exchange but not in the ledger")
            continue
        if ours.status not in status_of.get(order["status"], set()):
            bad.append(f"order {cid}: exchange {order['status']}, ledger {ours.status}")
        if order["filled"] != ours.filled:
            bad.append(f"order {cid}: exchange filled {order['filled']}, ledger {ours.filled}")
    bad += [f"order {cid} exists {n} times on the exchange" for cid, n in seen.items() if n > 1]
    for cid, ours in mine.items():
        if cid not in seen and ours is not None and ours.status != "REJECTED":
            bad.append(f"order {cid} is {ours.status} in the ledger, unknown to the exchange")
    by_id = {t["id"]: t for t in theirs_trades}
    bad += [f"fill {t} missing from the ledger" for t in sorted(set(by_id) - set(fills))]
    bad += [f"fill {t} unknown to the exchange" for t in sorted(set(fills) - set(by_id))]
    for trade_id, trade in by_id.items():
        ours_fill = fills.get(trade_id)
        if ours_fill is not None and (ours_fill.amount, ours_fill.price) != (
                trade["amount"], trade["price"]):
            bad.append(f"fill {trade_id}: amount/price differ")
    for asset in sorted(set(totals) | {a for a, v in balances.items() if v}):
        if totals.get(asset, Decimal(0)) != balances.get(asset, Decimal(0)):
            bad.append(f"balance {asset}: exchange {totals.get(asset)}, ledger "
                       f"{balances.get(asset)}")
    for symbol, amount in positions.items():
        base = symbol.removesuffix(QUOTE)
        if totals.get(base, Decimal(0)) != amount:
            bad.append(f"position {symbol}: ledger {amount}, exchange holds {totals.get(base)}")
    return result
