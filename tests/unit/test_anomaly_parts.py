"""Anomaly building blocks: live inputs equal the training inputs, z-scores, thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.market import MINUTE_MS, Bar, Tick
from risk.anomaly_features import (
    INPUT_FEATURES,
    Z_CLIP,
    EwmStandardizer,
    bar_features,
    market_vectors,
    select_inputs,
)
from risk.anomaly_threshold import find_threshold, percentile_threshold, pot_threshold
from strategies.features import FeatureBook
from strategies.features_batch import MinuteGrid, features_from_history

START = 1_700_000_000_000 - 1_700_000_000_000 % MINUTE_MS


def test_live_inputs_equal_history_inputs_even_with_ticks_in_between() -> None:
    # given 2 coins' bars (one with gaps) and ticks arriving after each minute closes
    rng = np.random.default_rng(0)
    minutes, symbols = 300, ("AUSDT", "BUSDT")
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.003, (minutes, 2)), axis=0))
    traded = rng.random((minutes, 2)) > np.array([0.0, 0.3])
    grid = MinuteGrid(symbols, START, np.where(traded, close, np.nan),
                      np.where(traded, close * 1.001, np.nan), np.where(traded, close * 0.999, np.nan),
                      np.where(traded, close, np.nan), np.where(traded, 5.0 * close, np.nan))
    history = select_inputs(features_from_history(grid))
    book = FeatureBook(symbols)
    for t in range(minutes):
        open_ms = START + t * MINUTE_MS
        book.on_bars([Bar(s, open_ms, close[t, i], close[t, i] * 1.001, close[t, i] * 0.999,
                          close[t, i], 5.0, 5.0 * close[t, i]) for i, s in enumerate(symbols)
                      if traded[t, i]])
        book.advance_to(open_ms)
        # when the detector reads the book (a tick of the next minute already arrived)
        live = select_inputs(bar_features(book.primitives()))
        # then it sees exactly the training numbers
        np.testing.assert_allclose(live, history[t], rtol=1e-9, atol=1e-12, equal_nan=True)
        book.on_tick(Tick(symbols[0], open_ms + MINUTE_MS + 5, open_ms + MINUTE_MS + 5,
                          close[t, 0] * 1.05, close[t, 0] * 1.049, close[t, 0] * 1.051,
                          1.0, 2.0, 0.0, 0.0))


def test_inputs_leave_out_tick_and_constant_features() -> None:
    assert "spread_bps" not in INPUT_FEATURES and "px_ma_1m" not in INPUT_FEATURES
    assert "sigma_1h" in INPUT_FEATURES and len(INPUT_FEATURES) == 36


def test_a_jump_after_a_calm_stretch_scores_high_and_clips() -> None:
    standardizer = EwmStandardizer(1, np.array([1e-3]), halflife_minutes=60)
    rng = np.random.default_rng(1)
    calm = [standardizer.update(np.array([[v]]))[0, 0] for v in rng.normal(0, 0.01, 500)]
    assert abs(np.mean(calm[50:])) < 0.5 and 0.5 < np.std(calm[50:]) < 1.5
    assert standardizer.update(np.array([[0.05]]))[0, 0] > 3  # 5 sigma
    assert standardizer.update(np.array([[10.0]]))[0, 0] == Z_CLIP


def test_a_coin_without_data_scores_zero_and_keeps_its_statistics() -> None:
    standardizer = EwmStandardizer(2, np.array([0.1]), halflife_minutes=10)
    for value in (1.0, 2.0, 3.0):
        standardizer.update(np.array([[value], [np.nan]]))
    before = standardizer.state
    z = standardizer.update(np.array([[np.nan], [np.nan]]))
    assert (z == 0).all()
    assert np.array_equal(standardizer.state.mean, before.mean)
    assert standardizer.state.count.tolist() == [3, 0]


def test_market_vector_needs_two_warm_coins_and_scales_the_mean_by_sqrt_n() -> None:
    z = np.ones((3, 4, 2))
    warm = np.array([[True, False, False, False], [True, True, False, False], [True] * 4])
    vectors = market_vectors(z, warm)
    assert np.isnan(vectors[0]).all()
    assert vectors[1].tolist() == pytest.approx([math.sqrt(2)] * 2 + [0, 0])
    assert vectors[2].tolist() == pytest.approx([2.0, 2.0, 0, 0])


def test_peaks_over_threshold_finds_an_exponential_tail_quantile() -> None:
    # given exponential scores: the true 1 - 1e-4 quantile is ln(1e4) = 9.21, beyond most
    # of the 20,000 samples' top
    scores = np.random.default_rng(2).exponential(1.0, 20_000)
    evt = pot_threshold(scores, 1e-4)
    assert evt.method == "evt" and "xi=" in evt.detail
    assert evt.value == pytest.approx(math.log(1e4), rel=0.15)
    assert percentile_threshold(scores, 0.01).value == pytest.approx(math.log(100), rel=0.05)


def test_evt_falls_back_to_the_percentile_and_says_why() -> None:
    scores = np.random.default_rng(3).normal(size=120)
    threshold = pot_threshold(scores, 0.01)  # a 10 % tail of 120 rows: 12 exceedances
    assert threshold.method == "percentile" and "only 12 exceedances" in threshold.detail
    with pytest.raises(ValueError, match="evt' or 'percentile"):
        find_threshold(scores, "magic", 0.01)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 100"):
        find_threshold(scores[:10], "evt", 0.01)
