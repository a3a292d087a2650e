"""Bid-ask spreads implied by bars: Roll, Corwin–Schultz and Abdi–Ranaldo.

Bar data has no quotes, but trades alternate between the bid and the ask, and that leaves
marks the estimators read back: a negative autocorrelation of close changes (Roll 1984), a
high-low range wider than volatility alone explains (Corwin & Schultz 2012), closes that sit
off the bar's mid-range (Abdi & Ranaldo 2017). The fill model and the backtesters price the
spread of a symbol without quotes from these, and `entasis sim report` compares them between
simulated and real data.

Each function takes one symbol's bars as 1-D arrays [T] on a regular grid, NaN where the
grid has no bar (a minute without trades). Bars are paired only with their direct
neighbour: a change across a missing bar spans more than one bar and would carry the same
trade twice. Prices are read as logs, so every result is a relative spread (a fraction of
the price: 0.0033 = 33 bps).

Two results that are not a number of bps, on purpose:
  * 0.0 — the data shows no spread (a non-negative Roll covariance, a negative
    Abdi–Ranaldo mean, constant prices): the estimator's own convention, not a failure;
  * NaN — too few usable bars to say anything (all NaN, fewer than `MIN_ROLL_PAIRS` pairs
    of successive changes, no two neighbouring bars).
Non-positive or infinite prices and arrays of the wrong shape raise `ValueError` naming the
argument, before any arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model import libm

#: Roll needs a covariance of successive changes, so at least two pairs of them.
MIN_ROLL_PAIRS = 2
_CS_DENOMINATOR = 3.0 - 2.0 * np.sqrt(2.0)


@dataclass(frozen=True, slots=True)
class BarSpreads:
    """One symbol's relative spreads (fractions) by the three bar estimators; NaN = too few
    bars."""

    roll: float
    corwin_schultz: float
    abdi_ranaldo: float


def bar_spreads(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> BarSpreads:
    """All three estimators on one symbol's bars."""
    return BarSpreads(roll=roll_spread(close),
                      corwin_schultz=corwin_schultz_spread(high, low, close),
                      abdi_ranaldo=abdi_ranaldo_spread(high, low, close))


def roll_spread(close: np.ndarray) -> float:
    """Roll (1984): 2 * sqrt(-cov(Δc_t, Δc_{t-1})) of log close changes, 0 when the
    covariance is not negative (momentum or noise hides the bounce), NaN with fewer than
    `MIN_ROLL_PAIRS` pairs of successive changes over three neighbouring bars."""
    log_close = _log_prices("close", close)
    changes = np.diff(log_close)
    later, earlier = changes[1:], changes[:-1]
    usable = np.isfinite(later) & np.isfinite(earlier)
    if usable.sum() < MIN_ROLL_PAIRS:
        return float("nan")
    later, earlier = later[usable], earlier[usable]
    covariance = float(np.mean((later - later.mean()) * (earlier - earlier.mean())))
    covariance *= usable.sum() / (usable.sum() - 1)  # sample covariance (ddof 1)
    return 2.0 * float(np.sqrt(-covariance)) if covariance < 0 else 0.0


def corwin_schultz_spread(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> float:
    """Corwin & Schultz (2012): the spread from the high-low ranges of one bar and of two
    neighbouring bars (volatility grows with time, the spread does not), averaged over all
    pairs of neighbouring bars. Each pair's second bar is first moved by the gap to the
    first bar's close, as the paper does for overnight returns (here: a move between bars
    that no bar's range saw); a negative pair estimate counts as 0. NaN without a pair."""
    log_high, log_low, log_close = _bars(high, low, close)
    high_1, low_1, close_1 = log_high[:-1], log_low[:-1], log_close[:-1]
    high_2, low_2 = log_high[1:], log_low[1:]
    usable = (np.isfinite(high_1) & np.isfinite(low_1) & np.isfinite(close_1)
              & np.isfinite(high_2) & np.isfinite(low_2))
    if not usable.any():
        return float("nan")
    high_1, low_1, close_1 = high_1[usable], low_1[usable], close_1[usable]
    high_2, low_2 = high_2[usable], low_2[usable]
    # Gap adjustment, in log prices (a shift of both by the same ratio as the paper's shift
    # by the same amount, to first order): bring the second bar back to touch the close.
    shift = np.where(low_2 > close_1, low_2 - close_1,
                     np.where(high_2 < close_1, high_2 - close_1, 0.0))
    high_2, low_2 = high_2 - shift, low_2 - shift
    beta = (high_1 - low_1) ** 2 + (high_2 - low_2) ** 2
    gamma = (np.maximum(high_1, high_2) - np.minimum(low_1, low_2)) ** 2
    alpha = ((np.sqrt(2.0 * beta) - np.sqrt(beta)) / _CS_DENOMINATOR
             - np.sqrt(gamma / _CS_DENOMINATOR))
    spreads = 2.0 * libm.expm1(alpha) / (1.0 + libm.exp(alpha))
    return float(np.mean(np.maximum(spreads, 0.0)))


def abdi_ranaldo_spread(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> float:
    """Abdi & Ranaldo (2017): S² = 4 E[(c_t - η_t)(c_t - η_{t+1})], with c the log close and
    η the mid-range (log high + log low) / 2, the mean taken over all pairs of neighbouring
    bars and then the root (the paper's monthly estimator); a negative mean gives 0, no
    pair NaN."""
    log_high, log_low, log_close = _bars(high, low, close)
    mid_range = (log_high + log_low) / 2.0
    products = (log_close[:-1] - mid_range[:-1]) * (log_close[:-1] - mid_range[1:])
    products = products[np.isfinite(products)]
    if products.size == 0:
        return float("nan")
    squared = 4.0 * float(np.mean(products))
    return float(np.sqrt(squared)) if squared > 0 else 0.0


def _bars(high: np.ndarray, low: np.ndarray, close: np.ndarray,
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log high, low and close of one symbol, checked to be the same length; a bar missing
    any of the three is missing in all three."""
    log_high, log_low, log_close = (_log_prices(name, values) for name, values in
                                    (("high", high), ("low", low), ("close", close)))
    if not log_high.shape == log_low.shape == log_close.shape:
        raise ValueError(f"high, low and close must be the same length [T]; got "
                         f"{log_high.size}, {log_low.size} and {log_close.size}")
    missing = ~(np.isfinite(log_high) & np.isfinite(log_low) & np.isfinite(log_close))
    for series in (log_high, log_low, log_close):
        series[missing] = np.nan
    return log_high, log_low, log_close


def _log_prices(name: str, values: np.ndarray) -> np.ndarray:
    """Log of a 1-D price array, NaN kept as NaN; `ValueError` naming `name` for another
    shape, a non-positive or an infinite price (the log would hide it as -inf or NaN)."""
    prices = np.asarray(values, dtype=float)
    if prices.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of one symbol's bars [T]; got shape "
                         f"{prices.shape}")
    present = prices[~np.isnan(prices)]
    bad = present[~np.isfinite(present) | (present <= 0)]
    if bad.size:
        raise ValueError(f"{name} holds {bad.size} price(s) that are not positive and finite "
                         f"(first: {bad[0]}); drop those bars or set them to NaN")
    with np.errstate(invalid="ignore"):
        return libm.log(prices)
