"""The baseline's entry numbers in one compiled call (strategies/entry_kernel.py through
strategies/edge.entry_numbers) are, for every candidate, what the definitions give it alone,
bit for bit: its stop-first probability (`stop_first_probability`, the barrier series' array
form), its edge (`barrier_edge`), the round trip's cost (`round_trip_total` of
`quoted_spread`) and whether the edge clears the cost (`clears_cost`). Candidates mix usual
coins with NaN, infinite, zero and negative-zero drifts and volatilities, missing, crossed and
zero quotes, and series of one to hundreds of images."""

from __future__ import annotations

import math

import numpy as np
import pytest

from strategies.edge import (
    barrier_edge,
    clears_cost,
    entry_numbers,
    entry_settings,
    quoted_spread,
    round_trip_total,
    stop_first_probability,
)
from strategies.entry_kernel import INPUTS, NUMBERS


def _bits(x: float) -> str:
    """A float's exact value and sign (every NaN alike: no decision reads a payload)."""
    return "nan" if math.isnan(x) else float(x).hex()


def _candidates(rng: np.random.Generator, m: int) -> list[tuple[float, float, float, float, float]]:
    """(drift, sigma, score, bid, ask) of m candidates."""
    sigma = 10 ** rng.uniform(-6, -1, m)
    drift = rng.normal(0, 1, m) * sigma * 10 ** rng.uniform(-3, 1, m)
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


SETTINGS = [  # target %, stop %, horizon minutes, maker bps, taker bps, slippage bps, margin
    (1.0, 1.0, 60, 10.0, 10.0, 5.0, 0.5),
    (2.5, 0.5, 1440, 2.5, 7.5, 0.0, -1.0),
    (0.2, 3.05, 7, 0.0, 0.0, 5.0, 0.0),
    (1e-4, 1e-4, 1, 10.0, 10.0, 5.0, -0.0),
    (5.0, 100.0, 240, 10.0, 25.0, 12.5, 3.0),
]


@pytest.mark.parametrize("seed", range(10))
def test_each_candidates_numbers_are_the_definitions_of_it_alone_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    target, stop, horizon, maker, taker, slippage, margin = SETTINGS[seed % len(SETTINGS)]
    candidates = _candidates(rng, int(rng.integers(1, 40)))
    inputs = [x for drift, sigma, score, bid, ask in candidates
              for x in (-drift, sigma, score, bid, ask)]
    assert len(inputs) == INPUTS * len(candidates)
    got = entry_numbers(inputs, entry_settings(target, stop, horizon, maker, taker, slippage,
                                               margin))
    assert len(got) == NUMBERS * len(candidates)
    for i, (drift, sigma, score, bid, ask) in enumerate(candidates):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            p_stop = stop_first_probability(drift, sigma, target, stop, horizon)
        edge = barrier_edge(score, p_stop, target, stop)
        cost = round_trip_total(maker, taker, quoted_spread(bid, ask), slippage)
        expected = [p_stop, edge, cost, 1.0 if clears_cost(edge, cost, margin) else 0.0]
        assert [_bits(x) for x in got[NUMBERS * i:NUMBERS * (i + 1)]] == [
            _bits(x) for x in expected], (drift, sigma, score, bid, ask)


def test_a_candidates_numbers_do_not_depend_on_its_neighbours() -> None:
    # a wide series beside it (a tiny volatility needs hundreds of images) changes no bit
    rng = np.random.default_rng(99)
    alone = [-2e-4, 1e-3, 0.4, 99.9, 100.1]
    wide = [-1e-7, 1e-6, 0.3, 10.0, 10.01]
    settings = entry_settings(1.0, 1.0, 60, 10.0, 10.0, 5.0, 0.5)
    by_itself = entry_numbers(alone, settings)
    beside = entry_numbers(wide + alone + [float(x) for x in rng.uniform(size=5)], settings)
    assert [_bits(x) for x in beside[4:8]] == [_bits(x) for x in by_itself]


def test_no_candidates_give_no_numbers_and_a_nan_horizon_raises_as_the_definition() -> None:
    assert entry_numbers([], entry_settings(1.0, 1.0, 60, 10.0, 10.0, 5.0, 0.5)) == []
    with pytest.raises(ValueError):
        stop_first_probability(1e-4, 1e-3, 1.0, 1.0, math.nan)
    with pytest.raises(ValueError):
        entry_numbers([-1e-4, 1e-3, 0.5, 1.0, 1.01],
                      entry_settings(1.0, 1.0, math.nan, 10.0, 10.0, 5.0, 0.5))


def _text_code(value: float, decimals: int) -> float:
    """The code a value's "%.{decimals}f" text gives: 2 x its digits as a whole number, + 1
    when the text carries a minus sign."""
    text = f"%.{decimals}f" % value
    return 2.0 * int(text.lstrip("-").replace(".", "")) + text.startswith("-")


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
    settings = entry_settings(1.0, 1.0, 60, 10.0, 10.0, 5.0, 0.5)
    candidate = [-1e-4, 1e-3, 0.5, 99.9, 100.1]
    for places in range(5):
        pairs = [x for value in values for x in (value, float(places))]
        got = entry_numbers(candidate, settings, pairs)
        assert got[:NUMBERS] == entry_numbers(candidate, settings)  # the candidate's own
        codes = got[NUMBERS:]
        assert len(codes) == len(values)
        for value, code in zip(values, codes, strict=True):
            assert code == _text_code(value, places), (value, places)


def test_a_value_the_rounding_does_not_answer_for_has_a_nan_code() -> None:
    settings = entry_settings(1.0, 1.0, 60, 10.0, 10.0, 5.0, 0.5)
    odd = [math.nan, math.inf, -math.inf, 1e10, -3e15, 1.5]
    pairs = [x for value in odd for x in (value, 2.0)] + [1.5, 5.0, 1.5, 2.5, 1.5, -1.0]
    codes = entry_numbers([], settings, pairs)
    assert all(math.isnan(code) for code in codes[:5] + codes[6:])
    assert codes[5] == 2.0 * 150  # 1.5 to two places: "1.50"
