"""The losses' tail without numpy's partition (risk/var_tail_kernel.py) and the gate's sure
pass on it (`CandidateRisk.surely_within`): sure only where the full figures pass."""

from __future__ import annotations

import math

import numpy as np
import pytest

from risk.post_trade import VAR_OVER, CandidateRisk
from risk.var import ReturnHistory, _tail_index
from risk.var_tail_kernel import loss_tail

SYMBOLS = tuple(f"C{i}USDT" for i in range(20))


def _history(seed: int, rows: int = 1440, holes: int = 0) -> ReturnHistory:
    """Fat-tailed 1m returns, `holes` NaN cells scattered."""
    rng = np.random.default_rng(seed)
    returns = rng.standard_t(3, (rows, len(SYMBOLS))) * 0.002
    for _ in range(holes):
        returns[rng.integers(rows), rng.integers(len(SYMBOLS))] = np.nan
    return ReturnHistory.of_bars(SYMBOLS, returns, 60_000)


@pytest.mark.parametrize("rows", [20, 31, 137, 1440])
def test_the_kth_loss_is_numpys_and_the_tail_sums_the_same_values(rows: int) -> None:
    rng = np.random.default_rng(rows)
    for _ in range(50):
        pnl = rng.standard_t(3, rows) * rng.uniform(0.1, 100)
        pnl[rng.integers(rows, size=rows // 10)] = pnl[0]  # ties
        k = _tail_index(rows, 0.95)
        losses = -pnl[:, None]
        part = np.partition(losses, k - 1, axis=0)
        var, total, magnitude = loss_tail(pnl, k)
        assert var == part[k - 1, 0]  # the same float, whatever the order
        tail = np.sort(-pnl)[k:]
        assert math.isclose(total, math.fsum(tail), rel_tol=1e-12, abs_tol=1e-300)
        assert math.isclose(magnitude, math.fsum(np.abs(tail)), rel_tol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 99, 100])
def test_every_k_from_the_smallest_to_the_largest_loss(k: int) -> None:
    pnl = np.random.default_rng(k).normal(0, 1, 100)
    var, total, magnitude = loss_tail(pnl, k)
    ordered = np.sort(-pnl)
    assert var == ordered[k - 1]
    assert math.isclose(total, math.fsum(ordered[k:]), rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(magnitude, math.fsum(np.abs(ordered[k:])), rel_tol=1e-12,
                        abs_tol=1e-300)


def test_a_loss_that_is_not_finite_gives_nan_for_the_full_form() -> None:
    pnl = np.random.default_rng(3).normal(0, 1, 50)
    for bad in (np.nan, np.inf, -np.inf):
        pnl[17] = bad
        assert all(math.isnan(x) for x in loss_tail(pnl, 40))


def _figures(candidates: CandidateRisk, symbol: str, order: float) -> tuple[float, float, int]:
    risk = candidates.risk(symbol, order, normal=False)
    return risk.var_hist_frac, risk.es_hist_frac, risk.observations


def test_sure_only_where_the_full_figures_pass_even_a_float_away_from_the_limit() -> None:
    """Limits at each figure and one float either side of it: a pass is claimed only where
    `risk`'s figures pass, and claimed where they pass clear of the limit."""
    history = _history(1)
    rng = np.random.default_rng(2)
    claimed = 0
    for _ in range(150):
        held = rng.choice(SYMBOLS, size=rng.integers(0, 9), replace=False)
        values = {str(s): float(rng.uniform(50, 600)) for s in held}
        candidates = CandidateRisk(values, 10_000.0, history, 0.95, 1.0)
        symbol, order = str(rng.choice(SYMBOLS)), float(rng.uniform(10, 500))
        var, es, observations = _figures(candidates, symbol, order)
        for var_limit in (math.nextafter(var, -math.inf), var, var * 1.01):
            for es_limit in (math.nextafter(es, -math.inf), es, math.nextafter(es, math.inf),
                             es * 1.01):
                sure = candidates.surely_within(symbol, order, var_limit, es_limit, 100)
                if sure:
                    claimed += 1
                    assert var <= var_limit and es <= es_limit
                if var_limit > var and es_limit > es * 1.001:
                    assert sure
        assert not candidates.surely_within(symbol, order, 1.0, 1.0, observations + 1)
    assert claimed > 150


def test_not_sure_for_what_the_full_form_handles_alone() -> None:
    """Gaps (rows differ by candidate), a symbol without history, an emptied holding, too
    little history: the caller asks `risk`, which answers or raises as it always has."""
    values = {"C1USDT": 400.0, "C2USDT": 300.0}
    gappy = CandidateRisk(values, 10_000.0, _history(3, holes=30), 0.95, 1.0)
    assert not gappy.surely_within("C5USDT", 250.0, 1.0, 1.0, 10)
    complete = CandidateRisk(values, 10_000.0, _history(4), 0.95, 1.0)
    assert complete.surely_within("C5USDT", 250.0, 1.0, 1.0, 10)
    assert not complete.surely_within("XUSDT", 250.0, 1.0, 1.0, 10)
    assert not complete.surely_within("C2USDT", -300.0, 1.0, 1.0, 10)
    assert not complete.surely_within("C5USDT", 250.0, 1.0, 1.0, 1441)
    broke = CandidateRisk(values, 0.0, _history(4), 0.95, 1.0)
    assert not broke.surely_within("C5USDT", 250.0, 1.0, 1.0, 10)


def test_after_a_pass_it_was_not_sure_of_risk_gives_the_figures_it_always_gave() -> None:
    """`risk` reuses the P&L `surely_within` just made for the same candidate (the same
    weights): the figures are a fresh account's, to the bit, and another candidate's are
    its own."""
    history = _history(6)
    rng = np.random.default_rng(6)
    for _ in range(40):
        held = rng.choice(SYMBOLS, size=rng.integers(0, 6), replace=False)
        values = {str(s): float(rng.uniform(50, 600)) for s in held}
        symbol, other = (str(s) for s in rng.choice(SYMBOLS, 2, replace=False))
        order = float(rng.uniform(10, 500))
        asked = CandidateRisk(values, 10_000.0, history, 0.95, 1.0)
        assert not asked.surely_within(symbol, order, -1.0, -1.0, 100)
        for candidate, value in ((symbol, order), (other, order), (symbol, order * 2)):
            fresh = CandidateRisk(values, 10_000.0, history, 0.95, 1.0)
            assert asked.risk(candidate, value) == fresh.risk(candidate, value)


def test_a_var_surely_over_its_limit_is_the_full_figures_var() -> None:
    """Where the VaR alone decides (over its limit), the sure verdict gives `risk`'s own
    `var_hist_frac` and rows, from which the gate words the same denial."""
    history = _history(8)
    rng = np.random.default_rng(8)
    over = 0
    for _ in range(60):
        held = rng.choice(SYMBOLS, size=rng.integers(0, 6), replace=False)
        values = {str(s): float(rng.uniform(50, 600)) for s in held}
        candidates = CandidateRisk(values, 10_000.0, history, 0.95, 1.0)
        symbol, order = str(rng.choice(SYMBOLS)), float(rng.uniform(10, 500))
        var, _, observations = _figures(candidates, symbol, order)
        for limit in (math.nextafter(var, -math.inf), var, var * 0.5):
            verdict, var_frac, rows = candidates.sure_verdict(symbol, order, limit, 1.0, 100)
            if var > limit:
                over += 1
                assert (verdict, var_frac, rows) == (VAR_OVER, var, observations)
            else:
                assert verdict != VAR_OVER
    assert over == 120
