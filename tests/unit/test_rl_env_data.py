"""Episode data for the RL env: replay CSVs and the generator on one grid, gaps, splits,
stacking seeds (domain randomization) and the extra-columns hook."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rl.env import BatchedEnv, EnvConfig
from rl.episodes import MarketData
from rl.spaces import OBS_FEATURES, STATE_FEATURES, feature_observation
from strategies.features import FEATURE_NAMES, features_from_history
from strategies.features_batch import MinuteGrid
from tests.replay_data import START_MS, write_random_walk_market

SHORT = EnvConfig(horizon_minutes=30, warmup_minutes=60)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> MarketData:
    return MarketData.from_csv_dir(write_random_walk_market(tmp_path_factory.mktemp("m")))


def test_csv_dir_loads_every_symbol_on_one_minute_grid(replayed: MarketData) -> None:
    assert len(replayed.symbols) == 6 and replayed.open_ms[0] == START_MS
    assert np.all(np.diff(replayed.open_ms) == 60_000)
    assert replayed.features.shape == (1_600, 6, len(FEATURE_NAMES))
    assert replayed.warmup_minutes == 800  # at most half the data, as the replay exchange


def test_missing_minute_is_a_flat_bar_without_volume(replayed: MarketData) -> None:
    gaps = np.flatnonzero(replayed.volume[:, 0] == 0)
    assert gaps.size == 3
    for t in gaps:
        assert replayed.open[t, 0] == replayed.high[t, 0] == replayed.close[t - 1, 0]
        assert replayed.low[t, 0] == replayed.close[t, 0] == replayed.close[t - 1, 0]


def test_features_are_the_live_batch_features_of_the_gapped_grid(replayed: MarketData) -> None:
    """Row t equals `features_from_history` on the grid with the gap left as NaN (the live
    rule for missing minutes), not on the flat-filled bars the fill model uses."""
    traded = replayed.volume > 0
    grid = MinuteGrid(symbols=replayed.symbols, start_ms=int(replayed.open_ms[0]),
                      open=np.where(traded, replayed.open, np.nan),
                      high=np.where(traded, replayed.high, np.nan),
                      low=np.where(traded, replayed.low, np.nan),
                      close=np.where(traded, replayed.close, np.nan),
                      quote_volume=np.where(traded, replayed.volume * (
                          replayed.open + replayed.high + replayed.low + replayed.close) / 4,
                          np.nan))
    np.testing.assert_allclose(features_from_history(grid), replayed.features, rtol=1e-9,
                               equal_nan=True)


def test_split_leaves_an_embargo_and_keeps_features_warm(replayed: MarketData) -> None:
    train, test = replayed.split(train_fraction=0.5, embargo_minutes=100)
    assert len(train) == 800 + 400 and len(test) == 1_600 - 1_200 - 100
    assert test.open_ms[0] - train.open_ms[-1] == 101 * 60_000
    assert test.warmup_minutes == 0
    np.testing.assert_array_equal(test.features, replayed.features[1_300:])
    # Features were warmed on the full history, so the test set is episode-able at once.
    env = BatchedEnv(test, 8, SHORT, seed=0)
    starts, _ = env.sample_starts(1_000, np.random.default_rng(0))
    assert starts.min() == 0 and starts.max() == len(test) - 1 - SHORT.horizon_minutes


def test_split_refuses_an_embargo_that_eats_the_test_set(replayed: MarketData) -> None:
    with pytest.raises(ValueError, match="embargo"):
        replayed.split(train_fraction=0.9, embargo_minutes=500)


def test_generated_market_records_regimes_and_stacks_seeds() -> None:
    parts = [MarketData.from_generator(seed, 3, 500, warmup_minutes=60) for seed in (1, 2)]
    assert parts[0].regime is not None and parts[0].regime.shape == (500,)
    both = MarketData.stack(parts)
    assert len(both.symbols) == 6 and len(set(both.symbols)) == 6
    np.testing.assert_array_equal(both.features[:, 3:], parts[1].features)
    env = BatchedEnv(both, 512, SHORT, seed=3)
    _, symbols = env.sample_starts(2_000, np.random.default_rng(1))
    assert set(symbols.tolist()) == set(range(6))  # episodes from both seeds' markets


def test_extra_columns_hook_appends_to_observations() -> None:
    data = MarketData.from_generator(4, 2, 400, warmup_minutes=60)
    score = np.arange(400 * 2, dtype=np.float64).reshape(400, 2)
    env = BatchedEnv(data.with_extra(score), 4, SHORT, seed=0)
    obs = env.reset(np.array([100, 101, 102, 103]), np.array([0, 1, 0, 1]))
    width = len(OBS_FEATURES)
    assert env.observation_size == width + 1 + len(STATE_FEATURES)
    np.testing.assert_array_equal(obs[:, width], score[[100, 101, 102, 103], [0, 1, 0, 1]])
    np.testing.assert_array_equal(obs[:, :width],
                                  feature_observation(data.features[[100, 101, 102, 103],
                                                                    [0, 1, 0, 1]]))


def test_observations_are_finite_and_bounded(replayed: MarketData) -> None:
    env = BatchedEnv(replayed, 256, SHORT, seed=0)
    obs = env.reset()
    for _ in range(40):
        obs, _, _, _ = env.step(np.random.default_rng(2).integers(0, env.n_actions, 256))
        assert np.isfinite(obs).all() and np.abs(obs[:, :len(OBS_FEATURES)]).max() <= 10


def test_real_recorded_market_runs(shared_data: Path) -> None:
    data = MarketData.from_csv_dir(shared_data / "ohlcv" / "freqtrade_bittrex_2017-11")
    env = BatchedEnv(data, 128, EnvConfig(), seed=0)
    env.reset()
    for _ in range(10):
        obs, reward, _, _ = env.step(np.full(128, 5))  # BUY+1
    assert np.isfinite(obs).all() and np.isfinite(reward).all()
