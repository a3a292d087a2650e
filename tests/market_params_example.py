"""Known market-model parameters for tests: a small market whose numbers are round and whose
facts are strong enough to measure on a few days of bars."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from exchange.sim.market_params import HOURS, MarketParams


def example_params(coins: int = 4, **changes: Any) -> MarketParams:
    """`coins` alike coins: 30 bps a minute, a 15 bps half-spread, 10 % no-trade minutes."""
    same = {
        "vol_per_min": 0.003, "tail_df": 5.0, "jump_prob": 1e-4, "jump_size": 0.02,
        "half_spread_bps": 15.0, "quote_refresh_prob": 0.6, "no_trade_prob": 0.1,
        "volume_level": 1.0, "volume_persistence": 0.9, "volume_noise": 0.5,
        "volume_shock_link": 0.3, "beta": 1.0,
    }
    params = MarketParams(
        symbols=tuple(f"C{i}BTC" for i in range(coins)),
        **{name: (value,) * coins for name, value in same.items()},
        vol_fast_var=0.5, vol_fast_persistence=0.93, vol_slow_var=0.5,
        vol_slow_persistence=0.999, volume_vol_link=1.0, activity_vol_link=1.0,
        no_trade_activity_slope=2.0,
        factor_vol_per_min=0.002, factor_lag_min=20.0,
        hour_volume_profile=(1.0,) * HOURS, hour_vol_profile=(1.0,) * HOURS,
        regime_vol_multiplier=(1.0, 1.5), regime_mean_minutes=(2000.0, 500.0),
        source="tests/market_params_example.py")
    return replace(params, **changes)
