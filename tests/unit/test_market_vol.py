"""The market-wide volatility state (exchange/sim/market_model.py, `market_vol_var`): one
log-volatility path shared by every coin and the market factor, so a market's calm and
turbulent spells are everyone's, and each coin's |r| clusters with the market's moves."""

from __future__ import annotations

import numpy as np

from exchange.sim.calibrate import simulate_panel
from exchange.sim.market_params import MarketParams
from exchange.sim.stylized_facts import stylized_facts
from tests.market_params_example import example_params

START_MS = 1_700_006_400_000  # 2023-11-15 00:00 UTC
HOURS = 90 * 24


def hourly(**changes: object) -> MarketParams:
    """Six alike coins stepping 1h bars that trade and requote every hour, mostly moved by
    the market factor, no regimes."""
    return example_params(coins=6, bar_minutes=60.0, vol_per_min=(0.004,) * 6,
                          factor_vol_per_min=0.006, factor_lag_min=0.0, no_trade_prob=(0.0,) * 6,
                          quote_refresh_prob=(1.0,) * 6, activity_vol_link=0.0,
                          vol_fast_var=0.1, vol_slow_var=0.1,
                          regime_vol_multiplier=(1.0, 1.0), **changes)


def with_market(variance: float = 0.8) -> MarketParams:
    return hourly(market_vol_var=variance, market_vol_persistence=0.97)


def daily_log_vol(params: MarketParams, seed: int = 4) -> np.ndarray:
    """Each coin's realized log volatility per day, [days, coins]."""
    panel = simulate_panel(params, minutes=HOURS, start_ms=START_MS, seed=seed)
    returns = np.diff(np.log(panel.close), axis=0)[: HOURS - 24]
    return 0.5 * np.log(np.mean(returns.reshape(-1, 24, returns.shape[1]) ** 2, axis=1))


def test_a_market_state_of_variance_0_draws_nothing_and_changes_no_bit() -> None:
    # its stream is drawn only above 0, so parameter files without one generate the markets
    # they did before the field existed
    before = simulate_panel(hourly(), minutes=200, start_ms=START_MS, seed=1)
    again = simulate_panel(hourly(market_vol_persistence=0.5), minutes=200, start_ms=START_MS,
                           seed=1)
    assert np.array_equal(before.close, again.close, equal_nan=True)


def test_one_long_call_and_many_short_ones_give_the_same_bits() -> None:
    from exchange.sim.market_model import MarketModel

    def model() -> MarketModel:
        return MarketModel(with_market(), seed=2, tick=np.full(6, 1e-10), lot=np.full(6, 1e-10),
                           price=np.ones(6), quote_volume_per_min=np.ones(6), start_ms=START_MS)

    whole = model().generate(48).columns["close"]
    stepping = model()
    parts = np.vstack([stepping.generate(1).columns["close"] for _ in range(48)])
    assert np.array_equal(whole, parts)


def test_the_market_state_makes_every_coins_volatility_move_together() -> None:
    def co_movement(params: MarketParams) -> float:
        corr = np.corrcoef(daily_log_vol(params).T)
        return float(corr[np.triu_indices_from(corr, 1)].mean())

    assert co_movement(with_market()) > co_movement(hourly()) + 0.3


def test_the_market_state_lifts_the_abs_return_autocorrelation_and_keeps_the_variance() -> None:
    def panel(params: MarketParams, seed: int = 4):  # type: ignore[no-untyped-def]
        return simulate_panel(params, minutes=HOURS, start_ms=START_MS, seed=seed)

    calm, clustered = (stylized_facts(panel(p)) for p in (hourly(), with_market()))
    assert clustered.abs_return_acf[0] > calm.abs_return_acf[0] + 0.1
    # E exp(2 g) = 1 keeps the calibrated level: the hourly return variance moves by no more
    # than a 90-day panel's sampling error with a persistent state
    def variance(params: MarketParams) -> float:
        return float(np.nanvar(np.diff(np.log(panel(params, seed=5).close), axis=0)))

    assert 0.6 < variance(with_market(0.4)) / variance(hourly()) < 1.6
