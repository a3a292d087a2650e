"""The daemon memory benchmark's probe helpers read what they claim (bench/_daemon_probe.py)."""

from __future__ import annotations

import numpy as np

from bench._daemon_probe import array_bytes, rss_mb


def test_rss_is_read_from_proc_and_the_peak_is_never_below_the_current_rss():
    current, peak = rss_mb()
    assert 0 < current <= peak


def test_array_bytes_counts_the_numpy_attributes_of_an_object_and_nothing_else():
    class Holder:
        def __init__(self) -> None:
            self.prices = np.zeros((10, 4))  # 320 bytes
            self.flags = np.zeros(8, dtype=bool)  # 8 bytes
            self.name = "not an array"

    assert array_bytes(Holder()) == 328
    assert array_bytes(3) == 0
