"""A baseline entry step in one compiled call (strategies/edge.entry_step, strategies/
entry_kernel.entry_step_kernel) makes of every ranked coin what the step's plain form makes
of it: the first reason that applies (held or ordered, a score below the minimum, a drift
not positive, no quote or no usable bid), else the coin is weighed by the definitions of it
alone, bit for bit (`stop_first_probability`, `barrier_edge`, `round_trip_total` of
`quoted_spread`, `clears_cost`), and bought while its edge clears the cost until the entry
budget is used; every coin after the entry that used it, and every coin at a budget of 0,
holds for the budget (or as held). The score's and the drift's rounding codes are the digits
and sign of their "%.2f" and "%.4f" texts. Rankings mix usual coins with NaN, infinite, zero
and negative-zero numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from strategies.edge import (
    barrier_edge,
    clears_cost,
    entry_settings,
    entry_step,
    entry_step_settings,
    quoted_spread,
    round_trip_total,
    stop_first_probability,
)
from strategies.entry_kernel import BUSY, BUYS, FAILS, FULL, LOW_SCORE, NO_DRIFT, NO_QUOTE

SETTINGS = [  # target %, stop %, horizon minutes, maker bps, taker bps, slippage bps, margin
    (1.0, 1.0, 60, 10.0, 10.0, 5.0, 0.5),
    (2.5, 0.5, 1440, 2.5, 7.5, 0.0, -1.0),
    (0.2, 3.05, 7, 0.0, 0.0, 5.0, 0.0),
    (5.0, 100.0, 240, 10.0, 25.0, 12.5, 3.0),
]


def _bits(x: float) -> str:
    """A float's exact value and sign (every NaN alike: no decision reads a payload)."""
    return "nan" if math.isnan(x) else float(x).hex()


def text_code(value: float, decimals: int) -> float:
    """The code of a value's "%.{decimals}f" text: 2 x its digits as a whole number, + 1
    when the text carries a minus sign; NaN where the kernel does not answer (NaN,
    infinities, |value| >= 1e10)."""
    if not math.isfinite(value) or abs(value) >= 1e10:
        return math.nan
    text = f"%.{decimals}f" % value
    return 2.0 * int(text.lstrip("-").replace(".", "")) + text.startswith("-")


def weighed(drift: float, sigma: float, score: float, bid: float, ask: float,
            settings: tuple[float, ...]) -> tuple[float, float, bool]:
    """(edge, cost, clears) of one coin by the definitions, under (target %, stop %, horizon
    minutes, maker bps, taker bps, slippage bps, margin)."""
    target, stop, horizon, maker, taker, slippage, margin = settings
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p_stop = stop_first_probability(drift, sigma, target, stop, horizon)
    edge = barrier_edge(score, p_stop, target, stop)
    cost = round_trip_total(maker, taker, quoted_spread(bid, ask), slippage)
    return edge, cost, clears_cost(edge, cost, margin)


def _ranking(rng: np.random.Generator, n: int) -> list[list[float]]:
    """Columns score, drift, sigma, quoted, bid, ask, busy of n ranked coins."""
    sigma = 10 ** rng.uniform(-5, -2, n)
    drift = rng.normal(0, 1, n) * sigma * 10 ** rng.uniform(-2, 0.5, n)
    score = rng.uniform(0, 1, n)
    mid = 10 ** rng.uniform(-3, 3, n)
    half = mid * rng.choice([0.0, 1e-6, 2e-4, 3e-3, -1e-4], n)
    bid, ask = mid - half, mid + half
    odd = [math.nan, math.inf, -math.inf, 0.0, -0.0]
    for column in (score, drift, sigma, bid, ask):
        hit = rng.random(n) < 0.08
        column[hit] = rng.choice(odd, hit.sum())
    quoted = np.where(rng.random(n) < 0.1, rng.choice([math.nan, math.inf], n), mid)
    busy = (rng.random(n) < 0.15).astype(float)
    return [c.tolist() for c in (score, drift, sigma, quoted, bid, ask, busy)]


def _plain(columns: list[list[float]], settings: tuple[float, ...], min_score: float,
           max_entries: int) -> list[tuple[int, float, float, float]]:
    """(kind, code, edge, cost) of each coin, one coin at a time."""
    made: list[tuple[int, float, float, float]] = []
    entries = 0
    full = max_entries <= 0
    for score, drift, sigma, quoted, bid, ask, busy in zip(*columns, strict=True):
        if full:
            made.append((BUSY if busy else FULL, 0.0, 0.0, 0.0))
        elif busy:
            made.append((BUSY, 0.0, 0.0, 0.0))
        elif score < min_score:
            made.append((LOW_SCORE, text_code(score, 2), 0.0, 0.0))
        elif drift <= 0:
            made.append((NO_DRIFT, text_code(drift * 100, 4), 0.0, 0.0))
        elif not math.isfinite(quoted) or not 0 < bid < math.inf:
            made.append((NO_QUOTE, 0.0, 0.0, 0.0))
        else:
            edge, cost, buys = weighed(drift, sigma, score, bid, ask, settings)
            made.append((BUYS if buys else FAILS, 0.0, edge, cost))
            entries += buys
            full = buys and entries >= max_entries
    return made


@pytest.mark.parametrize("seed", range(12))
def test_each_coin_comes_to_what_the_plain_step_makes_of_it_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for case in range(40):
        n = int(rng.integers(1, 16))
        columns = _ranking(rng, n)
        min_score = float(rng.choice([0.2, 0.0, 0.35, 0.999]))
        max_entries = int(rng.choice([3, 1, 2, 0, 50]))
        raw = SETTINGS[case % len(SETTINGS)]
        out = entry_step([x for column in columns for x in column], n,
                         entry_step_settings(entry_settings(*raw), min_score, max_entries))
        got = [(int(out[k]), out[n + k], out[n + k], out[2 * n + k]) for k in range(n)]
        want = _plain(columns, raw, min_score, max_entries)
        for (kind, code, edge, cost), (kind_, code_, edge_, cost_) in zip(got, want, strict=True):
            assert kind == kind_
            if kind in (LOW_SCORE, NO_DRIFT):
                assert _bits(code) == _bits(code_)
            if kind in (FAILS, BUYS):
                assert (_bits(edge), _bits(cost)) == (_bits(edge_), _bits(cost_))


def test_no_coins_give_no_outputs_and_a_nan_horizon_raises_as_the_definition() -> None:
    settings = entry_step_settings(entry_settings(1.0, 1.0, 60, 10.0, 10.0, 5.0, 0.5), 0.2, 3)
    assert entry_step([], 0, settings) == []
    with pytest.raises(ValueError):
        stop_first_probability(1e-4, 1e-3, 1.0, 1.0, math.nan)
    odd = entry_step_settings(entry_settings(1.0, 1.0, math.nan, 10.0, 10.0, 5.0, 0.5), 0.2, 0)
    weighed_coin = [0.5, 1e-4, 1e-3, 1.0, 1.0, 1.01, 0.0]  # one coin that passes to weighing
    with pytest.raises(ValueError):
        entry_step(weighed_coin, 1, odd)  # also at a budget of 0, as its definition raises
