"""The reporting commands of the command layer: profit, win rate, performance per coin,
regime, models and health. Registered on import by bot/ops/commands.py (same registry, same
argument checks); the statistics themselves are pure functions in bot/ops/command_stats.py.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from bot.app.live_status import live_checks, live_status
from bot.data_dir import DataDir
from bot.ops import command_stats as stats
from bot.ops.command_registry import (
    CommandError,
    NotReady,
    Runtime,
    _bounded,
    _trader,
    clock_kind,
    command,
)

DECISION_LATE_S = 180.0  # health: no decision step for this long means the loop is stuck


@command("profit")
def profit(rt: Runtime, period: str = "all", count: int = 24) -> dict[str, Any]:
    """Total return, win rate, trade counts and fees, with hourly/daily/weekly returns."""
    _trader(rt)
    assert rt.ledger is not None
    wanted = list(stats.PERIODS) if period == "all" else [period]
    if any(p not in stats.PERIODS for p in wanted):
        raise CommandError(f"period must be one of all, {', '.join(stats.PERIODS)}; got {period!r}")
    count = _bounded("count", count, 1, 1000)
    points = rt.ledger.equity_curve()
    fills = rt.ledger.fills()
    closed = stats.closed_trades(fills)
    wins = sum(1 for t in closed if t.pnl > 0)
    result: dict[str, Any] = {
        "start_equity": str(points[0].equity) if points else None,
        "equity": str(points[-1].equity) if points else None,
        "total_return": round(float(points[-1].equity / points[0].equity - 1), 8) if points else 0.0,
        "round_trips": len(closed), "wins": wins, "losses": len(closed) - wins,
        "win_rate": round(wins / len(closed), 6) if closed else 0.0,
        "buys": sum(1 for f in fills if f.side.value == "BUY"),
        "sells": sum(1 for f in fills if f.side.value == "SELL"),
        "fees": str(sum((f.fee for f in fills), Decimal(0))),
        "period": period,
        "quote_asset": rt.trader.quote_asset if rt.trader else None,
        "clock": clock_kind(rt),  # period starts are sim time when the sim runs the market
    }
    for name in wanted:
        result[name] = stats.period_returns(points, name, count)
    return result


@command("winrate")
def winrate(rt: Runtime, days: int = 7) -> dict[str, Any]:
    """Wins, losses, win rate, average win/loss and profit factor; per UTC day too."""
    _trader(rt)
    assert rt.ledger is not None
    fills = rt.ledger.fills()
    return {**stats.win_rate(stats.closed_trades(fills), fills, _bounded("days", days, 1, 366)),
            "quote_asset": rt.trader.quote_asset if rt.trader else None, "clock": clock_kind(rt)}


@command("performance")
def performance(rt: Runtime) -> dict[str, Any]:
    """Per coin: round trips, win rate, realized and unrealized PnL, fees, volume."""
    trader = _trader(rt)
    assert rt.ledger is not None
    fills = rt.ledger.fills()
    open_pnl = {p["symbol"]: p["unrealized_pnl"] for p in trader.summary()["positions"]}
    return {"quote_asset": trader.quote_asset,
            "coins": stats.per_coin(stats.closed_trades(fills), fills, open_pnl)}


@command("regime")
def regime(rt: Runtime) -> dict[str, Any]:
    """Bull/bear/sideways per coin at 1h, 6h, 12h and 24h, and the market's majority."""
    engine = rt.engine
    if engine is None:
        raise NotReady("the daemon is still starting; no features yet")
    result = stats.regimes(engine.symbols, engine.book.matrix(), engine.book.feature_names)
    latest = engine.latest
    return {"minute_open_ms": latest.minute_open_ms if latest else None, **result}


@command("models")
def models(rt: Runtime) -> dict[str, Any]:
    """Model versions in the registry with their arena checks, and what is being traded."""
    from rl.registry import ModelRegistry  # sqlite only; no torch

    policy = rt.trader.policy if rt.trader else None
    trading = {"policy": policy.name if policy else None,
               "version": policy.version if policy else None}
    path = DataDir(rt.config.data_dir).models
    if not path.exists():
        return {"trading": trading, "models": [],
                "note": f"no models yet ({path} does not exist); train some with `entasis selfplay`"}
    with ModelRegistry.open(path) as registry:
        records = registry.list()
    rows = [{"version": r.version, "status": r.status.value, "parent": r.parent,
             "created_ts": r.created_ts, "path": r.path,
             "failed_checks": (r.arena_stats or {}).get("failed"),
             "checks": {k: v.get("passed")
                        for k, v in (r.arena_stats or {}).get("checks", {}).items()}}
            for r in records]
    return {"trading": trading, "models": rows}


@command("health")
def health(rt: Runtime) -> dict[str, Any]:
    """Pass/fail checks: feed, decisions, trading state, reconciliation, stream, broker."""
    checks: list[dict[str, Any]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        checks.append({"name": name, "ok": ok, "detail": detail})

    feed = rt.feed.health() if rt.feed else None
    check("feed_connected", bool(feed and feed.connected),
          "connected" if feed and feed.connected else "not connected (yet)")
    check("feed_fresh", bool(feed and not feed.stale),
          f"last message {feed.last_message_age_s:.1f} s ago" if feed else "no feed yet")
    latest = rt.engine.latest if rt.engine else None
    age = time.time() - latest.ts_wall if latest else None
    check("decisions", age is not None and age < DECISION_LATE_S,
          f"last decision step {age:.0f} s ago" if age is not None else "no decision step yet")
    state = rt.trader.state if rt.trader else None
    mode = state.mode.value if state else "ACTIVE"
    check("trading_state", mode != "HALTED", f"{mode}" + (f" ({state.reason})" if state else ""))
    choice = getattr(rt, "policy_choice", None)  # policy = "auto" (bot/app/policy_choice.py)
    if choice is not None:  # a live daemon that will not open positions needs its operator
        check("policy", not choice.stay_flat, choice.reason)
    live = live_status(rt)  # reconciliation, stream, broker, failed cancels (bot/app/live_status.py)
    checks += live_checks(live)
    return {"ok": all(c["ok"] for c in checks), "checks": checks, "live": live}
