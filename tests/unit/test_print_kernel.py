"""The compiled window and range of the bad-print filter equal its Python definition bit for
bit: a deque of the last `window_bars` closes, refreshed every `refresh_every` accepted
closes (and at each until first set) by sorted-list median and MAD."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from model.market import BarBatch
from strategies.bad_prints import PrintFilter, PrintFilterConfig
from strategies.print_kernel import MAD_TO_SIGMA, accept_batch, accept_close


def _median(ordered: list[float]) -> float:
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


class _Oracle:
    """The Python form the kernel replaced, for one symbol."""

    def __init__(self, config: PrintFilterConfig) -> None:
        self.config = config
        self.closes: deque[float] = deque(maxlen=config.window_bars)
        self.low, self.high, self.since_refresh = 0.0, math.inf, 0

    def accept(self, close: float) -> None:
        self.closes.append(close)
        self.since_refresh += 1
        if self.since_refresh >= self.config.refresh_every or self.high == math.inf:
            self.refresh()

    def refresh(self) -> None:
        if len(self.closes) < self.config.min_bars:
            return
        self.since_refresh = 0
        ordered = sorted(self.closes)
        median = _median(ordered)
        if not median > 0.0:
            return
        mad = _median(sorted([abs(c - median) for c in ordered]))
        ratio = max(self.config.floor_ratio,
                    1.0 + self.config.mad_multiple * MAD_TO_SIGMA * mad / median)
        self.low, self.high = median / ratio, median * ratio


def _random_closes(rng: np.random.Generator, n: int) -> list[float]:
    """A random walk with round prices (ties) and a few jumps."""
    steps = rng.normal(0.0, 0.02, n) + np.where(rng.random(n) < 0.02, rng.normal(0, 0.5, n), 0)
    closes = 10.0 * np.exp(np.cumsum(steps))
    return [float(c) for c in np.where(rng.random(n) < 0.3, np.round(closes, 1), closes)]


def test_accept_close_equals_the_deque_and_sorted_lists_bit_for_bit() -> None:
    rng = np.random.default_rng(3)
    for config in (PrintFilterConfig(), PrintFilterConfig(window_bars=7, min_bars=4,
                                                          refresh_every=1, mad_multiple=3.0)):
        oracle = _Oracle(config)
        window = np.zeros((2, config.window_bars))
        count, next_slot, since = (np.zeros(2, dtype=np.int64) for _ in range(3))
        low, high = np.zeros(2), np.full(2, math.inf)
        for close in _random_closes(rng, 400):
            oracle.accept(close)
            accept_close(1, close, window, count, next_slot, since, low, high,
                         config.min_bars, config.refresh_every, config.floor_ratio,
                         config.mad_multiple)
            assert (low[1], high[1], int(since[1])) == (oracle.low, oracle.high,
                                                       oracle.since_refresh)
            assert sorted(window[1, :count[1]].tolist()) == sorted(oracle.closes)
        assert (low[0], high[0], count[0]) == (0.0, math.inf, 0)  # other rows untouched


def test_accept_batch_changes_nothing_when_a_bar_is_outside_or_a_level_is_held() -> None:
    window = np.zeros((3, 5))
    count, next_slot, since = (np.zeros(3, dtype=np.int64) for _ in range(3))
    low, high = np.array([1.0, 1.0, 0.0]), np.array([2.0, 2.0, math.inf])
    rows, close = np.array([0, 1, 2]), np.array([1.5, 1.5, 99.0])
    has_level = np.zeros(3, dtype=np.bool_)
    args = (window, count, next_slot, since, low, high, 30, 5, 2.0, 10.0)
    assert not accept_batch(rows, close, close, np.array([1.5, 2.5, 99.0]), has_level, *args)
    has_level[1] = True
    assert not accept_batch(rows, close, close, close, has_level, *args)
    assert not count.any() and not window.any()
    has_level[1] = False
    assert accept_batch(rows, close, close, close, has_level, *args)
    assert count.tolist() == [1, 1, 0]  # the last, open row keeps nothing


def test_a_filter_fed_batches_has_the_ranges_of_one_fed_bar_by_bar() -> None:
    rng = np.random.default_rng(5)
    symbols = ("AAA", "BBB", "CCC")
    by_batch, by_bar = PrintFilter(symbols), PrintFilter(symbols)
    walks = [_random_closes(rng, 200) for _ in symbols]
    for minute in range(200):
        close = np.array([walk[minute] for walk in walks])
        ones = np.ones(len(symbols))
        batch = BarBatch(symbols, minute * 60_000, close, close, close, close, ones, ones,
                         np.ones(len(symbols), dtype=np.int64))
        if not by_batch.admit_bar_batch(batch):
            for bar in batch.bars():
                by_batch.admit_bar(bar)
        for bar in batch.bars():
            by_bar.admit_bar(bar)
        assert by_batch._low.tolist() == by_bar._low.tolist()
        assert by_batch._high.tolist() == by_bar._high.tolist()
        assert by_batch.counts() == by_bar.counts()
