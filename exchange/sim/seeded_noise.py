"""Many minutes' `np.random.default_rng([seed, minute])` streams without building each one.

Why: the replay synthesizes a block of 60 minutes' ticks at once, and each minute draws its
noise from its own generator seeded by (seed, minute index), so that a minute's ticks
depend on nothing but its bar. `default_rng` hashes the seed words (`SeedSequence`) and
seeds a PCG64 each time: about 15 us a minute, more than the draws themselves. Both steps
are fixed, documented algorithms (numpy keeps them stable across versions: seeded streams
are reproducible by contract), so the PCG64 states of all the block's minutes are computed
here at once, the hash vectorized over the minutes, and one generator is moved from state
to state. tests/unit/test_seeded_noise.py holds every state and draw to `default_rng`'s. A block's
draws themselves come from one compiled call (`seeded_normal_block`: the hash in
exchange/sim/seed_kernel.py, PCG64 and numpy's ziggurat in exchange/sim/normal_kernel.py).

The algorithms, as numpy implements them (numpy/random/bit_generator.pyx, pcg64.pyx):
`SeedSequence(entropy)` mixes the entropy words (here [seed, minute], each < 2**32, so one
32-bit word each) into a pool of four with `hashmix`/`mix`; `generate_state(4, uint64)`
draws eight words from the pool; PCG64 takes the first two uint64 as the initial state and
the last two as the stream, and seeds as `pcg_setseq_128_srandom_r` does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

import exchange.sim.normal_kernel as normal_kernel
from exchange.sim.seed_kernel import seed_words

_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R = 0xCA01F9DD, 0x4973F715
_MASK32 = 0xFFFFFFFF
_POOL = 4
_PCG_MULTIPLIER = (2549297995355413924 << 64) + 4865540595714422341
_MASK128 = (1 << 128) - 1
_U = np.uint64


def _hashmix(value: np.ndarray, hash_const: int) -> tuple[np.ndarray, int]:
    """SeedSequence's `hashmix` on uint32 values held in uint64 (products stay < 2**64)."""
    value = (value ^ _U(hash_const)) & _U(_MASK32)
    hash_const = (hash_const * _MULT_A) & _MASK32
    value = (value * _U(hash_const)) & _U(_MASK32)
    return value ^ (value >> _U(16)), hash_const


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """SeedSequence's `mix` (uint64 arithmetic wraps mod 2**64, so mod 2**32 is kept)."""
    result: np.ndarray = x * _U(_MIX_MULT_L) - y * _U(_MIX_MULT_R)
    result &= _U(_MASK32)
    return result ^ (result >> _U(16))


def pcg64_states(seed: int, keys: np.ndarray) -> list[tuple[int, int]] | None:
    """(state, increment) of the PCG64 inside `np.random.default_rng([seed, key])` for each
    key, or None when the seed or a key lies outside [0, 2**32) (then it is more than one
    entropy word, and the caller builds the generators)."""
    keys = np.asarray(keys, dtype=np.int64)
    if not 0 <= seed <= _MASK32 or (keys.size and not (
            int(keys.min()) >= 0 and int(keys.max()) <= _MASK32)):
        return None
    words = [np.full(keys.shape, seed, dtype=np.uint64), keys.astype(np.uint64)]
    words += [np.zeros(keys.shape, dtype=np.uint64)] * (_POOL - len(words))  # hashmix(0)
    hash_const = _INIT_A
    pool = []
    for word in words:
        value, hash_const = _hashmix(word, hash_const)
        pool.append(value)
    for source in range(_POOL):
        for target in range(_POOL):
            if source != target:
                value, hash_const = _hashmix(pool[source], hash_const)
                pool[target] = _mix(pool[target], value)
    hash_const = _INIT_B
    state_words = []
    for i in range(2 * _POOL):  # generate_state(4, uint64): eight uint32, little-endian pairs
        value = (pool[i % _POOL] ^ _U(hash_const)) & _U(_MASK32)
        hash_const = (hash_const * _MULT_B) & _MASK32
        value = (value * _U(hash_const)) & _U(_MASK32)
        state_words.append(value ^ (value >> _U(16)))
    seeds = [(state_words[2 * k + 1] << _U(32)) | state_words[2 * k] for k in range(_POOL)]
    return _seeded_states(seeds)


def compiled_pcg64_states(seed: int, keys: np.ndarray) -> list[tuple[int, int]] | None:
    """`pcg64_states`, its seed hash compiled (exchange/sim/seed_kernel.py): the same
    states, without a block's hundred-odd numpy calls on a few tens of minutes."""
    words = _seed_words(seed, keys)
    return None if words is None else _seeded_states(list(words))


def seeded_normal_block(seed: int, keys: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Row b (of shape `shape`): `np.random.default_rng([seed, keys[b]]).standard_normal(
    shape)`, for every key: in one compiled call (exchange/sim/normal_kernel.py) where
    `pcg64_states` can say the states (and numba ships numpy's ziggurat tables), else draw
    by draw from `seeded_generators`."""
    out = np.empty((len(keys), *shape))
    words = _seed_words(seed, keys) if normal_kernel.AVAILABLE else None
    if words is None:
        for b, generator in enumerate(seeded_generators(seed, keys)):
            out[b] = generator.standard_normal(shape)
    else:
        normal_kernel.seeded_normals(words, out.reshape(len(keys), int(np.prod(shape))))
    return out


def _seed_words(seed: int, keys: np.ndarray) -> np.ndarray | None:
    """`seed_kernel.seed_words` when the seed and every key are one entropy word, else None."""
    keys = np.asarray(keys, dtype=np.int64)
    if not 0 <= seed <= _MASK32 or (keys.size and not (
            int(keys.min()) >= 0 and int(keys.max()) <= _MASK32)):
        return None
    return seed_words(seed, keys)


def _seeded_states(seeds: Sequence[np.ndarray]) -> list[tuple[int, int]]:
    """(state, increment) of a PCG64 seeded, as `PCG64(SeedSequence)` seeds it, with each
    key's four uint64 words (`seeds`: state high, state low, stream high, stream low)."""
    out = []
    for s_hi, s_lo, i_hi, i_lo in zip(*(word.tolist() for word in seeds), strict=True):
        increment = (((i_hi << 64) + i_lo) << 1 | 1) & _MASK128
        state = (increment + (s_hi << 64) + s_lo) & _MASK128  # 0 * mult + inc, + initstate
        out.append(((state * _PCG_MULTIPLIER + increment) & _MASK128, increment))
    return out


def seeded_generators(seed: int, keys: np.ndarray) -> Iterator[np.random.Generator]:
    """For each key in turn, a generator in the state of `np.random.default_rng([seed,
    key])`: one generator moved from state to state (draw from it before the next), or
    `default_rng` itself where `pcg64_states` cannot say."""
    states = compiled_pcg64_states(seed, keys)
    if states is None:
        for key in np.asarray(keys).tolist():
            yield np.random.default_rng([seed, key])
        return
    bits = np.random.PCG64(0)
    generator = np.random.Generator(bits)
    for state, increment in states:
        bits.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": increment},
                      "has_uint32": 0, "uinteger": 0}
        yield generator
