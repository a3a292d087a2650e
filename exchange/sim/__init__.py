"""Embedded simulated exchange: a seeded market generator or CSV replay, served on 127.0.0.1
in the Binance spot wire protocol.

`SimExchange` is the server (start/stop, `rest_url`, `ws_url`); `serve` runs one until
cancelled. Sources (`GeneratorSource`, `ReplaySource`) are usable on their own for offline
work: they produce bars and ticks with no sockets.
"""

from exchange.sim.server import SimExchange, serve

__all__ = ["SimExchange", "serve"]
