"""Each minute's normal draws, compiled (exchange/sim/normal_kernel.py), are the draws of
`np.random.default_rng([seed, minute]).standard_normal(...)`, bit for bit: for seeds and
keys across their one-word range, in numbers that reach the ziggurat's tail and wedges
many times, and through `seeded_normal_block`'s generator path where a seed or key is more
than one word."""

from __future__ import annotations

import numpy as np

from exchange.sim.normal_kernel import seeded_normals
from exchange.sim.seed_kernel import seed_words
from exchange.sim.seeded_noise import seeded_normal_block


def test_every_draw_is_default_rngs() -> None:
    rng = np.random.default_rng(3)
    for seed in (0, 7, 2**32 - 1, *rng.integers(0, 2**32, 4).tolist()):
        keys = np.array([0, 1, 2**31, 2**32 - 1, *rng.integers(0, 2**32, 6).tolist()],
                        dtype=np.int64)
        out = np.empty((len(keys), 20_000))
        seeded_normals(seed_words(seed, keys), out)
        for row, key in zip(out, keys.tolist(), strict=True):
            expected = np.random.default_rng([seed, key]).standard_normal(20_000)
            assert row.tobytes() == expected.tobytes(), (seed, key)
        # The ziggurat's tail (|x| > 3.654...) was drawn: its slow path is held too.
        assert (np.abs(out) > 3.6541528853610088).sum() > 20


def test_a_block_has_each_minutes_draws_in_its_shape() -> None:
    keys = 28_000_000 + np.arange(60, dtype=np.int64)
    for seed in (7, 2**32 - 1):
        block = seeded_normal_block(seed, keys, (4, 4, 9))
        assert block.shape == (60, 4, 4, 9)
        for b, key in enumerate(keys.tolist()):
            expected = np.random.default_rng([seed, key]).standard_normal((4, 4, 9))
            assert block[b].tobytes() == expected.tobytes()


def test_seeds_and_keys_of_more_than_one_word_draw_from_default_rng() -> None:
    for seed, keys in ((7, [5, 2**32, 2**40]), (2**33, [5, 6])):
        block = seeded_normal_block(seed, np.array(keys, dtype=np.int64), (3, 2))
        for row, key in zip(block, keys, strict=True):
            expected = np.random.default_rng([seed, key]).standard_normal((3, 2))
            assert row.tobytes() == expected.tobytes()
