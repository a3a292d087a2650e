"""Month-long rings cost memory only where they are written, whatever the heap holds.

`np.zeros` pages lazily only when glibc maps it fresh; carved out of freed heap it is zeroed,
and so paid for, at once (model/lazy_zeros.py). The simulator's bar store, once rows went to
its cold file, keeps only the rows it holds in RAM (exchange/sim/cold_rows.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from exchange.sim.cold_rows import TieredArray
from model.lazy_zeros import MAPPED_FROM_BYTES, lazy_zeros

MB = 1 << 20


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line")


@pytest.mark.parametrize("shape", [(3, 5), (500, 4000)])
@pytest.mark.parametrize("dtype", [np.float64, np.int32, bool])
def test_it_reads_and_writes_like_np_zeros(shape: tuple[int, int], dtype: type) -> None:
    array = lazy_zeros(shape, dtype)
    assert array.shape == shape and array.dtype == np.dtype(dtype)
    assert array.flags.c_contiguous and array.flags.writeable
    assert not array.any()
    array[-1, -1] = 1
    assert array.sum() == 1 and np.array_equal(array, np.eye(1, array.size, array.size - 1)
                                               .reshape(shape).astype(dtype))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS (Linux)")
def test_only_the_written_rows_of_a_large_array_count_in_rss() -> None:
    before = rss_mb()
    ring = lazy_zeros((500, 65_536))  # 250 MB as float64
    assert ring.nbytes >= 200 * MB > MAPPED_FROM_BYTES
    ring[:10] = 1.0  # ten coins' rows: 5 MB
    grown = rss_mb() - before
    assert grown < 40, f"{grown:.0f} MB paged in for 5 MB written"
    del ring


def test_a_spill_keeps_the_rows_still_held_and_one_block_of_room() -> None:
    array = TieredArray(100, 3, np.int32)  # room for 100 rows
    array[slice(0, 10)] = np.arange(30, dtype=np.int32).reshape(10, 3)
    assert array.spill(8, 10, 4, None) == 8  # rows 0-7 (two blocks of 4) to the file
    assert array.hot.shape == (2 + 4, 3)  # rows 8, 9 and a block to grow into
    assert array[slice(0, 10)].tolist() == np.arange(30).reshape(10, 3).tolist()
