"""The baseline's entry step in one compiled call (strategies/entry_kernel.py through
strategies/edge.entry_step) weighs every coin as the definitions weigh it alone, bit for bit:
its edge (`barrier_edge` of the score and `stop_first_probability`, the barrier series' array
form), the round trip's cost (`round_trip_total` of `quoted_spread`) and whether the edge
clears the cost (`clears_cost`), whatever coins stand beside it; and its reasons' rounding
codes (`_fixed_code`) are the digits and sign of the "%.{d}f" texts. Coins mix usual ones
with NaN, infinite, zero and negative-zero drifts and volatilities, missing, crossed and zero
quotes, and series of one to hundreds of images."""

from __future__ import annotations

import math

import numpy as np
import pytest

from strategies.edge import entry_settings, entry_step, entry_step_settings
from strategies.entry_kernel import BUYS, FAILS, NO_QUOTE, _fixed_code
from tests.unit.test_entry_step_kernel import text_code, weighed


def _bits(x: float) -> str:
    """A float's exact value and sign (every NaN alike: no decision reads a payload)."""
    return "nan" if math.isnan(x) else float(x).hex()


def _candidates(rng: np.random.Generator, m: int) -> list[tuple[float, float, float, float, float]]:
    """(drift, sigma, score, bid, ask) of m candidates; drifts positive or odd (a drift
    not positive is never weighed)."""
    sigma = 10 ** rng.uniform(-6, -1, m)
    drift = np.abs(rng.normal(0, 1, m)) * sigma * 10 ** rng.uniform(-3, 1, m)
    score = rng.uniform(0, 1, m)
    mid = 10 ** rng.uniform(-4, 4, m)
    half = mid * rng.choice([0.0, 1e-6, 2e-4, 3e-3, -1e-4], m)  # negative: a crossed quote
    bid, ask = mid - half, mid + half
    odd = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-300]
    for column in (drift, sigma, score, bid, ask):
        hit = rng.random(m) < 0.08
        column[hit] = rng.choice(odd, hit.sum())
    return list(zip(drift.tolist(), sigma.tolist(), score.tolist(), bid.tolist(), ask.tolist(),
                    strict=True))


def _step(candidates: list[tuple[float, float, float, float, float]],
          settings: tuple[float, ...]) -> list[float]:
    """entry_step of `candidates` as ranked coins that are all weighed where their drift is
    positive and their bid usable: no minimum score, nothing held, an unused budget."""
    n = len(candidates)
    drift, sigma, score, bid, ask = (list(c) for c in zip(*candidates, strict=True))
    columns = [*score, *drift, *sigma, *[1.0] * n, *bid, *ask, *[0.0] * n]
    return entry_step(columns, n, entry_step_settings(entry_settings(*settings), -math.inf,
                                                      n + 1))
SETTINGS = [  # target %, stop %, horizon minutes, maker bps, taker bps, slippage bps, margin
    (1.0, 1.0, 60, 10.0, 10.0, 5.0, 0.5),
    (2.5, 0.5, 1440, 2.5, 7.5, 0.0, -1.0),
    (0.2, 3.05, 7, 0.0, 0.0, 5.0, 0.0),
    (1e-4, 1e-4, 1, 10.0, 10.0, 5.0, -0.0),
    (5.0, 100.0, 240, 10.0, 25.0, 12.5, 3.0),
]


@pytest.mark.parametrize("seed", range(10))
def test_each_coins_numbers_are_the_definitions_of_it_alone_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    settings = SETTINGS[seed % len(SETTINGS)]
    candidates = _candidates(rng, int(rng.integers(1, 40)))
    out = _step(candidates, settings)
    n = len(candidates)
    for k, (drift, sigma, score, bid, ask) in enumerate(candidates):
        kind = int(out[k])
        if drift <= 0 or not 0 < bid < math.inf:
            assert kind not in (BUYS, FAILS)
            continue
        edge, cost, clears = weighed(drift, sigma, score, bid, ask, settings)
        assert kind == (BUYS if clears else FAILS), (drift, sigma, score, bid, ask)
        assert [_bits(out[n + k]), _bits(out[2 * n + k])] == [_bits(edge), _bits(cost)]


def test_a_coins_numbers_do_not_depend_on_its_neighbours() -> None:
    # a wide series beside it (a tiny volatility needs hundreds of images) changes no bit
    rng = np.random.default_rng(99)
    alone = (2e-4, 1e-3, 0.4, 99.9, 100.1)
    wide = (1e-7, 1e-6, 0.3, 10.0, 10.01)
    noise = tuple(float(x) for x in rng.uniform(size=5))
    settings = SETTINGS[0]
    by_itself = _step([alone], settings)
    beside = _step([wide, alone, noise], settings)
    assert [_bits(x) for x in beside[1::3]] == [_bits(x) for x in by_itself]
    assert int(_step([(2e-4, 1e-3, 0.4, 0.0, 1.0)], settings)[0]) == NO_QUOTE


def _rounding_values(rng: np.random.Generator) -> list[float]:
    """Values across magnitudes, both signs, zeros, subnormals, exact ties at each number of
    places (j + 1/2) / 10^d that a float holds (j / 2^k), their neighbours and near-ties."""
    values = (rng.choice([-1.0, 1.0], 4000) * 10 ** rng.uniform(-12, 9.99, 4000)).tolist()
    for places in range(5):
        for j in rng.integers(0, 200_000, 300).tolist():
            tie = (j + 0.5) / 10**places
            values += [tie, -tie, math.nextafter(tie, 0.0), math.nextafter(tie, math.inf)]
    values += (rng.integers(1, 4000, 2000) / 2.0 ** rng.integers(1, 24, 2000)).tolist()
    values += [0.0, -0.0, 5e-324, -5e-324, 1e-310, 0.5, 1.5, 2.5, 0.125, 0.375, 0.03125,
               -0.03125, 9_999_999_999.0, 1e10 - 1e-6]
    return values


@pytest.mark.parametrize("seed", range(3))
def test_a_rounding_code_is_the_digits_and_sign_of_the_numbers_text(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = _rounding_values(rng)
    for places in range(5):
        for value in values:
            assert _fixed_code(value, float(places)) == text_code(value, places), (value, places)


def test_a_value_the_rounding_does_not_answer_for_has_a_nan_code() -> None:
    for value, places in [(math.nan, 2.0), (math.inf, 2.0), (-math.inf, 2.0), (1e10, 2.0),
                          (-3e15, 2.0), (1.5, 5.0), (1.5, 2.5), (1.5, -1.0)]:
        assert math.isnan(_fixed_code(value, places)), (value, places)
    assert _fixed_code(1.5, 2.0) == 2.0 * 150  # 1.5 to two places: "1.50"
