"""The detector warmed from a backfill scores from its first live minute, exactly as if it
had watched every backfilled minute itself (same formula, same numbers)."""

from __future__ import annotations

import numpy as np
import pytest

from model.market import MINUTE_MS, BarHistory
from risk.anomaly import AnomalyBundle, AnomalyDetector, train_bundle
from risk.anomaly_features import INPUT_FEATURES
from risk.anomaly_models import NetShape, TrainSettings
from risk.anomaly_warmup import fold_rows
from strategies.features_batch import MinuteGrid, features_from_history
from tests.unit.test_anomaly_detector import synthetic_grid

WARMUP = 300
HALFLIFE = 120.0
LIVE_FROM = 400  # minutes of backfill before the first live minute


@pytest.fixture(scope="module")
def bundle() -> AnomalyBundle:
    import torch

    torch.set_num_threads(1)
    grid = synthetic_grid(seed=4, minutes=800, coins=4)
    return train_bundle(features_from_history(grid), halflife_minutes=HALFLIFE,
                        warmup_minutes=WARMUP, shape=NetShape(len(INPUT_FEATURES), 8, 3),
                        settings=TrainSettings(epochs=1, batch_size=256, seed=2))


@pytest.fixture(scope="module")
def market() -> MinuteGrid:
    return synthetic_grid(seed=9, minutes=LIVE_FROM + 60, coins=4)


def histories(grid: MinuteGrid, rows: slice, symbols: tuple[str, ...] | None = None
              ) -> list[BarHistory]:
    """The grid's bars of `rows` as per-symbol backfill histories (what a feed delivers)."""
    out = []
    for i, symbol in enumerate(grid.symbols):
        if symbols is not None and symbol not in symbols:
            continue
        out.append(BarHistory(symbol, grid.open_ms[rows], grid.open[rows, i],
                              grid.high[rows, i], grid.low[rows, i], grid.close[rows, i],
                              grid.quote_volume[rows, i] / grid.close[rows, i],
                              grid.quote_volume[rows, i]))
    return out


def live_scores(detector: AnomalyDetector, grid: MinuteGrid, features: np.ndarray,
                rows: range) -> np.ndarray:
    """Scores [len(rows), n] observing minute by minute (the decision step's call)."""
    return np.array([detector.observe(features[t], int(grid.open_ms[t]) + MINUTE_MS,
                                      grid.symbols).scores for t in rows])


def test_a_detector_warmed_on_the_backfill_scores_like_one_that_watched_it(
        bundle: AnomalyBundle, market: MinuteGrid) -> None:
    features = features_from_history(market)
    live = range(LIVE_FROM, LIVE_FROM + 60)
    # given one detector that watched every minute, and one restarted with a backfill only
    watched = AnomalyDetector(bundle, market.symbols, rate=0.01)
    expected = live_scores(watched, market, features, range(LIVE_FROM + 60))[LIVE_FROM:]
    restarted = AnomalyDetector(bundle, rate=0.01)
    for history in histories(market, slice(0, LIVE_FROM)):
        restarted.add_history(history)
    # when the restarted one scores the live minutes
    got = live_scores(restarted, market, features, live)
    # then it has scores at its very first live minute, equal to the watcher's
    assert np.isfinite(got[0]).all()
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert restarted.backfill.rows_folded == LIVE_FROM
    assert restarted.describe()["warmed_on_backfill_minutes"] == LIVE_FROM


def test_without_a_backfill_the_first_live_minutes_have_no_score(
        bundle: AnomalyBundle, market: MinuteGrid) -> None:
    features = features_from_history(market)
    cold = AnomalyDetector(bundle, rate=0.01)
    scores = live_scores(cold, market, features, range(LIVE_FROM, LIVE_FROM + 5))
    assert np.isnan(scores).all()


def test_bars_at_or_after_the_first_live_minute_are_not_folded_twice(
        bundle: AnomalyBundle, market: MinuteGrid) -> None:
    features = features_from_history(market)
    exact = AnomalyDetector(bundle, rate=0.01)
    for history in histories(market, slice(0, LIVE_FROM)):
        exact.add_history(history)
    overlapping = AnomalyDetector(bundle, rate=0.01)
    for history in histories(market, slice(0, LIVE_FROM + 30)):  # backfill ran up to "now"
        overlapping.add_history(history)
    live = range(LIVE_FROM, LIVE_FROM + 10)
    np.testing.assert_array_equal(live_scores(overlapping, market, features, live),
                                  live_scores(exact, market, features, live))


def test_backfill_in_parts_and_a_coin_without_history(bundle: AnomalyBundle,
                                                      market: MinuteGrid) -> None:
    features = features_from_history(market)
    detector = AnomalyDetector(bundle, rate=0.01)
    known = market.symbols[:3]
    for part in (slice(0, 200), slice(200, LIVE_FROM)):  # two REST pages per coin
        for history in histories(market, part, known):
            detector.add_history(history)
    first = detector.observe(features[LIVE_FROM], int(market.open_ms[LIVE_FROM]) + MINUTE_MS,
                             market.symbols)
    assert all(first.score_of(s) is not None for s in known)
    assert first.score_of(market.symbols[3]) is None  # no backfill: still warming up
    # and a backfill arriving after the detector went live is not folded into the past
    detector.add_history(histories(market, slice(0, LIVE_FROM), market.symbols[3:])[0])
    assert not detector.backfill.pending


def test_only_the_newest_rows_are_folded_and_they_are_enough(bundle: AnomalyBundle) -> None:
    limit = fold_rows(WARMUP, HALFLIFE)
    long_market = synthetic_grid(seed=5, minutes=limit + 300, coins=3)
    features = features_from_history(long_market)
    detector = AnomalyDetector(bundle, rate=0.01)
    live_from = limit + 250
    for history in histories(long_market, slice(0, live_from)):
        detector.add_history(history)
    watched = AnomalyDetector(bundle, long_market.symbols, rate=0.01)
    expected = live_scores(watched, long_market, features, range(live_from + 1))[-1]
    got = live_scores(detector, long_market, features, range(live_from, live_from + 1))[0]
    assert detector.backfill.rows_folded == limit
    # older rows weigh < 2^-6 after six half-lives: the scores agree to a few percent
    np.testing.assert_allclose(got, expected, rtol=0.05)


def test_ranking_and_the_gate_share_one_reading_per_minute(bundle: AnomalyBundle,
                                                           market: MinuteGrid) -> None:
    features = features_from_history(market)
    detector = AnomalyDetector(bundle, market.symbols, rate=0.01)
    ts = int(market.open_ms[10]) + MINUTE_MS
    first = detector.observe(features[10], ts, market.symbols)
    assert detector.observe(features[10], ts, market.symbols) is first
    assert detector.standardizer.state.count.max() == 1  # folded once, not twice
    off = AnomalyDetector(bundle, market.symbols, rate=0.01)  # the default: gate only
    assert off.ranking_scores(None, ts) is None  # type: ignore[arg-type]


def test_the_fold_can_run_in_a_worker_thread_and_is_installed_at_the_next_minute(
        bundle: AnomalyBundle, market: MinuteGrid) -> None:
    import asyncio

    features = features_from_history(market)
    inline = AnomalyDetector(bundle, rate=0.01)
    threaded = AnomalyDetector(bundle, rate=0.01)
    for history in histories(market, slice(0, LIVE_FROM)):
        inline.add_history(history)
        threaded.add_history(history)
    ts = int(market.open_ms[LIVE_FROM]) + MINUTE_MS
    job = threaded.warmup_job(market.symbols, ts)
    assert job is not None and threaded.warmup_job(market.symbols, ts) is None  # taken once
    asyncio.run(asyncio.to_thread(job))  # what the daemon's decision loop awaits
    assert threaded.latest is None  # nothing scored yet: the loop installs it, not the thread
    live = range(LIVE_FROM, LIVE_FROM + 3)
    np.testing.assert_array_equal(live_scores(threaded, market, features, live),
                                  live_scores(inline, market, features, live))
