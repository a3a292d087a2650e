"""The daemon: wires the sim (if configured), feed, engine and control endpoint on one loop.

Every task has an owner (one `asyncio.TaskGroup`); SIGINT and SIGTERM cancel it, and
shutdown (sockets closed, control files removed) finishes within a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.app import market_source
from bot.app.assembly import DaemonParts, auto_choice, make_trader, tradable_instruments
from bot.app.forecast_service import forecast_service
from bot.app.policy_choice import PolicyChoice
from bot.app.staleness import StreamWatch, watch_daemon_feed
from bot.config import Config
from bot.data_dir import (
    DataDir,
    prepare_data_dir,
    refuse_non_finite_amounts,
    startup_failure,
)
from bot.data_dir_lock import DataDirLock
from bot.ops import commands
from bot.ops.control import ControlServer
from bot.ops.notify import watch_runtime
from exchange.feeds.common import wall_clock_ms
from exchange.sim.server import SimExchange
from model.instruments import Instrument
from state.ledger import Ledger
from state.recovery import RecoveryReport
from trading.engine import Engine
from trading.notices import Notifier
from trading.trader import Trader

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 4.0


def select_universe(instruments: list[Instrument], config: Config) -> list[str]:
    """The symbols to trade: the configured list, else every symbol in the quote asset."""
    wanted = [s.upper() for s in config.exchange.symbols]
    known = {i.symbol for i in instruments}
    if wanted:
        missing = sorted(set(wanted) - known)
        if missing:
            raise ValueError(f"exchange.symbols: unknown on this exchange: {', '.join(missing)}")
        return wanted
    quote = config.exchange.quote_asset.upper()
    return [i.symbol for i in instruments if not quote or i.quote == quote]



def sim_spreads(sim: SimExchange) -> dict[str, float] | None:
    """Each symbol's relative spread for the paper broker's bar book (model/costs.py): the
    generated market's own quoted spread (its ticks are quoted around it, so paper fills on
    its bars and on its ticks pay alike); a replayed folder's estimated spreads, as `entasis
    backtest` of the folder prices them, or None (one tick) with `[fills] spread = "fixed"`."""
    source = sim.source
    if not sim.config.replay_dir:  # the generator: no import of the replay (pandas) here
        symbols = [i.symbol for i in source.instruments]
        return dict(zip(symbols, (source.spread_bps() * 1e-4).tolist(), strict=True))
    from exchange.sim.replay import ReplaySource

    if not isinstance(source, ReplaySource) or source.spread is None:
        return None
    return dict(zip(source.symbols, source.spread.tolist(), strict=True))


class Daemon:
    """One running Entasis process; `status()` is the command layer's first command."""

    def __init__(self, config: Config, sim: SimExchange | None = None,
                 config_path: Path | None = None) -> None:
        """`sim` lets a test drive the simulated exchange's clock (`autorun=False`);
        `config_path` is the file `reload-config` re-reads."""
        self.config = config
        self.config_path = config_path
        self.notifier = Notifier()  # fills, state changes, stale feed... -> Telegram
        self._main_task: asyncio.Task[Any] | None = None
        self.exit_code = 0  # set by request_stop when the stop is a failure
        self.started_wall = time.time()
        self.sim: SimExchange | None = sim
        self.feed: market_source.MarketFeed | None = None
        self.engine: Engine | None = None
        self.ledger: Ledger | None = None
        self.trader: Trader | None = None
        self.live_broker: Any = None  # a CcxtBroker when app.mode = "live" (bot/app/live.py)
        self.recovery: RecoveryReport | None = None  # the start's reconciliation (bot/app/reconcile.py)
        self.stream_watch: StreamWatch | None = None  # bot/app/staleness.py
        self.policy_choice: PolicyChoice | None = None  # policy = "auto": what and why
        self.commands = commands.CommandLayer(self)  # the CLI (via control) and Telegram
        self.control = ControlServer(config.data_dir, self.commands, config.control.host,
                                     config.control.port)
        self.data_dir_lock = DataDirLock(config.data_dir)  # one daemon per data directory

    def now_ms(self) -> int:
        """The market clock: the simulator's when it runs one, else the wall clock."""
        return self.sim.now_ms if self.sim is not None else wall_clock_ms()

    def request_stop(self, reason: str, *, delay_s: float = 0.2, exit_code: int = 0) -> None:
        """Cancel `run` after `delay_s` (the command's answer or a notice goes out first): a
        clean shutdown. A non-zero `exit_code` is the process's exit status afterwards (a
        stop for a damaged ledger is not a success, and systemd must not restart into it)."""
        log.info("stop requested: %s", reason)
        self.exit_code = self.exit_code or exit_code
        task = self._main_task
        if task is not None:
            asyncio.get_running_loop().call_later(delay_s, task.cancel)

    def status(self) -> dict[str, Any]:
        """Feed health, universe, latest ranking and uptime (bot.ops.commands.status)."""
        return commands.status(self)

    def trades(self) -> dict[str, Any]:
        """The newest fills (bot.ops.commands.trades)."""
        return self.commands.call("trades")

    def profit(self) -> dict[str, Any]:
        """Returns, win rate and trade counts from the ledger (bot.ops.commands.profit)."""
        return self.commands.call("profit")

    async def run(self) -> None:
        """Start everything and run until cancelled."""
        config = self.config
        prepare_data_dir(config.data_dir)  # one line naming the folder if it cannot be written
        # Before the ledger or control.json: a second daemon would share one and delete the other.
        self.data_dir_lock.acquire()
        try:  # The ledger's one check (Ledger.open), before the sim, the feed and any log line:
            # a damaged ledger is refused in one line (`entasis run` exits 4), never written.
            self.ledger = Ledger.open(DataDir(config.data_dir).ledger)
        except BaseException:
            self.data_dir_lock.release()
            raise
        self._main_task = asyncio.current_task()
        try:
            if config.exchange.source == "sim":
                self.sim = self.sim or SimExchange(config.sim, spread=config.fills.spread)
                await self.sim.start()
            # Binance or Upbit protocol, from the exchange or the sim (bot/app/market_source.py)
            rest_url, ws_url = market_source.endpoints(config, self.sim)
            instruments = await market_source.load_instruments(config, rest_url, self.sim)
            symbols = select_universe(instruments, config)
            log.info("universe: %d symbols from %s (%s mode)", len(symbols), rest_url, config.app.mode)
            self.ledger.use_instruments({i.symbol: i for i in instruments})
            refuse_non_finite_amounts(self.ledger)  # poisoned by an old `starting_balance = inf`
            quote = config.trading.quote_asset
            if config.app.mode == "live":  # orders through ccxt (bot/app/live.py)
                from bot.app.live import start_live_broker

                self.live_broker = await start_live_broker(
                    config, tradable_instruments(instruments, quote), self.ledger, self.sim)
            forecast = forecast_service(config, len(symbols), self.notifier)
            self.stream_watch = watch_daemon_feed(self, symbols)  # stale stream: REST, no entries
            if config.trading.policy == "auto":  # per market, from the walk-forward verdicts
                self.policy_choice = auto_choice(config)
            self.trader = make_trader(
                config, instruments, self.ledger, policy=config.trading.policy,
                quote_asset=quote, balance=Decimal(str(config.trading.starting_balance)),
                daemon=DaemonParts(self.notifier, forecast=forecast,
                                   entry_pause=self.stream_watch, live_broker=self.live_broker,
                                   policy_choice=self.policy_choice),
                spreads=sim_spreads(self.sim) if self.sim is not None else None,
            )
            now_ms = self.sim.now_ms if self.sim is not None else wall_clock_ms()
            if self.live_broker is not None:
                from bot.app.live import open_live_account

                await self._reconcile(now_ms)  # before any order is adopted (state/recovery.py)
                if open_live_account(self.trader, self.live_broker, now_ms):
                    log.info("resumed live account from %s", self.ledger.path)
            else:
                await self._reconcile(now_ms)  # paper: lost (never acknowledged) orders
                if self.trader.open_account(Decimal(str(config.trading.starting_balance)), now_ms):
                    log.info("resumed paper account from %s", self.ledger.path)
            self.engine = Engine(symbols, config.strategy, trader=self.trader, forecast=forecast,
                                 decision_interval=config.trading.decision_timeframe)
            self.feed = market_source.make_feed(
                config, rest_url, ws_url, symbols, self.engine, self.sim
            )
            await self.control.start()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.feed.run(), name="feed")
                tasks.create_task(self.engine.run_decisions(), name="decisions")
                tasks.create_task(self.stream_watch.run(), name="stream-watch")
                if self.live_broker is not None:
                    tasks.create_task(self.live_broker.run(), name="live-broker")
                tasks.create_task(watch_runtime(self, DataDir(config.data_dir).models),
                                  name="notices")
                if config.telegram.enabled:
                    from bot.ops.telegram_bot import TelegramBot

                    tasks.create_task(TelegramBot(self).run(), name="telegram")
                from bot.ops import metrics, scheduler, sdnotify  # a backtest never loads them

                tasks.create_task(sdnotify.supervise(self.status), name="sd_notify")
                if config.schedule.enabled:
                    tasks.create_task(scheduler.serve(self), name="scheduler")
                if config.metrics.enabled:
                    tasks.create_task(metrics.serve(self, config.metrics.host, config.metrics.port),
                                      name="metrics")
        finally:
            await self._shutdown()

    async def _reconcile(self, now_ms: int) -> None:
        """Make the ledger agree with the broker before trading; raises `RecoveryRefused`,
        saying why, when it cannot."""
        from bot.app.reconcile import reconcile_at_start

        assert self.ledger is not None and self.trader is not None
        recovery = self.config.recovery
        self.recovery = await reconcile_at_start(
            self.ledger, self.trader.instruments, self.trader.quote_asset, now_ms,
            exchange=self.live_broker.exchange if self.live_broker is not None else None,
            tolerance_pct=recovery.balance_tolerance_pct, lost_grace_s=recovery.lost_grace_s,
            gate=self.live_broker.gate if self.live_broker is not None else None)

    async def _shutdown(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
                await self.control.stop()
                if self.live_broker is not None:
                    await self.live_broker.close()
                if self.sim is not None:
                    await self.sim.stop()
                if self.ledger is not None:
                    self.ledger.close()
        self.data_dir_lock.release()  # last: the ledger is closed and control.json removed
        log.info("stopped")


async def run_until_signalled(config: Config, config_path: Path | None = None) -> None:
    """Run the daemon; SIGINT/SIGTERM (or the `stop` command) cancel it cleanly. A data
    directory it cannot use (one another daemon holds included), or a disk that fills up,
    exits with status 2 after one log line that names the folder and the fix."""
    daemon = Daemon(config, config_path=config_path)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    assert task is not None

    def request_shutdown(sig: signal.Signals) -> None:
        log.info("%s received: shutting down", sig.name)
        task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_shutdown, sig)
    try:
        await daemon.run()
    except asyncio.CancelledError:
        if daemon.exit_code:
            raise SystemExit(daemon.exit_code) from None
    except Exception as exc:  # the data dir (or a full disk): one line and exit 2, no traceback
        message = startup_failure(exc, config.data_dir)
        if message is None:
            raise
        log.error("%s", message)
        raise SystemExit(2) from None
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
