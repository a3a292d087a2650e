"""Embedded simulated exchange: a seeded market generator or CSV replay, served on 127.0.0.1
in the Binance spot wire protocol.

`SimExchange` is the server (start/stop, `rest_url`, `ws_url`); `serve` runs one until
cancelled. Sources (`GeneratorSource`, `ReplaySource`) are usable on their own for offline
work: they produce bars and ticks with no sockets.

The server is imported on first use of these names, not with the package: the configuration
checks `[sim] params` against `exchange.sim.shipped_params`, and loading a config should not
cost the whole server's imports (aiohttp, the order APIs: ~0.7 s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exchange.sim.server import SimExchange, serve

__all__ = ["SimExchange", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from exchange.sim import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
