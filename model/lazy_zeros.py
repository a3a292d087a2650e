"""Zero-filled arrays whose memory is paid for only where they are written.

Why: month-long rings (the feature book's 1m closes and quote volumes, the simulator's bar
store) are allocated whole but written partly (a float64 side used only by rows off the int32
grid) or over time. `np.zeros` pages lazily only when glibc answers it with a fresh mmap; when
the heap holds enough freed space (the simulator's month of generation temporaries leaves a
few hundred MB), calloc carves the array out of it and must zero it, which touches, and so puts
in RSS, every page: ~380 MB of never-used ring at 500 coins. A private anonymous mapping is
zero pages from the kernel whatever the heap holds, so only written pages count.
"""

from __future__ import annotations

import mmap
import sys

import numpy as np

#: Below this size an ordinary `np.zeros` is as good (and a mapping costs a syscall and a page).
MAPPED_FROM_BYTES = 1 << 20


def lazy_zeros(shape: int | tuple[int, ...], dtype: np.dtype | type = np.float64) -> np.ndarray:
    """`np.zeros(shape, dtype)`, backed by its own anonymous private mapping when it is large
    (Linux and other POSIX systems; elsewhere, and for small arrays, plain `np.zeros`). The
    array is C-contiguous and writable like `np.zeros`'s; the mapping lives as long as it does."""
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    kind = np.dtype(dtype)
    nbytes = int(np.prod(dims, dtype=np.int64)) * kind.itemsize
    if nbytes < MAPPED_FROM_BYTES or sys.platform == "win32":
        return np.zeros(dims, kind)
    mapping = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                        prot=mmap.PROT_READ | mmap.PROT_WRITE)
    return np.frombuffer(mapping, dtype=kind).reshape(dims)
