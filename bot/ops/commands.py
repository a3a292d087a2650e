"""The one command layer: every operator command as a function of the running daemon.

The control endpoint (and through it the CLI) and Telegram call `CommandLayer.call(name,
args)`, so the two can never disagree: same function, same plain dict. Each command is a
plain function `(runtime, **args) -> dict` registered with `@command`; its parameters (str
or int, with defaults) are the JSON arguments it accepts, checked here once for every
surface. Destructive commands (they change what the daemon does) are marked so: the control
endpoint accepts them only by POST and Telegram asks for a confirmation first.

Commands run on the daemon's event loop between decision steps (the step is synchronous),
so they see and change a consistent state without locks.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from decimal import Decimal
from typing import Any

from bot.app.live_status import live_status
from bot.config import ConfigError, load_config
from bot.ops.command_registry import (  # noqa: F401  (re-exported: callers import them from here)
    COMMANDS,
    CommandError,
    CommandLayer,
    CommandSpec,
    NotReady,
    Runtime,
    UnknownCommand,
    _bounded,
    _coerce,
    _trader,
    clock_kind,
    command,
    steps,
)
from bot.ops.stats import recent_trades
from trading.notices import NoticeKind

log = logging.getLogger(__name__)

# Sections a running daemon takes over from a reloaded config.toml; the rest need a restart.
HOT_SECTIONS = ("risk", "strategy", "telegram")


# --- read-only commands -------------------------------------------------------------------------
@command("help")
def help_(rt: Runtime) -> dict[str, Any]:
    """Every command with its arguments and whether it changes the daemon."""
    return {"commands": [COMMANDS[name].describe() for name in sorted(COMMANDS)]}


@command("status")
def status(rt: Runtime) -> dict[str, Any]:
    """Feed health, universe, trading account, live health, latest ranking and uptime."""
    engine, feed = rt.engine, rt.feed
    latest = engine.latest if engine else None
    return {
        "mode": rt.config.app.mode,
        "source": rt.config.exchange.source,
        "pid": os.getpid(),
        "uptime_s": round(time.time() - rt.started_wall, 1),
        "clock": clock_kind(rt),  # sim timestamps are labelled as such (bot/formatting.py)
        "symbols": len(engine.symbols) if engine else 0,
        "feed": dataclasses.asdict(feed.health()) if feed else None,
        "decisions": {
            "steps": engine.steps if engine else 0,
            "last_minute_open_ms": latest.minute_open_ms if latest else None,
            "last_latency_ms": round(latest.latency_ms, 3) if latest else None,
        },
        "trading": rt.trader.summary() if rt.trader else None,
        # invalid frames dropped at the feed edge, bad prints held back, isolated symbols
        "market_data": market_data_status(engine, feed),
        "ranking": [
            {"symbol": coin.symbol, "score": round(coin.score, 4), "drift_per_min": coin.drift,
             "sigma_per_min": coin.sigma, "reasons": [text for text, _ in coin.reasons],
             "anomaly_score": rt.trader.anomaly_score(coin.symbol) if rt.trader else None,
             "forecast_return": coin.forecast_return,
             "forecast_confidence": coin.forecast_confidence}
            for coin in (latest.ranking if latest else ())
        ],
        # strategies/forecast/service.py: served horizon, rolling error, degraded flag
        "forecast": (engine.forecast.status() if engine is not None and engine.forecast
                     is not None else {"enabled": False}),
        # start-up reconciliation, stream watch, live broker, refused orders (bot/app/live_status.py)
        "live": live_status(rt),
        # policy = "auto": what it trades on this market and on what evidence, or that it
        # stays flat (bot/app/policy_choice.py); None for a policy named in the config
        "policy_choice": policy_choice_status(rt),
    }


def policy_choice_status(rt: Runtime) -> dict[str, Any] | None:
    """The daemon's `auto` choice as plain data (a runtime without one: None)."""
    choice = getattr(rt, "policy_choice", None)
    return choice.as_dict() if choice is not None else None


def market_data_status(engine: Any, feed: Any) -> dict[str, Any]:
    """What the feed edge (exchange/feeds/sanity.py) and the engine's bad-print filter
    (strategies/bad_prints.py) kept from the decisions, and which symbols an exception
    isolated: a market-data fault is visible, never silent."""
    health = feed.health() if feed is not None else None
    prints = getattr(engine, "prints", None)
    counts = prints.counts() if prints is not None else None
    return {
        "invalid": getattr(health, "invalid", 0),
        "invalid_by_reason": dict(getattr(health, "invalid_by_reason", ())),
        "bad_prints": dataclasses.asdict(counts) if counts is not None else None,
        "isolated_symbols": dict(getattr(engine, "isolated", {})),
        "decision_errors": getattr(engine, "decision_errors", 0),
    }


@command("balance")
def balance(rt: Runtime) -> dict[str, Any]:
    """Every asset of the account: free, locked, total and its value in the quote asset."""
    trader = _trader(rt)
    totals = trader.broker.balances()
    free = trader.broker.free_balances()
    quote = trader.quote_asset
    prices = {i.base: trader.last_price.get(s) for s, i in trader.instruments.items()}
    assets = []
    for asset in sorted(totals, key=lambda a: (a != quote, a)):
        total = totals[asset]
        if total == 0 and asset != quote:
            continue
        price = Decimal(1) if asset == quote else prices.get(asset)
        assets.append({"asset": asset, "free": str(free.get(asset, Decimal(0))),
                       "locked": str(total - free.get(asset, Decimal(0))), "total": str(total),
                       "value": str(total * price) if price is not None else None})
    curve = rt.ledger.equity_curve() if rt.ledger else []
    return {"quote_asset": quote, "equity": str(trader.equity()),
            "cash": str(totals.get(quote, Decimal(0))),
            "start_equity": str(curve[0].equity) if curve else None, "assets": assets}


@command("positions")
def positions(rt: Runtime) -> dict[str, Any]:
    """Open positions with unrealized PnL, resting orders and queued forced exits."""
    summary = _trader(rt).summary()
    held = [row["symbol"] for row in (*summary["positions"], *summary["open_orders"])]
    return {"quote_asset": summary["quote_asset"], "positions": summary["positions"],
            "open_orders": summary["open_orders"], "steps": steps(_trader(rt), held),
            "force_exits_pending": sorted(_trader(rt).force_exits)}


@command("trades")
def trades(rt: Runtime, limit: int = 20) -> dict[str, Any]:
    """The newest fills, newest first."""
    trader = _trader(rt)
    assert rt.ledger is not None
    answer = recent_trades(rt.ledger, _bounded("limit", limit, 1, 500))
    return {**answer, "clock": clock_kind(rt), "quote_asset": trader.quote_asset,
            "steps": steps(trader, [fill["symbol"] for fill in answer["fills"]])}


# --- commands that change the daemon ----------------------------------------------------------
def _state_answer(rt: Runtime, events: tuple[Any, ...], verb: str) -> dict[str, Any]:
    trader = _trader(rt)
    state = trader.state
    assert state is not None
    changed = any(e.from_mode is not e.to_mode for e in events)
    refused = [e.reason for e in events if e.from_mode is e.to_mode]
    detail = (refused[0] if refused else
              events[0].reason if events else f"already {state.mode.value}; nothing to {verb}")
    return {"trading_state": state.mode.value, "paused": state.paused, "changed": changed,
            "refused": bool(refused), "detail": detail}


@command("pause", destructive=True)
def pause(rt: Runtime) -> dict[str, Any]:
    """Stop opening positions (exits and cancels go on) until `resume`."""
    return _state_answer(rt, _trader(rt).pause(rt.now_ms(), "operator"), "pause")


@command("resume", destructive=True)
def resume(rt: Runtime) -> dict[str, Any]:
    """Lift a pause or a halt (refused, with the reason, while a breaker still fires)."""
    return _state_answer(rt, _trader(rt).resume(rt.now_ms(), "operator"), "resume")


@command("forceexit", destructive=True)
def forceexit(rt: Runtime, symbol: str) -> dict[str, Any]:
    """Cancel a symbol's orders and sell its position at market (`all`: every symbol)."""
    return _trader(rt).force_exit(symbol, rt.now_ms())


@command("stop", destructive=True)
def stop(rt: Runtime) -> dict[str, Any]:
    """Shut the daemon down cleanly (positions and orders resume at the next start)."""
    rt.notifier.emit(NoticeKind.DAEMON, "daemon stopping (operator stop command)")
    rt.request_stop("operator stop command")
    return {"stopping": True, "detail": "the daemon shuts down within a few seconds"}


@command("reload-config", destructive=True)
def reload_config(rt: Runtime) -> dict[str, Any]:
    """Re-read config.toml: risk, strategy and telegram apply now; the rest at restart."""
    path = rt.config_path or rt.config.base_dir / "config.toml"
    try:
        fresh = load_config(path)
    except ConfigError as exc:
        raise CommandError(f"config not reloaded, nothing changed: {exc}") from None
    old = rt.config.model_dump(mode="json", exclude={"base_dir"})
    new = fresh.model_dump(mode="json", exclude={"base_dir"})
    changed = sorted(s for s in new if new[s] != old.get(s))
    applied = [s for s in changed if s in HOT_SECTIONS]
    merged = rt.config.model_copy(update={s: getattr(fresh, s) for s in applied})
    rt.config = merged
    if rt.trader is not None and "risk" in applied:
        from risk.limits import RiskLimits

        rt.trader.reload_limits(RiskLimits.from_mapping(fresh.risk.model_dump()))
    if rt.engine is not None and "strategy" in applied:
        rt.engine.strategy = fresh.strategy
    restart = [s for s in changed if s not in HOT_SECTIONS]
    if changed:
        rt.notifier.emit(NoticeKind.DAEMON, f"config reloaded: applied {', '.join(applied) or 'nothing'}"
                         + (f"; needs a restart: {', '.join(restart)}" if restart else ""))
    return {"path": str(path), "changed": changed, "applied": applied, "needs_restart": restart}


# The reporting commands live in their own module; importing it registers them.
import bot.ops.commands_report  # noqa: E402, F401  (after the registry it fills)
