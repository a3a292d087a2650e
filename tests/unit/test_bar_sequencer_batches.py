"""`BarSequencer` with a replay's batches: whatever mix of batches (the same symbol tuple
minute after minute, or another), single bars and histories it delivers, `last_bar_ms` and
`continues` say what delivering every bar one by one would have left."""

from __future__ import annotations

import numpy as np

from exchange.feeds.common import BarSequencer
from model.market import MINUTE_MS, Bar, BarBatch, BarHistory


def _batch(symbols: tuple[str, ...], open_ms: int) -> BarBatch:
    ones = np.ones(len(symbols))
    return BarBatch(symbols, open_ms, ones, ones, ones, ones, ones, ones,
                    np.ones(len(symbols), dtype=np.int64))


def test_last_bar_ms_and_continues_follow_every_delivery() -> None:
    """Mostly a replay's run (the same tuple's batch minute after minute), broken now and
    then by another tuple (an equal one too), a batch at an odd minute, a single bar or a
    history of one symbol."""
    rng = np.random.default_rng(3)
    every = ("A", "B", "C", "D")
    tuples = [every, every[:2], tuple(list(every))]  # the last: equal, but another object
    sequencer = BarSequencer(lambda bar: None, lambda history: None,
                             on_bar_batch=lambda batch: None)
    expected: dict[str, int] = {}
    symbols, clock_ms, fast = every, 0, 0
    for step in range(4000):
        pick = rng.random()
        if pick < 0.75:
            if rng.random() < 0.05:
                symbols = tuples[int(rng.integers(0, len(tuples)))]
            odd = rng.random() < 0.1
            open_ms = int(rng.integers(0, 4000)) * MINUTE_MS if odd else clock_ms + MINUTE_MS
            batch = _batch(symbols, open_ms)
            previous = open_ms - MINUTE_MS
            wanted = all(expected.get(s, previous) == previous for s in symbols)
            run = sequencer._batch_run
            fast += run is not None and run[0] is symbols and run[1] == previous
            assert sequencer.continues(batch) == wanted, step
            if wanted:  # a feed delivers a batch only when it continues
                sequencer.deliver_batch(batch)
                expected.update(dict.fromkeys(symbols, open_ms))
                clock_ms = max(clock_ms, open_ms)
        elif pick < 0.9:  # a minute bar by bar (the fallback): every symbol caught up
            clock_ms += MINUTE_MS
            for symbol in every:
                if expected.get(symbol, -1) < clock_ms:
                    sequencer.deliver_bar(Bar(symbol, clock_ms, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0))
                    expected[symbol] = clock_ms
        elif pick < 0.95:  # one symbol's bar, maybe ahead of the others
            symbol = every[int(rng.integers(0, 4))]
            open_ms = clock_ms + int(rng.integers(1, 3)) * MINUTE_MS
            if expected.get(symbol, -1) < open_ms:
                sequencer.deliver_bar(Bar(symbol, open_ms, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0))
                expected[symbol] = open_ms
        else:
            symbol = every[int(rng.integers(0, 4))]
            times = clock_ms + np.array([0, MINUTE_MS], dtype=np.int64)
            ones = np.ones(2)
            sequencer.deliver(BarHistory(symbol, times, ones, ones, ones, ones, ones, ones),
                              bulk=True)
            if times[-1] > expected.get(symbol, -1):
                expected[symbol] = int(times[-1])
        if rng.random() < 0.02:  # reading it any time changes nothing
            assert sequencer.last_bar_ms == expected, step
    assert sequencer.last_bar_ms == expected
    assert fast > 500  # the run's shortcut was taken often
