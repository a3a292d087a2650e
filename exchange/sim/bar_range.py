"""A market-model bar's range: how far the mid's path reaches past the bar's open and close.

Why apart from exchange/sim/market_model.py: the range is one mechanism with its own rules
(the 1m reach rule, the 1h Brownian bridge and its run-on, ADR-109 and ADR-110) and its own
law tests (tests/unit/test_market_model_range.py); it needs only the parameters, the bar's
ends and sd, and the model's `high` and `low` random streams, none of the model's carried
state.
"""

from __future__ import annotations

import numpy as np

from exchange.sim.market_params import MarketParams


def mid_extremes(params: MarketParams, high_draws: np.random.Generator,
                 low_draws: np.random.Generator, previous: np.ndarray, quote: np.ndarray,
                 path_sd: np.ndarray, last_move: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The highest and lowest log mid of a bar whose mid moved from `previous` to `quote`.

    Reach rule (`range_bridge` 0, 1m fits): a little past both ends, `range_reach` x
    sigma x |N(0, 1)| each; a minute of a thin book is a handful of trades, and real 1m
    ranges are narrow. Bridge rule (`range_bridge` k > 0, 1h fits): an hour is thousands
    of trades, so the mid's extremes are a Brownian bridge's from one end to the other
    with sd k x `path_sd`: for a move x and variance v, P(max >= m) = exp(-2 m (m - x) /
    v), drawn exactly as m = (x + sqrt(x^2 + 2 v E)) / 2 with E ~ Exp(1); the minimum
    alike with its own draw (each marginal exact, the two drawn independently). With
    the reach rule the model's hourly ranges were too narrow against two-hour ranges:
    Corwin-Schultz read 19 bps against Binance's 41-51 (ADR-109).

    Run-on (`range_run_on` r > 0, with the bridge): the mid's path first runs on by r x
    the bar before's move, at mid-bar, then goes to its close: two bridges of half the
    variance each. The close is untouched, so the hourly reversal Roll reads stays; the
    range is not: after a large move the next bar's range reaches past the close the
    move ended on, as Binance's hourly bars show (Abdi-Ranaldo 10-17 bps where Roll
    reads 49-56; without the run-on a reverting price reads about Roll / 2, ADR-110).

    `high_draws` and `low_draws` are the model's `high` and `low` streams."""
    bridge = params.range_bridge
    if bridge <= 0:
        reach = params.range_reach
        reach_up = reach * path_sd * np.abs(high_draws.standard_normal(quote.shape))
        reach_down = reach * path_sd * np.abs(low_draws.standard_normal(quote.shape))
        return (np.maximum(previous, quote) + reach_up,
                np.minimum(previous, quote) - reach_down)
    variance = (bridge * path_sd) ** 2
    run_on = params.range_run_on
    if run_on <= 0 or last_move is None:
        return bridge_extremes(previous, quote, variance, high_draws.standard_exponential(
            quote.shape), low_draws.standard_exponential(quote.shape))
    highs = high_draws.standard_exponential((2, *quote.shape))
    lows = low_draws.standard_exponential((2, *quote.shape))
    waypoint = previous + run_on * last_move
    high_1, low_1 = bridge_extremes(previous, waypoint, variance / 2, highs[0], lows[0])
    high_2, low_2 = bridge_extremes(waypoint, quote, variance / 2, highs[1], lows[1])
    return np.maximum(high_1, high_2), np.minimum(low_1, low_2)


def bridge_extremes(start: np.ndarray, end: np.ndarray, variance: np.ndarray,
                    exponential_high: np.ndarray, exponential_low: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The maximum and minimum of Brownian bridges from `start` to `end` of `variance`, each
    drawn exactly from its marginal with one Exp(1) draw: P(max - start >= m) = exp(-2 m (m -
    x) / v) for the move x, so m = (x + sqrt(x^2 + 2 v E)) / 2; the minimum alike."""
    move = end - start
    up = np.sqrt(move * move + 2.0 * variance * exponential_high)
    down = np.sqrt(move * move + 2.0 * variance * exponential_low)
    return start + (move + up) / 2.0, start + (move - down) / 2.0
