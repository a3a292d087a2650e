"""`entasis` command line: run the daemon, ask it for status, check config, serve the sim.

Human output goes through rich tables; `--json` prints one JSON object on stdout and nothing
else, so scripts can parse it. Errors print what to do and exit non-zero.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from bot.config import Config, ConfigError, load_config

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
config_app = typer.Typer(no_args_is_help=True, help="Inspect the configuration.")
app.add_typer(config_app, name="config")

out = Console()
err = Console(stderr=True)

ConfigOption = typer.Option(Path("config.toml"), "--config", "-c", help="Path of config.toml.")
JsonOption = typer.Option(False, "--json", help="Print one JSON object instead of tables.")


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None


@app.command()
def run(
    config_path: Path = ConfigOption,
    log_json: bool = typer.Option(False, "--log-json", help="Log one JSON object per line."),
) -> None:
    """Run the daemon (paper mode on the embedded simulated exchange by default)."""
    config = _load(config_path)  # before the heavy imports: a bad config fails fast
    from bot.daemon import run_until_signalled
    from bot.logs import setup_logging

    if config.app.mode == "live":
        err.print("[red]error:[/red] app.mode = \"live\" arrives with issue 7; use \"paper\".")
        raise typer.Exit(2)
    secrets = [config.exchange.api_key.get_secret_value(), config.exchange.api_secret.get_secret_value()]
    setup_logging("json" if log_json else config.app.log_format, config.app.log_level, secrets)
    try:
        asyncio.run(run_until_signalled(config))
    except KeyboardInterrupt:
        pass


@app.command()
def status(config_path: Path = ConfigOption, as_json: bool = JsonOption) -> None:
    """Feed health, universe size, top-K ranking with reasons, uptime."""
    from bot.control import ControlUnavailable, call

    config = _load(config_path)
    try:
        result = asyncio.run(call(config.data_dir, "status"))
    except ControlUnavailable as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(result))
        return
    _print_status(result)


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
            f"last message {feed.get('last_message_age_s') or 0:.1f}s ago"
        )
    decisions = result["decisions"]
    out.print(f"decision steps: {decisions['steps']} · last latency {decisions['last_latency_ms']} ms")
    table = Table(title="Top-K ranking: P(target before stop within horizon)")
    for column in ("#", "symbol", "score", "reasons"):
        table.add_column(column)
    for i, coin in enumerate(result["ranking"], 1):
        table.add_row(str(i), coin["symbol"], f"{coin['score']:.3f}", "; ".join(coin["reasons"]))
    out.print(table)


@config_app.command("check")
def config_check(config_path: Path = ConfigOption) -> None:
    """Validate config.toml (+ environment overrides) and print it with secrets masked."""
    config = _load(config_path)
    print(json.dumps(config.masked(), indent=2))
    err.print(f"[green]ok[/green]: {config_path} is valid; data dir {config.data_dir}")


@app.command("sim-server")
def sim_server(
    port: int = typer.Option(0, help="Port on 127.0.0.1 (0 = a free one)."),
    seed: int = typer.Option(7, help="Same seed, same market."),
    coins: int = typer.Option(30, help="Number of simulated coins."),
    replay: Optional[Path] = typer.Option(None, help="Replay this folder of OHLCV CSVs instead."),
    speed: float = typer.Option(60.0, help="Market minutes per real minute."),
) -> None:
    """Run the simulated exchange standalone (Binance spot REST + websocket protocol)."""
    from bot.config import SimConfig
    from exchange.sim.server import serve

    if replay is not None and not replay.is_dir():
        err.print(f"[red]error:[/red] --replay {replay}: not a directory of OHLCV CSVs")
        raise typer.Exit(2)
    config = SimConfig(
        port=port, seed=seed, coins=coins, speed=speed, replay_dir=str(replay or "")
    )
    try:
        asyncio.run(serve(config))
    except KeyboardInterrupt:
        pass


def main() -> None:  # pragma: no cover - console entry point alias
    app(prog_name="entasis")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
