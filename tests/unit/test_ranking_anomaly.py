"""Ranking with anomaly scores: a coin the detector cannot explain loses its upward edge,
never gains rank for it, and says so in its reasons; no scores = no change."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.config import StrategyConfig
from strategies.barrier import probability_up_first
from strategies.features import FEATURE_NAMES
from strategies.ranking import rank, score_features
from tests.unit.test_ranking import CONFIG, coin, trending

SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE"]
WIDE = StrategyConfig(top_k=5, target_return_pct=1.0, stop_return_pct=1.0,
                      horizon_minutes=60, min_quote_volume_24h=1e5, max_spread_bps=20.0)


def _market(moves: list[float], sigmas: list[float]) -> np.ndarray:
    return np.stack([trending(m, sigma=s) for m, s in zip(moves, sigmas)])


def _position(ranked: list, symbol: str) -> int:
    """Index in the ranking; len(SYMBOLS) when it is not ranked (worst)."""
    names = [c.symbol for c in ranked]
    return names.index(symbol) if symbol in names else len(SYMBOLS)


def test_without_scores_or_with_only_nan_scores_the_ranking_is_unchanged() -> None:
    matrix = _market([0.03, -0.02, 0.0, 0.01, 0.05], [0.002, 0.003, 0.002, 0.001, 0.004])
    plain = rank(matrix, FEATURE_NAMES, SYMBOLS, WIDE)
    assert rank(matrix, FEATURE_NAMES, SYMBOLS, WIDE, anomaly=None) == plain
    assert rank(matrix, FEATURE_NAMES, SYMBOLS, WIDE, anomaly=np.full(5, np.nan)) == plain
    assert all(c.anomaly_score is None for c in plain)


def test_at_the_threshold_a_rising_coin_scores_the_zero_drift_prior() -> None:
    # given a coin rising 3% in the hour, and a flat twin
    matrix = np.stack([trending(0.03), coin()])
    # when the rising coin's anomaly score reaches the alarm threshold
    shrunk = score_features(matrix, FEATURE_NAMES, CONFIG, anomaly=np.array([1.0, np.nan]))
    plain = score_features(matrix, FEATURE_NAMES, CONFIG)
    # then its probability is the no-information prior (drift 0, same volatility)
    prior = probability_up_first(math.log1p(0.01), -math.log1p(-0.01), 0.0, 0.002, 60)
    assert plain.probability[0] > prior
    assert shrunk.probability[0] == pytest.approx(prior, rel=1e-9)
    assert shrunk.probability[1] == plain.probability[1]  # NaN score: untouched
    # and half-way to the threshold half of its drift is gone
    half = score_features(matrix, FEATURE_NAMES, CONFIG, anomaly=np.array([0.5, np.nan]))
    assert half.drift[0] == pytest.approx(plain.drift[0] / 2)
    assert prior < half.probability[0] < plain.probability[0]


def test_a_falling_coin_is_never_lifted_toward_the_prior() -> None:
    matrix = np.stack([trending(-0.03)])
    plain = score_features(matrix, FEATURE_NAMES, CONFIG)
    for score in (0.3, 1.0, 7.0):
        shrunk = score_features(matrix, FEATURE_NAMES, CONFIG, anomaly=np.array([score]))
        assert shrunk.probability[0] == plain.probability[0]


def test_vectorized_over_a_history_the_scores_broadcast_per_row() -> None:
    history = np.stack([_market([0.03, 0.01, 0.0, -0.01, 0.02], [0.002] * 5)] * 3)  # [3, 5, F]
    anomaly = np.array([[np.nan] * 5, [0.5] * 5, [1.0] * 5])
    scores = score_features(history, FEATURE_NAMES, WIDE, anomaly=anomaly)
    assert np.all(np.diff(scores.probability[:, 0]) < 0)  # more anomalous rows, lower P
    assert scores.anomaly_shrink is not None and scores.anomaly_shrink[0, 0] == 0.0


def test_reasons_name_the_anomaly_score_and_what_it_cut() -> None:
    matrix = np.stack([trending(0.03), trending(-0.02)])
    ranked = rank(matrix, FEATURE_NAMES, ["UP", "DOWN"], CONFIG, anomaly=np.array([0.4, 2.5]))
    by_symbol = {c.symbol: c for c in ranked}
    words, removed = by_symbol["UP"].reasons[-1]
    assert words.startswith("anomaly 0.40x threshold: upward drift cut 40%")
    assert removed < 0 and by_symbol["UP"].anomaly_score == pytest.approx(0.4)
    assert by_symbol["DOWN"].reasons[-1] == ("anomaly 2.50x threshold: no upward drift to cut",
                                             0.0)
    assert len(by_symbol["UP"].reasons) == 4  # the three momentum windows are kept


def test_scores_of_the_wrong_length_are_refused() -> None:
    matrix = np.stack([coin(), coin()])
    with pytest.raises(ValueError, match="anomaly scores"):
        rank(matrix, FEATURE_NAMES, ["A", "B"], CONFIG, anomaly=np.array([0.1]))


_moves = st.lists(st.floats(-0.05, 0.05), min_size=5, max_size=5)
_sigmas = st.lists(st.floats(0.0005, 0.006), min_size=5, max_size=5)
_scores = st.lists(st.one_of(st.just(math.nan), st.floats(0.0, 3.0)), min_size=5, max_size=5)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(_moves, _sigmas, _scores, st.integers(0, 4), st.floats(0.0, 2.0))
@example(moves=[0.0, 0.0, 0.03125, 0.0, 0.0],  # the cut drift sets the batch's image count
         sigmas=[0.001953125, 0.001953125, 0.0031924049820169858, 0.001953125, 0.001953125],
         scores=[math.nan] * 5, who=2, extra=1.0)
def test_a_higher_anomaly_score_never_raises_a_coins_rank(
        moves: list[float], sigmas: list[float], scores: list[float], who: int,
        extra: float) -> None:
    matrix = _market(moves, sigmas)
    before = np.asarray(scores)
    after = before.copy()
    after[who] = (0.0 if math.isnan(before[who]) else before[who]) + extra
    config = StrategyConfig(top_k=3, target_return_pct=1.0, stop_return_pct=1.0,
                            horizon_minutes=60, min_quote_volume_24h=1e5, max_spread_bps=20.0)
    ranked_before = rank(matrix, FEATURE_NAMES, SYMBOLS, config, anomaly=before)
    ranked_after = rank(matrix, FEATURE_NAMES, SYMBOLS, config, anomaly=after)
    assert _position(ranked_after, SYMBOLS[who]) >= _position(ranked_before, SYMBOLS[who])
    p_before = score_features(matrix, FEATURE_NAMES, config, anomaly=before).probability
    p_after = score_features(matrix, FEATURE_NAMES, config, anomaly=after).probability
    # Up to the barrier series' rounding: at a drift of ~1e-8 shrunk to zero, the zero-drift
    # prior can come out a few ulps above the tiny-drift value (hypothesis found 5e-18).
    assert p_after[who] <= p_before[who] + 1e-15
    # The others' probabilities stay, up to the series' last bits: the number of image terms
    # is chosen for the whole batch (strategies/barrier.py: enough for its largest drift),
    # so cutting one coin's drift can change the others' sums by an ulp (hypothesis found
    # 0.4646884364767385 -> ...386 when coin 2's drift of 0.03125 was cut).
    others = np.arange(5) != who
    np.testing.assert_allclose(p_after[others], p_before[others], rtol=1e-14, atol=0.0)
