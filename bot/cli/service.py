"""`entasis report` and `entasis service install`: operate Entasis on a server.

`report` renders the charts and the self-contained HTML page from a ledger (bot/research/report.py).
`service install` writes the systemd unit (Type=notify with a watchdog, hardened sandbox,
secrets from an EnvironmentFile) for a dedicated user. The shipped deploy/entasis.service is
this very template with the defaults, and a test keeps the two identical.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import typer

from bot.cli.common import JsonOption, app, err, load, out, parse_time
from bot.data_dir import DataDir

service_app = typer.Typer(no_args_is_help=True, help="Install Entasis as a systemd service.")
app.add_typer(service_app, name="service")

REPO_ROOT = Path(__file__).resolve().parents[2]

UNIT_TEMPLATE = """\
# systemd unit for Entasis, written by `entasis service install` (this file: the defaults).
# Type=notify: systemd waits for READY=1 (sent once the market feed is live) and restarts
# the daemon when its event loop stops sending WATCHDOG=1 for WatchdogSec.
# Install: create the user (and its group) and the data dir, put secrets in the EnvironmentFile (mode 0600),
# then `systemctl daemon-reload && systemctl enable --now {name}`. README: "Run as a service".
[Unit]
Description=Entasis crypto trading daemon
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=600
StartLimitBurst=5

[Service]
Type=notify
NotifyAccess=main
User={user}
Group={group}
WorkingDirectory={prefix}
ExecStart={venv}/bin/entasis run --config {config}
# Secrets (ENTASIS__EXCHANGE__API_KEY=..., ENTASIS__TELEGRAM__TOKEN=...), root-readable only.
EnvironmentFile=-{env_file}
Environment=PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
MPLCONFIGDIR={data_dir}/.matplotlib NUMBA_CACHE_DIR={data_dir}/.numba
Restart=on-failure
RestartSec=5
# Exit 2 (bad config or data dir), 3 (ledger and exchange disagree), 4 (damaged ledger): a
# restart would fail the same way; the operator must act first.
RestartPreventExitStatus=2 3 4
WatchdogSec={watchdog_s}
# Start-up backfills up to a month of 1m history before READY=1.
TimeoutStartSec=300
TimeoutStopSec=15
KillSignal=SIGTERM
UMask=0077
# Sandbox: `systemd-analyze security --offline=true` rates this unit 1.3 (was 7.0).
# No MemoryDenyWriteExecute=: the fill model and RL env are compiled at run time (numba).
# The network stays open (no IPAddressDeny=any): live mode reaches the exchange and Telegram
# at addresses nobody can list in advance; only link-local and multicast are refused.
NoNewPrivileges=true
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true
PrivateDevices=true
DevicePolicy=closed
PrivateUsers=true
ProtectProc=invisible
PrivateMounts=true
ProtectClock=true
ProtectHostname=true
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectKernelLogs=true
ProtectControlGroups=true
RestrictNamespaces=true
RestrictRealtime=true
RestrictSUIDSGID=true
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
LockPersonality=true
RemoveIPC=true
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
SystemCallErrorNumber=EPERM
IPAddressDeny=link-local multicast
ReadWritePaths={data_dir}

[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """Everything the unit names; the defaults are the shipped deploy/entasis.service."""

    user: str = "entasis"
    group: str = "entasis"  # the user's own group (`useradd --user-group`); not nobody/nogroup
    prefix: Path = Path("/opt/entasis")
    venv: Path = Path("/opt/entasis/.venv")
    config: Path = Path("/opt/entasis/config.toml")
    data_dir: Path = Path("/opt/entasis/var")
    env_file: Path = Path("/etc/entasis/entasis.env")
    watchdog_s: int = 30
    name: str = "entasis"

    def render(self) -> str:
        """The unit file's text."""
        return UNIT_TEMPLATE.format(user=self.user, group=self.group, prefix=self.prefix,
                                    venv=self.venv, config=self.config, data_dir=self.data_dir,
                                    env_file=self.env_file, watchdog_s=self.watchdog_s,
                                    name=self.name)


def _valid_user(name: str) -> bool:
    """A conservative POSIX user name (what useradd accepts without --badname)."""
    return bool(name) and len(name) <= 32 and name[0].isalpha() and name[0].islower() and all(
        c.islower() or c.isdigit() or c in "-_" for c in name)


def primary_group(user: str) -> str:
    """The group the unit names: the existing user's primary group, else the user's name,
    which `useradd --user-group` (the printed install step) creates. Never `nobody`: Debian
    calls that group `nogroup`, and sharing it with other daemons defeats the point."""
    import grp
    import pwd

    try:
        return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    except KeyError:
        return user


# The sandbox hides these trees from the service: ProtectHome=true makes /home, /root and
# /run/user empty and PrivateTmp=true gives it its own /tmp and /var/tmp. A checkout or data
# dir there would fail (or write into a throwaway /tmp) only once systemd starts it.
HIDDEN_TREES = {Path("/home"): "ProtectHome=true", Path("/root"): "ProtectHome=true",
                Path("/run/user"): "ProtectHome=true", Path("/tmp"): "PrivateTmp=true",
                Path("/var/tmp"): "PrivateTmp=true"}


def sandbox_problem(spec: UnitSpec) -> str:
    """Why the unit's sandbox would hide one of its paths from the daemon ("" when none).

    Refused rather than loosened: ProtectHome=read-only still breaks the writes under the data
    dir, and punching ReadWritePaths into /home exposes a person's home to a network-facing
    daemon (which a system user usually cannot read anyway). Installing under /opt is the fix.
    """
    for label, path in (("--prefix", spec.prefix), ("--venv", spec.venv),
                        ("--config", spec.config), ("--data-dir", spec.data_dir)):
        for tree, setting in HIDDEN_TREES.items():
            if path == tree or tree in path.parents:
                return (f"{label} {path} is under {tree}, which the unit's {setting} hides "
                        f"from the service; install a copy under /opt (e.g. `git clone ... "
                        f"/opt/entasis`, a virtualenv in /opt/entasis/.venv) and pass "
                        f"--prefix /opt/entasis")
    return ""


def install_steps(spec: UnitSpec) -> list[str]:
    """The root commands that finish the install, in order (one per line, copy-pasteable)."""
    return [(f"useradd --system --user-group --home-dir {spec.data_dir} "
             f"--shell /usr/sbin/nologin {spec.user}"),
            f"install -d -o {spec.user} -g {spec.group} -m 0750 {spec.data_dir}",
            f"install -D -m 0600 deploy/entasis.env.example {spec.env_file}  # then fill it in",
            "systemctl daemon-reload", f"systemctl enable --now {spec.name}",
            f"journalctl -u {spec.name} -f"]


@service_app.command("install")
def service_install(
    user: str = typer.Option(..., "--user", help="Dedicated system user the daemon runs as."),
    group: str | None = typer.Option(None, "--group",
                                     help="Group (default: the user's own group)."),
    unit_dir: Path = typer.Option(Path("/etc/systemd/system"), "--unit-dir",
                                  help="Where to write the unit."),
    prefix: Path = typer.Option(REPO_ROOT, "--prefix", help="Installed repository."),
    venv: Path | None = typer.Option(None, "--venv", help="Virtualenv (default: PREFIX/.venv)."),
    config: Path | None = typer.Option(None, "--config", help="config.toml the unit runs."),
    data_dir: Path | None = typer.Option(None, "--data-dir",
                                            help="Writable data dir (default: the config's)."),
    env_file: Path = typer.Option(Path("/etc/entasis/entasis.env"), "--env-file",
                                  help="EnvironmentFile with the secrets."),
    watchdog_s: int = typer.Option(30, "--watchdog-s", min=2, help="WatchdogSec."),
    name: str = typer.Option("entasis", "--name", help="Unit name (without .service)."),
    as_json: bool = JsonOption,
) -> None:
    """Write a systemd unit (Type=notify, watchdog, hardened) for a dedicated user."""
    if not _valid_user(user):
        err.print(f"[red]error:[/red] --user {user!r}: use a lower-case system user name "
                  "such as 'entasis' (create it with `useradd --system {user}`)")
        raise typer.Exit(2)
    prefix = prefix.resolve()
    config = (config or prefix / "config.toml").resolve()
    if data_dir is None:
        data_dir = load(config).data_dir if config.is_file() else prefix / "var"
    spec = UnitSpec(user=user, group=group or primary_group(user), prefix=prefix,
                    venv=(venv or prefix / ".venv").resolve(), config=config,
                    data_dir=data_dir.resolve(), env_file=env_file, watchdog_s=watchdog_s,
                    name=name)
    problem = sandbox_problem(spec)
    if problem:
        print(f"error: {problem}", file=sys.stderr)  # plain: a wrapped path cannot be pasted
        raise typer.Exit(2)
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        path = unit_dir / f"{name}.service"
        path.write_text(spec.render(), encoding="utf-8")
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot write the unit into {unit_dir}: {exc.strerror}; "
                  "run with sudo or pass --unit-dir DIR")
        raise typer.Exit(1) from None
    steps = install_steps(spec)
    if as_json:
        print(json.dumps({"unit": str(path), "user": user, "group": spec.group,
                          "data_dir": str(spec.data_dir), "next_steps": steps}))
        return
    # print(), not the rich console: it wraps long lines at the terminal width, and a step
    # pasted with a line break in the middle runs half a command.
    print(f"wrote {path}; next, as root:")
    for step in steps:
        print(f"  {step}")


@app.command()
def report(
    out_dir: Path = typer.Option(..., "--out", help="Folder for report.html and the PNGs."),
    ledger: Path | None = typer.Option(None, "--ledger",
                                          help="Ledger file (default: data_dir/ledger.sqlite)."),
    data: Path | None = typer.Option(None, "--data", help="OHLCV folder for the regime charts."),
    rest_url: str | None = typer.Option(None, "--rest-url",
                                           help="Binance-protocol REST URL for the regime charts."),
    since: str | None = typer.Option(None, "--since", help="Only from this UTC time / epoch ms."),
    days: float | None = typer.Option(None, "--days", min=0.01,
                                      help="Only the ledger's last N days (its own clock)."),
    regime_symbols: int = typer.Option(3, "--regime-symbols", min=0,
                                       help="Regime charts for the N most traded symbols."),
    config_path: Path = typer.Option(Path("config.toml"), "--config", "-c",
                                     help="Path of config.toml (only without --ledger)."),
    as_json: bool = JsonOption,
) -> None:
    """Charts (equity with fills, hourly win rate and buys/sells, hourly returns, regimes)
    and a self-contained HTML report from a ledger."""
    from rich.progress import Progress

    from bot.research.report import (
        HISTORY_BEFORE_MS,
        ReportError,
        build_report,
        load_ledger,
        prices_from_ohlcv_dir,
        prices_from_rest,
    )

    if ledger is None:
        ledger = DataDir(load(config_path).data_dir).ledger
    since_ms = parse_time(since)
    if days is not None:
        from bot.research.report import latest_equity_ms

        newest = latest_equity_ms(ledger)
        if newest is not None:
            since_ms = max(since_ms or 0, newest - int(days * 86_400_000))
    started = time.perf_counter()
    with Progress(console=err, transient=True) as bar:
        task = bar.add_task("report: reading the ledger", total=3)
        prices = None
        try:
            view = load_ledger(ledger, since_ms)
            # every traded coin: the per-regime outcomes cover all round trips
            symbols = view.symbols_by_activity if regime_symbols else []
            if symbols and view.equity_ts.size and (data is not None or rest_url):
                bar.update(task, advance=1, description="report: loading prices")
                start = int(view.equity_ts[0]) - HISTORY_BEFORE_MS
                end = int(view.equity_ts[-1]) + 60_000
                prices = (prices_from_ohlcv_dir(data, symbols, start, end) if data is not None
                          else asyncio.run(prices_from_rest(rest_url or "", symbols, start, end)))
            bar.update(task, completed=2, description="report: drawing charts")
            result = build_report(ledger, out_dir, prices=prices, regime_symbols=regime_symbols,
                                  since_ms=since_ms, title=f"Entasis report: {ledger.name}")
        except ReportError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
        except Exception as exc:  # prices over the network: say what failed and how to avoid it
            if prices is None and rest_url:
                err.print(f"[red]error:[/red] could not load prices from {rest_url}: {exc}; "
                          "pass --data DIR or leave out --rest-url")
                raise typer.Exit(1) from None
            raise
    summary = {**result.summary, "wall_s": round(time.perf_counter() - started, 2)}
    if as_json:
        print(json.dumps(summary))
        return
    out.print(f"wrote {result.html_path} and {len(result.charts)} charts in {summary['wall_s']} s")
    out.print(f"return {summary['total_return_pct']:+.3f}% · max drawdown "
              f"{summary['max_drawdown_pct']:.3f}% · {summary['round_trips']} round trips · "
              f"win rate {(summary['win_rate'] or 0) * 100:.1f}%")
