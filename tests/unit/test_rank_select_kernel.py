"""The minute's top-K selection and reasons' window order, compiled
(strategies/rank_select_kernel.py), are the array forms' bit for bit: the selection
`ranking._top_candidates` (eligible, finite, lexsort by score then symbol), the window order
and percentages `ranking_reasons._reasons_with_json`'s; and `rank` on a 1m matrix, which
takes the compiled path, gives the coins the array path gives."""

from __future__ import annotations

import numpy as np
import pytest

from model import libm
from strategies.rank_select_kernel import top_reasons_kernel
from strategies.ranking import _name_ranks, _top_candidates
from strategies.ranking_reasons import _reasons_from, _reasons_of_three, _reasons_with_json


def bits(values: list[float]) -> list[str]:
    return [float(v).hex() for v in values]


def random_scores(seed: int, n: int) -> dict[str, np.ndarray]:
    """Scores with the cases the selection must order as lexsort does: ties in score
    (signed zeros among them), NaN and inf probabilities, ineligible coins, duplicated
    and reordered symbols; contributions with ties, signed zeros, NaN and infinities."""
    rng = np.random.default_rng(seed)
    probability = rng.choice([0.0, -0.0, 0.25, 0.5, np.nan, np.inf], n) if seed % 3 == 0 \
        else rng.uniform(0, 1, n).round(int(rng.integers(1, 4)))
    probability[rng.uniform(size=n) < 0.1] = np.nan
    contributions = rng.normal(0, 1, (n, 4)) * 10.0 ** rng.integers(-6, 1, (n, 1))
    special = rng.uniform(size=(n, 4)) < 0.25
    contributions[special] = rng.choice([0.0, -0.0, 1e-3, -1e-3, np.nan, np.inf, -np.inf],
                                        int(special.sum()))
    return {"probability": probability, "eligible": rng.uniform(size=n) < 0.8,
            "drift": rng.normal(0, 1e-4, n), "sigma": rng.uniform(1e-4, 1e-2, n),
            "contributions": contributions,
            "returns": rng.normal(0, 1, (n, 4)) * 10.0 ** rng.integers(-6, 0, (n, 1))}


def symbols_of(seed: int, n: int) -> tuple[str, ...]:
    rng = np.random.default_rng(seed + 100)
    pool = [f"C{k:02d}USDT" for k in range(max(n // 2, 1))] + ["AB", "ABC", "B", "Ä"]
    return tuple(str(s) for s in rng.choice(pool, n))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(("n", "top_k"), [(0, 10), (1, 10), (7, 3), (20, 10), (40, 40),
                                          (300, 10)])
def test_the_compiled_top_k_and_reasons_are_the_array_forms(seed: int, n: int,
                                                            top_k: int) -> None:
    s = random_scores(seed, n)
    symbols = symbols_of(seed, n)
    (top, numbers, values, percents, order, shown, strong_values, strong_percents,
     codes) = top_reasons_kernel(
        s["probability"], s["eligible"], _name_ranks(symbols), top_k, s["drift"],
        s["sigma"], s["contributions"], s["returns"])
    expected = _top_candidates(s["probability"], s["eligible"], symbols, top_k)
    assert top.tolist() == expected.tolist()
    assert bits(numbers[:, 0]) == bits(s["probability"][expected])
    assert bits(numbers[:, 1]) == bits(s["drift"][expected])
    assert bits(numbers[:, 2]) == bits(s["sigma"][expected])
    contributions = s["contributions"][expected]
    assert np.array_equal(values, contributions, equal_nan=True)
    assert bits(values.ravel()) == bits(contributions.ravel())
    moves = libm.expm1(s["returns"][expected])
    assert bits(percents.ravel()) == bits((moves * 100).ravel())
    finite = np.isfinite(contributions)
    array_order = np.argsort(np.where(finite, -np.abs(contributions), np.inf), axis=-1,
                             kind="stable")
    assert order.tolist() == array_order.tolist()
    assert shown.tolist() == np.minimum(finite.sum(axis=-1), 3).tolist()
    assert _reasons_from(order.tolist(), shown.tolist(), values.tolist(),
                         percents.tolist()) == _reasons_with_json(contributions, moves)
    # the three strongest windows, flat: gathers of the rows by the order, and their code
    strongest = array_order[:, :3]
    assert bits(strong_values) == bits(np.take_along_axis(contributions, strongest, 1).ravel())
    assert bits(strong_percents) == bits(
        np.take_along_axis(moves * 100, strongest, 1).ravel())
    assert codes.tolist() == ((strongest[:, 0] * 4 + strongest[:, 1]) * 4
                              + strongest[:, 2]).tolist()
    three = finite.sum(axis=-1) >= 3
    if three.all():
        assert _reasons_of_three(codes.tolist(), strong_values.tolist(),
                                 strong_percents.tolist()) == _reasons_with_json(
                                     contributions, moves)


@pytest.mark.parametrize("seed", range(6))
def test_coins_that_all_show_three_windows_are_worded_from_the_flat_columns(seed: int) -> None:
    # the usual minute (every window known): `rank`'s fast path, held to the definition
    rng = np.random.default_rng(seed)
    contributions = rng.normal(0, 1, (10, 4)) * 10.0 ** rng.integers(-6, 1, (10, 1))
    contributions[rng.uniform(size=(10, 4)) < 0.2] = rng.choice([0.0, -0.0, 1e-3, -1e-3])
    returns = rng.normal(0, 1, (10, 4)) * 10.0 ** rng.integers(-6, 0, (10, 1))
    returns[0, :] = [np.nan, np.inf, -np.inf, 0.0]  # nan/inf percents print as words
    symbols = tuple(f"C{k}" for k in range(10))
    top, _, _, _, _, shown, strong_values, strong_percents, codes = top_reasons_kernel(
        rng.uniform(0, 1, 10), np.ones(10, dtype=bool), _name_ranks(symbols), 10,
        np.zeros(10), np.ones(10), contributions, returns)
    assert shown.tolist() == [3] * 10
    rows = top.tolist()
    assert _reasons_of_three(codes.tolist(), strong_values.tolist(),
                             strong_percents.tolist()) == _reasons_with_json(
                                 contributions[rows], libm.expm1(returns[rows]))
    assert _reasons_of_three([], [], []) == []


def test_equal_scores_go_by_symbol_then_by_row() -> None:
    # lexsort's order: higher score first; equal scores by name; equal names by row
    probability = np.array([0.5, 0.5, 0.7, 0.5, -0.0, 0.0])
    symbols = ("B", "A", "Z", "A", "D", "C")
    top, *_ = top_reasons_kernel(probability, np.ones(6, dtype=bool), _name_ranks(symbols),
                                 10, np.zeros(6), np.ones(6), np.zeros((6, 4)),
                                 np.zeros((6, 4)))
    assert top.tolist() == [2, 1, 3, 0, 5, 4]
    assert top.tolist() == _top_candidates(probability, np.ones(6, dtype=bool), symbols,
                                           10).tolist()
