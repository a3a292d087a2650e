"""exchange/heap_trim.py: after a parsing burst the daemon gives glibc's free heap pages back."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from exchange.heap_trim import release_free_heap

ON_GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS line")


@pytest.mark.skipif(not ON_GLIBC, reason="malloc_trim is glibc's; elsewhere the call is a no-op")
def test_freed_small_objects_pinned_by_a_survivor_are_given_back() -> None:
    # ~100 MB of 1 kB blocks on glibc's heap (above Python's small-object allocator, far
    # below glibc's mmap threshold), and one block allocated after them that survives: it
    # pins the heap's top, so free() alone leaves the pages mapped.
    burst = [bytes([i % 251]) * 1000 for i in range(100_000)]
    survivor = bytes(1000)
    del burst
    before = _rss_kb()

    assert release_free_heap() is True
    assert _rss_kb() < before - 20_000  # at least 20 MB back
    assert len(survivor) == 1000

