"""Bar-based spread estimators (model/spread_estimators.py): each recovers a known spread from
a Roll-model market, and degenerate inputs give the documented 0 or NaN, never a numpy error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.spread_estimators import (
    abdi_ranaldo_spread,
    bar_spreads,
    corwin_schultz_spread,
    roll_spread,
)

SPREAD = 0.0033  # 33 bps, the Bittrex alts' order of magnitude


def roll_model_bars(seed: int, minutes: int = 20_000, trades_per_bar: int = 100,
                    spread: float = SPREAD, volatility_1m: float = 0.001,
                    missing_share: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """High, low, close of 1m bars of a Roll market: an efficient log price on a Gaussian
    random walk (`volatility_1m` per minute), every trade at the bid or the ask (half the
    spread below or above it, by a fair coin); `missing_share` of the bars left out (NaN)."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, volatility_1m / math.sqrt(trades_per_bar),
                       (minutes, trades_per_bar))
    efficient = np.cumsum(steps.ravel()).reshape(minutes, trades_per_bar)
    side = rng.choice([-1.0, 1.0], size=(minutes, trades_per_bar))
    trades = 100.0 * np.exp(efficient + side * spread / 2.0)
    high, low, close = trades.max(axis=1), trades.min(axis=1), trades[:, -1]
    missing = rng.random(minutes) < missing_share
    for series in (high, low, close):
        series[missing] = np.nan
    return high, low, close


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_estimator_recovers_a_known_spread_from_a_roll_market(seed: int) -> None:
    # Given 20,000 1m bars of 100 trades each at the bid or the ask of a 33 bps spread
    high, low, close = roll_model_bars(seed)

    spreads = bar_spreads(high, low, close)

    # Roll and Abdi–Ranaldo within 10 %; Corwin–Schultz within 15 % (the sampled high
    # misses the efficient price's true maximum, so it reads a little low)
    assert spreads.roll == pytest.approx(SPREAD, rel=0.10)
    assert spreads.abdi_ranaldo == pytest.approx(SPREAD, rel=0.10)
    assert spreads.corwin_schultz == pytest.approx(SPREAD, rel=0.15)


def test_estimators_recover_the_spread_with_a_fifth_of_the_bars_missing() -> None:
    # Given the same market with 20 % of the minutes without a bar (NaN)
    high, low, close = roll_model_bars(seed=4, missing_share=0.2)

    spreads = bar_spreads(high, low, close)

    # Then pairs across a gap are skipped and the estimates hold
    assert spreads.roll == pytest.approx(SPREAD, rel=0.10)
    assert spreads.abdi_ranaldo == pytest.approx(SPREAD, rel=0.10)
    assert spreads.corwin_schultz == pytest.approx(SPREAD, rel=0.15)


def test_a_market_without_a_spread_reads_close_to_zero() -> None:
    high, low, close = roll_model_bars(seed=5, spread=0.0)

    spreads = bar_spreads(high, low, close)

    assert spreads.roll < 0.0005
    assert spreads.abdi_ranaldo < 0.0005
    assert spreads.corwin_schultz < 0.0005


def test_roll_is_two_roots_of_minus_the_covariance_on_a_hand_checked_series() -> None:
    # Closes bouncing 100, 101, 100, 101, 100: log changes +d, -d, +d, -d
    close = np.array([100.0, 101.0, 100.0, 101.0, 100.0])
    d = math.log(101.0 / 100.0)
    later, earlier = np.array([-d, d, -d]), np.array([d, -d, d])
    covariance = float(np.cov(later, earlier)[0, 1])

    assert roll_spread(close) == pytest.approx(2.0 * math.sqrt(-covariance))


def test_roll_is_zero_when_successive_changes_are_not_negatively_correlated() -> None:
    trending = 100.0 * np.exp(np.cumsum(np.full(50, 0.001) + np.linspace(0, 0.001, 50)))

    assert roll_spread(trending) == 0.0


def test_corwin_schultz_on_two_hand_checked_bars_with_a_gap() -> None:
    # Bar 1: high 102, low 100, close 100.5; bar 2 opens above that close (low 101), so it
    # is moved down to touch it: low 100.5, high 103 * 100.5 / 101. Unmoved, the two-bar
    # range (100 to 103) would swamp the single ranges and the estimate would clip to 0.
    high, low = np.array([102.0, 103.0]), np.array([100.0, 101.0])
    close = np.array([100.5, 102.0])
    high_2, low_2 = 103.0 * 100.5 / 101.0, 100.5
    beta = math.log(102.0 / 100.0) ** 2 + math.log(high_2 / low_2) ** 2
    gamma = math.log(max(102.0, high_2) / min(100.0, low_2)) ** 2
    k = 3.0 - 2.0 * math.sqrt(2.0)
    alpha = (math.sqrt(2 * beta) - math.sqrt(beta)) / k - math.sqrt(gamma / k)
    expected = 2.0 * (math.exp(alpha) - 1.0) / (1.0 + math.exp(alpha))

    assert corwin_schultz_spread(high, low, close) == pytest.approx(expected)
    assert expected > 0.0  # a positive estimate, not the clip to 0


def test_abdi_ranaldo_on_three_hand_checked_bars() -> None:
    high, low, close = (np.array([101.0, 101.5, 101.0]), np.array([99.0, 99.5, 99.0]),
                        np.array([101.0, 99.5, 101.0]))
    c, eta = np.log(close), (np.log(high) + np.log(low)) / 2.0
    mean_product = ((c[0] - eta[0]) * (c[0] - eta[1]) + (c[1] - eta[1]) * (c[1] - eta[2])) / 2

    assert abdi_ranaldo_spread(high, low, close) == pytest.approx(math.sqrt(4 * mean_product))


def test_constant_prices_give_a_zero_spread_from_every_estimator() -> None:
    flat = np.full(100, 250.0)

    spreads = bar_spreads(flat, flat, flat)
    assert (spreads.roll, spreads.corwin_schultz, spreads.abdi_ranaldo) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("bars", [
    np.full(100, np.nan),                         # all missing
    np.array([]),                                 # empty
    np.array([100.0]),                            # one bar
    np.array([100.0, np.nan, 101.0, np.nan, 100.0]),  # no two neighbouring bars
], ids=["all-nan", "empty", "one-bar", "no-neighbours"])
def test_too_few_bars_give_nan_without_a_warning(bars: np.ndarray) -> None:
    with np.errstate(all="raise"):
        spreads = bar_spreads(bars, bars, bars)

    assert math.isnan(spreads.roll)
    assert math.isnan(spreads.corwin_schultz)
    assert math.isnan(spreads.abdi_ranaldo)


def test_roll_needs_two_pairs_of_successive_changes() -> None:
    assert math.isnan(roll_spread(np.array([100.0, 101.0, 100.0])))  # one pair
    assert not math.isnan(roll_spread(np.array([100.0, 101.0, 100.0, 101.0])))


@pytest.mark.parametrize("price", [0.0, -1.0, np.inf])
def test_a_non_positive_or_infinite_price_is_refused_by_name(price: float) -> None:
    close = np.array([100.0, price, 101.0])

    with pytest.raises(ValueError, match="close holds 1 price"):
        roll_spread(close)


def test_arrays_of_the_wrong_shape_are_refused_with_what_to_pass() -> None:
    with pytest.raises(ValueError, match=r"high must be a 1-D array .* got shape \(2, 2\)"):
        corwin_schultz_spread(np.ones((2, 2)), np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match="the same length"):
        abdi_ranaldo_spread(np.ones(3), np.ones(4), np.ones(4))
