"""Configuration: `config.toml`, validated at start, with `ENTASIS__SECTION__KEY` overrides.

The daemon refuses to start on a bad value, and the error names the key, the value and what
is allowed. Secrets (API keys, tokens) come from the environment or the file and are masked
whenever the configuration is printed.

This module is the configuration's entry point: `Config`, `load_config` and `ConfigError`
live here, and every public name of bot/config_sections.py (the section models, such as
`SimConfig` and `StrategyConfig`, and `NOTICE_KINDS`) is re-exported, so `from bot.config
import X` keeps working for all of them wherever the section models are defined.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError, model_validator
from pydantic_core import PydanticCustomError

from bot.config_errors import format_errors
from bot.config_sections import (
    IMMEDIATE_KINDS,
    MAX_STARTING_BALANCE,
    NOTICE_KINDS,
    AnomalyConfig,
    AppConfig,
    ConfigSection,
    ControlConfig,
    ExchangeConfig,
    ExecutionConfig,
    FeedConfig,
    FillsConfig,
    ForecastConfig,
    LiveConfig,
    MetricsConfig,
    NoticeKindName,
    RecoveryConfig,
    RiskConfig,
    ScheduleConfig,
    SimConfig,
    StrategyConfig,
    TelegramConfig,
    TradingConfig,
    UpbitConfig,
)
from bot.data_dir import data_dir_problem
from model import errors

__all__ = [
    "ENV_PREFIX",
    "IMMEDIATE_KINDS",
    "MAX_STARTING_BALANCE",
    "NOTICE_KINDS",
    "AnomalyConfig",
    "AppConfig",
    "Config",
    "ConfigError",
    "ConfigSection",
    "ControlConfig",
    "ExchangeConfig",
    "ExecutionConfig",
    "FeedConfig",
    "FillsConfig",
    "ForecastConfig",
    "LiveConfig",
    "MetricsConfig",
    "NoticeKindName",
    "RecoveryConfig",
    "RiskConfig",
    "ScheduleConfig",
    "SimConfig",
    "StrategyConfig",
    "TelegramConfig",
    "TradingConfig",
    "UpbitConfig",
    "load_config",
]

ENV_PREFIX = "ENTASIS__"



class ConfigError(errors.ConfigError):
    """The configuration cannot be used; the message says which key and how to fix it."""


class Config(ConfigSection):
    app: AppConfig = AppConfig()
    exchange: ExchangeConfig = ExchangeConfig()  # type: ignore[call-arg]
    sim: SimConfig = SimConfig()
    feed: FeedConfig = FeedConfig()
    strategy: StrategyConfig = StrategyConfig()
    trading: TradingConfig = TradingConfig()
    fills: FillsConfig = FillsConfig()
    execution: ExecutionConfig = ExecutionConfig()
    risk: RiskConfig = RiskConfig()
    control: ControlConfig = ControlConfig()
    telegram: TelegramConfig = TelegramConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    metrics: MetricsConfig = MetricsConfig()
    forecast: ForecastConfig = ForecastConfig()
    live: LiveConfig = LiveConfig()
    upbit: UpbitConfig = UpbitConfig()
    anomaly: AnomalyConfig = AnomalyConfig()
    recovery: RecoveryConfig = RecoveryConfig()

    # Where config.toml lives; relative data_dir resolves against it, not against the cwd.
    base_dir: Path = Path(".")

    @property
    def data_dir(self) -> Path:
        path = self.app.data_dir
        return path if path.is_absolute() else (self.base_dir / path)

    @model_validator(mode="after")
    def _data_dir_usable(self) -> Config:
        """Here, not on AppConfig: a relative data_dir means nothing without base_dir."""
        problem = data_dir_problem(self.data_dir)
        if problem:
            raise PydanticCustomError("data_dir", "app.data_dir = {value}: {problem}",
                                      {"value": repr(str(self.app.data_dir)), "problem": problem})
        return self

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data, every secret replaced by '***'."""
        return _mask(self.model_dump(mode="json", exclude={"base_dir"}))


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    if key.endswith(("_key", "_secret", "token", "password")) and value:
        return "***"
    return value


def _env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """`ENTASIS__EXCHANGE__API_KEY=...` -> {"exchange": {"api_key": "..."}}."""
    overrides: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(
                f"environment variable {name}: expected ENTASIS__SECTION__KEY, "
                "e.g. ENTASIS__EXCHANGE__API_KEY"
            )
        overrides.setdefault(parts[0], {})[parts[1]] = value
    return overrides


def _env_names(environ: Mapping[str, str]) -> dict[str, str]:
    """"section.key" -> the ENTASIS__SECTION__KEY variable that set it, so an error can
    blame the variable and not a file that never held the value."""
    names: dict[str, str] = {}
    for name in environ:
        if name.startswith(ENV_PREFIX):
            names[".".join(name[len(ENV_PREFIX):].lower().split("__"))] = name
    return names


def load_config(
    path: Path | str | None = "config.toml", environ: Mapping[str, str] | None = None
) -> Config:
    """Read, merge environment overrides into, and validate the configuration.

    `path=None` gives the defaults (plus environment overrides). Raises `ConfigError` with a
    message that names every bad key, its value and what is allowed.
    """
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    base_dir = Path(".")
    source = "defaults"
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"config file {file} not found; pass --config PATH")
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file} is not valid TOML: {exc}") from None
        base_dir = file.resolve().parent
        source = str(file)
    for section, values in _env_overrides(environ).items():
        if not isinstance(data.get(section, {}), dict):
            raise ConfigError(f"[{section}] in {source} must be a table")
        data.setdefault(section, {}).update(values)
    try:
        return Config.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source, Config, _env_names(environ))) from None
