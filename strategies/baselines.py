"""Transparent policies: the rank-entry baseline, buy-and-hold and an SMA(20/50) cross.

The baseline is what the daemon trades until a self-play `best_player` exists; the
other two are the yardsticks every result is reported beside. All three exercise the same
engine, risk gate and fill model as any learned policy.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from model.market import MINUTE_MS
from strategies.edge import (
    DEFAULT_EDGE_COST_MARGIN,
    SLIPPAGE_ALLOWANCE_BPS,
    barrier_edge,
    clears_cost,
    edge_reason,
    quoted_spread,
    round_trip_total,
    stop_first_each,
    stop_first_probability,
)
from strategies.policy import (
    Action,
    DecisionView,
    Holding,
    Policy,
    PolicyAction,
    PolicyRegistry,
    Quote,
    RestingOrder,
    hold_action,
)
from strategies.ranking import RankedCoin


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

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        actions: list[PolicyAction] = []
        buys = {o.symbol: o for o in view.open_orders if o.side == "BUY"}
        sells = {o.symbol: o for o in view.open_orders if o.side == "SELL"}
        for order in buys.values():
            if (view.ts_ms - order.placed_ms) / 1000 >= self.cancel_buy_after_s:
                actions.append(PolicyAction(order.symbol, Action.CANCEL_BUY,
                                            client_order_id=order.client_order_id,
                                            reason=f"buy unfilled for {self.cancel_buy_after_s:.0f}s"))
        for symbol, holding in sorted(view.holdings.items()):
            if holding.amount > 0:
                actions.extend(self._manage(view, symbol, holding, sells.get(symbol)))
        acted = {a.symbol for a in actions}
        # Entries only at UTC multiples of `entry_every_minutes` (the decision time alone
        # says so: the engine and the fast backtester agree without counting steps).
        on_cadence = (view.ts_ms // MINUTE_MS) % self.entry_every_minutes == 0
        ranking = view.ranking
        holdings = view.holdings
        min_score, margin = self.min_score, self.edge_cost_margin
        busy_each = [coin.symbol in holdings or coin.symbol in buys or coin.symbol in acted
                     for coin in ranking]
        if on_cadence:
            # A quote is read only for a coin the loop may weigh (free, score and drift pass):
            # no other coin's quote decides anything.
            get_quote = view.quotes.get
            quotes: list[Quote | None] = [None if busy or coin.score < min_score or coin.drift <= 0
                      else get_quote(coin.symbol)
                      for coin, busy in zip(ranking, busy_each, strict=True)]
            p_stops = self._stop_first(ranking, quotes)
        else:
            quotes = [None] * len(ranking)
            p_stops = [None] * len(ranking)
        entries = 0
        for coin, busy, quote, p_stop in zip(ranking, busy_each, quotes, p_stops, strict=True):
            symbol = coin.symbol
            full = entries >= self.max_entries_per_step
            if (busy or p_stop is None or coin.score < min_score or coin.drift <= 0
                    or full or not on_cadence):
                # p_stop is None: no usable quote, or the score or drift fails (`_stop_first`)
                actions.append(hold_action(symbol, _hold_reason(
                    busy, coin.score, min_score, full, coin.drift,
                    None if on_cadence else self.entry_every_minutes)))
                continue
            assert quote is not None  # a p_stop is only computed with a usable quote
            edge, cost = self.entry_edge(coin, quote, p_stop)
            if not clears_cost(edge, cost, margin):
                actions.append(hold_action(symbol, edge_reason(edge, cost, margin)))
                continue
            entries += 1
            actions.append(PolicyAction(
                symbol, Action.BUY, limit_price=quote.bid,
                stop_price=quote.bid * (1 - self.stop_return_pct / 100),
                # The forecast's calibrated confidence when one is served, else the score.
                confidence=(coin.forecast_confidence if coin.forecast_confidence is not None
                            else coin.score),
                reason=(f"rank score {coin.score:.2f} >= {min_score:.2f}; "
                        + edge_reason(edge, cost, margin))))
        return actions

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

    def _stop_first(self, ranking: tuple[RankedCoin, ...], quotes: list[Quote | None]
                    ) -> list[float | None]:
        """The stop-first probability of every coin the entry loop may weigh this step (score
        and drift pass, a usable bid; None for the others), in one batched call: the same
        bits per coin as `entry_edge`'s own scalar call, a fraction of the time. A few may
        go unused (the step's entry budget runs out, the coin is held): cheaper than one
        call per coin."""
        min_score = self.min_score
        rows = [k for k, (coin, quote) in enumerate(zip(ranking, quotes, strict=True))
                if quote is not None and not (coin.score < min_score or coin.drift <= 0)
                and _usable(quote.bid)]
        p_stops: list[float | None] = [None] * len(ranking)
        if rows:
            for k, p_stop in zip(rows, stop_first_each(
                    [ranking[k].drift for k in rows], [ranking[k].sigma for k in rows],
                    self.target_return_pct, self.stop_return_pct, self.horizon_minutes),
                    strict=True):
                p_stops[k] = p_stop
        return p_stops

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


def _hold_reason(busy: bool, score: float, min_score: float, full: bool, drift: float,
                 off_cadence_every: int | None) -> str:
    if busy:
        return "already held or ordered"
    if off_cadence_every is not None:
        return f"entries only every {off_cadence_every} minutes"
    if full:
        return "entry budget for this step used"
    if score < min_score:
        return f"score {score:.2f} < {min_score:.2f}"
    if drift <= 0:
        return f"estimated drift {drift * 100:+.4f}%/min is not positive"
    return "no usable quote"


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


@dataclass
class SmaCrossPolicy(Policy):
    """Long when SMA(fast) of 1m closes crosses above SMA(slow); flat when it crosses below.

    Orders are marketable limits (they take the touch, paying up to `slippage_pct` beyond it),
    and an order still open at the next cross is canceled first, so the policy follows its
    signal instead of leaving stale orders behind.
    """

    fast: int = 20
    slow: int = 50
    stop_return_pct: float = 2.0
    slippage_pct: float = 0.5
    name: str = "sma"
    _closes: dict[str, deque[float]] = field(default_factory=dict)
    _above: dict[str, bool] = field(default_factory=dict)

    def decide(self, view: DecisionView) -> list[PolicyAction]:
        ordered = {o.symbol: o for o in view.open_orders}
        actions = []
        for symbol in view.symbols:
            quote = view.quotes.get(symbol)
            if quote is None or not _usable(quote.last):
                continue
            closes = self._closes.setdefault(symbol, deque(maxlen=self.slow))
            closes.append(quote.last)
            if len(closes) < self.slow:
                continue
            history = list(closes)
            above = sum(history[-self.fast:]) / self.fast > sum(history) / self.slow
            was_above = self._above.get(symbol)
            self._above[symbol] = above
            if was_above is None or above == was_above:
                continue
            stale = ordered.get(symbol)
            if stale is not None:  # signal flipped while an order was working: cancel it first
                kind = Action.CANCEL_BUY if stale.side == "BUY" else Action.CANCEL_SELL
                actions.append(PolicyAction(symbol, kind, client_order_id=stale.client_order_id,
                                            reason="signal flipped"))
                self._above[symbol] = was_above  # act on the cross at the next step
                continue
            held = symbol in view.holdings
            if above and not held and _usable(quote.ask):
                actions.append(PolicyAction(symbol, Action.BUY,
                                            limit_price=quote.ask * (1 + self.slippage_pct / 100),
                                            stop_price=quote.ask * (1 - self.stop_return_pct / 100),
                                            reason=f"SMA{self.fast} crossed above SMA{self.slow}"))
            elif not above and held and _usable(quote.bid):
                actions.append(PolicyAction(symbol, Action.SELL,
                                            limit_price=quote.bid * (1 - self.slippage_pct / 100),
                                            exit=True,
                                            reason=f"SMA{self.fast} crossed below SMA{self.slow}"))
        return actions


POLICIES = PolicyRegistry()
POLICIES.register("baseline", BaselinePolicy)
POLICIES.register("buyhold", BuyHoldPolicy)
POLICIES.register("sma", SmaCrossPolicy)
