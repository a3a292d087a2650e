"""Regime rule: bull / bear / sideways against the random-walk scale sigma * sqrt(window)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.market import MINUTE_MS
from strategies.features import FEATURE_INDEX, features_from_history
from strategies.regime import REGIME_K, regime, trend_z
from tests.unit.test_features_support import START_MS, history


def test_a_move_beyond_k_random_walk_deviations_is_bull_or_bear() -> None:
    sigma = np.array(0.001)
    window = 60.0
    scale = 0.001 * math.sqrt(window)
    z = trend_z(np.array([2 * scale, -2 * scale, 0.5 * scale]), sigma, window)
    np.testing.assert_allclose(z, [2.0, -2.0, 0.5])
    np.testing.assert_array_equal(regime(z), [1.0, -1.0, 0.0])


def test_the_threshold_itself_is_still_sideways() -> None:
    assert regime(np.array([REGIME_K]))[0] == 0.0
    assert regime(np.array([-REGIME_K]))[0] == 0.0


def test_no_volatility_means_sideways_and_nan_stays_nan() -> None:
    z = trend_z(np.array([0.0, np.nan]), np.array([0.0, 0.001]), 60.0)
    assert z[0] == 0.0 and np.isnan(z[1])
    assert regime(z)[0] == 0.0 and np.isnan(regime(z)[1])


@pytest.mark.parametrize("drift, expected", [(0.002, 1.0), (-0.002, -1.0)])
def test_a_steady_trend_with_noise_is_labelled_in_every_window(drift: float,
                                                               expected: float) -> None:
    rng = np.random.default_rng(0)
    minutes = 1500
    log_close = np.cumsum(drift + rng.standard_normal(minutes) * 0.001)
    h = history("X", START_MS + MINUTE_MS * np.arange(minutes), np.exp(log_close))
    row = features_from_history({"X": h})[-1, 0]
    for label in ("1h", "6h", "12h", "1d"):
        assert row[FEATURE_INDEX[f"regime_{label}"]] == expected


def test_noise_without_drift_is_mostly_sideways_over_a_day() -> None:
    rng = np.random.default_rng(1)
    minutes = 3000
    h = history("X", START_MS + MINUTE_MS * np.arange(minutes),
                np.exp(np.cumsum(rng.standard_normal(minutes) * 0.001)))
    labels = features_from_history({"X": h})[1440:, 0, FEATURE_INDEX["regime_1h"]]
    assert 0.5 < np.mean(labels == 0) < 0.85  # ~68% under a pure random walk
