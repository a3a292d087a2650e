"""Cost-aware entries (strategies/edge.py): a rule-based policy buys only when the entry's
expected edge beats the round trip's cost (fees, the quoted spread, a slippage allowance) by
`edge_cost_margin`, in the engine's baseline, its fast twin and the forecast top-k alike."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.baselines import BaselinePolicy
from strategies.edge import (
    SLIPPAGE_ALLOWANCE_BPS,
    EntryGate,
    barrier_edge,
    quoted_spread,
    round_trip_cost,
    round_trip_total,
    stop_first_probability,
)
from strategies.features_batch import MinuteGrid
from strategies.policy import Action, DecisionView, Holding, PolicyAction, Quote
from strategies.ranking import RankedCoin, barrier_probability
from trading.fast_baseline import BaselineBatch
from trading.fast_policies import BatchView, StepQuotes
from trading.topk_batch import TopKBatch

MIN = 60_000
DAY = 86_400_000
NARROW, WIDE = ("AAAUSDT", "BBBUSDT")  # quoted 1 bps and 40 bps wide around 100


def quotes(narrow_bps: float = 1.0, wide_bps: float = 40.0) -> dict[str, Quote]:
    def around_100(bps: float) -> Quote:
        return Quote(last=100.0, bid=100.0 * (1 - bps / 2e4), ask=100.0 * (1 + bps / 2e4))
    return {NARROW: around_100(narrow_bps), WIDE: around_100(wide_bps)}


def view(ranking: list[RankedCoin], ts_ms: int = 100 * MIN,
         holdings: dict[str, Holding] | None = None) -> DecisionView:
    return DecisionView(ts_ms=ts_ms, symbols=(NARROW, WIDE), features=np.zeros((2, 1)),
                        feature_names=("x",), ranking=tuple(ranking), quotes=quotes(),
                        holdings=holdings or {}, open_orders=(), equity=10_000.0)


def coin(symbol: str, score: float = 0.6, drift: float = 1e-4) -> RankedCoin:
    return RankedCoin(symbol=symbol, score=score, drift=drift, sigma=0.001, reasons=())


def by_symbol(actions: list[PolicyAction]) -> dict[str, PolicyAction]:
    return {a.symbol: a for a in actions}


# --- the arithmetic ---------------------------------------------------------------------

def test_a_round_trip_costs_both_fees_the_spread_and_the_slippage_allowance() -> None:
    cost = round_trip_cost(entry_fee_bps=10.0, exit_fee_bps=7.5, spread=0.0033)
    assert cost.spread_bps == pytest.approx(33.0)
    assert cost.total == pytest.approx((10.0 + 7.5 + 33.0 + SLIPPAGE_ALLOWANCE_BPS) * 1e-4)


def test_one_quotes_round_trip_total_is_the_cost_parts_total_bit_for_bit() -> None:
    # the baseline weighs each candidate with `round_trip_total` (no parts object): its
    # number must be the parts' total exactly, or an entry on the edge could flip
    rng = np.random.default_rng(5)
    for fees, spread, slippage in zip(rng.uniform(0, 30, (500, 2)).tolist(),
                                      rng.uniform(0, 0.01, 500).tolist(),
                                      rng.uniform(0, 10, 500).tolist(), strict=True):
        parts = round_trip_cost(fees[0], fees[1], spread, slippage)
        assert round_trip_total(fees[0], fees[1], spread, slippage).hex() == \
            float(parts.total).hex()
    assert round_trip_total(10.0, 10.0, 0.0) == round_trip_cost(10.0, 10.0, 0.0).total


def test_the_spread_is_the_quotes_relative_width_and_nothing_when_a_side_is_unknown() -> None:
    assert quoted_spread(99.0, 101.0) == pytest.approx(0.02)
    assert quoted_spread(float("nan"), 101.0) == 0.0
    assert quoted_spread(101.0, 99.0) == 0.0  # crossed: no spread to charge


def test_the_stop_first_is_the_target_first_of_the_mirrored_coin() -> None:
    # P(stop first) of a coin = P(target first) of the coin with its drift negated and its
    # barriers swapped: the target now as far up as the stop was down, and vice versa
    class Mirrored:  # the ranking's settings that the barriers read
        top_k, min_quote_volume_24h, max_spread_bps = 1, 0.0, 50.0
        target_return_pct = 100 * (1 / (1 - 2.0 / 100) - 1)  # log distance of a 2 % stop
        stop_return_pct = 100 * (1 - 1 / (1 + 1.0 / 100))  # log distance of a 1 % target
        horizon_minutes = 60

    drift, sigma = 5e-5, 0.002
    mirrored = float(barrier_probability(np.array([-drift]), np.array([sigma]),
                                         np.ones(1, bool), Mirrored())[0])
    p_stop = stop_first_probability(drift, sigma, 1.0, 2.0, 60)
    assert p_stop == pytest.approx(mirrored, rel=1e-9)
    # an upward drift makes the stop less likely than without one
    assert p_stop < stop_first_probability(0.0, sigma, 1.0, 2.0, 60)


def test_the_edge_weighs_the_target_and_the_stop_by_their_chances() -> None:
    assert barrier_edge(0.5, 0.25, 2.0, 1.0) == pytest.approx(0.5 * 0.02 - 0.25 * 0.01)


# --- the engine's baseline --------------------------------------------------------------

def test_baseline_enters_the_coin_whose_edge_clears_its_cost_and_not_the_one_it_does_not() -> None:
    # given two coins with the same edge, one quoted 1 bps wide and one 40 bps wide
    actions = by_symbol(BaselinePolicy().decide(view([coin(NARROW), coin(WIDE)])))
    # then the narrow one is bought and says why, the wide one's spread eats its edge
    assert actions[NARROW].action is Action.BUY
    assert "> cost 26.0 bps x (1+0.5)" in actions[NARROW].reason
    assert actions[WIDE].action is Action.HOLD
    assert "<= cost 65.0 bps x (1+0.5)" in actions[WIDE].reason


def test_the_margin_widens_the_no_trade_band() -> None:
    ranking = [coin(NARROW, score=0.9), coin(WIDE, score=0.9)]  # edges ~88 bps
    with_no_margin = by_symbol(BaselinePolicy(edge_cost_margin=0.0).decide(view(ranking)))
    with_a_wide_margin = by_symbol(BaselinePolicy(edge_cost_margin=3.0).decide(view(ranking)))
    assert [with_no_margin[s].action for s in (NARROW, WIDE)] == [Action.BUY, Action.BUY]
    assert [with_a_wide_margin[s].action for s in (NARROW, WIDE)] == [Action.HOLD, Action.HOLD]


def test_higher_fees_raise_the_cost_an_entry_must_clear() -> None:
    edge, cheap = BaselinePolicy().entry_edge(coin(NARROW), quotes()[NARROW])
    _, dear = BaselinePolicy(maker_fee_bps=25.0, taker_fee_bps=25.0).entry_edge(
        coin(NARROW), quotes()[NARROW])
    assert dear == pytest.approx(cheap + 30e-4)
    assert edge > 0


def test_baseline_enters_only_at_its_cadence_and_manages_what_it_holds_every_step() -> None:
    policy = BaselinePolicy(entry_every_minutes=15, edge_cost_margin=0.0)
    held = {WIDE: Holding(amount=1.0, avg_price=100.0, opened_ms=90 * MIN)}
    off = by_symbol(policy.decide(view([coin(NARROW)], ts_ms=100 * MIN, holdings=held)))
    on = by_symbol(policy.decide(view([coin(NARROW)], ts_ms=105 * MIN, holdings=held)))
    assert off[NARROW].action is Action.HOLD and "every 15 minutes" in off[NARROW].reason
    assert off[WIDE].action is Action.SELL  # its take-profit, placed off the cadence too
    assert on[NARROW].action is Action.BUY


def test_baseline_refuses_a_negative_margin_or_a_cadence_below_a_minute() -> None:
    with pytest.raises(ValueError, match="margin >= -1"):
        BaselinePolicy(edge_cost_margin=-1.5)
    with pytest.raises(ValueError, match="minutes >= 1"):
        BaselineBatch(entry_every_minutes=0)


# --- the fast backtester's twin ---------------------------------------------------------

class NothingHeld:
    def held(self) -> np.ndarray:
        return np.zeros(2, bool)

    def open_orders(self) -> tuple[()]:
        return ()

    def open_slots(self) -> int:
        return 5

    def holdings(self) -> dict[str, Holding]:
        return {}


def rising_grid() -> MinuteGrid:
    """Two identical coins rising for more than a day of 1m bars (warm enough to rank)."""
    rows = 1600
    steps = np.random.default_rng(1).normal(0.0003, 0.0008, rows)
    close = np.repeat(100.0 * np.exp(np.cumsum(steps))[:, None], 2, axis=1)
    open_ = np.vstack([close[:1], close[:-1]])
    start = 1_600_000_000_000 - 1_600_000_000_000 % DAY
    return MinuteGrid(symbols=(NARROW, WIDE), start_ms=start, open=open_,
                      high=np.maximum(open_, close) * 1.0005,
                      low=np.minimum(open_, close) * 0.9995, close=close,
                      quote_volume=np.full(close.shape, 1e6))


def fast_decisions(batch: BaselineBatch) -> dict[str, PolicyAction]:
    """The batch's decisions at one step on the grid's last bar, quoted as `quotes()`."""
    grid = rising_grid()
    row = grid.close.shape[0] - 1
    ts_ms = grid.start_ms + (row + 1) * MIN
    book = quotes()
    last = np.array([book[s].last for s in grid.symbols])
    bid = np.array([[book[s].bid for s in grid.symbols]])
    ask = np.array([[book[s].ask for s in grid.symbols]])
    batch.prepare(grid, StepQuotes(rows=np.array([row]), ts_ms=np.array([ts_ms]),
                                   last=last[None, :], bid=bid, ask=ask))
    step = BatchView(0, ts_ms, grid.symbols, np.ones(2, bool), last, bid[0], ask[0],
                     NothingHeld())
    return by_symbol(batch.decide(step))


def test_fast_baseline_enters_the_coin_whose_edge_clears_its_cost_and_not_the_other() -> None:
    # given two coins with the same bars (so the same edge) quoted 1 bps and 40 bps wide
    actions = fast_decisions(BaselineBatch())
    assert actions[NARROW].action is Action.BUY
    assert "> cost 26.0 bps x (1+0.5)" in actions[NARROW].reason
    assert actions[WIDE].action is Action.HOLD
    assert "<= cost 65.0 bps x (1+0.5)" in actions[WIDE].reason


def test_fast_baseline_enters_nothing_when_the_margin_is_wider_than_the_edge() -> None:
    actions = fast_decisions(BaselineBatch(edge_cost_margin=5.0))
    assert {a.action for a in actions.values()} == {Action.HOLD}


def test_fast_baseline_decides_as_the_engine_policy_on_the_same_ranking_and_quotes() -> None:
    # the twin's ranked coins (its score, drift and sigma) through the engine's rule
    batch = BaselineBatch()
    fast = fast_decisions(batch)
    ranked = [RankedCoin(s, float(batch._score[0, i]), float(batch._drift[0, i]),
                         float(batch._sigma[0, i]), ()) for i, s in enumerate((NARROW, WIDE))]
    grid = rising_grid()
    engine = by_symbol(BaselinePolicy().decide(
        view(ranked, ts_ms=grid.start_ms + grid.close.shape[0] * MIN)))
    assert {s: (a.action, a.reason) for s, a in fast.items()} == {
        s: (a.action, a.reason) for s, a in engine.items()}


# --- forecast top-k ---------------------------------------------------------------------

def test_top_k_buys_only_members_whose_forecast_clears_the_cost_and_keeps_what_it_holds() -> None:
    grid = rising_grid()
    rows = np.array([10, 11])
    scores = np.full(grid.close.shape, np.nan)
    scores[rows] = [[0.02, 0.01], [0.02, 0.01]]  # both coins in the top 2 at both steps
    # the edge clears the cost for the first coin only
    gate = EntryGate(edge=np.array([[0.02, 0.001], [0.02, 0.001]]),
                     cost=np.full((2, 2), 0.005), margin=0.5)
    topk = TopKBatch(k=2, scores=scores, entry_gate=gate)
    last = np.full(2, 100.0)
    book = StepQuotes(rows=rows, ts_ms=grid.start_ms + (rows + 1) * MIN, last=np.full((2, 2), 100.0),
                      bid=np.full((2, 2), 99.9), ask=np.full((2, 2), 100.1))
    topk.prepare(grid, book)
    buys = by_symbol(topk.decide(BatchView(0, 0, grid.symbols, np.ones(2, bool), last,
                                           book.bid[0], book.ask[0], NothingHeld())))
    assert list(buys) == [NARROW] and "edge 200.0 bps > cost 50.0 bps" in buys[NARROW].reason

    class HoldsTheOther(NothingHeld):
        def held(self) -> np.ndarray:
            return np.array([False, True])

    later = topk.decide(BatchView(1, 0, grid.symbols, np.ones(2, bool), last, book.bid[1],
                                  book.ask[1], HoldsTheOther()))
    assert [a.action for a in later if a.symbol == WIDE] == []  # a held member is not sold
