"""Policies: what to do with each candidate at a decision step.

A policy is pure: it sees a `DecisionView` (features, ranking, positions, open orders and
quotes as of the decision time) and returns `PolicyAction`s. It never sizes an order (the
risk gate does) and never rounds a price (the instrument does). Policies are looked up by
name, so `--policy baseline|buyhold|sma|rl` all run the same engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import numpy as np

from strategies.ranking import RankedCoin
from strategies.slot_init import slot_setters


class Action(Enum):
    HOLD = "HOLD"
    BUY = "BUY"
    SELL = "SELL"
    CANCEL_BUY = "CANCEL_BUY"
    CANCEL_SELL = "CANCEL_SELL"


@dataclass(frozen=True, slots=True)
class Quote:
    """Best prices of one symbol as of the decision (NaN when unknown)."""

    last: float
    bid: float
    ask: float


class QuoteColumns(Mapping[str, Quote]):
    """A `DecisionView.quotes` that also hands out many symbols' quotes at once as columns,
    read without a `Quote` made for each (trading/decision_view.py's LazyQuotes): a policy
    that weighs every ranked coin's quote reads them in one call."""

    __slots__ = ()

    def quote_columns(self, symbols: Sequence[str]) -> list[float]:
        """`quote_columns(self, symbols)`."""
        return _quote_columns_of(self, symbols)


def quote_columns(quotes: Mapping[str, Quote], symbols: Sequence[str]) -> list[float]:
    """Three columns of the symbols, one after the other: a mark that is finite exactly
    when `quotes` has a quote for the symbol, each one's `quotes.get(symbol).bid`, then
    each one's ask (NaN where there is no quote); from the columns of a `QuoteColumns`,
    else quote by quote."""
    if isinstance(quotes, QuoteColumns):
        return quotes.quote_columns(symbols)
    return _quote_columns_of(quotes, symbols)


def _quote_columns_of(quotes: Mapping[str, Quote], symbols: Sequence[str]) -> list[float]:
    marks: list[float] = []
    bids: list[float] = []
    asks: list[float] = []
    for symbol in symbols:
        quote = quotes.get(symbol)
        marks.append(math.nan if quote is None else 0.0)
        bids.append(math.nan if quote is None else quote.bid)
        asks.append(math.nan if quote is None else quote.ask)
    return marks + bids + asks


@dataclass(frozen=True, slots=True)
class Holding:
    amount: float
    avg_price: float
    opened_ms: int


@dataclass(frozen=True, slots=True)
class RestingOrder:
    client_order_id: str
    symbol: str
    side: str  # "BUY" | "SELL"
    price: float
    remaining: float
    placed_ms: int
    amount: float = 0.0  # the order's original amount (0 = unknown): its filled share


@dataclass(frozen=True, slots=True)
class RecentBars:
    """The newest closed bars of `bar_ms` of every symbol of a `BarSource`, oldest first:
    arrays [count, n_symbols], row 0 opening at `start_ms`. `close` is forward-filled (a bar
    without a trade keeps the previous close; NaN before a symbol's first bar); `traded`
    marks the bars with a trade in them, the only ones whose high, low and volume count."""

    symbols: tuple[str, ...]
    bar_ms: int
    start_ms: int
    close: np.ndarray  # float64 [count, n]
    high: np.ndarray  # float64 [count, n]
    low: np.ndarray  # float64 [count, n]
    quote_volume: np.ndarray  # float64 [count, n]
    traded: np.ndarray  # bool [count, n]
    first_open_ms: np.ndarray  # int64 [n]: the open of each symbol's first 1m bar, -1: none


class BarSource(Protocol):
    """Closed bars behind a decision (the engine's `FeatureBook`), for a policy that reads
    its own bars (the portfolio network decides on 1h bars while the daemon streams 1m)."""

    def recent_bars(self, bar_ms: int, count: int, end_ms: int) -> RecentBars:
        """The `count` bars of `bar_ms` that closed at or before `end_ms` (the newest one
        closing at `end_ms`), aggregated from what the source holds."""
        ...


@dataclass(frozen=True, slots=True)
class DecisionView:
    """Everything a policy may look at: only data stamped before `ts_ms`."""

    ts_ms: int
    symbols: tuple[str, ...]
    features: np.ndarray  # [n_symbols, n_features]
    feature_names: tuple[str, ...]
    ranking: tuple[RankedCoin, ...]
    quotes: Mapping[str, Quote]
    holdings: Mapping[str, Holding]
    open_orders: tuple[RestingOrder, ...]
    equity: float
    # The engine's bar history (None in the fast backtester: a policy that needs it says so).
    bars: BarSource | None = None
    cash: float | None = None  # free quote balance: cash not locked by resting buys
    mode: str = "ACTIVE"  # the risk state's trading mode (risk.state.TradingMode value)


@dataclass(frozen=True, slots=True)
class PolicyAction:
    """One action for one symbol. BUY/SELL carry a limit price (None = market order);
    CANCEL_* name the order; BUY carries the stop and the confidence the risk gate sizes by."""

    symbol: str
    action: Action
    limit_price: float | None = None
    stop_price: float | None = None
    confidence: float = 1.0
    client_order_id: str | None = None
    reason: str = ""
    exit: bool = False  # a SELL that closes a position (allowed while REDUCING)


_new_object = object.__new__
(_set_symbol, _set_action, _set_limit_price, _set_stop_price, _set_confidence,
 _set_client_order_id, _set_reason, _set_exit) = slot_setters(PolicyAction)
_set_last, _set_bid, _set_ask = slot_setters(Quote)
(_set_ts_ms, _set_symbols, _set_features, _set_feature_names, _set_ranking, _set_quotes,
 _set_holdings, _set_open_orders, _set_equity, _set_bars, _set_cash,
 _set_mode) = slot_setters(DecisionView)


def quote_of(last: float, bid: float, ask: float) -> Quote:
    """`Quote(last, bid, ask)`, written slot by slot (strategies/slot_init.py): the decision
    view makes one for each symbol a policy reads, a few a step."""
    quote = _new_object(Quote)
    _set_last(quote, last)
    _set_bid(quote, bid)
    _set_ask(quote, ask)
    return quote


def decision_view(ts_ms: int, symbols: tuple[str, ...], features: np.ndarray,
                  feature_names: tuple[str, ...], ranking: tuple[RankedCoin, ...],
                  quotes: Mapping[str, Quote], holdings: Mapping[str, Holding],
                  open_orders: tuple[RestingOrder, ...], equity: float,
                  bars: BarSource | None, cash: float | None, mode: str) -> DecisionView:
    """`DecisionView(...)` of every field, written slot by slot (strategies/slot_init.py):
    one a decision step, whose frozen `__init__` writing twelve fields through
    `object.__setattr__` cost ~3 us, most of what the view's other work costs."""
    view = _new_object(DecisionView)
    _set_ts_ms(view, ts_ms)
    _set_symbols(view, symbols)
    _set_features(view, features)
    _set_feature_names(view, feature_names)
    _set_ranking(view, ranking)
    _set_quotes(view, quotes)
    _set_holdings(view, holdings)
    _set_open_orders(view, open_orders)
    _set_equity(view, equity)
    _set_bars(view, bars)
    _set_cash(view, cash)
    _set_mode(view, mode)
    return view


def hold_action(symbol: str, reason: str) -> PolicyAction:
    """`PolicyAction(symbol, Action.HOLD, reason=reason)`, written slot by slot
    (strategies/slot_init.py): a policy holds most of its candidates every step (the
    baseline: about ten a minute), and the frozen `__init__` costs twice as much."""
    action = _new_object(PolicyAction)
    _set_symbol(action, symbol)
    _set_action(action, Action.HOLD)
    _set_limit_price(action, None)
    _set_stop_price(action, None)
    _set_confidence(action, 1.0)
    _set_client_order_id(action, None)
    _set_reason(action, reason)
    _set_exit(action, False)
    return action


class HoldActions(dict[tuple[str, str], PolicyAction]):
    """HOLD actions by (symbol, reason): `holds[symbol, reason]` is `hold_action(symbol,
    reason)`, made at its first lookup and handed out again while it is remembered. A
    `PolicyAction` is frozen, so the one kept is equal in every field to a new one. A policy
    holds most of its candidates every step with reasons that recur (the baseline's
    "estimated drift -0.0012%/min is not positive" comes back for days: 19 of 20 of its
    drift and score holds on the bench's market are met before), and a hit is a plain dict
    lookup, a fraction of a new object. At `limit` actions it forgets them all and starts
    again. For reasons that rarely repeat (the baseline's edge words) `hold_action` is
    cheaper: a lookup that misses costs more than the new action."""

    __slots__ = ("limit",)

    def __init__(self, limit: int = 4096) -> None:
        """Nothing remembered yet; at most `limit` actions kept."""
        super().__init__()
        self.limit = limit

    def __missing__(self, key: tuple[str, str]) -> PolicyAction:
        if len(self) >= self.limit:
            self.clear()
        action = self[key] = hold_action(*key)
        return action


#: A symbol's HOLD actions by their number's code (edge.entry_step's rounding codes).
NumberedHolds = dict[tuple[str, float], PolicyAction]
#: A `NumberedHolds` forgets all it holds when it reaches this many.
REMEMBERED_HOLDS = 4096


class Policy(Protocol):
    """Everything the trader, the engine, the backtest, the assembly and the operator
    commands use of a policy, and nothing else: callers never probe for more.

    A policy class subclasses `Policy` to inherit the hooks' defaults (no version, nothing
    to do between steps, no extra sources); only `decide` and `name` are its own."""

    name: str  # what `--policy` and `trading.policy` call it; in backtest results and status

    @property
    def version(self) -> str | None:
        """The version of the model it trades (rl, which may hot-swap it); None for a
        rule-based policy."""
        return None

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        """Actions for this step; HOLD actions may be omitted."""
        ...

    def between_steps(self, feature_symbols: Sequence[str]) -> None:
        """Called by the engine before each decision step with the row order of
        `DecisionView.features` (the book's symbols, a superset of the tradable ones); a
        policy may swap its model here (the rl hot swap). Default: nothing."""
        return

    def attach_sources(self, forecast: object | None, anomaly: object | None) -> None:
        """The daemon's forecast service and anomaly detector (None when off), handed over
        once at assembly to a policy whose inputs include them. Raises, saying what to turn
        on, when the policy needs a source that is None. Default: nothing (it reads neither)."""
        return


@dataclass
class PolicyRegistry:
    """Name -> factory(config) so the CLI and the daemon pick policies by name."""

    factories: dict[str, Callable[..., Policy]] = field(default_factory=dict)

    def register(self, name: str, factory: Callable[..., Policy]) -> None:
        self.factories[name] = factory

    def create(self, name: str, **kwargs: object) -> Policy:
        try:
            return self.factories[name](**kwargs)
        except KeyError:
            known = ", ".join(sorted(self.factories))
            raise ValueError(f"unknown policy {name!r}; choose one of: {known}") from None

    @property
    def names(self) -> Sequence[str]:
        return sorted(self.factories)
