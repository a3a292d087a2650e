"""`protocol.num_parsed`'s arithmetic, compiled (numba): one pass, no temporaries.

Why compiled: the replay feed's direct path parses every minute's ticker table and closed
klines this way (exchange/feeds/replay_direct.py), and the array form was a dozen numpy
calls and temporaries per table, each call's overhead larger than its work on a few hundred
values. The loop does the same IEEE operations on each value in the same order (trunc,
subtract, scale, round half to even, add, divide, copysign; no fused multiply-add: numba
contracts nothing without fastmath), so each result is the same float; it marks the values
too close to a half (and NaN) for `num_parsed` to format and parse for real.
tests/unit/test_replay_direct.py holds the result to `float(num(v))` on every kind of value.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)


@jit
def parse_back(values: np.ndarray, exact_from: float, doubt: float, out: np.ndarray,
               doubtful: np.ndarray) -> bool:
    """Fill `out` with each value's 8-decimal string read back (see `num_parsed`); values of
    magnitude `exact_from` or more come back unchanged; those within `doubt` of a rounding
    half (or NaN) are marked in `doubtful` instead. All arrays flat. Returns whether any was."""
    any_doubtful = False
    for i in range(values.shape[0]):
        value = values[i]
        if abs(value) >= exact_from:
            out[i] = value
            continue
        whole = np.trunc(value)
        scaled = (value - whole) * 1e8
        rounded = np.rint(scaled)
        out[i] = math.copysign((whole * 1e8 + rounded) / 1e8, value)
        if not 0.5 - abs(scaled - rounded) > doubt:
            doubtful[i] = True
            any_doubtful = True
    return any_doubtful
