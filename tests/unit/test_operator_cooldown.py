"""After `forceexit SYMBOL` the policy must not buy the coin back at once: the risk
gate denies new entries in it for `trading.forceexit_cooldown_minutes` (DENIED:COOLDOWN in the
decisions table), `status` lists it until when, and a restart keeps it. 0 turns it off.

Real trading parts (tests/ops_runtime.py): a paper broker, the risk gate and a SQLite ledger,
minutes played in-process; the policy is one that buys AAAUSDT whenever it is not held.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bot.app.assembly import DaemonParts, make_trader
from bot.ops.commands import CommandLayer
from model.market import MINUTE_MS
from state.ledger import Ledger
from strategies.policy import Action, DecisionView, Policy, PolicyAction
from tests.ops_runtime import BUY_MINUTE, INSTRUMENTS, OpsRuntime, make_runtime
from trading.notices import Notifier
from trading.operator import COOLDOWNS_KV, utc_minute

COOLDOWN_MINUTES = 30


@dataclass
class BuysAaaWhenFlat(Policy):
    """Wants AAAUSDT whenever it holds none and has no buy resting."""

    name: str = "buys-aaa"

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        resting = any(o.symbol == "AAAUSDT" for o in view.open_orders)
        if "AAAUSDT" in view.holdings or resting or "AAAUSDT" not in view.quotes:
            return []
        last = view.quotes["AAAUSDT"].last
        return [PolicyAction("AAAUSDT", Action.BUY, limit_price=last * 1.01,
                             stop_price=last * 0.95, confidence=1.0, reason="top ranked")]


def holding_aaa(folder: Path, cooldown_minutes: int) -> OpsRuntime:
    """Given a daemon-configured runtime holding AAA, BBB and CCC after the scripted buys."""
    runtime = make_runtime(folder, f"forceexit_cooldown_minutes = {cooldown_minutes}\n",
                           minutes=BUY_MINUTE + 3, operator=True)
    assert runtime.trader is not None
    runtime.trader.policy = BuysAaaWhenFlat()  # type: ignore[assignment]
    assert runtime.trader.positions["AAAUSDT"].amount > 0
    return runtime


def aaa_buys(runtime: OpsRuntime) -> list[tuple[int, str, str]]:
    assert runtime.ledger is not None
    return sorted((d.ts, d.verdict, d.detail or "") for d in runtime.ledger.decisions(limit=500)
                  if d.symbol == "AAAUSDT" and d.action == "BUY")


def test_forceexit_denies_new_entries_until_the_cooldown_ends_then_allows_them(
        tmp_path: Path) -> None:
    runtime = holding_aaa(tmp_path, COOLDOWN_MINUTES)
    layer = CommandLayer(runtime)
    asked_ms = runtime.now_ms()
    until_ms = asked_ms + COOLDOWN_MINUTES * MINUTE_MS
    buys_before = len(aaa_buys(runtime))

    answer = layer.call("forceexit", {"symbol": "AAAUSDT"})
    runtime.play(5)  # sold at market; the policy wants it back every minute since

    assert answer["cooldown_until"] == {"AAAUSDT": utc_minute(until_ms)}
    assert answer["detail"].endswith(f"no new entries until {utc_minute(until_ms)}")
    assert "AAAUSDT" not in [p["symbol"] for p in layer.call("positions")["positions"]]
    denied = aaa_buys(runtime)[buys_before:]
    assert len(denied) >= 3 and {verdict for _, verdict, _ in denied} == {"DENIED:COOLDOWN"}
    assert denied[0][2].endswith(f"AAAUSDT: forced exit by the operator; no new entries until "
                                 f"{utc_minute(until_ms)} (trading.forceexit_cooldown_minutes)")
    cooling = layer.call("status")["trading"]["cooldowns"]
    assert cooling == [{"symbol": "AAAUSDT", "until_ms": until_ms, "until": utc_minute(until_ms)}]

    runtime.play(COOLDOWN_MINUTES)  # past the end

    after = aaa_buys(runtime)[buys_before:]
    assert all(verdict == "DENIED:COOLDOWN" for ts, verdict, _ in after if ts < until_ms)
    assert next(verdict for ts, verdict, _ in after if ts >= until_ms) == "APPROVED"
    assert layer.call("status")["trading"]["cooldowns"] == []
    assert runtime.ledger is not None and runtime.ledger.get_kv(COOLDOWNS_KV) == {}
    runtime.close()


def test_the_cooldown_survives_a_restart(tmp_path: Path) -> None:
    runtime = holding_aaa(tmp_path, COOLDOWN_MINUTES)
    until_ms = runtime.now_ms() + COOLDOWN_MINUTES * MINUTE_MS
    CommandLayer(runtime).call("forceexit", {"symbol": "AAAUSDT"})
    runtime.play(2)
    runtime.close()  # the daemon stops

    ledger = Ledger.open(runtime.config.data_dir / "ledger.sqlite",
                         instruments={i.symbol: i for i in INSTRUMENTS})
    trader = make_trader(runtime.config, INSTRUMENTS, ledger, policy="baseline",
                         quote_asset="USDT", balance=Decimal(10000),
                         daemon=DaemonParts(Notifier()))  # the daemon's operator options
    assert trader.open_account(Decimal(10000), runtime.now_ms())  # resumed

    assert trader.cooldowns == {"AAAUSDT": until_ms}
    assert trader.summary()["cooldowns"][0]["until"] == utc_minute(until_ms)
    assert "AAAUSDT" in trader.cooling_down(until_ms - 1)
    assert trader.cooling_down(until_ms) == {}
    ledger.close()


def test_a_zero_cooldown_lets_the_policy_buy_back_at_once(tmp_path: Path) -> None:
    runtime = holding_aaa(tmp_path, 0)
    buys_before = len(aaa_buys(runtime))

    answer = CommandLayer(runtime).call("forceexit", {"symbol": "AAAUSDT"})
    runtime.play(5)

    assert answer["cooldown_until"] == {} and "no new entries" not in answer["detail"]
    verdicts = [verdict for _, verdict, _ in aaa_buys(runtime)[buys_before:]]
    assert verdicts and "DENIED:COOLDOWN" not in verdicts and verdicts[0] == "APPROVED"
    runtime.close()
