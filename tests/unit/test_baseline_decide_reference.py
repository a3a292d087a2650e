"""The baseline's decision step (strategies/baselines.BaselinePolicy.decide) gives, on any
view, the very actions of its plain per-coin form: the same actions in the same order, every
field equal, the reasons' texts character for character. The plain form below is the step as
it was written before its two-pass rewrite (one loop over the ranking, a reason function, an
f-string per text); random views exercise every branch: held, ordered and acted-on coins,
stale buys, the entry budget filling mid-ranking, off-cadence steps, missing, unusable and
crossed quotes, NaN scores, drifts and volatilities, negative zeros and margins down to -1."""

from __future__ import annotations

import math
import pickle
import random

import numpy as np

from model.market import MINUTE_MS
from strategies.baselines import BaselinePolicy
from strategies.edge import (
    BPS,
    barrier_edge,
    clears_cost,
    edge_reason,
    edge_reason_formats,
    quoted_spread,
    round_trip_total,
    stop_first_probability,
)
from strategies.policy import (
    Action,
    DecisionView,
    HoldActions,
    Holding,
    PolicyAction,
    Quote,
    RestingOrder,
    hold_action,
)
from strategies.ranking import RankedCoin


def _usable(price: float) -> bool:
    return math.isfinite(price) and price > 0


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


def reference_decide(policy: BaselinePolicy, view: DecisionView) -> list[PolicyAction]:
    """The plain per-coin form: each coin's quote, stop-first probability, edge and reason
    on its own (`stop_first_probability`, the scalar call), the texts as f-strings."""
    p = policy
    actions: list[PolicyAction] = []
    buys = {o.symbol: o for o in view.open_orders if o.side == "BUY"}
    sells = {o.symbol: o for o in view.open_orders if o.side == "SELL"}
    for order in buys.values():
        if (view.ts_ms - order.placed_ms) / 1000 >= p.cancel_buy_after_s:
            actions.append(PolicyAction(order.symbol, Action.CANCEL_BUY,
                                        client_order_id=order.client_order_id,
                                        reason=f"buy unfilled for {p.cancel_buy_after_s:.0f}s"))
    for symbol, holding in sorted(view.holdings.items()):
        if holding.amount > 0:
            actions.extend(p._manage(view, symbol, holding, sells.get(symbol)))
    acted = {a.symbol for a in actions}
    on_cadence = (view.ts_ms // MINUTE_MS) % p.entry_every_minutes == 0
    entries = 0
    for coin in view.ranking:
        symbol = coin.symbol
        busy = symbol in view.holdings or symbol in buys or symbol in acted
        full = entries >= p.max_entries_per_step
        quote = view.quotes.get(symbol)
        weighed = (not busy and on_cadence and not (coin.score < p.min_score or coin.drift <= 0)
                   and quote is not None and _usable(quote.bid))
        if not weighed or full:
            actions.append(hold_action(symbol, _hold_reason(
                busy, coin.score, p.min_score, full, coin.drift,
                None if on_cadence else p.entry_every_minutes)))
            continue
        assert quote is not None
        p_stop = stop_first_probability(coin.drift, coin.sigma, p.target_return_pct,
                                        p.stop_return_pct, p.horizon_minutes)
        edge = barrier_edge(coin.score, p_stop, p.target_return_pct, p.stop_return_pct)
        cost = round_trip_total(p.maker_fee_bps, p.taker_fee_bps,
                                quoted_spread(quote.bid, quote.ask), p.slippage_bps)
        if not clears_cost(edge, cost, p.edge_cost_margin):
            actions.append(hold_action(symbol, edge_reason(edge, cost, p.edge_cost_margin)))
            continue
        entries += 1
        actions.append(PolicyAction(
            symbol, Action.BUY, limit_price=quote.bid,
            stop_price=quote.bid * (1 - p.stop_return_pct / 100),
            confidence=(coin.forecast_confidence if coin.forecast_confidence is not None
                        else coin.score),
            reason=(f"rank score {coin.score:.2f} >= {p.min_score:.2f}; "
                    + edge_reason(edge, cost, p.edge_cost_margin))))
    return actions


SYMBOLS = tuple(f"C{k:02d}USDT" for k in range(14))


def _odd(rng: random.Random, usual: float) -> float:
    return rng.choice([usual, usual, usual, usual, math.nan, -0.0, 0.0, math.inf, -math.inf])


def random_view(rng: random.Random) -> DecisionView:
    ts_ms = rng.randrange(0, 600) * MINUTE_MS
    ranked = rng.sample(SYMBOLS, rng.randrange(0, len(SYMBOLS)))
    ranking = tuple(RankedCoin(
        symbol=s, score=_odd(rng, rng.uniform(0.0, 1.0)),
        drift=_odd(rng, rng.gauss(0.0, 3e-4)), sigma=_odd(rng, rng.uniform(1e-4, 5e-3)),
        reasons=(), forecast_confidence=rng.choice([None, rng.uniform(0.5, 1.0)]))
        for s in ranked)
    quotes: dict[str, Quote] = {}
    for s in SYMBOLS:
        if rng.random() < 0.15:
            continue  # no quote
        mid = rng.uniform(0.5, 200.0)
        half = mid * rng.choice([0.0, 1e-5, 2e-4, 3e-3, -1e-4])  # negative: crossed
        quotes[s] = Quote(last=mid, bid=_odd(rng, mid - half), ask=_odd(rng, mid + half))
    holdings = {s: Holding(amount=rng.choice([1.0, 0.0]), avg_price=rng.uniform(0.5, 200.0),
                           opened_ms=ts_ms - rng.randrange(0, 7200) * 1000)
                for s in rng.sample(SYMBOLS, rng.choice([0, 0, 0, 1, 2, 3]))}
    orders = tuple(RestingOrder(f"E-{k}", s, rng.choice(["BUY", "SELL"]), rng.uniform(0.5, 200.0),
                                1.0, ts_ms - rng.randrange(0, 3600) * 1000)
                   for k, s in enumerate(rng.sample(SYMBOLS, rng.choice([0, 0, 0, 1, 2]))))
    return DecisionView(ts_ms=ts_ms, symbols=SYMBOLS, features=np.zeros((len(SYMBOLS), 1)),
                        feature_names=("x",), ranking=ranking, quotes=quotes,
                        holdings=holdings, open_orders=orders, equity=10_000.0)


def random_policy(rng: random.Random) -> BaselinePolicy:
    return BaselinePolicy(
        min_score=rng.choice([0.2, 0.2, 0.35, 0.0, 0.999]),
        max_entries_per_step=rng.choice([3, 3, 1, 2, 0]),
        edge_cost_margin=rng.choice([0.5, 0.5, -1.0, 0.0, -0.0, 3.0, 1e-9]),
        entry_every_minutes=rng.choice([1, 1, 1, 5]),
        target_return_pct=rng.choice([1.0, 1.0, 2.5]),
        stop_return_pct=rng.choice([1.0, 1.0, 0.5]),
        maker_fee_bps=rng.choice([10.0, 0.0, 2.5]))


def _fields(action: PolicyAction) -> tuple[object, ...]:
    return (action.symbol, action.action, action.limit_price, action.stop_price,
            action.confidence, action.client_order_id, action.reason, action.exit)


def _same(a: object, b: object) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float)
                      and math.isnan(a) and math.isnan(b))


def test_the_baseline_decides_what_its_per_coin_form_decides_on_random_views() -> None:
    rng = random.Random(20261207)
    entered = budget_filled = 0
    for _ in range(1500):
        policy, view = random_policy(rng), random_view(rng)
        got, expected = policy.decide(view), reference_decide(policy, view)
        assert [a.symbol for a in got] == [a.symbol for a in expected]
        for g, e in zip(got, expected, strict=True):
            assert all(_same(x, y) for x, y in zip(_fields(g), _fields(e), strict=True)), (g, e)
        entered += any(a.action is Action.BUY for a in got)
        budget_filled += any(a.reason == "entry budget for this step used" for a in got)
    assert entered > 50 and budget_filled > 20  # the random views reach both branches


def test_a_repeated_decision_gives_equal_actions_from_the_remembered_holds() -> None:
    rng = random.Random(7)
    policy, view = BaselinePolicy(), random_view(rng)
    first, second = policy.decide(view), policy.decide(view)
    assert first == second == reference_decide(policy, view)


def test_a_setting_changed_between_steps_is_weighed_at_the_next() -> None:
    # what a step prepares of the settings (texts, the kernel's settings) is made again
    rng = random.Random(11)
    policy = BaselinePolicy()
    views = [random_view(rng) for _ in range(200)]
    for k, view in enumerate(views):
        if k % 7 == 3:
            policy.min_score = rng.choice([0.0, -0.0, 0.35, 0.2])
            policy.edge_cost_margin = rng.choice([0.5, -1.0, 0.0, -0.0, 3.0])
            policy.target_return_pct = rng.choice([1.0, 2.5, 0.3])
            policy.maker_fee_bps = rng.choice([10.0, 0.0])
            policy.entry_every_minutes = rng.choice([1, 3])
        assert policy.decide(view) == reference_decide(policy, view)


def test_a_policy_that_has_decided_still_pickles_and_decides_alike() -> None:
    # what it keeps between steps (remembered holds, prepared settings) is plain data
    rng = random.Random(5)
    policy, views = BaselinePolicy(), [random_view(rng) for _ in range(20)]
    for view in views:
        policy.decide(view)
    copy = pickle.loads(pickle.dumps(policy))
    assert copy == policy
    assert [copy.decide(v) for v in views] == [policy.decide(v) for v in views]


def test_a_hold_actions_cache_hands_out_the_hold_action_and_forgets_at_its_limit() -> None:
    holds = HoldActions(limit=2)
    made = holds["AUSDT", "no usable quote"]
    assert made == hold_action("AUSDT", "no usable quote") and type(made) is PolicyAction
    assert holds["AUSDT", "no usable quote"] is made  # remembered
    holds["BUSDT", "x"]
    assert len(holds) == 2
    holds["CUSDT", "y"]  # the limit reached: all forgotten, then this one kept
    assert len(holds) == 1 and ("CUSDT", "y") in holds


def test_the_fixed_margin_edge_words_are_edge_reason_character_for_character() -> None:
    rng = random.Random(3)
    values = [math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-5, -5e-5, 0.00445, 1e300]
    for margin in (0.5, -1.0, 0.0, -0.0, 3.0, 1e-9, 1e21, 2.5e-7):
        clears, fails = edge_reason_formats(margin)
        for _ in range(300):
            edge = rng.choice(values + [rng.gauss(0, 0.01)])
            cost = rng.choice(values + [rng.uniform(0, 0.01)])
            words = clears if clears_cost(edge, cost, margin) else fails
            assert words % (edge / BPS, cost / BPS) == edge_reason(edge, cost, margin)
