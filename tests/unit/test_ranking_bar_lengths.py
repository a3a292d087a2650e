"""Ranking on features of longer bars: warm-up and windows stay in minutes, windows absent
at the bar length drop out of the drift, and sigma uses the volatilities the bars can give."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot.config import StrategyConfig
from model.market import MINUTE_MS
from model.timeframes import HOUR_MS
from strategies.feature_columns import FEATURE_INDEX, FEATURE_NAMES
from strategies.features_batch import BarGrid, features_from_history
from strategies.ranking import PERSISTENCE, rank, score_features

CONFIG = StrategyConfig(top_k=3, target_return_pct=1.0, stop_return_pct=1.0,
                        horizon_minutes=240, min_quote_volume_24h=1e4, max_spread_bps=20.0)
FOUR_HOURS_MS = 4 * HOUR_MS


def hourly_grid(days: int, seed: int = 5) -> BarGrid:
    """Three coins of hourly random walks, the third listed only for the last 10 hours."""
    rng = np.random.default_rng(seed)
    hours = 24 * days
    close = 50.0 * np.exp(np.cumsum(rng.standard_normal((hours, 3)) * 0.01, axis=0))
    close[:-10, 2] = np.nan
    volume = np.where(np.isnan(close), np.nan, 1e5)
    return BarGrid(symbols=("A", "B", "C"), start_ms=1_704_067_200_000, open=close.copy(),
                   high=close * 1.005, low=close * 0.995, close=close, quote_volume=volume,
                   bar_ms=HOUR_MS)


def test_ranking_on_an_hourly_grid_scores_every_warm_coin() -> None:
    features = features_from_history(hourly_grid(days=3))
    scores = score_features(features, FEATURE_NAMES, CONFIG, require_quotes=False,
                            bar_ms=HOUR_MS)
    last = -1
    # A and B hold three days (>= the day of warm-up); C only 10 hours.
    assert np.isfinite(scores.probability[last, :2]).all()
    assert scores.eligible[last].tolist() == [True, True, False]
    # sigma is the daily one: one hourly return per hour gives no hourly volatility
    np.testing.assert_array_equal(scores.sigma[last],
                                  features[last, :, FEATURE_INDEX["sigma_1d"]])
    # read as 1m bars the same features have no sigma at all, so nothing would be eligible
    as_minutes = score_features(features, FEATURE_NAMES, CONFIG, require_quotes=False)
    assert not as_minutes.eligible[last].any()


def row_of(**values: float) -> np.ndarray:
    """One coin's feature row: NaN except what is given (as on a grid of long bars)."""
    row = np.full(len(FEATURE_NAMES), np.nan)
    for name, value in values.items():
        row[FEATURE_INDEX[name]] = value
    return row[None, :]


def test_on_4h_bars_the_drift_averages_the_12h_and_1d_windows_only() -> None:
    sigma_1d = 0.001
    ret_12h, ret_1d = 0.02, 0.03
    z_12h, z_1d = ret_12h / (sigma_1d * math.sqrt(720)), ret_1d / (sigma_1d * math.sqrt(1440))
    features = row_of(ret_12h=ret_12h, ret_1d=ret_1d, trend_z_12h=z_12h, trend_z_1d=z_1d,
                      sigma_1d=sigma_1d, warm_minutes=10 * 1440,
                      turnover_1d=math.log1p(1e6))
    scores = score_features(features, FEATURE_NAMES, CONFIG, require_quotes=False,
                            bar_ms=FOUR_HOURS_MS)

    def shrunk(z: float) -> float:
        return z * z / (1 + z * z)

    expected = PERSISTENCE * (shrunk(z_12h) * ret_12h / 720 + shrunk(z_1d) * ret_1d / 1440) / 2
    assert scores.drift[0] == pytest.approx(expected, rel=1e-12)
    assert scores.sigma[0] == sigma_1d
    assert scores.eligible[0] and np.isfinite(scores.probability[0])
    assert np.isnan(scores.contributions[0, :2]).all()  # 1h and 6h are absent


def test_a_young_coins_return_spans_its_bars_less_the_first() -> None:
    # Three hourly bars seen = 180 minutes, two returns = 120 minutes behind ret_1d.
    features = row_of(ret_1h=0.0, ret_6h=0.0, ret_12h=0.0, ret_1d=0.012, trend_z_1h=0.0,
                      trend_z_6h=0.0, trend_z_12h=0.0, trend_z_1d=1.0, sigma_1d=0.001,
                      warm_minutes=180, turnover_1d=math.log1p(1e6))
    scores = score_features(features, FEATURE_NAMES, CONFIG, require_quotes=False,
                            min_warm_minutes=180, bar_ms=HOUR_MS)
    assert scores.drift[0] == pytest.approx(PERSISTENCE * 0.5 * 0.012 / 120 / 4)


def test_on_5m_bars_sigma_still_blends_the_hour_and_the_day() -> None:
    features = row_of(ret_1h=0.0, ret_6h=0.0, ret_12h=0.0, ret_1d=0.0, trend_z_1h=0.0,
                      trend_z_6h=0.0, trend_z_12h=0.0, trend_z_1d=0.0, sigma_1h=0.003,
                      sigma_1d=0.001, warm_minutes=2000, turnover_1d=math.log1p(1e6))
    scores = score_features(features, FEATURE_NAMES, CONFIG, require_quotes=False,
                            bar_ms=5 * MINUTE_MS)
    assert scores.sigma[0] == pytest.approx(math.sqrt((0.003**2 + 0.001**2) / 2))


def test_reasons_on_4h_bars_name_only_windows_that_exist() -> None:
    features = row_of(ret_12h=0.02, ret_1d=0.03, trend_z_12h=2.0, trend_z_1d=2.0,
                      sigma_1d=0.001, warm_minutes=10 * 1440, turnover_1d=math.log1p(1e6))
    ranked = rank(features, FEATURE_NAMES, ("A",), CONFIG, require_quotes=False,
                  bar_ms=FOUR_HOURS_MS)
    # 0.02 over 720 minutes is a larger drift than 0.03 over 1440
    assert [words.split()[0] for words, _ in ranked[0].reasons] == ["12h", "1d"]
