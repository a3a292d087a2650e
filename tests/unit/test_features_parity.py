"""The live FeatureBook and the vectorized features_from_history agree to 1e-9."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.market import MINUTE_MS, BarHistory
from strategies.features import FEATURE_NAMES, FeatureBook, MinuteGrid, features_from_history
from tests.unit.test_features_support import (
    START_MS,
    bars_of,
    history,
    read_ohlcv,
    replay,
    synthetic_histories,
)

RTOL = 1e-9
ATOL = 1e-12  # features are log ratios / positions of order 1e-4..1; 1e-12 is float noise


def assert_same_features(live: np.ndarray, batch: np.ndarray, where: str) -> None:
    for col, name in enumerate(FEATURE_NAMES):
        np.testing.assert_allclose(live[:, col], batch[:, col], rtol=RTOL, atol=ATOL,
                                   equal_nan=True, err_msg=f"{name} at {where}")


@pytest.mark.slow
def test_incremental_equals_vectorized_on_synthetic_bars_with_gaps() -> None:
    histories = synthetic_histories(seed=3, n_symbols=5, minutes=1800)
    grid = MinuteGrid.from_histories(histories)
    batch = features_from_history(grid)
    book = FeatureBook(grid.symbols)
    snapshots = replay(book, bars_of(histories), grid.start_ms // MINUTE_MS,
                       grid.close.shape[0], snapshot_every=7)
    assert len(snapshots) > 200
    for t, live in snapshots.items():
        assert_same_features(live, batch[t], f"minute {t}")


def test_on_bar_one_by_one_equals_on_bars_batched() -> None:
    histories = synthetic_histories(seed=5, n_symbols=3, minutes=500)
    grid = MinuteGrid.from_histories(histories)
    first = grid.start_ms // MINUTE_MS
    one = replay(FeatureBook(grid.symbols), bars_of(histories), first, 500, 50, one_by_one=True)
    many = replay(FeatureBook(grid.symbols), bars_of(histories), first, 500, 50)
    for t in one:
        np.testing.assert_allclose(one[t], many[t], rtol=RTOL, atol=ATOL, equal_nan=True)


def test_load_history_equals_bar_by_bar_and_then_continues_incrementally() -> None:
    histories = synthetic_histories(seed=11, n_symbols=4, minutes=2500)
    grid = MinuteGrid.from_histories(histories)
    batch = features_from_history(grid)
    cut_ms = grid.start_ms + 1800 * MINUTE_MS
    book = FeatureBook(grid.symbols)
    for h in histories.values():
        head = h.open_ms < cut_ms
        book.load_history(type(h)(h.symbol, *(getattr(h, f)[head] for f in (
            "open_ms", "open", "high", "low", "close", "volume", "quote_volume"))))
    book.advance_to(cut_ms - MINUTE_MS)
    assert_same_features(book.matrix(), batch[1799], "after load_history")
    tail = {m: bars for m, bars in bars_of(histories).items() if m * MINUTE_MS >= cut_ms}
    snapshots = replay(book, tail, cut_ms // MINUTE_MS, grid.close.shape[0] - 1800, 11)
    for t, live in snapshots.items():
        assert_same_features(live, batch[1800 + t], f"minute {1800 + t}")


def test_long_windows_stay_exact_past_a_month_of_history() -> None:
    # 31 days: bulk warm-up to just before the month ring wraps, then bar by bar across
    # the wrap (the 1M window starts dropping its oldest minute) with many exact recomputes.
    rng = np.random.default_rng(2)
    minutes, split = 44_700, 43_100
    close = np.exp(np.cumsum(rng.standard_normal((minutes, 2)) * 1e-3, axis=0))
    close[rng.random((minutes, 2)) < 0.2] = np.nan
    close[0] = 1.0
    nan = np.full((minutes, 2), np.nan)
    grid = MinuteGrid(symbols=("A", "B"), start_ms=START_MS, open=nan, high=nan, low=nan,
                      close=close, quote_volume=rng.lognormal(0, 2, (minutes, 2)))
    checked = np.arange(split, minutes, 13)
    batch = features_from_history(grid, at=checked)
    histories = {}
    for col, symbol in enumerate(grid.symbols):
        idx = np.flatnonzero(~np.isnan(close[:, col]))
        c = close[idx, col]
        qv = grid.quote_volume[idx, col]
        histories[symbol] = BarHistory(symbol, START_MS + idx * MINUTE_MS, c, c, c, c, qv / c, qv)
    book = FeatureBook(grid.symbols)
    cut_ms = START_MS + split * MINUTE_MS
    for h in histories.values():
        head = h.open_ms < cut_ms
        book.load_history(BarHistory(h.symbol, *(getattr(h, f)[head] for f in (
            "open_ms", "open", "high", "low", "close", "volume", "quote_volume"))))
    tail = {m: bars for m, bars in bars_of(histories).items() if m * MINUTE_MS >= cut_ms}
    snapshots = replay(book, tail, cut_ms // MINUTE_MS, minutes - split, snapshot_every=13)
    for k, t in enumerate(checked):
        assert_same_features(snapshots[t - split], batch[k], f"minute {t}")


@pytest.mark.slow
def test_incremental_equals_vectorized_on_real_bittrex_minutes(shared_data: Path) -> None:
    folder = shared_data / "ohlcv" / "freqtrade_bittrex_2017-11"
    files = sorted(folder.glob("*-1m.csv.gz"))
    assert len(files) == 20
    histories = {f.name.split("-")[0]: read_ohlcv(f, f.name.split("-")[0]) for f in files}
    grid = MinuteGrid.from_histories(histories)
    length = grid.close.shape[0]
    checked = np.arange(0, length, 37)
    batch = features_from_history(grid, at=checked)
    # Warm up most of the ten days in bulk, then run the last 1,500 minutes bar by bar.
    split = length - 1500
    book = FeatureBook(grid.symbols)
    cut_ms = grid.start_ms + split * MINUTE_MS
    for h in histories.values():
        head = h.open_ms < cut_ms
        book.load_history(type(h)(h.symbol, *(getattr(h, f)[head] for f in (
            "open_ms", "open", "high", "low", "close", "volume", "quote_volume"))))
    book.advance_to(cut_ms - MINUTE_MS)
    index = {t: k for k, t in enumerate(checked.tolist())}
    before = max(t for t in index if t < split)
    # The bulk warm-up equals the vectorized rows; check one before the incremental part.
    full_before = features_from_history(grid, at=np.array([split - 1]))[0]
    assert_same_features(book.matrix(), full_before, "after bulk warm-up")
    assert before in index
    tail = {m: bars for m, bars in bars_of(histories).items() if m * MINUTE_MS >= cut_ms}
    snapshots = replay(book, tail, cut_ms // MINUTE_MS, length - split, snapshot_every=1)
    compared = 0
    for t, live in snapshots.items():
        if split + t in index:
            assert_same_features(live, batch[index[split + t]], f"minute {split + t}")
            compared += 1
    assert compared >= 35


@pytest.mark.parametrize("missing", [1, 5, 61])
def test_missing_minutes_are_flat_bars_in_both_paths(missing: int) -> None:
    minutes = [0, 1, 2, 3 + missing, 4 + missing]
    h = history("X", [START_MS + m * MINUTE_MS for m in minutes], [1.0, 2.0, 3.0, 4.0, 5.0],
                [10.0, 10.0, 10.0, 10.0, 10.0])
    batch = features_from_history({"X": h})
    book = FeatureBook(["X"])
    for bar in bars_of({"X": h}).values():
        book.on_bars(bar)
    assert book.warm_minutes("X") == 5 + missing
    assert_same_features(book.matrix(), batch[-1], "after the gap")
    # The flat minutes repeat the close 3.0 with zero volume.
    grid = MinuteGrid.from_histories({"X": h})
    assert np.isnan(grid.close[3:3 + missing, 0]).all()
    ma_3m = FEATURE_NAMES.index("px_ma_3m")
    if missing >= 2:
        assert batch[2 + missing, 0, ma_3m] == pytest.approx(0.0, abs=1e-15)  # 3,3,3
