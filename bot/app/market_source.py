"""Which exchange protocol the daemon's market data speaks, and the feed that speaks it.

`exchange.source = "binance"` or `"upbit"` connects to that exchange; `"sim"` starts the
embedded simulator, which serves both protocols on one port, and `sim.protocol` picks the
one the feed uses (Binance by default; "upbit" runs the Upbit feed end to end offline).
One place decides, so the instruments (tick rules) and the feed always come from the same
protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from exchange.feeds.binance import BinanceFeed
from exchange.feeds.binance_rest import fetch_exchange_info
from exchange.feeds.common import FeedHealth, wall_clock_ms
from exchange.feeds.sanity_rules import bounds_of
from exchange.feeds.upbit import UpbitFeed
from exchange.feeds.upbit_rest import RequestPacer, fetch_instruments
from exchange.sim.upbit_server import WS_PATH
from model.instruments import Instrument

if TYPE_CHECKING:
    from bot.config import Config
    from exchange.sim.server import SimExchange
    from trading.engine import Engine


class MarketFeed(Protocol):
    """What the daemon needs from any feed."""

    async def run(self) -> None: ...

    def health(self) -> FeedHealth: ...


def speaks_upbit(config: Config) -> bool:
    """True when market data (and instrument rules) come in Upbit's protocol."""
    source = config.exchange.source
    return source == "upbit" or (source == "sim" and config.sim.protocol == "upbit")


def endpoints(config: Config, sim: SimExchange | None) -> tuple[str, str]:
    """(REST base URL, websocket URL) of the configured source; for Binance the websocket
    URL is the base the feed appends `/stream` to, for Upbit the full endpoint."""
    if sim is not None:
        return sim.rest_url, (f"{sim.ws_url}{WS_PATH}" if speaks_upbit(config) else sim.ws_url)
    if config.exchange.source == "upbit":
        return config.upbit.rest_url, config.upbit.ws_url
    return config.exchange.rest_url, config.exchange.ws_url


async def load_instruments(config: Config, rest_url: str, sim: SimExchange | None) -> list[Instrument]:
    """The tradable instruments with their rules, from the source's own REST API; more than
    `[feed] max_symbols` of them is refused before any per-symbol state exists."""
    limit = config.feed.max_symbols
    if speaks_upbit(config):
        pacer = RequestPacer(0.0 if sim is not None else config.upbit.request_interval_s)
        return await fetch_instruments(rest_url, pacer=pacer, max_symbols=limit)
    return await fetch_exchange_info(rest_url, trading_only=True, max_symbols=limit)


def make_feed(
    config: Config, rest_url: str, ws_url: str, symbols: list[str], engine: Engine,
    sim: SimExchange | None,
) -> BinanceFeed | UpbitFeed:
    """The feed for the configured protocol, wired to the engine's callbacks; the traded
    instruments' price rules join the feed edge's checks (exchange/feeds/sanity.py)."""
    clock_ms: Callable[[], int] = (lambda: sim.now_ms) if sim is not None else wall_clock_ms
    bounds = bounds_of(engine.trader.instruments.values()) if engine.trader is not None else None
    if speaks_upbit(config):
        return UpbitFeed(
            rest_url, ws_url, symbols, config.feed,
            on_tick=engine.on_tick, on_bar=engine.on_bar, on_history=engine.on_history,
            clock_ms=clock_ms, fmt=config.upbit.format,
            request_interval_s=0.0 if sim is not None else config.upbit.request_interval_s,
            price_bounds=bounds,
        )
    return BinanceFeed(
        rest_url, ws_url, symbols, config.feed,
        on_tick=engine.on_tick, on_bar=engine.on_bar, on_history=engine.on_history,
        on_tick_batch=engine.on_tick_batch,
        # The sim keeps its own market clock; !ticker@arr feeds the batched fast path.
        # Binance no longer documents !ticker@arr, so live uses per-symbol streams.
        clock_ms=clock_ms, all_tickers=sim is not None, price_bounds=bounds,
    )
