"""One torch thread for the sums whose bits must not depend on where they ran.

Why: torch's CPU kernels split work by thread count, and some of them (LAPACK's QR behind
`nn.init.orthogonal_`, matrix products) then add in a different order: the same seed gave
different initial weights on 2 threads than on 1, so a run whose process had pinned one
thread earlier (a test module, a Ray worker with OMP_NUM_THREADS=1) trained a different
network. Initialising, collecting and training inside `one_torch_thread` makes those results
the same in any pool, process or core count; N pool workers x 1 thread also fill N cores
without oversubscription.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread inside, restoring the setting after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


__all__ = ["one_torch_thread"]
