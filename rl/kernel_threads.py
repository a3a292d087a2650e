"""Numba's thread count for one compiled-kernel call: no more threads than it has slices.

Why: a `parallel=True` kernel wakes every thread of numba's pool on each call, even when the
call has a single slice of work (the envs are sliced only from 64 portfolios or 512 single-coin
envs up). On a machine busy with other processes — Ray tasks of a walk-forward, a test run — a
woken thread that the OS does not schedule at once holds the whole call until its time slice
comes: measured 163 ms per decision (12 five-minute bars) of 16 portfolios x 18 coins while
two Ray tasks and a benchmark shared the 2 cores, against 6 ms with the call on the caller's
thread alone. Capping the threads at the slice count removes that wait and changes no result
(slices are independent envs; a one-slice call already ran on one thread).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numba


@contextmanager
def kernel_threads(chunks: int) -> Iterator[None]:
    """Inside, numba uses at most `chunks` threads (never more than it had); restored after.
    The setting is per calling thread, so concurrent callers do not see each other's."""
    before = numba.get_num_threads()
    wanted = max(1, min(before, chunks))
    if wanted == before:
        yield
        return
    numba.set_num_threads(wanted)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def run_sliced(kernel: Callable[..., None], chunks: int, *args: Any) -> None:
    """`kernel(chunks, *args)` on at most `chunks` of numba's threads (the env kernels take
    their slice count first)."""
    with kernel_threads(chunks):
        kernel(chunks, *args)


__all__ = ["kernel_threads", "run_sliced"]
