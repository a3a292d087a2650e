"""One source per setting: the config's defaults are the core's, and a value the core refuses
is refused by the config too, with a message that names the setting.

The core dataclasses (RiskLimits, FillParams, ...) are what backtests and RL build without the
app config; if the two disagreed, a backtest would run under other rules than the daemon."""

from __future__ import annotations

import inspect
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from bot.config import (
    ConfigError,
    FillsConfig,
    LiveConfig,
    RecoveryConfig,
    RiskConfig,
    StrategyConfig,
    TradingConfig,
    load_config,
)
from exchange.brokers.ccxt_orders import LivePolicy
from model.fills import FillParams
from risk.limits import LIMIT_BOUNDS, Bounds, RiskLimits
from rl.env import EnvConfig
from state.recovery_types import RecoveryPolicy
from strategies.baselines import BaselinePolicy
from trading.engine import Engine

#: (config section, the core object it maps onto, the keys both have).
MAPPED: list[tuple[type[BaseModel], Any, tuple[str, ...]]] = [
    (RiskConfig, RiskLimits(), tuple(RiskConfig.model_fields)),
    # `spread` picks where a backtest's spreads come from (model/costs.py), not a FillParams knob
    (FillsConfig, FillParams(), tuple(k for k in FillsConfig.model_fields if k != "spread")),
    (RecoveryConfig, RecoveryPolicy(), ("balance_tolerance_pct", "lost_grace_s")),
    (LiveConfig, LivePolicy(), ("poll_interval_s", "stream_silent_after_s",
                                "stream_safety_poll_s")),
    (StrategyConfig, BaselinePolicy(), ("target_return_pct", "stop_return_pct",
                                        "horizon_minutes")),
    (TradingConfig, BaselinePolicy(), ("min_score", "cancel_buy_after_s",
                                       "reprice_sell_after_s", "edge_cost_margin")),
    (FillsConfig, BaselinePolicy(), ("maker_fee_bps", "taker_fee_bps")),
]


def _same(config_value: Any, core_value: Any) -> bool:
    if isinstance(core_value, Decimal):  # the core keeps money exact; the file has floats
        return Decimal(str(config_value)) == core_value
    return bool(config_value == core_value)


@pytest.mark.parametrize(("section", "core", "keys"), MAPPED,
                         ids=[section.__name__ for section, _, _ in MAPPED])
def test_config_defaults_are_the_core_defaults(section: type[BaseModel], core: Any,
                                               keys: tuple[str, ...]) -> None:
    defaults = section()
    differing = {key: (getattr(defaults, key), getattr(core, key)) for key in keys
                 if not _same(getattr(defaults, key), getattr(core, key))}
    assert differing == {}


def test_the_daemon_decides_every_minute_by_default_as_the_engine_does() -> None:
    engine_default = inspect.signature(Engine).parameters["decision_interval"].default
    assert TradingConfig().decision_interval == "1m"
    assert TradingConfig().decision_timeframe is engine_default


def test_the_default_risk_section_builds_the_default_limits() -> None:
    assert RiskLimits.from_mapping(RiskConfig().model_dump()) == RiskLimits()


def test_rl_trains_with_the_traders_sizing_and_fill_defaults() -> None:
    env, limits, fills = EnvConfig(), RiskLimits(), FillParams()
    assert Decimal(str(env.risk_per_trade_pct)) == limits.risk_per_trade_pct
    assert Decimal(str(env.max_position_pct)) == limits.max_position_pct
    assert env.fill_params() == fills


def _outside(bounds: Bounds) -> list[float]:
    """Values just outside each side of `bounds`."""
    values = []
    if bounds.gt is not None:
        values.append(bounds.gt)
    if bounds.ge is not None:
        values.append(bounds.ge - 1)
    if bounds.lt is not None:
        values.append(bounds.lt)
    if bounds.le is not None:
        values.append(bounds.le + 1)
    return values


CASES = [(name, value) for name, bounds in LIMIT_BOUNDS.items() for value in _outside(bounds)]


@pytest.mark.parametrize(("name", "value"), CASES, ids=[f"{n}={v:g}" for n, v in CASES])
def test_a_limit_the_core_refuses_is_refused_by_the_config_naming_the_key(
        tmp_path: Path, name: str, value: float) -> None:
    with pytest.raises(ValueError, match=name):
        RiskLimits.from_mapping({name: value})
    path = tmp_path / "config.toml"
    path.write_text(f"[risk]\n{name} = {value!r}\n")
    with pytest.raises(ConfigError, match=rf"risk\.{name} = {value!r}: Input should be"):
        load_config(path, environ={})


def test_a_rule_between_limits_is_the_cores_and_the_config_says_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"daily_loss_reduce_pct \(6\) must be <= "):
        RiskLimits(daily_loss_reduce_pct=Decimal(6), daily_loss_halt_pct=Decimal(5))
    path = tmp_path / "config.toml"
    path.write_text("[risk]\ndaily_loss_reduce_pct = 6.0\ndaily_loss_halt_pct = 5.0\n")
    with pytest.raises(ConfigError, match=r"daily_loss_reduce_pct \(6\.0\) must be <= "
                                          r"daily_loss_halt_pct \(5\.0\)"):
        load_config(path, environ={})


def test_every_bound_the_config_states_for_risk_is_the_cores() -> None:
    for name, bounds in LIMIT_BOUNDS.items():
        rules = {type(rule).__name__.lower(): getattr(rule, type(rule).__name__.lower())
                 for rule in RiskConfig.model_fields[name].metadata}
        assert rules == bounds.as_field_kwargs(), name
