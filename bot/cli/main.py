"""`entasis run|status|backtest|config check|sim-server`: the daemon's own commands.

The other command groups live beside this module (models, service, forecast, ops, download,
anomalies, ledger) and register themselves on the shared app when `bot.cli` is imported.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from bot import formatting as fmt
from bot.cli.common import (
    ConfigOption,
    JsonOption,
    app,
    config_app,
    err,
    fail,
    load,
    out,
    parse_time,
    rows_table,
)
from bot.config import Config
from bot.data_dir import DataDir
from exchange.sim.shipped_params import DEFAULT_PARAMS
from state.integrity import EXIT_LEDGER_DAMAGED  # the status for a damaged ledger


@app.command()
def run(
    config_path: Path = ConfigOption,
    log_json: bool = typer.Option(False, "--log-json", help="Log one JSON object per line."),
    confirm_live: bool = typer.Option(
        False, "--confirm-live", help='Required with app.mode = "live": send real orders.'),
) -> None:
    """Run the daemon (paper mode on the embedded simulated exchange by default)."""
    config = load(config_path)  # before the heavy imports: a bad config fails fast
    from bot.app.daemon import run_until_signalled
    from bot.logs import setup_logging

    secrets = [config.exchange.api_key.get_secret_value(), config.exchange.api_secret.get_secret_value(),
               config.telegram.token.get_secret_value()]
    if config.app.mode == "live":
        secrets += _live_keys(config, confirm_live)
    setup_logging("json" if log_json else config.app.log_format, config.app.log_level, secrets)
    from state.integrity import LedgerDamaged
    from state.recovery import RecoveryRefused

    try:
        asyncio.run(run_until_signalled(config, config_path))
    except KeyboardInterrupt:
        pass
    except RecoveryRefused as exc:  # the ledger and the exchange disagree: say why, no trading
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(3) from None
    except LedgerDamaged as exc:  # the ledger (checked first thing in the daemon), models.sqlite
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_LEDGER_DAMAGED) from None


def _live_keys(config: Config, confirmed: bool) -> list[str]:
    """Live mode's two safety switches: the explicit flag, and usable keys (bot/secrets.py)."""
    from bot.secrets import SecretsError, load_api_keys

    if not confirmed:
        err.print('[red]error:[/red] app.mode = "live" sends real orders with real money; '
                  "run again with --confirm-live if that is what you want.", highlight=False)
        raise typer.Exit(2)
    try:
        return load_api_keys(config).values()
    except SecretsError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None


@app.command()
def status(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Feed health, universe size, trading account, top-K ranking with reasons, uptime."""
    result = _ask(config_path, "status")
    if as_json:
        print(json.dumps(result))
        return
    _print_status(result)


def _ask(config_path: Path, command: str) -> dict[str, Any]:
    from bot.ops.control import ControlUnavailable, call

    config = load(config_path)
    try:
        return asyncio.run(call(config.data_dir, command))
    except ControlUnavailable as exc:
        raise fail(str(exc), 1) from None


def _print_status(result: dict[str, Any]) -> None:
    feed = result.get("feed") or {}
    state = "STALE" if feed.get("stale") else ("live" if feed.get("connected") else "connecting")
    out.print(
        f"[bold]Entasis[/bold] {result['mode']} on {result['source']} · pid {result['pid']} · "
        f"up {result['uptime_s']:.0f}s · {result['symbols']} symbols · feed {state}"
    )
    if feed:
        out.print(
            f"feed: {feed.get('msgs_per_s', 0):.1f} msg/s · {feed.get('messages', 0)} messages · "
            f"{feed.get('malformed', 0)} malformed · {feed.get('reconnects', 0)} reconnects · "
            + _last_message(feed.get("last_message_age_s")), highlight=False
        )
    trading = result.get("trading")
    clock = result.get("clock")
    minute = (result.get("decisions") or {}).get("last_minute_open_ms")
    if minute is not None:
        out.print(f"market time {fmt.when(minute, clock)}", highlight=False)
    if trading:
        quote = trading["quote_asset"]
        out.print(
            f"account: equity {fmt.money(trading['equity'], quote, unit=True)} · cash "
            f"{fmt.money(trading['cash'], quote)} · state {trading['trading_state']} · today's PnL "
            f"{fmt.money(trading['today_pnl'], quote)} · "
            + (f"{trading['fills']} fills · {trading['round_trips']} round trips"
               if trading["fills"] else "no trades yet")
            + (f" (win rate {fmt.share(trading['win_rate'])})" if trading["win_rate"] is not None else "")
            + f" · denials {fmt.pairs(trading['denials'])}", highlight=False
        )
        if trading["last_denial"]:
            out.print(f"last denial: {fmt.text(trading['last_denial'])}", highlight=False)
        out.print(rows_table("Positions", ("symbol", "amount", "avg price", "last", "unrealized PnL"),
                             [[p["symbol"], fmt.quantity(p["amount"]), fmt.quantity(p["avg_price"]),
                               fmt.quantity(p["last"]), fmt.money(p["unrealized_pnl"], quote)]
                              for p in trading["positions"]], empty="no open positions"))
        out.print(rows_table("Open orders", ("order", "symbol", "side", "price", "remaining"),
                             [[o["client_order_id"], o["symbol"], o["side"], fmt.quantity(o["price"]),
                               fmt.quantity(o["remaining"])] for o in trading["open_orders"]],
                             empty="no open orders"))
    else:
        out.print("account: not started yet (fetching instruments and history)")
    from bot.app.live_status import live_lines  # reconciliation, stream, broker, refused orders
    from bot.app.policy_choice import choice_line  # policy = "auto": the pick, or staying flat

    choice = choice_line(result)
    if choice:
        out.print(choice, highlight=False)
    for line in live_lines(result):
        out.print(line, highlight=False)
    forecast = result.get("forecast")
    if forecast and forecast.get("enabled"):  # which bundle serves (hot reload, ADR-043)
        out.print(f"forecast: bundle {forecast.get('bundle_version')} · "
                  f"h={forecast.get('horizon_minutes', '?')}m {forecast.get('weights_mode', '')} · "
                  f"{forecast.get('reloads', 0)} reloads"
                  + (" · DEGRADED" if forecast.get("degraded") else ""), highlight=False)
    decisions = result["decisions"]
    latency = decisions["last_latency_ms"]
    out.print(f"decision steps: {decisions['steps']} · last latency "
              + ("–" if latency is None else f"{fmt.ratio(latency, 1)} ms"), highlight=False)
    out.print(rows_table("Top-K ranking: P(target before stop within horizon)",
                         ("#", "symbol", "score", "reasons"),
                         [[str(i), coin["symbol"], fmt.ratio(coin["score"], 3),
                           "; ".join(coin["reasons"])]
                          for i, coin in enumerate(result["ranking"], 1)],
                         empty="no ranking yet"))


def _last_message(age_s: float | None) -> str:
    """`last message 1.2s ago`, or `no message yet` (the feed reports an infinite age)."""
    if age_s is None or age_s == float("inf"):
        return "no message yet"
    return f"last message {age_s:.1f}s ago"






@app.command()
def backtest(
    data: Path = typer.Option(..., "--data", help="Folder of <BASE>_<QUOTE>-1m.csv[.gz] files."),
    timeframe: str = typer.Option("1m", "--timeframe",
                                  help="Bar size (1m, 5m, 15m, 1h, 4h, 1d); other than 1m "
                                       "needs --engine fast."),
    engine: str = typer.Option("event", "--engine",
                               help="event: the daemon's engine on a replay clock (the "
                                    "reference); fast: the array backtester, same rules."),
    start: str | None = typer.Option(None, "--from", help="Start (UTC ISO time or epoch ms)."),
    end: str | None = typer.Option(None, "--to", help="End (UTC ISO time or epoch ms)."),
    policy: str | None = typer.Option(None, "--policy", help="baseline | buyhold | sma"),
    db: Path | None = typer.Option(None, "--db", help="Ledger file to write (must not exist)."),
    quote: str | None = typer.Option(None, "--quote", help="Account currency (default: the data's)."),
    balance: float | None = typer.Option(None, "--balance", help="Starting balance in the quote."),
    config_path: Path = ConfigOption,
    as_json: bool = JsonOption,
) -> None:
    """Replay OHLCV through the daemon's engine, broker and ledger; print the statistics."""
    from decimal import Decimal

    from rich.progress import Progress

    from bot.app.assembly import BacktestError
    from bot.research.backtest import run_backtest
    from bot.research.fast_backtest import run_fast_backtest
    from model.errors import ConfigError, DataError
    from strategies.baselines import POLICIES
    from trading.batch_policies import BATCH_POLICIES

    config = load(config_path)
    if engine not in ("event", "fast"):
        raise fail(f"--engine {engine!r}: choose event or fast", 2)
    if timeframe != "1m" and engine == "event":
        raise fail(f"--timeframe {timeframe}: the event engine replays 1m bars only (its clock "
                   "is the minute); use --engine fast for other timeframes", 2)
    name = policy or config.trading.policy
    known = ([*POLICIES.names, "rl", "rl_portfolio", "auto"] if engine == "event"
             else sorted(BATCH_POLICIES))
    if name not in known:
        raise fail(f"--policy {name!r}: choose one of {', '.join(known)}"
                   + (" (--engine fast)" if engine == "fast" else ""), 2)
    if db is None:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        db = DataDir(config.data_dir).backtests / f"{name}-{stamp}.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task(f"backtest {name}", total=None)
        deposit = Decimal(str(balance)) if balance is not None else None
        try:
            if engine == "fast":
                result = run_fast_backtest(
                    config, data, db, policy=name, timeframe=timeframe,
                    from_ms=parse_time(start), to_ms=parse_time(end), quote_asset=quote,
                    balance=deposit)
            else:
                result = run_backtest(
                    config, data, db, policy=name, from_ms=parse_time(start),
                    to_ms=parse_time(end), quote_asset=quote, balance=deposit,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        except (BacktestError, DataError, ConfigError) as exc:
            raise fail(f"{exc}", 2) from None
    figures = {**result.as_dict(), "db": str(db)}
    if as_json:
        print(json.dumps(figures))
        return
    table = Table(title=f"backtest: {name} on {data} ({result.minutes} minutes, "
                        f"{result.symbols} symbols, {result.quote_asset})")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, fmt.ratio(value, 4) if isinstance(value, float) else fmt.text(value))
    out.print(table)


@config_app.command("check")
def config_check(config_path: Path = ConfigOption) -> None:
    """Validate config.toml (+ environment overrides) and print it with secrets masked."""
    config = load(config_path)
    print(json.dumps(config.masked(), indent=2))
    err.print(f"[green]ok[/green]: {config_path} is valid; data dir {config.data_dir}")


@app.command("sim-server")
def sim_server(
    port: int = typer.Option(0, help="Port on 127.0.0.1 (0 = a free one)."),
    seed: int = typer.Option(7, help="Same seed, same market."),
    coins: int = typer.Option(30, help="Number of simulated coins."),
    replay: Path | None = typer.Option(None, help="Replay this folder of OHLCV CSVs instead."),
    speed: float = typer.Option(60.0, help="Market minutes per real minute."),
    params: str = typer.Option(
        DEFAULT_PARAMS, help="The generator's market: a shipped calibrated parameter set "
        "(bittrex_2017-12, bittrex_2017-11), a MarketParams JSON file (`entasis sim "
        "calibrate`), or \"\" for the old regime-switching generator."),
) -> None:
    """Run the simulated exchange standalone (Binance spot REST + websocket protocol)."""
    from bot.config import SimConfig
    from exchange.sim.market_params import MarketParamsError
    from exchange.sim.server import serve
    from exchange.sim.shipped_params import load_params

    if replay is not None and not replay.is_dir():
        err.print(f"[red]error:[/red] --replay {replay}: not a directory of OHLCV CSVs")
        raise typer.Exit(2)
    try:
        load_params(params, "--params")  # refuse a bad name or file before the server starts
    except MarketParamsError as exc:
        raise fail(str(exc), 2) from None
    config = SimConfig(
        port=port, seed=seed, coins=coins, speed=speed, replay_dir=str(replay or ""),
        params=params,
    )
    try:
        asyncio.run(serve(config))
    except KeyboardInterrupt:
        pass
