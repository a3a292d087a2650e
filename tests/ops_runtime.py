"""A daemon stand-in made of the real trading parts, for command-layer and Telegram tests.

`OpsRuntime` holds what `bot.ops.commands.Runtime` reads: a real `Engine` with a real `Trader`
(paper broker, risk gate, fill model) writing a real SQLite ledger, and a `Notifier`. Only
the market feed is absent: minutes are played in-process from a scripted price path (a few
ms each), so the commands can be checked against exactly known trades without a socket or a
wall clock. The daemon itself is exercised end to end in tests/integration/test_ops_daemon.py.

The script (`ScriptedPolicy`): after 120 warm-up minutes it buys AAA, BBB and CCC; sells AAA
(rising: a winning round trip) and BBB (falling: a losing one); keeps CCC; and rests a far
buy on BBB that never fills.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.app.assembly import DaemonParts, make_trader
from bot.config import Config, load_config
from model.instruments import Instrument
from model.market import MINUTE_MS, Bar
from state.ledger import Ledger
from strategies.policy import Action, DecisionView, Policy, PolicyAction
from trading.engine import Engine
from trading.notices import Notice, Notifier
from trading.operator import TraderOptions
from trading.trader import Trader

START_MS = 1_700_006_400_000  # 2023-11-15 00:00 UTC
SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT")
INSTRUMENTS = [Instrument(s, s[:3], "USDT", Decimal("0.01"), Decimal("0.001"), Decimal(5))
               for s in SYMBOLS]
DRIFT = {"AAAUSDT": 0.002, "BBBUSDT": -0.002, "CCCUSDT": 0.0}  # per minute after warm-up
BUY_MINUTE, SELL_AAA, SELL_BBB = 120, 130, 131


def price(symbol: str, minute: int) -> float:
    """A gentle wiggle for 120 minutes, then each coin's drift."""
    base = {"AAAUSDT": 100.0, "BBBUSDT": 50.0, "CCCUSDT": 20.0}[symbol]
    trend = 1 + DRIFT[symbol] * max(0, minute - BUY_MINUTE)
    return round(base * trend * (1 + 0.002 * math.sin(minute / 3 + len(symbol))), 4)


@dataclass
class ScriptedPolicy(Policy):
    """Deterministic orders at fixed minutes (see the module docstring)."""

    name: str = "scripted"

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        minute = (view.ts_ms - START_MS) // MINUTE_MS - 1
        last = {s: q.last for s, q in view.quotes.items()}
        if minute == BUY_MINUTE:
            return [PolicyAction(s, Action.BUY, limit_price=last[s] * 1.01,
                                 stop_price=last[s] * 0.95, confidence=1.0) for s in SYMBOLS]
        if minute == SELL_AAA and "AAAUSDT" in view.holdings:
            return [PolicyAction("AAAUSDT", Action.SELL, limit_price=last["AAAUSDT"] * 0.99,
                                 exit=True)]
        if minute == SELL_BBB and "BBBUSDT" in view.holdings:
            return [PolicyAction("BBBUSDT", Action.SELL, limit_price=last["BBBUSDT"] * 0.99,
                                 exit=True),
                    PolicyAction("CCCUSDT", Action.HOLD, reason="holding")]
        if minute == SELL_BBB + 2:
            return [PolicyAction("BBBUSDT", Action.BUY, limit_price=last["BBBUSDT"] * 0.5,
                                 stop_price=last["BBBUSDT"] * 0.45, confidence=1.0)]
        return []


@dataclass
class OpsRuntime:
    """What `bot.ops.commands.Runtime` asks of a daemon, built from real parts."""

    config: Config
    config_path: Path
    trader: Trader | None
    ledger: Ledger | None
    engine: Engine | None
    notifier: Notifier
    feed: Any = None
    started_wall: float = field(default_factory=time.time)
    minute: int = 0
    stop_requests: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    policy_choice: Any = None  # the daemon's `auto` choice (bot/app/policy_choice.py)

    def now_ms(self) -> int:
        return START_MS + self.minute * MINUTE_MS

    def request_stop(self, reason: str) -> None:
        self.stop_requests.append(reason)

    def play(self, minutes: int) -> None:
        """Play `minutes` closed 1m bars of every symbol, one decision step each."""
        assert self.engine is not None
        for _ in range(minutes):
            for symbol in SYMBOLS:
                close = price(symbol, self.minute)
                open_ = price(symbol, self.minute - 1)
                self.engine.on_bar(Bar(symbol, self.now_ms(), open_, max(open_, close) * 1.001,
                                       min(open_, close) * 0.999, close, 500.0, 500.0 * close))
            self.engine.decide()
            self.minute += 1

    def close(self) -> None:
        if self.ledger is not None:
            self.ledger.close()


def make_runtime(folder: Path, extra_config: str = "", minutes: int = 140, *,
                 operator: bool = False, policy: Policy | None = None) -> OpsRuntime:
    """A runtime in `folder` (config.toml + var/ledger.sqlite) after `minutes` of `policy`
    (default: the script). `operator=True` gives the trader the daemon's operator options
    (a log line per fill, the forced-exit cool-down); else a backtest's, with the notifier."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "config.toml"
    config_path.write_text('[trading]\nquote_asset = "USDT"\nstarting_balance = 10000.0\n'
                           + extra_config)
    config = load_config(config_path, environ={})
    config.data_dir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger.open(config.data_dir / "ledger.sqlite",
                         instruments={i.symbol: i for i in INSTRUMENTS})
    notifier = Notifier()
    trader = make_trader(config, INSTRUMENTS, ledger, policy=policy or ScriptedPolicy(),
                         quote_asset="USDT", balance=Decimal(10000),
                         daemon=DaemonParts(notifier,
                                            options=None if operator else TraderOptions()))
    runtime = OpsRuntime(config, config_path, trader, ledger,
                         Engine(list(SYMBOLS), config.strategy, trader=trader), notifier)
    notifier.subscribe(runtime.notices.append)
    trader.open_account(Decimal(10000), START_MS)
    runtime.play(minutes)
    return runtime
