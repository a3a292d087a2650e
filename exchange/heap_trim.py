"""Give the C heap's free pages back to the operating system after a burst of parsing.

A 500-coin backfill parses a month of 1m klines per coin from JSON (millions of short-lived
Python objects and strings). Freed, their memory goes back to glibc's heap, which keeps most
of it mapped, because live objects allocated in between pin the top of the heap: the
daemon's RSS stays tens of MB above what it holds. glibc's `malloc_trim(0)` returns every
free page of the heap (also inside it, with madvise), which is what a long-running service
wants once, after the burst. Elsewhere (macOS, musl, Windows) there is no such call and
nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)


def release_free_heap() -> bool:
    """Return glibc's free heap pages to the OS; True when glibc did so (False: not glibc,
    or nothing to give back)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    released = bool(trim(0))
    log.debug("malloc_trim after the backfill: %s", "pages returned" if released else "none")
    return released
