"""Stylized facts of a 1m panel (exchange/sim/stylized_facts.py) and the sim-vs-real gap
(exchange/sim/fact_gap.py): each statistic on a panel where its value is known."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest

from exchange.sim.fact_gap import OUTSIDE, UNDEFINED, WITHIN, gap
from exchange.sim.stylized_facts import (
    MAX_ABS_LAG,
    Panel,
    hill_tail_index,
    ks_distance,
    mean_facts,
    stylized_facts,
)

MIDNIGHT_MS = 1_510_000_000_000 - 1_510_000_000_000 % 86_400_000  # a UTC midnight, Nov 2017


def panel_of_returns(log_returns: np.ndarray, volume: np.ndarray | None = None,
                     start_ms: int = MIDNIGHT_MS) -> Panel:
    """Bars whose closes follow `log_returns` [T, N] from 100; open = high = low = close
    (only the closes matter to the return statistics); volume 1 unless given."""
    close = 100.0 * np.exp(np.vstack([np.zeros((1, log_returns.shape[1])),
                                      np.cumsum(log_returns, axis=0)]))
    volume = np.ones_like(close) if volume is None else volume
    return Panel(start_ms, close, close, close, close, volume)


def iid_panel(seed: int = 1, minutes: int = 20_000, coins: int = 5) -> Panel:
    rng = np.random.default_rng(seed)
    return panel_of_returns(rng.normal(0.0, 0.001, (minutes, coins)))


def roll_panel(seed: int = 2, minutes: int = 20_000, coins: int = 4, spread: float = 0.0033,
               volatility_1m: float = 0.001, trades: int = 50) -> Panel:
    """A Roll market per coin: an efficient random walk, every trade at the bid or the ask."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, volatility_1m / math.sqrt(trades), (coins, minutes * trades))
    efficient = np.cumsum(steps, axis=1).reshape(coins, minutes, trades)
    side = rng.choice([-1.0, 1.0], size=(coins, minutes, trades))
    prices = 100.0 * np.exp(efficient + side * spread / 2.0)
    volume = rng.lognormal(0.0, 1.0, (minutes, coins))
    return Panel(MIDNIGHT_MS, prices[:, :, 0].T, prices.max(axis=2).T, prices.min(axis=2).T,
                 prices[:, :, -1].T, volume)


@pytest.fixture(scope="module")
def iid_facts():
    return stylized_facts(iid_panel())


def test_iid_returns_show_no_autocorrelation_and_a_variance_ratio_of_one(iid_facts) -> None:
    assert abs(iid_facts.lag1_acf_1m) < 0.02
    assert iid_facts.variance_ratio_1h == pytest.approx(1.0, abs=0.15)
    assert np.all(np.abs(iid_facts.abs_return_acf) < 0.03)
    assert iid_facts.abs_return_acf.shape == (MAX_ABS_LAG,)  # every lag 1..60 kept
    assert abs(iid_facts.lag1_acf_4h) < 0.2
    assert abs(iid_facts.cross_coin_corr_1m) < 0.02


def test_a_continuous_market_has_no_zero_returns_and_no_no_trade_minutes(iid_facts) -> None:
    assert iid_facts.zero_return_share == 0.0
    assert iid_facts.no_trade_share == 0.0


def test_gaussian_tails_read_thin_and_student_t3_reads_three(iid_facts) -> None:
    assert iid_facts.hill_tail_index > 6.0
    student_t3 = np.random.default_rng(3).standard_t(3, 200_000)
    assert hill_tail_index(student_t3) == pytest.approx(3.0, rel=0.10)


def test_bid_ask_bounce_shows_as_negative_lag1_acf_a_low_variance_ratio_and_the_spread() -> None:
    facts = stylized_facts(roll_panel())

    # Roll: lag-1 autocovariance -s^2/4 over a variance sigma^2 + s^2/2
    spread, volatility = 0.0033, 0.001
    expected_acf = -(spread ** 2 / 4) / (volatility ** 2 + spread ** 2 / 2)
    assert facts.lag1_acf_1m == pytest.approx(expected_acf, abs=0.03)
    assert facts.variance_ratio_1h < 0.5
    assert facts.roll_spread == pytest.approx(spread, rel=0.10)
    assert facts.abdi_ranaldo_spread == pytest.approx(spread, rel=0.10)
    assert facts.corwin_schultz_spread == pytest.approx(spread, rel=0.15)


def test_a_common_factor_of_half_the_variance_gives_a_cross_coin_correlation_of_half() -> None:
    rng = np.random.default_rng(4)
    market = rng.normal(0.0, 0.001, (20_000, 1))
    facts = stylized_facts(panel_of_returns(market + rng.normal(0.0, 0.001, (20_000, 4))))

    assert facts.cross_coin_corr_1m == pytest.approx(0.5, abs=0.03)
    assert facts.cross_coin_corr_1h == pytest.approx(0.5, abs=0.1)


def test_volume_rising_with_the_move_has_a_rank_correlation_of_one() -> None:
    returns = np.random.default_rng(5).normal(0.0, 0.001, (1_000, 2))
    volume = np.ones((1_001, 2))
    volume[1:] = 1.0 + 1000.0 * np.abs(returns)  # minute t+1's volume goes with its return

    assert stylized_facts(panel_of_returns(returns, volume)).volume_abs_return_spearman == (
        pytest.approx(1.0))


def test_volatility_in_long_calm_and_wild_spells_clusters_in_the_acf_of_abs_returns() -> None:
    rng = np.random.default_rng(6)
    spells = np.repeat(rng.choice([0.0005, 0.003], size=40), 500)[:, None]
    facts = stylized_facts(panel_of_returns(spells * rng.standard_normal((20_000, 3))))

    assert facts.abs_return_acf[0] > 0.2
    assert facts.abs_return_acf[MAX_ABS_LAG - 1] > 0.2


def test_hour_of_day_profile_is_each_hours_share_of_the_volume() -> None:
    volume = np.zeros((2 * 1440, 2))
    volume[3 * 60 : 4 * 60] = 1.0  # all volume traded 03:00-04:00 UTC on day one
    volume[1440 + 18 * 60, 1] = 3.0  # coin 1 also trades at 18:00 on day two
    panel = panel_of_returns(np.zeros((2 * 1440 - 1, 2)), volume)

    profile = stylized_facts(panel).hour_volume_profile

    # coin 0: all at 03h; coin 1: 60 of 63 at 03h, 3 of 63 at 18h; the mean of the two
    assert profile[3] == pytest.approx((1.0 + 60 / 63) / 2)
    assert profile[18] == pytest.approx((3 / 63) / 2)
    assert profile.sum() == pytest.approx(1.0)


def test_a_hand_checked_tiny_panel() -> None:
    # Coin A: closes 100, 101, 100, (no bar), 101, 101; the last price carries over the gap,
    # so its returns are +a, -a, 0, +a, 0 (a = ln 1.01), and minute 4 traded nothing.
    # Coin B: 50 all along, volume 1.
    nan = np.nan
    close = np.array([[100, 50], [101, 50], [100, 50], [nan, 50], [101, 50], [101, 50]], float)
    volume = np.array([[1, 1], [2, 1], [1, 1], [nan, 1], [0, 1], [1, 1]], float)
    panel = Panel(MIDNIGHT_MS, close, close, close, close, volume)

    facts = stylized_facts(panel)

    # A: mean a/5, centered (.8, -1.2, -.2, .8, -.2) a, variance .56 a^2, lag-1 products
    # sum -1.04 a^2 over 4 pairs: ACF -.26 / .56. B is constant: no ACF, left out.
    assert facts.lag1_acf_1m == pytest.approx(-0.26 / 0.56)
    assert facts.zero_return_share == pytest.approx(7 / 10)  # A 2 of 5, B 5 of 5
    assert facts.no_trade_share == pytest.approx(2 / 12)  # A: the missing bar, the 0 volume
    assert facts.hour_volume_profile[0] == pytest.approx(1.0)
    assert facts.roll_spread == pytest.approx(0.0)  # B reads 0, A too few pairs: median 0


def test_constant_or_empty_panels_give_nan_or_zero_without_numpy_warnings() -> None:
    flat = np.full((300, 2), 10.0)
    empty = np.full((300, 2), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        constant = stylized_facts(Panel(MIDNIGHT_MS, flat, flat, flat, flat, flat))
        missing = stylized_facts(Panel(MIDNIGHT_MS, empty, empty, empty, empty, empty))

    assert math.isnan(constant.lag1_acf_1m) and math.isnan(constant.variance_ratio_1h)
    assert constant.zero_return_share == 1.0 and constant.roll_spread == 0.0
    assert math.isnan(constant.hill_tail_index)
    assert math.isnan(missing.lag1_acf_1m) and math.isnan(missing.no_trade_share)
    assert math.isnan(missing.roll_spread) and np.all(np.isnan(missing.hour_volume_profile))


def test_a_panel_refuses_arrays_of_different_shapes() -> None:
    with pytest.raises(ValueError, match=r"one shape \[minutes, coins\]"):
        Panel(MIDNIGHT_MS, np.ones((5, 2)), np.ones((5, 2)), np.ones((5, 2)), np.ones((5, 3)),
              np.ones((5, 2)))


def test_halves_split_the_panel_in_time() -> None:
    first, second = iid_panel(minutes=101, coins=2).halves()

    assert (first.minutes, second.minutes) == (51, 51)
    assert second.start_ms == MIDNIGHT_MS + 51 * 60_000


def test_identical_panels_are_at_distance_zero_on_every_row() -> None:
    facts = stylized_facts(roll_panel(minutes=3_000))

    rows = gap(facts, facts, facts, facts)

    assert len({row.statistic for row in rows}) == len(rows) == 19
    assert all(row.gap == 0.0 and row.yardstick == 0.0 for row in rows)
    assert all(row.verdict == WITHIN for row in rows)


def test_a_simulator_without_bounce_is_outside_the_yardstick_of_two_bouncing_markets() -> None:
    real, other_real = roll_panel(seed=7, minutes=6_000), roll_panel(seed=8, minutes=6_000)
    simulated = iid_panel(seed=9, minutes=6_000, coins=4)

    rows = {row.statistic: row for row in gap(simulated, real, real, other_real)}

    bounce = rows["lag-1 ACF of 1m returns"]
    assert bounce.sim == pytest.approx(0.0, abs=0.03) and bounce.real < -0.3
    assert bounce.gap == pytest.approx(abs(bounce.sim - bounce.real))
    assert bounce.verdict == OUTSIDE
    assert rows["spread, Roll (median coin)"].verdict == OUTSIDE
    assert rows["lag-1 ACF of 1m returns"].limit == max(1.5 * bounce.yardstick, 0.05)


def test_a_spread_row_is_held_to_a_tenth_of_the_real_spread_when_the_months_agree_closer() -> None:
    # Given two real months whose Roll spreads agree to 0.1 bps (as Bittrex 2017-11 / -12 do)
    real = stylized_facts(roll_panel(minutes=3_000))
    other_real = dataclasses.replace(real, roll_spread=real.roll_spread + 1e-5)
    near = dataclasses.replace(real, roll_spread=real.roll_spread * 1.08)
    far = dataclasses.replace(real, roll_spread=real.roll_spread * 1.12)

    # When a simulator reads 8 % and 12 % above the real spread
    def roll_row(simulated):
        rows = {row.statistic: row for row in gap(simulated, real, real, other_real)}
        return rows["spread, Roll (median coin)"]

    # Then the limit is 10 % of the real spread, not 1.5 x the months' 0.1 bps
    assert roll_row(near).limit == pytest.approx(0.10 * real.roll_spread)
    assert roll_row(near).verdict == WITHIN
    assert roll_row(far).verdict == OUTSIDE


def test_an_undefined_statistic_gets_no_verdict() -> None:
    flat = np.full((300, 2), 10.0)
    constant = Panel(MIDNIGHT_MS, flat, flat, flat, flat, flat)

    rows = {row.statistic: row for row in gap(constant, constant, constant, constant)}

    assert rows["lag-1 ACF of 1m returns"].verdict == UNDEFINED
    assert rows["lag-1 ACF of 1m returns"].as_json()["gap"] is None  # JSON has no NaN


def test_ks_distance_is_zero_for_one_sample_and_one_for_disjoint_ones() -> None:
    sample = np.random.default_rng(10).standard_normal(1_000)

    assert ks_distance(sample, sample) == 0.0
    assert ks_distance(sample, sample + 100.0) == 1.0
    assert math.isnan(ks_distance(sample, np.empty(0)))


def test_mean_facts_averages_the_statistics_and_pools_the_standardized_returns() -> None:
    runs = [stylized_facts(iid_panel(seed=seed, minutes=3000, coins=3)) for seed in (3, 4)]
    pooled = mean_facts(runs)
    assert pooled.variance_ratio_1h == pytest.approx(
        (runs[0].variance_ratio_1h + runs[1].variance_ratio_1h) / 2)
    assert np.allclose(pooled.abs_return_acf, (runs[0].abs_return_acf
                                                + runs[1].abs_return_acf) / 2)
    assert pooled.standardized_1h.size == sum(run.standardized_1h.size for run in runs)
    alone = mean_facts(runs[:1])
    assert alone.lag1_acf_1m == runs[0].lag1_acf_1m
    assert np.array_equal(alone.standardized_1m, runs[0].standardized_1m)
    with pytest.raises(ValueError):
        mean_facts([])
