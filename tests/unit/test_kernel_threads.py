"""`rl.kernel_threads.kernel_threads`: a compiled-kernel call uses no more of numba's threads
than it has slices of work, and the setting is restored after (even on error)."""

from __future__ import annotations

import numba
import pytest

from rl.kernel_threads import kernel_threads, run_sliced


def test_a_one_slice_call_runs_on_one_thread_and_the_count_is_restored() -> None:
    before = numba.get_num_threads()
    with kernel_threads(1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before


def test_more_slices_than_threads_leave_the_count_alone() -> None:
    before = numba.get_num_threads()
    with kernel_threads(before + 3):
        assert numba.get_num_threads() == before
    with kernel_threads(0):  # no slice at all still runs on the caller
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before


def test_the_count_is_restored_when_the_call_raises() -> None:
    before = numba.get_num_threads()
    with pytest.raises(RuntimeError), kernel_threads(1):
        raise RuntimeError("kernel failed")
    assert numba.get_num_threads() == before


def test_a_kernel_gets_its_slice_count_first_and_runs_on_that_many_threads_at_most() -> None:
    seen: list[tuple[int, int, str]] = []
    run_sliced(lambda chunks, tag: seen.append((chunks, numba.get_num_threads(), tag)), 1, "x")
    assert seen == [(1, 1, "x")]
