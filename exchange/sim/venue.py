"""What the simulated exchange's request handlers read of the exchange they serve.

`SimExchange` (server.py) builds the handlers (rest.py, orders_api.py, upbit_server.py,
upbit_orders_api.py) and hands itself to them; they see it through these protocols, so the
handlers do not import the server that imports them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Protocol

from exchange.sim.account import SimAccount, TopOfBook
from exchange.sim.auth import ApiCredentials
from exchange.sim.source import MarketSource
from exchange.sim.state import MarketState, TickerStats
from model.fills import FillParams
from model.instruments import Instrument


class PlayerClock(Protocol):
    """The minute player's clock: the end of the last closed minute."""

    closed_until_ms: int


class SimAccounts(Protocol):
    """The accounts behind the signed endpoints (orders_api.OrdersApi)."""

    accounts: dict[str, SimAccount]

    def open_account(self, credentials: ApiCredentials, balances: dict[str, Decimal],
                     fill_params: FillParams | None = None) -> SimAccount: ...

    def top_of_book(self, symbol: str) -> TopOfBook: ...


class SimVenue(Protocol):
    """The market the handlers serve: instruments, time, state, history and accounts."""

    instruments: list[Instrument]
    symbols: list[str]
    state: MarketState
    source: MarketSource

    @property
    def now_ms(self) -> int: ...

    @property
    def player(self) -> PlayerClock: ...

    @property
    def orders(self) -> SimAccounts: ...

    def symbol_index(self, symbol: str) -> int | None: ...

    def ticker_stats(self, index: int) -> TickerStats: ...

    def kline_rows(self, index: int, start_ms: int | None, end_ms: int | None,
                   limit: int) -> list[list[Any]]: ...
