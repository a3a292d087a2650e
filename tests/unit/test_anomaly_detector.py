"""Anomaly acceptance: a planted anomaly is caught; ordinary data is not flagged above the rate.

Synthetic market: independent geometric random walks with lognormal volume, the same
process for training and for the fresh test stretch (different seed), so "ordinary" is
well defined. Tiny networks (hidden 8, latent 3), a short half-life, two epochs.
The detector runs minute by minute through `AnomalyDetector.observe`, the daemon's path.
"""

from __future__ import annotations

import numpy as np
import pytest

from model import libm
from model.market import MINUTE_MS
from risk.anomaly import AnomalyBundle, AnomalyDetector, AnomalyModelError, train_bundle
from risk.anomaly_features import INPUT_FEATURES
from risk.anomaly_models import NetShape, TrainSettings
from strategies.features_batch import MinuteGrid, features_from_history

WARMUP = 1440  # the production default: every 1-day window is full before scoring
HALFLIFE = 240.0
SHAPE = NetShape(len(INPUT_FEATURES), hidden=8, latent=3)
SETTINGS = TrainSettings(epochs=2, batch_size=128, seed=3)
START_MS = 1_700_000_000_000 - 1_700_000_000_000 % MINUTE_MS


def synthetic_grid(seed: int, minutes: int, coins: int = 8,
                   plant: dict[int, tuple[int, float, float]] | None = None) -> MinuteGrid:
    """Random-walk bars; `plant` = {coin: (minute, price jump, volume multiple)}: a jump
    spread over 3 minutes with volume that many times the usual."""
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0, 0.002, (minutes, coins))
    volume = libm.exp(rng.normal(0.0, 0.3, (minutes, coins))) * 10.0
    for coin, (minute, jump, multiple) in (plant or {}).items():
        returns[minute:minute + 3, coin] += libm.log1p(jump) / 3
        volume[minute:minute + 3, coin] *= multiple
    close = 100.0 * libm.exp(np.cumsum(returns, axis=0))
    previous = np.vstack([close[:1], close[:-1]])
    spread = np.abs(rng.normal(0.0, 0.0005, (minutes, coins))) * close
    return MinuteGrid(
        symbols=tuple(f"C{i}USDT" for i in range(coins)), start_ms=START_MS, open=previous,
        high=np.maximum(previous, close) + spread, low=np.minimum(previous, close) - spread,
        close=close, quote_volume=volume * close)


@pytest.fixture(scope="module")
def bundle() -> AnomalyBundle:
    import torch

    torch.set_num_threads(1)  # module-scoped: the one_torch_thread fixture is per test
    grid = synthetic_grid(seed=1, minutes=3400)
    return train_bundle(features_from_history(grid), open_ms=grid.open_ms, symbols=grid.symbols,
                        halflife_minutes=HALFLIFE, warmup_minutes=WARMUP, shape=SHAPE,
                        settings=SETTINGS)


def run_detector(bundle: AnomalyBundle, grid: MinuteGrid, rate: float,
                 cooldown_minutes: float = 30.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(coin scores [T, n], blocked [T, n], market alarm [T]) minute by minute."""
    detector = AnomalyDetector(bundle, grid.symbols, rate=rate, market_rate=rate,
                               method="percentile", cooldown_minutes=cooldown_minutes)
    features = features_from_history(grid)
    scores, blocked, market = [], [], []
    for t, ts_ms in enumerate(grid.open_ms):
        reading = detector.observe(features[t], int(ts_ms) + MINUTE_MS)
        scores.append(reading.scores)
        blocked.append([s in reading.blocked for s in grid.symbols])
        market.append(reading.market_alarm)
    return np.asarray(scores), np.asarray(blocked), np.asarray(market)


@pytest.mark.slow
def test_a_planted_jump_with_a_volume_spike_is_caught_within_minutes(
        bundle: AnomalyBundle, one_torch_thread: None) -> None:
    # given a fresh stretch where coin 1 jumps 6 % in 3 minutes on 20x volume at minute 1700
    grid = synthetic_grid(seed=11, minutes=1900, plant={1: (1700, 0.06, 20.0)})
    # when the detector scores it minute by minute
    scores, blocked, _ = run_detector(bundle, grid, rate=0.001, cooldown_minutes=0)
    # then coin 1 is in alarm within the planted minutes, and its peak is far over the line
    assert blocked[1700:1704, 1].any()
    assert np.nanmax(scores[1700:1704, 1]) > 2.0
    # and the other coins are quiet then
    assert not np.delete(blocked[1700:1704], 1, axis=1).any()


def test_ordinary_data_is_not_flagged_above_the_chosen_rate(
        bundle: AnomalyBundle, one_torch_thread: None) -> None:
    # given fresh data from the training process, nothing planted
    grid = synthetic_grid(seed=12, minutes=3400)
    rate = 0.01
    # when scored with a threshold for 1 % of ordinary minutes (no cool-down)
    scores, blocked, _ = run_detector(bundle, grid, rate=rate, cooldown_minutes=0)
    warm = np.isfinite(scores)
    assert warm.sum() > 8 * 1900  # every coin warm after its warm-up
    realized = blocked[warm].mean()
    # then the alarm share stays at the chosen rate: <= 2x allows the sampling error of a
    # threshold fit on ~3,900 autocorrelated validation rows (measured: 1.0-1.3 % over three
    # training seeds with 8 coins; with 4 coins it ranged 0.6-1.6 %)
    assert realized <= 2 * rate, realized


def test_a_market_wide_jump_raises_the_market_alarm(bundle: AnomalyBundle,
                                                   one_torch_thread: None) -> None:
    # given every coin drops 5 % on 10x volume in the same 3 minutes
    plant = {coin: (1700, -0.05, 10.0) for coin in range(8)}
    grid = synthetic_grid(seed=13, minutes=1900, plant=plant)
    # when scored; then the market-wide alarm is up at the crash, and was down before it
    _, _, market = run_detector(bundle, grid, rate=0.001, cooldown_minutes=0)
    assert market[1700:1704].any()
    assert market[WARMUP + 1:1690].mean() < 0.02


def test_a_coin_stays_blocked_for_the_cooldown_after_its_alarm(
        bundle: AnomalyBundle, one_torch_thread: None) -> None:
    grid = synthetic_grid(seed=11, minutes=1900, plant={1: (1700, 0.06, 20.0)})
    _, blocked, _ = run_detector(bundle, grid, rate=0.001, cooldown_minutes=30)
    first = 1700 + int(np.argmax(blocked[1700:1704, 1]))
    assert blocked[first:first + 31, 1].all()


def test_a_saved_bundle_reloads_to_identical_scores(bundle: AnomalyBundle, tmp_path,
                                                    one_torch_thread: None) -> None:
    rows = np.random.default_rng(5).normal(0, 1.5, (500, len(INPUT_FEATURES)))
    market_rows = np.random.default_rng(6).normal(0, 1.5, (50, 2 * len(INPUT_FEATURES)))
    loaded = AnomalyBundle.load(bundle.save(tmp_path / "model.pt"))
    for kind in ("ae", "vae"):
        assert np.array_equal(loaded.networks["coin"][kind].score(rows),
                              bundle.networks["coin"][kind].score(rows))
        assert np.array_equal(loaded.networks["market"][kind].score(market_rows),
                              bundle.networks["market"][kind].score(market_rows))
        assert np.array_equal(loaded.validation["coin"][kind], bundle.validation["coin"][kind])
    assert np.array_equal(loaded.floor, bundle.floor)


def test_a_bundle_for_other_features_is_refused_with_how_to_fix(bundle: AnomalyBundle,
                                                              tmp_path) -> None:
    import torch

    path = bundle.save(tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    payload["input_features"] = payload["input_features"][:-1]
    torch.save(payload, path)
    with pytest.raises(AnomalyModelError, match="anomalies train"):
        AnomalyBundle.load(path)
    with pytest.raises(AnomalyModelError, match="no anomaly model"):
        AnomalyBundle.load(tmp_path / "missing.pt")


def test_coins_warming_up_are_never_flagged(bundle: AnomalyBundle,
                                            one_torch_thread: None) -> None:
    grid = synthetic_grid(seed=14, minutes=WARMUP + 5, plant={0: (500, 0.2, 50.0)})
    scores, blocked, market = run_detector(bundle, grid, rate=0.001)
    assert np.isnan(scores[:WARMUP]).all() and not blocked[:WARMUP].any()
    assert not market[:WARMUP].any()
