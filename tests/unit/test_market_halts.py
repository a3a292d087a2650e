"""Market-wide halts (exchange/sim/market_halts.py): read off which coins traded, stepped as
a two-state chain, and in the market model every coin quiet through a halt."""

from __future__ import annotations

import numpy as np
import pytest

from exchange.sim.calibrate import fit, simulate_panel
from exchange.sim.calibrate_moments import traded_and_listed
from exchange.sim.market_halts import Halts, estimate, halt_path
from exchange.sim.market_params import MarketParams
from tests.market_params_example import example_params

START_MS = 1_700_006_400_000  # 2023-11-15 00:00 UTC


def hourly(**changes: object) -> MarketParams:
    """Five coins of 1h bars that trade every bar unless halted."""
    return example_params(coins=5, bar_minutes=60.0, vol_per_min=(0.004,) * 5,
                          no_trade_prob=(0.0,) * 5, regime_vol_multiplier=(1.0, 1.0),
                          **changes)


def test_a_bar_most_listed_coins_missed_is_a_halt_and_its_runs_give_the_mean_length() -> None:
    traded = np.ones((100, 5), bool)
    traded[10:13] = False            # a 3-bar outage
    traded[50, :4] = False           # 4 of 5 quiet: a halt (at least 80 %)
    traded[70, :3] = False           # 3 of 5: the coins' own quiet bar
    listed = np.ones_like(traded)
    halts = estimate(traded, listed)
    # the quiet coin-bars in halted bars (15 + 4) over all listed coin-bars (500)
    assert halts.share == pytest.approx(19 / 500)
    assert halts.mean_bars == pytest.approx(2.0)  # 4 halted bars in 2 runs


def test_coins_not_listed_yet_neither_count_as_quiet_nor_make_a_halt() -> None:
    traded = np.ones((100, 5), bool)
    listed = np.ones_like(traded)
    traded[:60, :3] = listed[:60, :3] = False  # three coins listed at bar 60
    traded[20, 3:] = False                     # both coins listed then are quiet: too few
    assert estimate(traded, listed) == Halts(0.0, 1.0)
    traded[80, :] = False                      # all five quiet: a halt
    # over the bars with at least three coins listed (40 bars x 5 coins)
    assert estimate(traded, listed).share == pytest.approx(5 / 200)


def test_the_chain_keeps_its_share_and_mean_length() -> None:
    draws = np.random.default_rng(4).random(400_000)
    path, _ = halt_path(draws, False, 0.01, 5.0)
    assert path.mean() == pytest.approx(0.01, rel=0.1)
    starts = np.count_nonzero(path[1:] & ~path[:-1])
    assert path.sum() / starts == pytest.approx(5.0, rel=0.1)
    assert not halt_path(draws[:1000], False, 0.0, 5.0)[0].any()  # no share: never halted


def test_in_a_halt_every_coin_is_quiet_and_a_fit_on_1h_bars_reads_the_halts_back() -> None:
    params = hourly(halt_share=0.02, halt_mean_bars=6.0)
    panel = simulate_panel(params, minutes=300 * 24, start_ms=START_MS, seed=3)
    quiet = ~np.isfinite(panel.close)
    assert np.array_equal(quiet.any(axis=1), quiet.all(axis=1))  # all or none
    assert quiet[:, 0].mean() == pytest.approx(0.02, abs=0.01)
    traded, listed = traded_and_listed(panel)
    found = estimate(traded, listed)
    fitted = fit(panel, rounds=1)
    assert (fitted.halt_share, fitted.halt_mean_bars) == (found.share, found.mean_bars)
    assert found.mean_bars == pytest.approx(6.0, rel=0.5)
    # the halted bars are the market's, not the coins' own (which this market has none of)
    assert fitted.no_trade_prob == (0.0,) * 5


def test_without_halts_a_market_draws_nothing_for_them() -> None:
    # the shipped 1m files (halt_share 0) make the markets they made before the field
    plain = simulate_panel(hourly(), minutes=300, start_ms=START_MS, seed=1)
    again = simulate_panel(hourly(halt_mean_bars=9.0), minutes=300, start_ms=START_MS, seed=1)
    assert np.array_equal(plain.close, again.close, equal_nan=True)
