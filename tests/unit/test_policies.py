"""Transparent policies: what each does at a decision step, one rule per test."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.baselines import POLICIES, BaselinePolicy, BuyHoldPolicy
from strategies.policy import Action, DecisionView, Holding, Quote, RestingOrder
from strategies.ranking import RankedCoin
from strategies.sma_cross import SmaCrossPolicy

MIN = 60_000


def view(ts_ms: int = 100 * MIN, ranking=(), holdings=None, orders=(), quotes=None,
         symbols=("AAAUSDT", "BBBUSDT")) -> DecisionView:
    quotes = quotes or {s: Quote(last=100.0, bid=99.9, ask=100.1) for s in symbols}
    return DecisionView(ts_ms=ts_ms, symbols=tuple(symbols), features=np.zeros((len(symbols), 1)),
                        feature_names=("x",), ranking=tuple(ranking), quotes=quotes,
                        holdings=holdings or {}, open_orders=tuple(orders), equity=10_000.0)


def coin(symbol: str, score: float, drift: float = 1e-4) -> RankedCoin:
    return RankedCoin(symbol=symbol, score=score, drift=drift, sigma=0.001, reasons=())


def kinds(actions) -> list[tuple[str, Action]]:
    return [(a.symbol, a.action) for a in actions]


def test_baseline_buys_a_top_ranked_coin_at_the_bid_with_stop_and_confidence() -> None:
    # a score of 0.9 promises an edge (~88 bps) that clears the round trip (45 bps) x 1.5
    actions = BaselinePolicy().decide(view(ranking=[coin("AAAUSDT", 0.9)]))
    [buy] = [a for a in actions if a.action is Action.BUY]
    assert buy.limit_price == 99.9 and buy.confidence == 0.9
    assert buy.stop_price == pytest.approx(99.9 * 0.99)


def test_baseline_holds_a_coin_whose_score_is_below_the_threshold() -> None:
    actions = BaselinePolicy(min_score=0.5).decide(view(ranking=[coin("AAAUSDT", 0.4)]))
    assert kinds(actions) == [("AAAUSDT", Action.HOLD)] and "0.40 < 0.50" in actions[0].reason


def test_baseline_holds_a_coin_without_a_positive_drift() -> None:
    actions = BaselinePolicy().decide(view(ranking=[coin("AAAUSDT", 0.6, drift=-1e-5)]))
    assert kinds(actions) == [("AAAUSDT", Action.HOLD)] and "drift" in actions[0].reason


def test_baseline_places_a_take_profit_sell_for_a_new_position() -> None:
    held = {"AAAUSDT": Holding(amount=1.0, avg_price=100.0, opened_ms=99 * MIN)}
    [sell] = BaselinePolicy(target_return_pct=1.0).decide(view(holdings=held))
    assert sell.action is Action.SELL and sell.exit and sell.limit_price == pytest.approx(101.0)


def test_baseline_cancels_the_take_profit_then_sells_at_the_bid_when_the_stop_is_hit() -> None:
    held = {"AAAUSDT": Holding(amount=1.0, avg_price=100.0, opened_ms=99 * MIN)}
    low = {"AAAUSDT": Quote(last=98.0, bid=98.0, ask=98.1), "BBBUSDT": Quote(100, 99.9, 100.1)}
    resting = RestingOrder("E-1", "AAAUSDT", "SELL", 101.0, 1.0, 99 * MIN)
    first = BaselinePolicy().decide(view(holdings=held, orders=[resting], quotes=low))
    assert kinds(first) == [("AAAUSDT", Action.CANCEL_SELL)]
    second = BaselinePolicy().decide(view(holdings=held, quotes=low))
    assert kinds(second) == [("AAAUSDT", Action.SELL)]
    assert second[0].limit_price == pytest.approx(98.0 * 0.995)  # marketable: takes the bid


def test_baseline_cancels_a_buy_that_rested_too_long() -> None:
    stale = RestingOrder("E-2", "BBBUSDT", "BUY", 99.0, 1.0, 100 * MIN - 301_000)
    actions = BaselinePolicy(cancel_buy_after_s=300).decide(view(orders=[stale]))
    assert ("BBBUSDT", Action.CANCEL_BUY) in kinds(actions)
    assert next(a for a in actions if a.action is Action.CANCEL_BUY).client_order_id == "E-2"


def test_baseline_reprices_a_sell_resting_past_its_limit() -> None:
    held = {"AAAUSDT": Holding(amount=1.0, avg_price=100.0, opened_ms=0)}
    old = RestingOrder("E-3", "AAAUSDT", "SELL", 101.0, 1.0, 100 * MIN - 1_801_000)
    actions = BaselinePolicy(reprice_sell_after_s=1800).decide(view(holdings=held, orders=[old]))
    assert kinds(actions) == [("AAAUSDT", Action.CANCEL_SELL)]


def test_buy_and_hold_buys_each_symbol_once_at_the_ask() -> None:
    first = BuyHoldPolicy().decide(view())
    assert kinds(first) == [("AAAUSDT", Action.BUY), ("BBBUSDT", Action.BUY)]
    assert all(a.limit_price == pytest.approx(100.1 * 1.005) for a in first)  # takes the ask
    held = {s: Holding(1.0, 100.0, 0) for s in ("AAAUSDT", "BBBUSDT")}
    assert BuyHoldPolicy().decide(view(holdings=held)) == []


def test_sma_cross_buys_on_an_upward_cross_and_sells_on_a_downward_cross() -> None:
    policy = SmaCrossPolicy(fast=2, slow=4)
    prices = [10, 9, 8, 7, 6, 8, 10, 12, 9, 6, 3]
    seen = []
    held: dict[str, Holding] = {}
    for i, price in enumerate(prices):
        q = {"AAAUSDT": Quote(price, price - 0.1, price + 0.1)}
        for action in policy.decide(view(ts_ms=i * MIN, symbols=("AAAUSDT",), quotes=q, holdings=held)):
            seen.append((i, action.action))
            held = {"AAAUSDT": Holding(1.0, price, i * MIN)} if action.action is Action.BUY else {}
    # SMA2 > SMA4 first at i=6 (9 > 7.75); below again at i=9 (7.5 < 9.25)
    assert seen == [(6, Action.BUY), (9, Action.SELL)]


def test_policies_are_created_by_name_and_unknown_names_list_the_choices() -> None:
    assert POLICIES.create("baseline").name == "baseline"
    with pytest.raises(ValueError, match="baseline, buyhold, sma"):
        POLICIES.create("nope")


def test_sma_cross_cancels_a_working_order_when_the_signal_flips() -> None:
    policy = SmaCrossPolicy(fast=2, slow=4)
    for i, price in enumerate([10, 9, 8, 7, 6, 8]):
        policy.decide(view(ts_ms=i * MIN, symbols=("AAAUSDT",),
                           quotes={"AAAUSDT": Quote(price, price - 0.1, price + 0.1)}))
    working = RestingOrder("E-9", "AAAUSDT", "SELL", 5.0, 1.0, 0)
    actions = policy.decide(view(ts_ms=6 * MIN, symbols=("AAAUSDT",), orders=[working],
                                 quotes={"AAAUSDT": Quote(10, 9.9, 10.1)}))
    assert kinds(actions) == [("AAAUSDT", Action.CANCEL_SELL)]
