"""`SeedSequence([seed, key]).generate_state(4, uint64)` for many keys, compiled (numba).

Why compiled: the replay seeds each minute's noise generator as `default_rng([seed,
minute])` does (exchange/sim/seeded_noise.py), and the hash that turns the two words into
a PCG64 seed, vectorized over a block's minutes with numpy, was some hundred and thirty
numpy calls on 60-element arrays per block: a few microseconds a replayed minute. Here the
same 32-bit operations run key by key, every value held in uint64 as the numpy form holds
it (every operand uint64, so nothing is promoted to float). `seeded_noise.pcg64_states`
stays the definition; tests/unit/test_seeded_noise.py holds the two to each other and to
`default_rng` itself.
"""

from __future__ import annotations

import numpy as np
from numba import njit

jit = njit(cache=True, error_model="numpy", nogil=True)

_U = np.uint64
_INIT_A, _MULT_A = _U(0x43B0D7E5), _U(0x931E8875)
_INIT_B, _MULT_B = _U(0x8B51F9DD), _U(0x58F38DED)
_MIX_MULT_L, _MIX_MULT_R = _U(0xCA01F9DD), _U(0x4973F715)
_MASK32 = _U(0xFFFFFFFF)
_SHIFT16, _SHIFT32 = _U(16), _U(32)
_POOL = 4


@jit
def seed_words(seed: int, keys: np.ndarray) -> np.ndarray:
    """(4, keys) uint64: for each key in [0, 2**32) (the caller's check, with `seed`), the
    four words `SeedSequence([seed, key]).generate_state(4, np.uint64)` gives, in order
    (the PCG64's state high and low words, then its stream's)."""
    n = keys.shape[0]
    out = np.empty((_POOL, n), dtype=np.uint64)
    pool = np.empty(_POOL, dtype=np.uint64)
    entropy = np.zeros(_POOL, dtype=np.uint64)
    entropy[0] = _U(seed)
    words = np.empty(2 * _POOL, dtype=np.uint64)
    for k in range(n):
        entropy[1] = _U(keys[k])
        hash_const = _INIT_A
        for i in range(_POOL):  # hashmix of each entropy word (zeros past the two)
            value = (entropy[i] ^ hash_const) & _MASK32
            hash_const = (hash_const * _MULT_A) & _MASK32
            value = (value * hash_const) & _MASK32
            pool[i] = value ^ (value >> _SHIFT16)
        for source in range(_POOL):
            for target in range(_POOL):
                if source != target:
                    value = (pool[source] ^ hash_const) & _MASK32
                    hash_const = (hash_const * _MULT_A) & _MASK32
                    value = (value * hash_const) & _MASK32
                    value = value ^ (value >> _SHIFT16)
                    mixed = (pool[target] * _MIX_MULT_L - value * _MIX_MULT_R) & _MASK32
                    pool[target] = mixed ^ (mixed >> _SHIFT16)
        hash_const = _INIT_B
        for i in range(2 * _POOL):  # generate_state: eight uint32
            value = (pool[i % _POOL] ^ hash_const) & _MASK32
            hash_const = (hash_const * _MULT_B) & _MASK32
            value = (value * hash_const) & _MASK32
            words[i] = value ^ (value >> _SHIFT16)
        for i in range(_POOL):  # little-endian pairs
            out[i, k] = (words[2 * i + 1] << _SHIFT32) | words[2 * i]
    return out
