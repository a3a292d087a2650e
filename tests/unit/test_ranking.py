"""Ranking: P(target before stop within the horizon), filters and deterministic order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot.config import StrategyConfig
from state.codec import canonical_json
from strategies.barrier import (
    log_normal_cdf,
    probability_up_first,
    probability_up_first_unbounded,
)
from strategies.features import FEATURE_INDEX, FEATURE_NAMES, features_from_history
from strategies.ranking import (
    RankedCoin,
    _reasons,
    _reasons_each,
    _reasons_with_json,
    rank,
    score_features,
)
from tests.unit.test_features_support import synthetic_histories

CONFIG = StrategyConfig(top_k=3, target_return_pct=1.0, stop_return_pct=1.0,
                        horizon_minutes=60, min_quote_volume_24h=1e5, max_spread_bps=20.0)


def coin(**overrides: float) -> np.ndarray:
    """One feature row of a liquid, warm, trendless coin (sigma 0.2%/min)."""
    row = np.zeros(len(FEATURE_NAMES))
    values = {"warm_minutes": 5000, "sigma_1h": 0.002, "sigma_1d": 0.002, "spread_bps": 5.0,
              "tick_turnover_24h": math.log1p(1e6), "turnover_1d": math.log1p(1e6)}
    values.update(overrides)
    for name, value in values.items():
        row[FEATURE_INDEX[name]] = value
    return row


def trending(ret_1h: float, sigma: float = 0.002) -> np.ndarray:
    z = ret_1h / (sigma * math.sqrt(60))
    return coin(ret_1h=ret_1h, trend_z_1h=z, sigma_1h=sigma, sigma_1d=sigma)


def test_normal_cdf_matches_math_erfc_and_stays_finite_in_the_tail() -> None:
    x = np.array([-30.0, -8.0, -2.0, -0.5, 0.0, 0.7, 3.0, 9.0])
    exact = np.array([math.log(0.5 * math.erfc(-v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(log_normal_cdf(x), exact, rtol=2e-7, atol=2e-7)


def test_zero_drift_symmetric_barriers_split_the_exits_evenly() -> None:
    for sigma, horizon in [(0.001, 30), (0.002, 60), (0.004, 600)]:
        up = probability_up_first(0.01, 0.01, 0.0, sigma, horizon)
        down = probability_up_first(0.01, 0.01, -0.0, sigma, horizon)
        exit_any = up + down
        assert up == pytest.approx(0.5 * exit_any, abs=1e-9)
        assert 0.0 < exit_any <= 1.0


def test_long_horizons_converge_to_the_gamblers_ruin_limit() -> None:
    for drift in (0.0, 2e-5, -3e-5):
        finite = probability_up_first(0.01, 0.02, drift, 0.001, 1e6)
        limit = probability_up_first_unbounded(0.01, 0.02, drift, 0.001)
        assert finite == pytest.approx(limit, abs=1e-6)


def test_series_agrees_with_a_monte_carlo_of_the_same_brownian_motion() -> None:
    rng = np.random.default_rng(7)
    paths, steps, horizon = 4000, 1500, 60.0
    drift, sigma, up, down = 2e-4, 2e-3, 0.01, 0.008
    dt = horizon / steps
    x = np.cumsum(drift * dt + sigma * math.sqrt(dt) * rng.standard_normal((paths, steps)), 1)
    hit_up = np.where((x >= up).any(1), (x >= up).argmax(1), steps)
    hit_down = np.where((x <= -down).any(1), (x <= -down).argmax(1), steps)
    simulated = np.mean(hit_up < np.minimum(hit_down, steps))
    assert probability_up_first(up, down, drift, sigma, horizon) == pytest.approx(simulated,
                                                                                abs=0.03)


def test_more_volatility_within_a_short_horizon_means_more_hits() -> None:
    low = probability_up_first(0.01, 0.01, 0.0, 0.0005, 30)
    high = probability_up_first(0.01, 0.01, 0.0, 0.003, 30)
    assert high > low
    assert rank(np.stack([coin(), trending(0.0, sigma=0.004)]), FEATURE_NAMES,
                ["CALM", "WILD"], CONFIG)[0].symbol == "WILD"


def test_strong_positive_momentum_scores_higher_than_none_or_negative() -> None:
    matrix = np.stack([coin(), trending(0.03), trending(-0.03)])
    ranked = rank(matrix, FEATURE_NAMES, ["FLAT", "UP", "DOWN"], CONFIG)
    assert [c.symbol for c in ranked] == ["UP", "FLAT", "DOWN"]
    assert ranked[0].drift > 0 > ranked[2].drift
    assert all(0.0 <= c.score <= 1.0 for c in ranked)


def test_illiquid_wide_spread_cold_and_unquoted_coins_are_dropped() -> None:
    matrix = np.stack([
        coin(),
        coin(tick_turnover_24h=math.log1p(1e3)),  # 24h volume below the minimum
        coin(spread_bps=50.0),
        coin(warm_minutes=100),
        coin(spread_bps=math.nan),  # no quotes yet
        np.full(len(FEATURE_NAMES), np.nan),
    ])
    symbols = ["OK", "THIN", "WIDE", "COLD", "NOQUOTE", "NODATA"]
    assert [c.symbol for c in rank(matrix, FEATURE_NAMES, symbols, CONFIG)] == ["OK"]
    backtest = rank(matrix, FEATURE_NAMES, symbols, CONFIG, require_quotes=False)
    assert [c.symbol for c in backtest] == ["NOQUOTE", "OK"]  # equal scores: by symbol


def test_bar_volume_stands_in_for_the_24h_volume_without_ticks() -> None:
    matrix = np.stack([coin(tick_turnover_24h=math.nan, turnover_1d=math.log1p(1e3))])
    assert rank(matrix, FEATURE_NAMES, ["THIN"], CONFIG, require_quotes=False) == []


def test_ties_are_broken_by_symbol_and_only_top_k_are_returned() -> None:
    matrix = np.stack([coin()] * 5)
    ranked = rank(matrix, FEATURE_NAMES, ["E", "B", "D", "A", "C"], CONFIG)
    assert [c.symbol for c in ranked] == ["A", "B", "C"]
    assert rank(matrix, FEATURE_NAMES, ["E", "B", "D", "A", "C"], CONFIG) == ranked


def test_reasons_name_the_three_strongest_momentum_windows_in_words() -> None:
    row = trending(0.02)
    row[FEATURE_INDEX["ret_1d"]] = -0.05
    row[FEATURE_INDEX["trend_z_1d"]] = -0.05 / (0.002 * math.sqrt(1440))
    (top,) = rank(np.stack([row]), FEATURE_NAMES, ["X"], CONFIG)
    assert isinstance(top, RankedCoin)
    assert len(top.reasons) == 3
    words, contribution = top.reasons[0]
    assert words == "1h momentum +2.02%"
    assert contribution > 0
    assert any(w.startswith("1d momentum -4.88%") for w, _ in top.reasons)


def test_vectorized_scores_over_history_equal_row_by_row_ranking() -> None:
    batch = features_from_history(synthetic_histories(seed=9, n_symbols=6, minutes=1700))
    config = StrategyConfig(top_k=6, min_quote_volume_24h=0.0, max_spread_bps=50.0)
    scores = score_features(batch, FEATURE_NAMES, config, require_quotes=False)
    assert scores.probability.shape == batch.shape[:2]
    symbols = [f"S{i}" for i in range(6)]
    for t in (1440, 1600, 1699):
        ranked = rank(batch[t], FEATURE_NAMES, symbols, config, require_quotes=False)
        assert ranked, "some coins are warm and liquid"
        for c in ranked:
            assert c.score == pytest.approx(scores.probability[t, symbols.index(c.symbol)],
                                            rel=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_reasons_of_all_top_coins_in_one_pass_are_each_coins_own(seed: int) -> None:
    # `rank` builds the reasons of its top coins in one pass; each must be the text and
    # numbers `_reasons` gives that coin alone: ties (window order), signed zeros, windows
    # absent at the bar length (NaN) or overflowed (inf), moves that round to -0.00
    rng = np.random.default_rng(seed)
    n = 400
    contributions = rng.normal(0, 1, (n, 4)) * 10.0 ** rng.integers(-6, 2, (n, 1))
    moves = rng.normal(0, 1, (n, 4)) * 10.0 ** rng.integers(-7, 0, (n, 1))
    contributions[:40] = rng.choice([0.0, -0.0, 1e-3, -1e-3, np.nan, np.inf, -np.inf],
                                    (40, 4))
    moves[40:60] = rng.choice([0.0, -0.0, -4e-5, 4e-5, 5e-5, -5e-5], (20, 4))
    got = _reasons_each(contributions, moves)
    assert len(got) == n
    for j in range(n):
        alone = _reasons(contributions[j].tolist(), moves[j].tolist())
        assert got[j] == alone and [str(v) for _, v in got[j]] == [str(v) for _, v in alone], j
    assert _reasons_each(np.empty((0, 4)), np.empty((0, 4))) == []


@pytest.mark.parametrize("seed", range(4))
def test_reasons_json_is_the_ledgers_canonical_json_of_the_words(seed: int) -> None:
    # the decisions table stores each ranked coin's words as the JSON text `rank` formatted
    # with them: it must be canonical_json's text of the list of words, whatever the
    # windows shown (three, fewer where some are NaN or inf, none), signs and NaN moves
    rng = np.random.default_rng(seed)
    n = 300
    contributions = rng.normal(0, 1, (n, 4)) * 10.0 ** rng.integers(-6, 2, (n, 1))
    moves = rng.normal(0, 1, (n, 4)) * 10.0 ** rng.integers(-7, 0, (n, 1))
    contributions[:60] = rng.choice([0.0, -0.0, 1e-3, np.nan, np.inf, -np.inf], (60, 4))
    moves[60:80] = rng.choice([0.0, -0.0, -5e-5, np.nan, np.inf], (20, 4))
    for j, (reasons, words_json) in enumerate(_reasons_with_json(contributions, moves)):
        assert reasons == _reasons(contributions[j].tolist(), moves[j].tolist()), j
        assert words_json == canonical_json([words for words, _ in reasons]), j


def test_ranked_coins_carry_their_reasons_as_canonical_json() -> None:
    rows = np.stack([trending(0.02), trending(0.01), coin()])
    ranked = rank(rows, FEATURE_NAMES, ["A", "B", "C"], CONFIG)
    assert [c.symbol for c in ranked] == ["A", "B", "C"]
    for top in ranked:
        assert top.reasons_json == canonical_json([words for words, _ in top.reasons])
    # the text does not take part in equality: a coin built without it is the same coin
    first = ranked[0]
    assert first == RankedCoin(first.symbol, first.score, first.drift, first.sigma,
                               first.reasons)
