"""Transparent policies: the rank-entry baseline, buy-and-hold and an SMA(20/50) cross.

The baseline is what the daemon trades until a self-play `best_player` exists; the
other two are the yardsticks every result is reported beside. All three exercise the same
engine, risk gate and fill model as any learned policy.
"""

from __future__ import annotations

import math
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from model.market import MINUTE_MS
from strategies.edge import (
    BPS,
    DEFAULT_EDGE_COST_MARGIN,
    SLIPPAGE_ALLOWANCE_BPS,
    barrier_edge,
    edge_reason_formats,
    entry_settings,
    entry_step,
    entry_step_settings,
    quoted_spread,
    round_trip_total,
    stop_first_probability,
)
from strategies.entry_kernel import BID_COLUMN, BUSY, FAILS, FULL, LOW_SCORE, NO_DRIFT, NO_QUOTE
from strategies.policy import (
    REMEMBERED_HOLDS,
    Action,
    DecisionView,
    HoldActions,
    Holding,
    NumberedHolds,
    Policy,
    PolicyAction,
    PolicyRegistry,
    Quote,
    RestingOrder,
    hold_action,
    quote_columns,
)
from strategies.ranking import RankedCoin
from strategies.sma_cross import SmaCrossPolicy

# The HOLD reasons' fixed texts (the others carry the coin's numbers: `_entries`).
HELD_OR_ORDERED = "already held or ordered"
BUDGET_USED = "entry budget for this step used"
NO_USABLE_QUOTE = "no usable quote"
_DRIFT_TEXT = "estimated drift %+.4f%%/min is not positive"  # f"{drift * 100:+.4f}"
_NONE_BUSY: frozenset[str] = frozenset()  # the busy coins of a step with nothing busy
# A ranked coin's columns for `edge.entry_step`.
_SYMBOL, _SCORE = attrgetter("symbol"), attrgetter("score")
_DRIFT, _SIGMA = attrgetter("drift"), attrgetter("sigma")


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What a baseline step needs of the policy's settings (`BaselinePolicy._prepare`)."""

    score_text: str  # "score %.2f < 0.20": a coin's score below min_score, as a %-format
    every_text: str  # "entries only every 5 minutes"
    score_holds: NumberedHolds  # the score HOLDs made under score_text, by rounding code
    edge_words: tuple[str, str]  # edge.edge_reason_formats of the margin: (clears, fails)
    step_settings: np.ndarray  # edge.entry_step_settings of the entry's settings


def _usable(price: float) -> bool:
    return math.isfinite(price) and price > 0


@dataclass
class BaselinePolicy(Policy):
    """Enter top-ranked coins with a limit buy at the bid; take profit at the target; exit at
    the stop; cancel buys that do not fill and re-price sells that sit too long.

    Entry needs a positive estimated drift and a score (P(target before stop within the
    horizon)) of at least `min_score`; with no drift and symmetric barriers the score is
    half the chance of touching either barrier in time, so 0.5 would almost never trade.

    Entry also needs its expected edge to beat the round trip's cost by `edge_cost_margin`
    (strategies/edge.py): edge = p x target - q x stop (p the score, q the chance of the
    stop first), cost = the maker fee in (the buy rests at the bid) + the taker fee out (the
    worse of its two exits: the take-profit rests, the stop exit takes the bid) + the
    quote's relative spread + `slippage_bps`. Fee defaults are `[fills]`'s. A margin of -1
    weighs no cost (a positive edge is enough): the entries of before the cost check, which
    tests of the daemon's plumbing use to trade on driftless markets.

    Exercises all five actions: BUY, SELL, CANCEL_BUY, CANCEL_SELL and HOLD.
    """

    target_return_pct: float = 1.0
    stop_return_pct: float = 1.0
    horizon_minutes: int = 60
    min_score: float = 0.2
    max_entries_per_step: int = 3
    cancel_buy_after_s: float = 300.0
    reprice_sell_after_s: float = 1800.0
    exit_slippage_pct: float = 0.5  # stop exits accept down to this far below the bid
    edge_cost_margin: float = DEFAULT_EDGE_COST_MARGIN  # enter on edge > cost x (1 + margin)
    maker_fee_bps: float = 10.0
    taker_fee_bps: float = 10.0
    slippage_bps: float = SLIPPAGE_ALLOWANCE_BPS
    entry_every_minutes: int = 1  # enter only at UTC multiples of this; exits every step
    name: str = "baseline"

    def __post_init__(self) -> None:
        if self.entry_every_minutes < 1 or self.edge_cost_margin < -1:
            raise ValueError(f"baseline: entry_every_minutes={self.entry_every_minutes}, "
                             f"edge_cost_margin={self.edge_cost_margin}; give a whole number of "
                             "minutes >= 1 (1 = every decision step) and a margin >= -1 (-1: "
                             "a positive edge is enough, costs are not weighed)")
        # Not fields: the HOLD actions already made, handed out again (policy.HoldActions),
        # and what a step needs of the settings, made at the first step after any changes.
        self._holds = HoldActions()
        self._drift_holds: NumberedHolds = {}
        self._prepared: _Prepared | None = None

    def __setattr__(self, name: str, value: object) -> None:
        """A setting changed: what is prepared from the settings is made again at the next
        step (`_prepare`)."""
        object.__setattr__(self, name, value)
        if not name.startswith("_"):
            object.__setattr__(self, "_prepared", None)

    def _prepare(self) -> _Prepared:
        """The settings' texts, the edge reason's words and the entry kernel's settings,
        made once, not at every step."""
        prepared = self._prepared
        if prepared is None:
            prepared = self._prepared = _Prepared(
                score_text="score %.2f < " + f"{self.min_score:.2f}".replace("%", "%%"),
                every_text=f"entries only every {self.entry_every_minutes} minutes",
                score_holds={},
                edge_words=edge_reason_formats(self.edge_cost_margin),
                step_settings=entry_step_settings(
                    entry_settings(self.target_return_pct, self.stop_return_pct,
                                   self.horizon_minutes, self.maker_fee_bps,
                                   self.taker_fee_bps, self.slippage_bps,
                                   self.edge_cost_margin),
                    self.min_score, self.max_entries_per_step))
        return prepared

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        actions: list[PolicyAction] = []
        buys: dict[str, RestingOrder] = {}
        sells: dict[str, RestingOrder] = {}
        if view.open_orders:  # most steps have none: no dicts to build, no loop
            buys = {o.symbol: o for o in view.open_orders if o.side == "BUY"}
            sells = {o.symbol: o for o in view.open_orders if o.side == "SELL"}
        for order in buys.values():
            if (view.ts_ms - order.placed_ms) / 1000 >= self.cancel_buy_after_s:
                actions.append(PolicyAction(order.symbol, Action.CANCEL_BUY,
                                            client_order_id=order.client_order_id,
                                            reason=f"buy unfilled for {self.cancel_buy_after_s:.0f}s"))
        holdings = view.holdings
        if holdings:
            for symbol, holding in sorted(holdings.items()):
                if holding.amount > 0:
                    actions.extend(self._manage(view, symbol, holding, sells.get(symbol)))
        ranking = view.ranking
        busy: AbstractSet[str] = _NONE_BUSY  # the ranked coins held, ordered or acted on
        if holdings or buys or actions:
            acted = {a.symbol for a in actions}
            busy = {coin.symbol for coin in ranking if coin.symbol in holdings
                    or coin.symbol in buys or coin.symbol in acted}
        # Entries only at UTC multiples of `entry_every_minutes` (the decision time alone
        # says so: the engine and the fast backtester agree without counting steps).
        if (view.ts_ms // MINUTE_MS) % self.entry_every_minutes == 0:
            actions.extend(self._entries(view, busy))
        else:
            holds = self._holds
            every = self._prepare().every_text
            actions.extend(holds[coin.symbol, HELD_OR_ORDERED if coin.symbol in busy else every]
                           for coin in ranking)
        return actions

    def _entries(self, view: DecisionView, busy: AbstractSet[str]) -> list[PolicyAction]:
        """The ranked coins' actions at an entry step, in ranking order: a BUY for each
        candidate whose edge clears its cost until `max_entries_per_step`, a HOLD with its
        reason for every other coin. The reason is the first that applies of: held or
        ordered (in `busy`), the step's entries used up, the score, the drift, no usable
        quote, the edge.

        What each coin comes to, its numbers included, is one compiled call on the
        ranking's columns (`edge.entry_step`: the checks in that order, the stop-first
        probabilities, edges and costs of the coins weighed, the budget); the loop here only
        turns each coin's verdict into its action. A coin that comes after the entry that
        fills the budget holds for that instead (rare: most steps enter nothing).

        A score's or a drift's HOLD comes with its number's code (its text's digits and
        sign): the action made for a symbol and code before is the one handed out, so the
        number is formatted only the first time its text comes up (19 of 20 have come up
        before on the bench's market). The reasons are written with %-formats, the same
        text as the f-string specs (`{x:.2f}` is `"%.2f" % x` for a float) at less cost. An
        edge's HOLD is not remembered: its words rarely come again (a new number a minute),
        and a lookup that misses costs more than the new action."""
        ranking = view.ranking
        count = len(ranking)
        if not count:
            return []
        prepared = self._prepare()
        symbols = list(map(_SYMBOL, ranking))
        columns = (list(map(_SCORE, ranking)) + list(map(_DRIFT, ranking))
                   + list(map(_SIGMA, ranking)) + quote_columns(view.quotes, symbols))
        columns += ([1.0 if s in busy else 0.0 for s in symbols] if busy
                    else [0.0] * count)
        out = entry_step(columns, count, prepared.step_settings)
        holds = self._holds
        score_text, score_holds = prepared.score_text, prepared.score_holds
        drift_holds = self._drift_holds
        clears_words, fails_words = prepared.edge_words
        made: list[PolicyAction] = []
        push = made.append
        # Each coin's KIND, CODE_OR_EDGE and COST (strategies/entry_kernel.py's outputs).
        for coin, symbol, kind, number, cost in zip(ranking, symbols, out[:count],
                                                    out[count:2 * count], out[2 * count:],
                                                    strict=True):
            if kind in (NO_DRIFT, LOW_SCORE):
                low = kind == LOW_SCORE
                memo = score_holds if low else drift_holds
                key = (symbol, number)  # the number's rounding code
                action = memo.get(key)
                if action is None:
                    action = hold_action(symbol, score_text % coin.score if low
                                         else _DRIFT_TEXT % (coin.drift * 100))
                    if not math.isnan(number):  # a NaN code is formatted, never kept
                        if len(memo) >= REMEMBERED_HOLDS:
                            memo.clear()
                        memo[key] = action
                push(action)
            elif kind == FAILS:
                push(hold_action(symbol, fails_words % (number / BPS, cost / BPS)))
            elif kind == BUSY:
                push(holds[symbol, HELD_OR_ORDERED])
            elif kind == FULL:
                push(holds[symbol, BUDGET_USED])
            elif kind == NO_QUOTE:
                push(holds[symbol, NO_USABLE_QUOTE])
            else:  # BUYS
                bid = columns[BID_COLUMN * count + len(made)]
                reason = clears_words % (number / BPS, cost / BPS)
                push(PolicyAction(
                    symbol, Action.BUY, limit_price=bid,
                    stop_price=bid * (1 - self.stop_return_pct / 100),
                    # The forecast's calibrated confidence when one is served, else the score.
                    confidence=(coin.forecast_confidence if coin.forecast_confidence is not None
                                else coin.score),
                    reason=f"rank score {coin.score:.2f} >= {self.min_score:.2f}; " + reason))
        return made

    def entry_edge(self, coin: RankedCoin, quote: Quote,
                   p_stop: float | None = None) -> tuple[float, float]:
        """(expected edge, round-trip cost) of buying `coin` now, fractions of the price.
        `p_stop`: its stop-first probability when already computed (`_stop_first`)."""
        if p_stop is None:
            p_stop = stop_first_probability(coin.drift, coin.sigma, self.target_return_pct,
                                            self.stop_return_pct, self.horizon_minutes)
        edge = barrier_edge(coin.score, p_stop, self.target_return_pct, self.stop_return_pct)
        return edge, round_trip_total(self.maker_fee_bps, self.taker_fee_bps,
                                      quoted_spread(quote.bid, quote.ask), self.slippage_bps)

    def _manage(self, view: DecisionView, symbol: str, holding: Holding,
                sell: RestingOrder | None) -> list[PolicyAction]:
        quote = view.quotes.get(symbol)
        if quote is None or not _usable(quote.bid):
            return [PolicyAction(symbol, Action.HOLD, reason="no quote")]
        stop = holding.avg_price * (1 - self.stop_return_pct / 100)
        if quote.bid <= stop:
            if sell is not None and sell.price > quote.bid:
                return [PolicyAction(symbol, Action.CANCEL_SELL, client_order_id=sell.client_order_id,
                                     reason=f"stop hit: bid {quote.bid:g} <= {stop:g}")]
            if sell is None:
                limit = quote.bid * (1 - self.exit_slippage_pct / 100)  # marketable: fills at the bid
                return [PolicyAction(symbol, Action.SELL, limit_price=limit, exit=True,
                                     reason=f"stop: bid {quote.bid:g} <= {stop:g}")]
            return [PolicyAction(symbol, Action.HOLD, reason="stop exit working")]
        held_s = (view.ts_ms - holding.opened_ms) / 1000
        if sell is None:
            target = holding.avg_price * (1 + self.target_return_pct / 100)
            if held_s >= self.horizon_minutes * 60:  # past the horizon: settle for half
                target = max(holding.avg_price * (1 + self.target_return_pct / 200), quote.ask)
            return [PolicyAction(symbol, Action.SELL, limit_price=target, exit=True,
                                 reason=f"take profit at {target:g}")]
        if (view.ts_ms - sell.placed_ms) / 1000 >= self.reprice_sell_after_s:
            return [PolicyAction(symbol, Action.CANCEL_SELL, client_order_id=sell.client_order_id,
                                 reason=f"sell resting {self.reprice_sell_after_s:.0f}s: re-price")]
        return [PolicyAction(symbol, Action.HOLD, reason="take-profit order resting")]


@dataclass
class BuyHoldPolicy(Policy):
    """Buy every symbol once (a marketable limit: it takes the ask, paying up to
    `slippage_pct` more if the book is thin) and never sell."""

    stop_return_pct: float = 50.0
    slippage_pct: float = 0.5
    name: str = "buyhold"

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        ordered = {o.symbol for o in view.open_orders}
        actions = []
        for symbol in view.symbols:
            quote = view.quotes.get(symbol)
            if symbol in view.holdings or symbol in ordered or quote is None or not _usable(quote.ask):
                continue
            actions.append(PolicyAction(symbol, Action.BUY,
                                        limit_price=quote.ask * (1 + self.slippage_pct / 100),
                                        stop_price=quote.ask * (1 - self.stop_return_pct / 100),
                                        reason="buy and hold"))
        return actions


POLICIES = PolicyRegistry()
POLICIES.register("baseline", BaselinePolicy)
POLICIES.register("buyhold", BuyHoldPolicy)
POLICIES.register("sma", SmaCrossPolicy)
