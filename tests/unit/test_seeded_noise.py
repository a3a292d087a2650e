"""Each minute's noise generator built from its computed PCG64 state is the generator
`np.random.default_rng([seed, minute])` builds, bit for bit (exchange/sim/seeded_noise.py),
and the tick block drawn with them is the one drawn minute by minute."""

from __future__ import annotations

import numpy as np
import pytest

from exchange.sim.seeded_noise import compiled_pcg64_states, pcg64_states, seeded_generators


def test_every_state_is_default_rngs() -> None:
    rng = np.random.default_rng(5)
    seeds = [0, 1, 7, 2**31, 2**32 - 1, *rng.integers(0, 2**32, 20).tolist()]
    keys = np.array([0, 1, 2**16, 29_000_000, 2**32 - 1,
                     *rng.integers(0, 2**32, 30).tolist()], dtype=np.int64)
    for seed in seeds:
        states = pcg64_states(seed, keys)
        assert states is not None
        assert compiled_pcg64_states(seed, keys) == states, seed  # the hash, compiled
        for key, computed in zip(keys.tolist(), states, strict=True):
            state = np.random.default_rng([seed, key]).bit_generator.state["state"]
            assert (state["state"], state["inc"]) == computed, (seed, key)


def test_the_generators_draw_what_default_rng_draws() -> None:
    keys = 28_000_000 + np.arange(0, 600, 7, dtype=np.int64)
    for seed in (7, 2**32 - 1, 12345):
        for key, generator in zip(keys.tolist(), seeded_generators(seed, keys), strict=True):
            expected = np.random.default_rng([seed, key])
            assert (generator.standard_normal((4, 4, 9)).tobytes()
                    == expected.standard_normal((4, 4, 9)).tobytes())
            assert generator.integers(0, 10**9, 5).tolist() == expected.integers(0, 10**9,
                                                                                   5).tolist()


def test_seeds_and_keys_of_more_than_one_word_take_default_rng() -> None:
    keys = np.array([5, 2**32, 2**40], dtype=np.int64)
    assert pcg64_states(7, keys) is None
    assert pcg64_states(2**32, keys[:1]) is None
    assert compiled_pcg64_states(7, keys) is None
    assert compiled_pcg64_states(2**32, keys[:1]) is None
    assert compiled_pcg64_states(-1, keys[:1]) is None
    for seed in (7, 2**33):
        for key, generator in zip(keys.tolist(), seeded_generators(seed, keys), strict=True):
            assert (generator.standard_normal(6).tobytes()
                    == np.random.default_rng([seed, key]).standard_normal(6).tobytes())


def test_the_compiled_hash_gives_every_state_of_a_block_of_minutes() -> None:
    rng = np.random.default_rng(8)
    for seed in (0, 7, 2**32 - 1, *rng.integers(0, 2**32, 5).tolist()):
        for start in (0, 28_000_000, 2**32 - 61, *rng.integers(0, 2**32 - 60, 5).tolist()):
            keys = start + np.arange(60, dtype=np.int64)
            assert compiled_pcg64_states(seed, keys) == pcg64_states(seed, keys), (seed, start)
    assert compiled_pcg64_states(7, np.zeros(0, dtype=np.int64)) == []


def test_without_numbas_ziggurat_tables_a_block_is_drawn_through_numpy_alike(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The compiled draws read numpy's tables from a private numba module; should a numba
    # release move it, the block comes from numpy's generators, with the same numbers.
    from exchange.sim import normal_kernel
    from exchange.sim.seeded_noise import seeded_normal_block

    keys = np.arange(5, 65, dtype=np.int64)
    compiled = seeded_normal_block(7, keys, (4, 3))
    monkeypatch.setattr(normal_kernel, "AVAILABLE", False)
    monkeypatch.setattr(normal_kernel, "seeded_normals", None)  # must not be called
    assert np.array_equal(seeded_normal_block(7, keys, (4, 3)), compiled)
    assert np.array_equal(compiled[3], np.random.default_rng([7, 8]).standard_normal((4, 3)))
