"""Each minute's `default_rng([seed, minute]).standard_normal(size)`, for a block of minutes
in one compiled call (numba).

Why: the replay draws a block of 60 minutes' noise, each minute from its own generator
(exchange/sim/seeded_noise.py moves one numpy generator from state to state). Setting a
generator's state and drawing a few hundred normals through numpy is a few microseconds of
call overhead a minute, most of what a block of ticks still cost. Both steps are fixed,
documented algorithms that numpy keeps stable (seeded streams are reproducible by
contract), so they are written out here: PCG64 (numpy/random/src/pcg64: a 128-bit LCG
stepped before each output, XSL-RR output, `next_double` = top 53 bits / 2**53), seeded
from `SeedSequence`'s four words as `pcg_setseq_128_srandom_r` seeds it, and numpy's
256-layer ziggurat for the standard normal (numpy/random/src/distributions:
`random_standard_normal`, its tables as numpy ships them, which numba carries too), its
tail and wedge with the C library's `log1p` and `exp`. 128-bit products are made from
64-bit halves. tests/unit/test_normal_kernel.py holds every draw to `default_rng`'s.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

try:  # numpy's ziggurat_constants.h, as numba ships it (a private module: it may move)
    from numba.np.random._constants import (
        fi_double,
        ki_double,
        wi_double,
        ziggurat_nor_inv_r,
        ziggurat_nor_r,
    )
    #: Whether the tables were found; without them seeded_noise draws through numpy itself.
    AVAILABLE = True
except ImportError:  # pragma: no cover - depends on the installed numba
    fi_double = wi_double = np.zeros(256)
    ki_double = np.zeros(256, np.uint64)
    ziggurat_nor_inv_r = ziggurat_nor_r = 0.0
    AVAILABLE = False

jit = njit(cache=True, error_model="numpy", nogil=True)

_U = np.uint64
_MASK32 = _U(0xFFFFFFFF)
_S1, _S8, _S11, _S32, _S58, _S63 = _U(1), _U(8), _U(11), _U(32), _U(58), _U(63)
_ONE, _ZERO = _U(1), _U(0)
_MASK52 = _U(0x000FFFFFFFFFFFFF)
_BYTE = _U(0xFF)
#: PCG's default 128-bit multiplier, as (high, low) 64-bit words.
_MULT_HI, _MULT_LO = _U(2549297995355413924), _U(4865540595714422341)
_TO_DOUBLE = 1.0 / 9007199254740992.0
_WI, _KI, _FI = wi_double, ki_double, fi_double
_NOR_R, _NOR_INV_R = ziggurat_nor_r, ziggurat_nor_inv_r


@jit
def _mul_high(a: np.uint64, b: np.uint64) -> np.uint64:
    """The high 64 bits of the 128-bit product a * b."""
    a0, a1 = a & _MASK32, a >> _S32
    b0, b1 = b & _MASK32, b >> _S32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    middle = (p00 >> _S32) + (p01 & _MASK32) + (p10 & _MASK32)
    return p11 + (p01 >> _S32) + (p10 >> _S32) + (middle >> _S32)


@jit
def _next_uint64(hi: np.uint64, lo: np.uint64, inc_hi: np.uint64,
                 inc_lo: np.uint64) -> tuple[np.uint64, np.uint64, np.uint64]:
    """PCG64's next output and its new state (high, low): the state steps (state *
    multiplier + increment, mod 2**128), then XSL-RR of the new state."""
    new_lo = lo * _MULT_LO
    low = new_lo + inc_lo
    hi = _mul_high(lo, _MULT_LO) + lo * _MULT_HI + hi * _MULT_LO + inc_hi + (
        _ONE if low < new_lo else _ZERO)
    rot = hi >> _S58
    x = hi ^ low
    return (x >> rot) | (x << ((_U(64) - rot) & _S63)), hi, low


@jit
def _next_double(hi: np.uint64, lo: np.uint64, inc_hi: np.uint64,
                 inc_lo: np.uint64) -> tuple[float, np.uint64, np.uint64]:
    r, hi, lo = _next_uint64(hi, lo, inc_hi, inc_lo)
    return float(r >> _S11) * _TO_DOUBLE, hi, lo


@jit
def _standard_normal(hi: np.uint64, lo: np.uint64, inc_hi: np.uint64,
                     inc_lo: np.uint64) -> tuple[float, np.uint64, np.uint64]:
    """numpy's `random_standard_normal`, and the generator's new state."""
    while True:
        r, hi, lo = _next_uint64(hi, lo, inc_hi, inc_lo)
        idx = np.intp(r & _BYTE)
        r = r >> _S8
        sign = r & _S1
        rabs = (r >> _S1) & _MASK52
        x = float(rabs) * _WI[idx]
        if sign & _S1:
            x = -x
        if rabs < _KI[idx]:
            return x, hi, lo
        if idx == 0:
            while True:
                u, hi, lo = _next_double(hi, lo, inc_hi, inc_lo)
                xx = -_NOR_INV_R * math.log1p(-u)
                u, hi, lo = _next_double(hi, lo, inc_hi, inc_lo)
                yy = -math.log1p(-u)
                if yy + yy > xx * xx:
                    if (rabs >> _S8) & _S1:
                        return -(_NOR_R + xx), hi, lo
                    return _NOR_R + xx, hi, lo
        else:
            u, hi, lo = _next_double(hi, lo, inc_hi, inc_lo)
            if (_FI[idx - 1] - _FI[idx]) * u + _FI[idx] < math.exp(-0.5 * x * x):
                return x, hi, lo


@jit
def seeded_normals(words: np.ndarray, out: np.ndarray) -> None:
    """Row b of `out` (keys, draws): `standard_normal(draws)` of the PCG64 that
    `SeedSequence` words `words[:, b]` (state high, state low, stream high, stream low:
    `seed_kernel.seed_words`) seed, as `default_rng` seeds it."""
    for b in range(out.shape[0]):
        s_hi, s_lo, i_hi, i_lo = words[0, b], words[1, b], words[2, b], words[3, b]
        inc_hi = (i_hi << _S1) | (i_lo >> _S63)  # increment = stream << 1 | 1
        inc_lo = (i_lo << _S1) | _ONE
        # srandom: state = 0, step; state += initstate; step (an output nobody reads).
        _, hi, lo = _next_uint64(_ZERO, _ZERO, inc_hi, inc_lo)
        low = lo + s_lo
        hi = hi + s_hi + (_ONE if low < lo else _ZERO)
        _, hi, lo = _next_uint64(hi, low, inc_hi, inc_lo)
        for k in range(out.shape[1]):
            out[b, k], hi, lo = _standard_normal(hi, lo, inc_hi, inc_lo)
