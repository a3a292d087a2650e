"""Operator commands of the running daemon: `entasis balance | positions | trades | profit |
winrate | performance | regime | health | pause | resume | stop | forceexit | reload-config`.

Each one calls the daemon's command layer (bot/ops/commands.py) over the loopback control
endpoint; Telegram calls the same layer, so both answer with the same data. `--json` prints
that data as one JSON object; without it, rich tables. Commands that change the daemon are
sent by POST (the endpoint refuses them by GET).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from bot import formatting as fmt
from bot.cli.common import ConfigOption, JsonOption, app, fail, load, out, rows_table

NO_TRADES = "no trades yet"


def ask(config_path: Path, command: str, args: dict[str, Any] | None = None,
        post: bool = False) -> dict[str, Any]:
    """The daemon's answer to `command`; a refusal or no daemon exits 1 with the reason."""
    from bot.ops.control import ControlUnavailable, call

    config = load(config_path)
    try:
        return asyncio.run(call(config.data_dir, command, args, post=post))
    except ControlUnavailable as exc:
        raise fail(str(exc), 1) from None


def _show(result: dict[str, Any], as_json: bool, printer: Callable[[dict[str, Any]], None]) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        printer(result)


def _table(title: str, columns: tuple[str, ...], rows: list[list[Any]],
           empty: str = "nothing yet") -> Table | str:
    """Formatted cells in a table that never cuts numbers; the `empty` words when no rows."""
    return rows_table(title, columns, rows, empty)


def _when(ms: int, clock: str | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    return fmt.when(ms, clock, pattern)


def _rate(value: float | None) -> str:
    return fmt.share(value)


def _money(r: dict[str, Any], value: Any, unit: bool = False) -> str:
    return fmt.money(value, r.get("quote_asset"), unit=unit)


# --- read-only ---------------------------------------------------------------------------------
@app.command()
def balance(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Every asset of the paper account: free, locked, total, value in the quote asset."""
    def show(r: dict[str, Any]) -> None:
        start = "not opened yet" if r["start_equity"] is None else _money(r, r["start_equity"])
        out.print(f"equity {_money(r, r['equity'], True)} (start {start}) · "
                  f"cash {_money(r, r['cash'])}", highlight=False)
        q = fmt.quantity
        out.print(_table("Balances", ("asset", "free", "locked", "total", f"value ({r['quote_asset']})"),
                         [[a["asset"], *(_money(r, a[k]) if a["asset"] == r["quote_asset"]
                                         else q(a[k]) for k in ("free", "locked", "total")),
                           _money(r, a["value"])] for a in r["assets"]], "no assets yet"))
    _show(ask(config_path, "balance"), as_json, show)


@app.command()
def positions(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Open positions with unrealized PnL, resting orders and queued forced exits."""
    def show(r: dict[str, Any]) -> None:
        def tick(row: dict[str, Any], key: str) -> str:
            return fmt.stepped(row[key], r.get("steps"), row["symbol"], "tick")

        def lot(row: dict[str, Any], key: str) -> str:
            return fmt.stepped(row[key], r.get("steps"), row["symbol"], "lot")

        out.print(_table("Positions", ("symbol", "amount", "avg price", "last", "unrealized PnL"),
                         [[p["symbol"], lot(p, "amount"), tick(p, "avg_price"), tick(p, "last"),
                           _money(r, p["unrealized_pnl"])] for p in r["positions"]],
                         "no open positions"))
        out.print(_table("Open orders", ("order", "symbol", "side", "price", "remaining"),
                         [[o["client_order_id"], o["symbol"], o["side"], tick(o, "price"),
                           lot(o, "remaining")] for o in r["open_orders"]], "no open orders"))
        if r["force_exits_pending"]:
            out.print("forced exits pending: " + ", ".join(r["force_exits_pending"]))
    _show(ask(config_path, "positions"), as_json, show)


@app.command()
def trades(config_path: Path = ConfigOption, as_json: bool = JsonOption,
           limit: int = typer.Option(20, "--limit", "-n", help="How many fills (1-500).")) -> None:
    """The newest fills of the running daemon, newest first."""
    def show(r: dict[str, Any]) -> None:
        q = fmt.quantity
        out.print(_table("Newest fills", ("time (UTC)", "symbol", "side", "price", "amount", "fee",
                                          "liquidity", "order"),
                         [[_when(f["ts"], r.get("clock")), f["symbol"], f["side"],
                           fmt.stepped(f["price"], r.get("steps"), f["symbol"], "tick"),
                           fmt.stepped(f["amount"], r.get("steps"), f["symbol"], "lot"),
                           q(f["fee"]), fmt.text(f["liquidity"]),
                           f["client_order_id"]] for f in r["fills"]], NO_TRADES))
    _show(ask(config_path, "trades", {"limit": limit}), as_json, show)


@app.command()
def profit(
    config_path: Path = ConfigOption, as_json: bool = JsonOption,
    period: str = typer.Option("all", "--period", help="all | hourly | daily | weekly"),
    count: int = typer.Option(24, "--count", help="How many periods of each."),
) -> None:
    """Total return, win rate, trade counts and fees, with hourly/daily/weekly returns."""
    def show(r: dict[str, Any]) -> None:
        if r["equity"] is None:
            out.print("no equity recorded yet (the account opens at the first decision step)")
        else:
            out.print(f"equity {_money(r, r['equity'], True)} (from {_money(r, r['start_equity'])}, "
                      f"{fmt.pct(r['total_return'])})", highlight=False)
        if r["round_trips"] or r["buys"] or r["sells"]:
            out.print(f"round trips {r['round_trips']} (win rate {_rate(r['win_rate'])}) · buys "
                      f"{r['buys']} · sells {r['sells']} · fees {_money(r, r['fees'])}",
                      highlight=False)
        else:
            out.print(NO_TRADES)
        for name in ("hourly", "daily", "weekly"):
            if r.get(name):  # a fresh ledger: the line above already says so
                out.print(_table(f"{name} returns", ("period start (UTC)", "equity", "return"),
                                 [[_when(row["start_ms"], r.get("clock")), _money(r, row["equity"]),
                                   fmt.pct(row["return"])] for row in r[name]],
                                 "no equity recorded yet"))
    _show(ask(config_path, "profit", {"period": period, "count": count}), as_json, show)


@app.command()
def winrate(config_path: Path = ConfigOption, as_json: bool = JsonOption,
            days: int = typer.Option(7, "--days", help="Days of the per-day table.")) -> None:
    """Wins, losses, win rate, average win/loss, profit factor; per UTC day too."""
    def show(r: dict[str, Any]) -> None:
        if not r["round_trips"]:
            out.print(f"{NO_TRADES} (no round trips to count)")
        else:
            out.print(f"win rate {_rate(r['win_rate'])}: {r['wins']} won, {r['losses']} lost of "
                      f"{r['round_trips']} round trips · PnL {_money(r, r['pnl'])} · avg win "
                      f"{_money(r, r['avg_win'])} · avg loss {_money(r, r['avg_loss'])} · "
                      f"profit factor {fmt.ratio(r['profit_factor'])}", highlight=False)
        out.print(_table("Per UTC day", ("day", "round trips", "wins", "losses", "win rate",
                                         "buys", "sells"),
                         [[_when(d["start_ms"], r.get("clock"), "%Y-%m-%d"), d["round_trips"],
                           d["wins"], d["losses"], _rate(d["win_rate"]), d["buys"], d["sells"]]
                          for d in r["daily"]], "no fills yet"))
    _show(ask(config_path, "winrate", {"days": days}), as_json, show)


@app.command()
def performance(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Per coin: round trips, win rate, realized and unrealized PnL, fees, volume."""
    def show(r: dict[str, Any]) -> None:
        out.print(_table(f"Performance per coin ({r['quote_asset']})",
                         ("symbol", "round trips", "win rate", "realized PnL", "unrealized PnL",
                          "fees", "volume", "buys", "sells"),
                         [[c["symbol"], c["round_trips"], _rate(c["win_rate"]),
                           _money(r, c["realized_pnl"]), _money(r, c["unrealized_pnl"]),
                           _money(r, c["fees"]), _money(r, c["volume"]), c["buys"], c["sells"]]
                          for c in r["coins"]], NO_TRADES))
    _show(ask(config_path, "performance"), as_json, show)


@app.command()
def regime(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Bull/bear/sideways per coin at 1h, 6h, 12h and 24h, and the market's majority."""
    def show(r: dict[str, Any]) -> None:
        windows = r["windows"]
        out.print("market: " + " · ".join(f"{w} {r['market'][w]}" for w in windows))
        out.print(_table("Regime per coin (z = move in random-walk standard deviations)",
                         ("symbol", *windows),
                         [[s["symbol"], *(f"{s[w]} ({fmt.ratio(s['z_' + w])})" for w in windows)]
                          for s in r["symbols"]], "no symbols yet"))
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

