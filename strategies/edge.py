"""Cost-aware entries: an entry's expected edge against what its round trip costs.

The rule-based policies lost to flat after costs because they entered whenever a signal
pointed up, however little it promised (issue 17: turnover and fees dominate). Here an
entry must promise more than the round trip takes, by a margin:

    edge > cost x (1 + margin)

both as fractions of the entry price (`clears_cost`).

Cost of a round trip (`round_trip_cost`), in return terms:

- the entry fee and the exit fee, in bps: the taker fee for a side that takes the touch
  (a marketable limit), the maker fee for one that rests. Each policy says which it pays;
- the relative spread, (ask - bid) / mid of the decision's quote (`quoted_spread`). In a
  bar backtest that quote is the book the fill model synthesizes from the symbol's
  estimated spread, never under one tick (model/costs.py, ADR-084), so the engine and the
  fast backtester, reading the same quote, charge the same spread; live it is the real
  book's. Unknown (no bid or ask): no spread is charged, the fees and slippage still are;
- a slippage allowance, `SLIPPAGE_ALLOWANCE_BPS`: the fill model (model/fills.py) walks a
  book synthesized from the top of book, so what a marketable order pays beyond the touch
  depends on its size against the bar's volume and has no closed form. An order within the
  top level pays nothing more; a stop exit on a thin coin walks a level or two. 5 bps is
  an allowance for that, not a measurement.

Expected edge (`barrier_edge`) of the rank-entry baseline: it buys, then sells at the
target or at the stop, so edge = p x target - q x stop with p = P(target before stop within
the horizon) (its score, strategies/ranking.py) and q = P(stop before target within the
horizon) (`stop_first_probability`, the same barrier series mirrored). A path that touches
neither within the horizon counts as zero. Why not (1 - p) x stop: (1 - p) counts every
such path as a full stop loss, and with the default symmetric 1 % barriers an entry would
then need p > 0.5, which the baseline's own docstring says almost never happens: that
would be "never trade", not "trade when it pays".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from model import libm
from strategies.barrier import MAX_IMAGES, probability_up_first
from strategies.entry_kernel import (
    DOWN,
    ENTRY_FEE_BPS,
    EXIT_FEE_BPS,
    HORIZON_MINUTES,
    MARGIN,
    MAX_IMAGES_SETTING,
    SETTINGS,
    SLIPPAGE_BPS,
    STOP_RETURN_PCT,
    TARGET_RETURN_PCT,
    UP,
    entry_step_kernel,
)

#: What a marketable order is assumed to pay beyond the touch (see the module docstring).
SLIPPAGE_ALLOWANCE_BPS = 5.0
#: `[trading] edge_cost_margin`'s default: an edge must beat the cost by half again.
DEFAULT_EDGE_COST_MARGIN = 0.5
BPS = 1e-4


@dataclass(frozen=True, slots=True)
class RoundTripCost:
    """What buying and later selling one unit costs, each part in bps of the entry price
    (the spread per cell when the quotes are an array)."""

    entry_fee_bps: float
    exit_fee_bps: float
    spread_bps: float | np.ndarray
    slippage_bps: float

    @property
    def total(self) -> float | np.ndarray:
        """The whole round trip as a fraction of the entry price."""
        return (self.entry_fee_bps + self.exit_fee_bps + self.spread_bps
                + self.slippage_bps) * BPS


def round_trip_total(entry_fee_bps: float, exit_fee_bps: float, spread: float,
                     slippage_bps: float = SLIPPAGE_ALLOWANCE_BPS) -> float:
    """`round_trip_cost(entry_fee_bps, exit_fee_bps, spread, slippage_bps).total` of one
    quote's `spread` (a fraction), without the parts' object: the same operations in the
    same order, so the same bits (a policy weighs it for each of its candidates)."""
    return (entry_fee_bps + exit_fee_bps + spread / BPS + slippage_bps) * BPS


def quoted_spread(bid: float, ask: float) -> float:
    """(ask - bid) / mid of one quote, as a fraction; 0.0 when either side is unknown or
    the quote is crossed (no spread to charge)."""
    if not (math.isfinite(bid) and math.isfinite(ask)) or bid <= 0 or ask <= bid:
        return 0.0
    return (ask - bid) / ((ask + bid) / 2)


def quoted_spreads(bid: np.ndarray, ask: np.ndarray) -> np.ndarray:
    """`quoted_spread` of every cell of two arrays of one shape (the fast backtester's
    step quotes [K, n]); the same numbers as the scalar, cell by cell."""
    bid, ask = np.asarray(bid, np.float64), np.asarray(ask, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = (ask - bid) / ((ask + bid) / 2)
        usable = np.isfinite(bid) & np.isfinite(ask) & (bid > 0) & (ask > bid)
    return np.where(usable, spread, 0.0)


def round_trip_cost(entry_fee_bps: float, exit_fee_bps: float, spread: float | np.ndarray,
                    slippage_bps: float = SLIPPAGE_ALLOWANCE_BPS) -> RoundTripCost:
    """The round trip's cost parts; `spread` is a fraction (`quoted_spread`, or
    `quoted_spreads` of a batch's steps)."""
    return RoundTripCost(entry_fee_bps, exit_fee_bps, spread / BPS, slippage_bps)


def barrier_logs(target_return_pct: float, stop_return_pct: float) -> tuple[float, float]:
    """(up, down): the log distances to the target and the stop, as Python floats. The same
    two settings every step, so the two libm calls are made once per pair (`_barrier_logs`,
    keyed with each value's sign: -0.0 and 0.0 are equal keys but not equal logs)."""
    return _barrier_logs(target_return_pct, math.copysign(1.0, target_return_pct),
                         stop_return_pct, math.copysign(1.0, stop_return_pct))


@lru_cache(maxsize=64)
def _barrier_logs(target_return_pct: float, _target_sign: float, stop_return_pct: float,
                  _stop_sign: float) -> tuple[float, float]:
    """`barrier_logs` computed: a 100% stop is a barrier at log(0) = -inf; 99.99% is the
    same for any real horizon."""
    up = libm.log1p(target_return_pct / 100)
    down = -libm.log1p(-min(stop_return_pct, 99.99) / 100)
    return float(up), float(down)


def stop_first_probability(drift: float, sigma: float, target_return_pct: float,
                           stop_return_pct: float, horizon_minutes: float) -> float:
    """P(the stop before the target within the horizon): the ranking's barrier probability
    (strategies/ranking.barrier_probability) with the barriers swapped and the drift
    negated; NaN without a volatility estimate."""
    up, down = barrier_logs(target_return_pct, stop_return_pct)
    return float(probability_up_first(down, up, -drift, sigma, horizon_minutes))


def entry_settings(target_return_pct: float, stop_return_pct: float, horizon_minutes: float,
                   entry_fee_bps: float, exit_fee_bps: float, slippage_bps: float,
                   margin: float) -> np.ndarray:
    """The settings an entry step weighs candidates under, as the one array its kernel
    reads (strategies/entry_kernel.py's layout, the barrier logs included): made once per
    set of settings, not at every step."""
    settings = np.empty(SETTINGS)
    settings[UP], settings[DOWN] = barrier_logs(target_return_pct, stop_return_pct)
    settings[HORIZON_MINUTES] = horizon_minutes
    settings[MAX_IMAGES_SETTING] = MAX_IMAGES
    settings[TARGET_RETURN_PCT] = target_return_pct
    settings[STOP_RETURN_PCT] = stop_return_pct
    settings[ENTRY_FEE_BPS] = entry_fee_bps
    settings[EXIT_FEE_BPS] = exit_fee_bps
    settings[SLIPPAGE_BPS] = slippage_bps
    settings[MARGIN] = margin
    return settings


def entry_step_settings(settings: np.ndarray, min_score: float,
                        max_entries_per_step: float) -> np.ndarray:
    """`entry_step`'s settings: `entry_settings(...)`, then the minimum score and the
    step's entry budget (strategies/entry_kernel.py's STEP_SETTINGS)."""
    return np.concatenate((settings, np.array([min_score, max_entries_per_step],
                                               dtype=np.float64)))


def entry_step(columns: list[float], count: int, settings: np.ndarray) -> list[float]:
    """What a baseline entry step makes of each of `count` ranked coins, from their columns
    (score, drift, sigma, quoted (finite: the coin has a quote), bid, ask, busy (1.0: held
    or ordered), one after the other, `count` values each) under `entry_step_settings`:
    strategies/entry_kernel.entry_step_kernel's outputs (each coin's KIND, CODE_OR_EDGE
    and COST, `count` values each) as Python floats. One compiled call a step: the coins' checks, their
    stop-first probabilities, edges and costs, the rounding codes of their score and drift
    texts and the entry budget, where the policy's own loops, tuples and lists cost more
    than all of the numbers (tests/unit/test_entry_step_kernel.py, test_baseline_decide_
    reference.py). Raises ValueError as `stop_first_probability` does (a NaN horizon)."""
    out, widest = entry_step_kernel(np.array(columns, dtype=np.float64), count, settings)
    int(widest)  # a NaN image count raises here, as in barrier.probability_up_first
    return out.tolist()


def barrier_edge(p_target: float, p_stop: float, target_return_pct: float,
                 stop_return_pct: float) -> float:
    """Expected return of a buy that exits at the target or at the stop, as a fraction:
    p x target - q x stop (paths touching neither count as zero)."""
    return p_target * target_return_pct / 100 - p_stop * stop_return_pct / 100


def clears_cost(edge: float, cost: float, margin: float) -> bool:
    """Whether an entry's edge beats the round trip's cost by the margin. NaN never does."""
    return edge > cost * (1 + margin)


def edge_reason(edge: float, cost: float, margin: float) -> str:
    """The decision record's words: "edge 84.1 bps > cost 55.0 bps x (1+0.5)" (or "<=")."""
    relation = ">" if clears_cost(edge, cost, margin) else "<="
    return f"edge {edge / BPS:.1f} bps {relation} cost {cost / BPS:.1f} bps x (1+{margin:g})"


def edge_reason_formats(margin: float) -> tuple[str, str]:
    """`edge_reason`'s words with the margin fixed, as two %-formats (clears, fails):
    `clears % (edge / BPS, cost / BPS)` is `edge_reason(edge, cost, margin)`, character for
    character, where `clears_cost(edge, cost, margin)`, `fails % ...` where not. A policy
    words every candidate's edge at each step with the same margin: the margin's text is
    made once, and "%.1f" % x is f"{x:.1f}" for a float at less cost."""
    tail = f" bps x (1+{margin:g})".replace("%", "%%")
    return "edge %.1f bps > cost %.1f" + tail, "edge %.1f bps <= cost %.1f" + tail


@dataclass(frozen=True, slots=True)
class EntryGate:
    """Per decision step and symbol [K, n]: the edge an entry expects and what its round
    trip costs (fractions), for a batch policy that enters only where `ok`."""

    edge: np.ndarray
    cost: np.ndarray
    margin: float

    @property
    def ok(self) -> np.ndarray:
        """Bool [K, n]: edge > cost x (1 + margin); NaN edges never enter."""
        with np.errstate(invalid="ignore"):
            return np.asarray(self.edge > self.cost * (1 + self.margin))

    def reason(self, step: int, column: int) -> str:
        return edge_reason(float(self.edge[step, column]), float(self.cost[step, column]),
                           self.margin)


__all__ = ["DEFAULT_EDGE_COST_MARGIN", "SLIPPAGE_ALLOWANCE_BPS", "EntryGate", "RoundTripCost",
           "barrier_edge", "barrier_logs", "clears_cost", "edge_reason", "edge_reason_formats",
           "entry_settings", "entry_step", "entry_step_settings",
           "quoted_spread", "quoted_spreads", "round_trip_cost",
           "round_trip_total", "stop_first_probability"]
