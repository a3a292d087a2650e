"""Refine a fit on 1h bars by simulated method of moments: every free parameter moved
together until the model's own panel reads like the data on the report's statistics.

Why: `calibrate.fit` moves one parameter per statistic by a ratio, round after round. On 1h
bars of liquid pairs the statistics answer several parameters at once (the |r|
autocorrelation answers the market's and each coin's volatility states, the tails answer
both, the bar spreads answer the pricing error and the half-spread) and the corrections
stall: fitted on Binance 2018-19, the model's own panel was within the report's limits on
8 of 19 rows of that very data. A panel that reads like its data passes the report against
another period wherever the two real periods are close, which is what the report asks.

The objective is the report's: every row of `fact_gap.gap` for a simulated panel shaped like
the data against the data, each gap in units of the row's scale, squared and summed; the
hour-of-day row is left out (its profile is fitted directly and no searched parameter moves
it). A row's scale is the limit the report would set with the data's two halves as the
yardstick (nothing from another period), but at most `RESOLUTION` and never below the
report's own floor for the row: a statistic on which the two halves disagree (2018 against
2019, cross-coin correlation: a limit of 0.45) would otherwise be left free to drift, and
the aim is a panel that reads like its data, not one as far off as the data's own halves.
One seed for every evaluation (common random numbers): the objective is deterministic, so
Nelder-Mead (scipy) can search it, and the same data, seed and budget give the same
parameters. `evaluations` bounds the cost: ~0.8 s each on 21 coins x 2 years of hours. The
search moves log-multipliers of the fitted values (`SEARCHED`; a field the fit left at 0
stays 0), clipped to +-`MAX_LOG_STEP` and then to each field's range, and starts the
market-wide volatility state (which `fit` leaves at 0) at `MARKET_VOL_START`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize

from exchange.sim.calibrate import REFINE_EVALUATIONS_1H, simulate_panel
from exchange.sim.fact_gap import GapRow, gap
from exchange.sim.market_params import COIN_FIELDS, SCALAR_FIELDS, MarketParams
from exchange.sim.stylized_facts import Panel, stylized_facts
from model import libm

#: What the search moves, in this order: a field (all coins alike for per-coin fields), a
#: half-life ("half_life:FIELD" for an AR(1) coefficient) or odds ("odds:FIELD"); "range" is
#: `range_bridge` where the params draw the range as a bridge, else `range_reach`. The coins'
#: no-trade odds are not searched: on 1h data the quiet bars are the market's halts, read
#: directly (market_halts), and the search used the odds as a free knob for other rows (the
#: halves' yardstick for no-trade hours is wide: 2018's outages against 2019's), leaving
#: the refined Binance 2018-19 fit's own panel with 0.6-0.7 % quiet hours against 0.42 %.
SEARCHED = (
    "vol_fast_var", "vol_slow_var", "half_life:vol_fast_persistence",
    "half_life:vol_slow_persistence", "factor_vol_per_min", "factor_lag_min",
    "half_spread_bps", "odds:quote_refresh_prob", "transient_vol_ratio",
    "volume_vol_link", "volume_shock_link", "tail_df", "market_vol_var",
    "half_life:market_vol_persistence", "range", "range_run_on",
)
#: The market-wide volatility state's start: variance and half-life in bars (a day of hours).
MARKET_VOL_START = (0.3, 24.0)
MAX_LOG_STEP = 3.0  # a multiplier of e^3 at most either way
INITIAL_STEP = 0.4  # the starting simplex: each multiplier e^0.4 once
LEFT_OUT_ROWS = ("hour-of-day",)
RESOLUTION = 0.05  # a row's largest scale (the report's ACF and KS floors)


@dataclass(frozen=True, slots=True)
class Refinement:
    """The refined parameters and how far the search got."""

    params: MarketParams
    score_before: float  # the objective at the start (the fit, its market state started)
    score: float  # at the refined parameters (never above score_before)
    evaluations: int  # simulations run (at most the budget; fewer if the search converged)
    within_before: int  # report rows within their limits (the halves' yardstick) at the start
    within: int


def refine(params: MarketParams, panel: Panel, *, seed: int = 0,
           evaluations: int = REFINE_EVALUATIONS_1H,
           progress: Callable[[int, int], None] | None = None) -> Refinement:
    """`params` (a fit of `panel`) moved to where the model's panel of `panel`'s shape is
    closest to `panel` on the report's statistics; see the module docstring."""
    if evaluations < 1:
        raise ValueError(f"evaluations must be at least 1, got {evaluations}")
    start = with_market_start(params)
    target = stylized_facts(panel)
    first, second = (stylized_facts(half) for half in panel.halves())
    floors = [row.limit for row in gap(target, target, target, target)]  # no yardstick
    best: list[tuple[float, np.ndarray]] = []  # (score, x) of the best point so far
    count = [0]

    def rows_of(candidate: MarketParams) -> list[GapRow]:
        simulated = simulate_panel(candidate, minutes=panel.minutes, start_ms=panel.start_ms,
                                   seed=seed, coins=panel.coins)
        return gap(stylized_facts(simulated), target, first, second)

    def objective(x: np.ndarray) -> float:
        if count[0] >= evaluations:
            raise _BudgetSpent
        count[0] += 1
        value = score(rows_of(moved(start, x)), floors)
        if not best or value < best[0][0]:
            best[:] = [(value, np.array(x, float))]
        if progress is not None:
            progress(count[0], evaluations)
        return value

    x0 = np.zeros(len(SEARCHED))
    before = objective(x0)
    simplex = np.vstack([x0, x0 + INITIAL_STEP * np.eye(len(SEARCHED))])
    try:
        minimize(objective, x0, method="Nelder-Mead",
                 options={"initial_simplex": simplex, "adaptive": True, "xatol": 1e-3,
                          "fatol": 1e-3, "maxfev": 10 * evaluations})
    except _BudgetSpent:
        pass
    value, x = best[0]
    refined = moved(start, x)
    return Refinement(refined, before, value, count[0], _within(rows_of(start)),
                      _within(rows_of(refined)))


class _BudgetSpent(Exception):
    """Raised inside the search when `evaluations` simulations have run."""


def score(rows: list[GapRow], floors: list[float]) -> float:
    """Sum of (gap / scale)^2 over the report's rows, the scale as the module docstring says
    (`floors`: each row's limit without a yardstick); a row without a number adds 25, as far
    off as 5 scales."""
    total = 0.0
    for row, floor in zip(rows, floors, strict=True):
        if row.statistic.startswith(LEFT_OUT_ROWS):
            continue
        if not (math.isfinite(row.gap) and math.isfinite(row.limit)):
            total += 25.0
            continue
        scale = max(min(row.limit, RESOLUTION), floor if math.isfinite(floor) else 0.0)
        total += (row.gap / max(scale, 1e-6)) ** 2
    return total


def moved(params: MarketParams, x: np.ndarray) -> MarketParams:
    """`params` with each of `SEARCHED` multiplied by exp(x) (clipped as the docstring says)."""
    factors = libm.exp(np.clip(np.asarray(x, float), -MAX_LOG_STEP, MAX_LOG_STEP))
    changes: dict[str, object] = {}
    for what, factor in zip(SEARCHED, factors.tolist(), strict=True):
        if factor == 1.0:
            continue  # unmoved: the fitted value to the bit
        kind, _, name = what.rpartition(":")
        if name == "range":  # whichever rule draws the bars' range (market_model)
            name = "range_bridge" if params.range_bridge > 0 else "range_reach"
        value = np.asarray(getattr(params, name), float)
        if kind == "half_life":
            new = _coefficient(_half_life(value) * factor)
        elif kind == "odds":
            odds = value / np.maximum(1.0 - value, 1e-12) * factor
            new = odds / (1.0 + odds)
        else:  # a field at 0 stays 0: the fit found none of it
            new = value * factor
        low, high = COIN_FIELDS.get(name) or SCALAR_FIELDS[name]
        new = np.clip(new, low, high)
        changes[name] = tuple(new.tolist()) if new.ndim else float(new)
    return replace(params, **changes)  # type: ignore[arg-type]


def with_market_start(params: MarketParams) -> MarketParams:
    """The fit with the market-wide volatility state at its start, if the fit has none."""
    if params.market_vol_var > 0:
        return params
    variance, half_life = MARKET_VOL_START
    return replace(params, market_vol_var=variance,
                   market_vol_persistence=float(_coefficient(np.asarray(half_life))))


def _half_life(coefficient: np.ndarray) -> np.ndarray:
    """Bars until an AR(1) of this coefficient halves (a coefficient is read as 0.001 at
    least: a tenth of a bar)."""
    safe = np.clip(coefficient, 0.001, 0.99999)
    return -math.log(2) / libm.log(safe)


def _coefficient(half_life: np.ndarray) -> np.ndarray:
    return libm.exp(-math.log(2) / np.maximum(half_life, 1e-3))


def _within(rows: list[GapRow]) -> int:
    return sum(row.verdict == "within" for row in rows)

