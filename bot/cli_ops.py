"""Operator commands of the running daemon: `entasis balance | positions | trades | profit |
winrate | performance | regime | health | pause | resume | stop | forceexit | reload-config`.

Each one calls the daemon's command layer (bot/commands.py) over the loopback control
endpoint; Telegram calls the same layer, so both answer with the same data. `--json` prints
that data as one JSON object; without it, rich tables. Commands that change the daemon are
sent by POST (the endpoint refuses them by GET).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from bot.cli import ConfigOption, JsonOption, _load, app, err, out


def ask(config_path: Path, command: str, args: dict[str, Any] | None = None,
        post: bool = False) -> dict[str, Any]:
    """The daemon's answer to `command`; a refusal or no daemon exits 1 with the reason."""
    from bot.control import ControlUnavailable, call

    config = _load(config_path)
    try:
        return asyncio.run(call(config.data_dir, command, args, post=post))
    except ControlUnavailable as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None


def _show(result: dict[str, Any], as_json: bool, printer: Callable[[dict[str, Any]], None]) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        printer(result)


def _table(title: str, columns: tuple[str, ...], rows: list[list[Any]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["-" if cell is None else str(cell) for cell in row])
    return table


def _when(ms: int, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return time.strftime(fmt, time.gmtime(ms / 1000))


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


# --- read-only ---------------------------------------------------------------------------------
@app.command()
def balance(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Every asset of the paper account: free, locked, total, value in the quote asset."""
    def show(r: dict[str, Any]) -> None:
        out.print(f"equity {r['equity']} {r['quote_asset']} (start {r['start_equity']}) · "
                  f"cash {r['cash']}")
        out.print(_table("Balances", ("asset", "free", "locked", "total", f"value ({r['quote_asset']})"),
                         [[a["asset"], a["free"], a["locked"], a["total"], a["value"]]
                          for a in r["assets"]]))
    _show(ask(config_path, "balance"), as_json, show)


@app.command()
def positions(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Open positions with unrealized PnL, resting orders and queued forced exits."""
    def show(r: dict[str, Any]) -> None:
        out.print(_table("Positions", ("symbol", "amount", "avg price", "last", "unrealized PnL"),
                         [[p["symbol"], p["amount"], p["avg_price"], p["last"], p["unrealized_pnl"]]
                          for p in r["positions"]]))
        out.print(_table("Open orders", ("order", "symbol", "side", "price", "remaining"),
                         [[o["client_order_id"], o["symbol"], o["side"], o["price"], o["remaining"]]
                          for o in r["open_orders"]]))
        if r["force_exits_pending"]:
            out.print("forced exits pending: " + ", ".join(r["force_exits_pending"]))
    _show(ask(config_path, "positions"), as_json, show)


@app.command()
def trades(config_path: Path = ConfigOption, as_json: bool = JsonOption,
           limit: int = typer.Option(20, "--limit", "-n", help="How many fills (1-500).")) -> None:
    """The newest fills of the running daemon, newest first."""
    def show(r: dict[str, Any]) -> None:
        out.print(_table("Newest fills", ("time (UTC)", "symbol", "side", "price", "amount", "fee",
                                          "liquidity", "order"),
                         [[_when(f["ts"], "%m-%d %H:%M"), f["symbol"], f["side"], f["price"],
                           f["amount"], f["fee"], f["liquidity"], f["client_order_id"]]
                          for f in r["fills"]]))
    _show(ask(config_path, "trades", {"limit": limit}), as_json, show)


@app.command()
def profit(
    config_path: Path = ConfigOption, as_json: bool = JsonOption,
    period: str = typer.Option("all", "--period", help="all | hourly | daily | weekly"),
    count: int = typer.Option(24, "--count", help="How many periods of each."),
) -> None:
    """Total return, win rate, trade counts and fees, with hourly/daily/weekly returns."""
    def show(r: dict[str, Any]) -> None:
        out.print(f"equity {r['equity']} (from {r['start_equity']}, {r['total_return'] * 100:+.3f}%) · "
                  f"round trips {r['round_trips']} (win rate {_rate(r['win_rate'])}) · buys "
                  f"{r['buys']} · sells {r['sells']} · fees {r['fees']}")
        for name in ("hourly", "daily", "weekly"):
            if name in r:
                out.print(_table(f"{name} returns", ("period start (UTC)", "equity", "return"),
                                 [[_when(row["start_ms"]), row["equity"], f"{row['return'] * 100:+.3f}%"]
                                  for row in r[name]]))
    _show(ask(config_path, "profit", {"period": period, "count": count}), as_json, show)


@app.command()
def winrate(config_path: Path = ConfigOption, as_json: bool = JsonOption,
            days: int = typer.Option(7, "--days", help="Days of the per-day table.")) -> None:
    """Wins, losses, win rate, average win/loss, profit factor; per UTC day too."""
    def show(r: dict[str, Any]) -> None:
        out.print(f"win rate {_rate(r['win_rate'])}: {r['wins']} won, {r['losses']} lost of "
                  f"{r['round_trips']} round trips · PnL {r['pnl']} · avg win {r['avg_win']} · "
                  f"avg loss {r['avg_loss']} · profit factor {r['profit_factor']}")
        out.print(_table("Per UTC day", ("day", "round trips", "wins", "losses", "win rate",
                                         "buys", "sells"),
                         [[_when(d["start_ms"], "%Y-%m-%d"), d["round_trips"], d["wins"],
                           d["losses"], _rate(d["win_rate"]), d["buys"], d["sells"]]
                          for d in r["daily"]]))
    _show(ask(config_path, "winrate", {"days": days}), as_json, show)


@app.command()
def performance(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Per coin: round trips, win rate, realized and unrealized PnL, fees, volume."""
    def show(r: dict[str, Any]) -> None:
        out.print(_table(f"Performance per coin ({r['quote_asset']})",
                         ("symbol", "round trips", "win rate", "realized PnL", "unrealized PnL",
                          "fees", "volume", "buys", "sells"),
                         [[c["symbol"], c["round_trips"], _rate(c["win_rate"]), c["realized_pnl"],
                           c["unrealized_pnl"], c["fees"], c["volume"], c["buys"], c["sells"]]
                          for c in r["coins"]]))
    _show(ask(config_path, "performance"), as_json, show)


@app.command()
def regime(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Bull/bear/sideways per coin at 1h, 6h, 12h and 24h, and the market's majority."""
    def show(r: dict[str, Any]) -> None:
        windows = r["windows"]
        out.print("market: " + " · ".join(f"{w} {r['market'][w]}" for w in windows))
        out.print(_table("Regime per coin (z = move in random-walk standard deviations)",
                         ("symbol", *windows),
                         [[s["symbol"], *(f"{s[w]} ({s['z_' + w]})" for w in windows)]
                          for s in r["symbols"]]))
    _show(ask(config_path, "regime"), as_json, show)


@app.command()
def health(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Pass/fail checks of the running daemon; exits 1 when one fails."""
    result = ask(config_path, "health")

    def show(r: dict[str, Any]) -> None:
        out.print(_table(f"health: {'OK' if r['ok'] else 'PROBLEM'}", ("check", "ok", "detail"),
                         [[c["name"], "yes" if c["ok"] else "NO", c["detail"]] for c in r["checks"]]))
    _show(result, as_json, show)
    if not result["ok"]:
        raise typer.Exit(1)


# --- commands that change the daemon ---------------------------------------------------------------
def _state(r: dict[str, Any]) -> None:
    verdict = "[yellow]refused[/yellow]" if r["refused"] else ("done" if r["changed"] else "no change")
    out.print(f"{verdict}: {r['detail']} · trading state {r['trading_state']}"
              + (" (paused)" if r["paused"] else ""), highlight=False)


@app.command()
def pause(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Stop opening positions (exits and cancels go on) until `entasis resume`."""
    _show(ask(config_path, "pause", post=True), as_json, _state)


@app.command()
def resume(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Lift a pause or a halt (refused, with the reason, while a breaker still fires)."""
    _show(ask(config_path, "resume", post=True), as_json, _state)


@app.command()
def stop(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Shut the running daemon down cleanly (it resumes positions at the next start)."""
    _show(ask(config_path, "stop", post=True), as_json, lambda r: out.print(r["detail"]))


@app.command()
def forceexit(
    symbol: str = typer.Argument(..., help="A traded symbol (e.g. BTCUSDT), or 'all'."),
    config_path: Path = ConfigOption, as_json: bool = JsonOption,
) -> None:
    """Cancel a symbol's orders and sell its position at market at the next decision step."""
    def show(r: dict[str, Any]) -> None:
        out.print(f"forceexit {', '.join(r['symbols']) or 'nothing'}: {r['detail']}")
        out.print(f"canceled orders: {', '.join(r['canceled_orders']) or 'none'}")
    _show(ask(config_path, "forceexit", {"symbol": symbol}, post=True), as_json, show)


@app.command("reload-config")
def reload_config(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Make the daemon re-read its config: risk, strategy, telegram apply now."""
    def show(r: dict[str, Any]) -> None:
        out.print(f"{r['path']}: changed {', '.join(r['changed']) or 'nothing'} · applied "
                  f"{', '.join(r['applied']) or 'nothing'} · needs a restart "
                  f"{', '.join(r['needs_restart']) or 'nothing'}")
    _show(ask(config_path, "reload-config", post=True), as_json, show)

