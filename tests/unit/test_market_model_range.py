"""How the market model draws a bar's range (exchange/sim/bar_range.py, `mid_extremes`):
on 1h fits (`range_bridge` > 0) the mid's high and low are a Brownian bridge's between the
bar's ends; on 1m fits (`range_bridge` 0) a little past both ends, as before."""

from __future__ import annotations

import math

import numpy as np

from exchange.sim.bar_range import mid_extremes
from exchange.sim.calibrate import simulate_panel
from exchange.sim.market_model import MarketModel
from exchange.sim.market_params import MarketParams
from model.spread_estimators import abdi_ranaldo_spread, corwin_schultz_spread, roll_spread
from tests.market_params_example import example_params

START_MS = 1_700_006_400_000  # 2023-11-15 00:00 UTC
HOURS = 40 * 24
SD = 0.01  # the bar's diffusive sd in the direct draws below


def hourly(**changes: object) -> MarketParams:
    """Four coins stepping 1h bars of a random walk: every bar trades and requotes, no
    spread, no pricing error, no jumps, no volatility state, no factor."""
    return example_params(coins=4, bar_minutes=60.0, vol_per_min=(0.01,) * 4, tail_df=(500.0,) * 4,
                          jump_prob=(0.0,) * 4, half_spread_bps=(0.0,) * 4,
                          no_trade_prob=(0.0,) * 4, quote_refresh_prob=(1.0,) * 4,
                          vol_fast_var=0.0, vol_slow_var=0.0, factor_vol_per_min=0.0,
                          activity_vol_link=0.0, regime_vol_multiplier=(1.0, 1.0),
                          **changes)


def extremes(params: MarketParams, move: float, draws: int = 200_000, last_move: float = 0.0
             ) -> tuple[np.ndarray, np.ndarray]:
    """`draws` bars' mid high and low for a mid that moved by `move` (log) with sd `SD`,
    after a bar that moved by `last_move`."""
    model = MarketModel(params, seed=3, tick=np.full(1, 1e-10), lot=np.full(1, 1e-10),
                        price=np.ones(1), quote_volume_per_min=np.ones(1), start_ms=START_MS)
    previous = np.zeros((draws, 1))
    return mid_extremes(params, model._rng["high"], model._rng["low"], previous, previous + move,
                        np.full((draws, 1), SD), np.full((draws, 1), last_move))


def test_the_bridge_high_has_the_brownian_bridges_law() -> None:
    # P(max >= m) = exp(-2 m (m - x) / v) for a bridge from 0 to x of variance v, m >= max(0, x)
    move = 0.004
    high, low = extremes(hourly(range_bridge=1.0), move)
    for m in (0.006, 0.01, 0.015):
        expected = math.exp(-2 * m * (m - move) / SD**2)
        assert abs(np.mean(high >= m) - expected) < 0.005, m
    # the minimum mirrors it: P(min <= -m) = exp(-2 m (m + x) / v)
    for m in (0.002, 0.006):
        assert abs(np.mean(low <= -m) - math.exp(-2 * m * (m + move) / SD**2)) < 0.005, m
    assert np.all(high >= move) and np.all(low <= 0.0)  # the path passes both ends


def test_the_bridges_mean_range_is_a_random_walks() -> None:
    # a bridge from 0 to 0 of sd s: E max = s sqrt(pi / 8); its multiplier scales it
    for multiplier in (1.0, 2.0):
        high, low = extremes(hourly(range_bridge=multiplier), 0.0)
        expected = multiplier * SD * math.sqrt(math.pi / 8)
        assert abs(np.mean(high) / expected - 1) < 0.01
        assert abs(np.mean(-low) / expected - 1) < 0.01


def test_without_a_bridge_the_range_reaches_a_little_past_both_ends() -> None:
    reach = 0.25
    high, low = extremes(hourly(range_reach=reach), 0.004)
    # |N(0, 1)| has mean sqrt(2 / pi)
    assert abs(np.mean(high - 0.004) / (reach * SD * math.sqrt(2 / math.pi)) - 1) < 0.01
    assert abs(np.mean(-low) / (reach * SD * math.sqrt(2 / math.pi)) - 1) < 0.01


def test_hourly_bars_of_a_random_walk_read_the_corwin_schultz_of_a_finely_sampled_one() -> None:
    # Corwin-Schultz reads a positive spread even on a spreadless random walk (each pair's
    # negative estimate counts as 0); bars with a bridge range read what a walk sampled 600
    # times an hour reads, the reach rule's narrow ranges far less
    rng = np.random.default_rng(11)
    walk = np.cumsum(rng.standard_normal((HOURS * 4, 600)).ravel() * 0.01 / math.sqrt(600))
    bars = walk.reshape(HOURS * 4, 600)
    fine = corwin_schultz_spread(np.exp(bars.max(1)), np.exp(bars.min(1)), np.exp(bars[:, -1]))

    def model_reads(params: MarketParams) -> float:
        panel = simulate_panel(params, minutes=HOURS, start_ms=START_MS, seed=5)
        return float(np.median([corwin_schultz_spread(panel.high[:, i], panel.low[:, i],
                                                      panel.close[:, i]) for i in range(4)]))

    bridge = model_reads(hourly(range_bridge=1.0))
    reach = model_reads(hourly(range_reach=0.25))
    assert abs(bridge / fine - 1) < 0.15, (bridge, fine)
    assert reach < 0.75 * fine, (reach, fine)



def test_with_a_run_on_the_path_passes_a_point_past_the_last_moves_end() -> None:
    # after a bar that rose 5 %, a run-on of 0.2 takes the path 1 % higher at mid-bar
    high, low = extremes(hourly(range_bridge=1.0, range_run_on=0.2), 0.0, last_move=0.05)
    assert np.all(high >= 0.01) and np.all(low <= 0.0)
    plain, _ = extremes(hourly(range_bridge=1.0), 0.0, last_move=0.05)
    assert np.mean(plain >= 0.01) < 0.2  # a bridge from 0 to 0 of sd 1 % rarely gets there


def test_a_run_on_leaves_the_closes_and_lowers_abdi_ranaldo_not_roll() -> None:
    # a price that reverts (a pricing error on 1h bars): Roll reads the reversal from the
    # closes, and Abdi-Ranaldo reads about half of it from closes against mid-ranges, unless
    # the next bar's range runs on past the close the move ended on
    def market(run_on: float):  # type: ignore[no-untyped-def]
        return simulate_panel(hourly(range_bridge=1.0, range_run_on=run_on,
                                     transient_vol_ratio=0.4, transient_persistence=0.0),
                              minutes=HOURS * 4, start_ms=START_MS, seed=6)

    plain, run_on = market(0.0), market(0.1)
    assert np.array_equal(plain.close, run_on.close, equal_nan=True)

    def median(estimator, panel) -> float:  # type: ignore[no-untyped-def]
        args = (panel.close,) if estimator is roll_spread else (panel.high, panel.low,
                                                                 panel.close)
        return float(np.median([estimator(*(a[:, i] for a in args)) for i in range(4)]))

    roll = median(roll_spread, plain)
    assert roll > 0.004  # the reversal: 40+ bps
    assert 0.3 * roll < median(abdi_ranaldo_spread, plain) < 0.7 * roll
    assert median(abdi_ranaldo_spread, run_on) < 0.6 * median(abdi_ranaldo_spread, plain)
