"""The daemon: wires the sim (if configured), feed, engine and control endpoint on one loop.

Every task has an owner (one `asyncio.TaskGroup`); SIGINT and SIGTERM cancel it, and
shutdown (sockets closed, control files removed) finishes within a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import time
from decimal import Decimal
from typing import Any

from bot.assembly import make_trader
from bot.config import Config
from bot.control import ControlServer
from bot.engine import Engine
from bot.stats import profit, recent_trades
from bot.trader import Trader
from exchange.feeds.binance import BinanceFeed
from exchange.feeds.binance_rest import fetch_exchange_info
from exchange.feeds.common import wall_clock_ms
from exchange.instruments import Instrument
from exchange.sim.server import SimExchange
from state.ledger import Ledger

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 4.0
LEDGER_FILE = "ledger.sqlite"


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


class Daemon:
    """One running Entasis process; `status()` is the command layer's first command."""

    def __init__(self, config: Config, sim: SimExchange | None = None) -> None:
        """`sim` lets a test drive the simulated exchange's clock (`autorun=False`)."""
        self.config = config
        self.started_wall = time.time()
        self.sim: SimExchange | None = sim
        self.feed: BinanceFeed | None = None
        self.engine: Engine | None = None
        self.ledger: Ledger | None = None
        self.trader: Trader | None = None
        self.control = ControlServer(
            config.data_dir,
            {"status": self.status, "trades": self.trades, "profit": self.profit},
            config.control.host,
            config.control.port,
        )

    def status(self) -> dict[str, Any]:
        """Feed health, universe, latest ranking and uptime, as plain data."""
        engine = self.engine
        latest = engine.latest if engine else None
        return {
            "mode": self.config.app.mode,
            "source": self.config.exchange.source,
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self.started_wall, 1),
            "symbols": len(engine.symbols) if engine else 0,
            "feed": dataclasses.asdict(self.feed.health()) if self.feed else None,
            "decisions": {
                "steps": engine.steps if engine else 0,
                "last_minute_open_ms": latest.minute_open_ms if latest else None,
                "last_latency_ms": round(latest.latency_ms, 3) if latest else None,
            },
            "trading": self.trader.summary() if self.trader else None,
            "ranking": [
                {
                    "symbol": coin.symbol,
                    "score": round(coin.score, 4),
                    "drift_per_min": coin.drift,
                    "sigma_per_min": coin.sigma,
                    "reasons": [text for text, _ in coin.reasons],
                }
                for coin in (latest.ranking if latest else ())
            ],
        }

    def trades(self) -> dict[str, Any]:
        """The newest fills (from the ledger)."""
        return recent_trades(self.ledger) if self.ledger else {"fills": []}

    def profit(self) -> dict[str, Any]:
        """Hourly/daily returns, win rate and trade counts (from the ledger)."""
        if self.ledger is None or self.trader is None:
            return {}
        return profit(self.ledger, self.trader.round_trips)

    async def run(self) -> None:
        """Start everything and run until cancelled."""
        config = self.config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            if config.exchange.source == "sim":
                self.sim = self.sim or SimExchange(config.sim)
                await self.sim.start()
                rest_url, ws_url = self.sim.rest_url, self.sim.ws_url
            else:
                rest_url, ws_url = config.exchange.rest_url, config.exchange.ws_url
            instruments = await fetch_exchange_info(rest_url, trading_only=True)
            symbols = select_universe(instruments, config)
            log.info("universe: %d symbols from %s (%s mode)", len(symbols), rest_url, config.app.mode)
            self.ledger = Ledger.open(config.data_dir / LEDGER_FILE,
                                      instruments={i.symbol: i for i in instruments})
            self.trader = make_trader(
                config, instruments, self.ledger, policy=config.trading.policy,
                quote_asset=config.trading.quote_asset,
                balance=Decimal(str(config.trading.starting_balance)),
            )
            now_ms = self.sim.now_ms if self.sim is not None else wall_clock_ms()
            if self.trader.open_account(Decimal(str(config.trading.starting_balance)), now_ms):
                log.info("resumed paper account from %s", self.ledger.path)
            self.engine = Engine(symbols, config.strategy, trader=self.trader)
            sim = self.sim
            self.feed = BinanceFeed(
                rest_url,
                ws_url,
                symbols,
                config.feed,
                on_tick=self.engine.on_tick,
                on_bar=self.engine.on_bar,
                on_history=self.engine.on_history,
                on_tick_batch=self.engine.on_tick_batch,
                # The sim keeps its own market clock; !ticker@arr feeds the batched fast path.
                # Binance no longer documents !ticker@arr, so live uses per-symbol streams.
                clock_ms=(lambda: sim.now_ms) if sim is not None else wall_clock_ms,
                all_tickers=sim is not None,
            )
            await self.control.start()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.feed.run(), name="feed")
                tasks.create_task(self.engine.run_decisions(), name="decisions")
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
                await self.control.stop()
                if self.sim is not None:
                    await self.sim.stop()
                if self.ledger is not None:
                    self.ledger.close()
        log.info("stopped")


async def run_until_signalled(config: Config) -> None:
    """Run the daemon; SIGINT/SIGTERM cancel it cleanly."""
    daemon = Daemon(config)
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
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
