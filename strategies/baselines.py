"""Transparent policies: the rank-entry baseline, buy-and-hold and an SMA(20/50) cross.

The baseline is what the daemon trades until a self-play `best_player` exists; the
other two are the yardsticks every result is reported beside. All three exercise the same
engine, risk gate and fill model as any learned policy.
"""

from __future__ import annotations

import math
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import numpy as np

from model.market import MINUTE_MS
from strategies.edge import (
    BPS,
    DEFAULT_EDGE_COST_MARGIN,
    SLIPPAGE_ALLOWANCE_BPS,
    barrier_edge,
    edge_reason_formats,
    entry_numbers,
    entry_settings,
    quoted_spread,
    round_trip_total,
    stop_first_probability,
)
from strategies.entry_kernel import NUMBERS
from strategies.policy import (
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
    numbered_holds,
)
from strategies.ranking import RankedCoin
from strategies.sma_cross import SmaCrossPolicy

# The HOLD reasons' fixed texts (the others carry the coin's numbers: `_entries`).
HELD_OR_ORDERED = "already held or ordered"
BUDGET_USED = "entry budget for this step used"
NO_USABLE_QUOTE = "no usable quote"
_DRIFT_TEXT = "estimated drift %+.4f%%/min is not positive"  # f"{drift * 100:+.4f}"
_NONE_BUSY: frozenset[str] = frozenset()  # the busy coins of a step with nothing busy


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What a baseline step needs of the policy's settings (`BaselinePolicy._prepare`)."""

    score_text: str  # "score %.2f < 0.20": a coin's score below min_score, as a %-format
    every_text: str  # "entries only every 5 minutes"
    score_holds: NumberedHolds  # the score HOLDs made under score_text (`numbered_holds`)
    edge_words: tuple[str, str]  # edge.edge_reason_formats of the margin: (clears, fails)
    settings: np.ndarray  # edge.entry_settings of the entry's settings


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
                settings=entry_settings(self.target_return_pct, self.stop_return_pct,
                                        self.horizon_minutes, self.maker_fee_bps,
                                        self.taker_fee_bps, self.slippage_bps,
                                        self.edge_cost_margin))
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

        Two passes: the first gives each coin that fails before its edge its HOLD and
        collects the others (score and drift pass, a usable bid: the only coins whose
        quote is read); their stop-first probabilities, edges and costs come from one
        compiled call (`edge.entry_numbers`), then the second pass weighs them in order. A
        coin that comes after the entry that fills the budget holds for that instead (rare:
        most steps enter nothing).

        A score's or a drift's HOLD is made after that call too, which also gives each of
        their numbers' code (its text's digits and sign): the action made for a symbol and
        code before is the one handed out (`numbered_holds`), so the number is formatted
        only the first time its text comes up (19 of 20 have come up before on the bench's
        market). The reasons are written with %-formats, the same text as the f-string specs
        (`{x:.2f}` is `"%.2f" % x` for a float) at less cost."""
        ranking = view.ranking
        holds = self._holds
        min_score = self.min_score
        prepared = self._prepare()
        score_text, score_holds = prepared.score_text, prepared.score_holds
        drift_holds = self._drift_holds
        get_quote = view.quotes.get
        made: list[PolicyAction | None] = []
        picks: list[tuple[int, RankedCoin, Quote]] = []
        inputs: list[float] = []  # edge.entry_numbers' five a pick
        later: list[tuple[int, str, float, str, NumberedHolds]] = []
        roundings: list[float] = []  # edge.entry_numbers' (value, decimals) of each in `later`
        for coin in ranking:
            symbol = coin.symbol
            if symbol in busy:
                made.append(holds[symbol, HELD_OR_ORDERED])
                continue
            score = coin.score
            if score < min_score:
                later.append((len(made), symbol, score, score_text, score_holds))
                roundings.extend((score, 2.0))  # score_text's "%.2f"
                made.append(None)
                continue
            drift = coin.drift
            if drift <= 0:
                percent = drift * 100
                later.append((len(made), symbol, percent, _DRIFT_TEXT, drift_holds))
                roundings.extend((percent, 4.0))  # _DRIFT_TEXT's "%+.4f"
                made.append(None)
                continue
            quote = get_quote(symbol)
            if quote is None or not 0 < quote.bid < math.inf:  # `_usable`, written out
                made.append(holds[symbol, NO_USABLE_QUOTE])
                continue
            picks.append((len(made), coin, quote))
            inputs.extend((-drift, coin.sigma, score, quote.bid, quote.ask))
            made.append(None)
        full_from = 0 if self.max_entries_per_step <= 0 else len(ranking)
        if picks or later:
            numbers = entry_numbers(inputs, prepared.settings, roundings)
            if later:
                numbered_holds(later, numbers[NUMBERS * len(picks):], made)
            if picks and full_from:
                full_from = self._weigh(picks, numbers, made, prepared.edge_words)
        for k in range(full_from, len(ranking)):  # after the entry that filled the budget
            symbol = ranking[k].symbol
            made[k] = holds[symbol, HELD_OR_ORDERED if symbol in busy else BUDGET_USED]
        return made  # type: ignore[return-value]  # every None was replaced

    def _weigh(self, picks: list[tuple[int, RankedCoin, Quote]], numbers: list[float],
               made: list[PolicyAction | None], words: tuple[str, str]) -> int:
        """Each pick's BUY or HOLD into `made[k]`, weighing edge against cost in ranking
        order (`numbers`: edge.entry_numbers' four a pick: the stop-first probability,
        `entry_edge`'s edge and cost, `clears_cost`; `words`: edge.edge_reason_formats of the
        margin); returns the row after the entry that used the step's budget, else the
        ranking's length (`max_entries_per_step` >= 1)."""
        clears_words, fails_words = words
        entries = 0
        # The picks' four numbers each; the rounding codes after them are not read here.
        fours = zip(*[iter(numbers)] * NUMBERS, strict=False)
        for (k, coin, quote), (_, edge, cost, clears) in zip(picks, fours, strict=False):
            reason = (clears_words if clears else fails_words) % (edge / BPS, cost / BPS)
            if not clears:
                # Not remembered: an edge's words rarely come again (a new number a minute),
                # and a lookup that misses costs more than the new action.
                made[k] = hold_action(coin.symbol, reason)
                continue
            entries += 1
            made[k] = PolicyAction(
                coin.symbol, Action.BUY, limit_price=quote.bid,
                stop_price=quote.bid * (1 - self.stop_return_pct / 100),
                # The forecast's calibrated confidence when one is served, else the score.
                confidence=(coin.forecast_confidence if coin.forecast_confidence is not None
                            else coin.score),
                reason=f"rank score {coin.score:.2f} >= {self.min_score:.2f}; " + reason)
            if entries >= self.max_entries_per_step:
                return k + 1
        return len(made)

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
