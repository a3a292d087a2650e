"""The fast backtester's loop runs with Python's cyclic garbage collector paused."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block, then as it was.

    Why: the loop keeps every decision, order event and fill it makes, thousands of
    long-lived objects, so the collector's full pass comes due during a run; that pass
    walks every tracked object of the process (the caller's grids, numba's and the
    config's, ~190,000 in a bench run), 0.1-0.2 s each time, against ~0.5 s for 5 active
    days (30 active days: 0.32 s of collection in the loop, 0.09 s after it, where the
    young generation's first passes meet the loop's objects once). The loop makes no
    reference cycles for it to find (what it drops is freed by reference counting);
    anything cyclic made meanwhile waits for the next pass after the block. Nothing the
    run computes depends on it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
