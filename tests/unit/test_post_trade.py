"""CandidateRisk: many candidates on one account give `post_trade_risk`'s figures bit for bit."""

from __future__ import annotations

import math
from dataclasses import astuple
from decimal import Decimal as D

import numpy as np
import pytest

from risk.gate import PortfolioView
from risk.post_trade import CandidateRisk
from risk.var import PortfolioRisk, ReturnHistory, post_trade_risk

SYMBOLS = tuple(f"C{i}USDT" for i in range(20))


def _history(seed: int, rows: int = 1440, leading_gap: int = 0, holes: int = 0) -> ReturnHistory:
    """Fat-tailed 1m returns; `leading_gap` rows of NaN at the top (a short warm-up) and
    `holes` scattered NaN/inf cells."""
    rng = np.random.default_rng(seed)
    returns = rng.standard_t(3, (rows, len(SYMBOLS))) * 0.002
    returns[:leading_gap] = np.nan
    for _ in range(holes):
        returns[rng.integers(rows), rng.integers(len(SYMBOLS))] = rng.choice([np.nan, np.inf])
    return ReturnHistory.of_bars(SYMBOLS, returns, 60_000)


def _bits(risk: PortfolioRisk) -> tuple[object, ...]:
    """The figures as exact bit patterns (NaN == NaN)."""
    return tuple(x.hex() if isinstance(x, float) else x for x in astuple(risk))


@pytest.mark.parametrize(("leading_gap", "holes"), [(0, 0), (360, 0), (0, 40), (700, 25)])
def test_every_candidate_gets_the_figures_of_post_trade_risk(leading_gap: int,
                                                             holes: int) -> None:
    history = _history(leading_gap + holes, leading_gap=leading_gap, holes=holes)
    rng = np.random.default_rng(7)
    for _ in range(20):
        held = rng.choice(SYMBOLS, size=rng.integers(0, 12), replace=False)
        values = {str(s): float(rng.uniform(50, 600)) for s in held}
        candidates = CandidateRisk(values, 10_000.0, history, 0.95, 1.0)
        for symbol in rng.choice(SYMBOLS, size=8, replace=False):
            order = float(rng.uniform(10, 500))
            expected = post_trade_risk(values, 10_000.0, history, str(symbol), order)
            assert _bits(candidates.risk(str(symbol), order)) == _bits(expected)


def test_without_the_normal_figures_the_historical_ones_are_the_same() -> None:
    history = _history(3, leading_gap=100)
    values = {"C1USDT": 400.0, "C2USDT": 300.0}
    candidates = CandidateRisk(values, 10_000.0, history, 0.95, 1.0)
    full = candidates.risk("C5USDT", 250.0)
    historical = candidates.risk("C5USDT", 250.0, normal=False)
    assert (historical.var_hist_frac, historical.es_hist_frac, historical.observations) == (
        full.var_hist_frac, full.es_hist_frac, full.observations)
    assert math.isnan(historical.var_param_frac) and math.isnan(historical.es_param_frac)


def test_a_symbol_without_history_raises_as_post_trade_risk_does() -> None:
    history = _history(4)
    candidates = CandidateRisk({"C1USDT": 400.0}, 10_000.0, history, 0.95, 1.0)
    with pytest.raises(KeyError, match="no return history for XUSDT"):
        candidates.risk("XUSDT", 100.0)
    held_unknown = CandidateRisk({"XUSDT": 400.0}, 10_000.0, history, 0.95, 1.0)
    with pytest.raises(KeyError, match="no return history for XUSDT"):
        held_unknown.risk("C1USDT", 100.0)


def test_too_few_complete_rows_raise_as_post_trade_risk_does() -> None:
    history = _history(5, rows=30, leading_gap=29)
    candidates = CandidateRisk({"C1USDT": 400.0}, 10_000.0, history, 0.95, 1.0)
    with pytest.raises(ValueError, match="only 1 complete return rows"):
        candidates.risk("C2USDT", 100.0)


def test_a_candidate_that_empties_a_holding_is_weighed_without_it() -> None:
    history = _history(6, leading_gap=50)
    values = {"C1USDT": 400.0, "C2USDT": 300.0}
    candidates = CandidateRisk(values, 10_000.0, history, 0.95, 1.0)
    expected = post_trade_risk(values, 10_000.0, history, "C2USDT", -300.0)
    assert _bits(candidates.risk("C2USDT", -300.0)) == _bits(expected)


def test_a_portfolio_view_keeps_one_candidate_risk_per_history() -> None:
    view = PortfolioView(equity=D(10000), cash=D(9000), positions={"C1USDT": (D(2), D(100))})
    history, other = _history(8), _history(9)
    first = view.candidate_risk(history, 0.95, 1.0)
    assert view.candidate_risk(history, 0.95, 1.0) is first
    assert view.candidate_risk(other, 0.95, 1.0) is not first
    assert view.candidate_risk(other, 0.99, 1.0).confidence == 0.99
