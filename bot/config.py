"""Configuration: `config.toml`, validated at start, with `ENTASIS__SECTION__KEY` overrides.

The daemon refuses to start on a bad value, and the error names the key, the value and what
is allowed. Secrets (API keys, tokens) come from the environment or the file and are masked
whenever the configuration is printed.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

ENV_PREFIX = "ENTASIS__"


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and how to fix it."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AppConfig(_Section):
    mode: Literal["paper", "live"] = "paper"
    data_dir: Path = Path("var")
    log_format: Literal["human", "json"] = "human"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class ExchangeConfig(_Section):
    source: Literal["sim", "binance"] = "sim"
    rest_url: str = "https://api.binance.com"
    ws_url: str = "wss://stream.binance.com:9443"
    quote_asset: str = Field("", max_length=10)
    symbols: list[str] = Field(default_factory=list)
    api_key: SecretStr = SecretStr("")
    api_secret: SecretStr = SecretStr("")


class SimConfig(_Section):
    host: Literal["127.0.0.1", "localhost", "::1"] = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)
    seed: int = Field(7, ge=0)
    coins: int = Field(30, ge=1, le=2000)
    speed: float = Field(60.0, gt=0)
    history_days: float = Field(31.0, ge=0, le=400)
    replay_dir: str = ""
    ticks_per_bar: int = Field(4, ge=1, le=60)


class FeedConfig(_Section):
    stale_after_s: float = Field(10.0, gt=0)
    backfill_minutes: int = Field(43_200, ge=0, le=200_000)
    reconnect_min_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    ping_interval_s: float = Field(20.0, gt=0)

    @model_validator(mode="after")
    def _backoff_ordered(self) -> "FeedConfig":
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(
                f"reconnect_max_s ({self.reconnect_max_s}) must be >= reconnect_min_s "
                f"({self.reconnect_min_s})"
            )
        return self


class StrategyConfig(_Section):
    top_k: int = Field(10, ge=1, le=500)
    target_return_pct: float = Field(1.0, gt=0, le=100)
    stop_return_pct: float = Field(1.0, gt=0, le=100)
    horizon_minutes: int = Field(60, ge=1, le=10_080)
    min_quote_volume_24h: float = Field(0.0, ge=0)
    max_spread_bps: float = Field(50.0, gt=0)


class TradingConfig(_Section):
    policy: Literal["baseline", "buyhold", "sma", "rl"] = "baseline"
    quote_asset: str = Field("USDT", min_length=1, max_length=10)
    starting_balance: float = Field(10_000.0, gt=0)
    min_score: float = Field(0.2, ge=0, le=1)
    cancel_buy_after_s: float = Field(300.0, gt=0)
    reprice_sell_after_s: float = Field(1800.0, gt=0)


class FillsConfig(_Section):
    maker_fee_bps: float = Field(10.0, ge=0, le=1000)
    taker_fee_bps: float = Field(10.0, ge=0, le=1000)
    max_volume_share: float = Field(0.1, gt=0, le=1)


class RiskConfig(_Section):
    risk_per_trade_pct: float = Field(2.0, gt=0, le=100)
    max_position_pct: float = Field(5.0, gt=0, le=100)
    max_open_positions: int = Field(10, ge=1)
    fee_reserve_pct: float = Field(0.1, ge=0, le=10)
    var_limit_pct: float = Field(2.0, gt=0, le=100)
    es_limit_pct: float = Field(3.0, gt=0, le=100)
    var_confidence: float = Field(0.95, gt=0.5, lt=1)
    var_horizon_days: float = Field(1.0, gt=0, le=30)
    var_method: Literal["historical", "parametric"] = "historical"
    min_return_observations: int = Field(100, ge=10)
    daily_loss_reduce_pct: float = Field(3.0, gt=0, le=100)
    daily_loss_halt_pct: float = Field(5.0, gt=0, le=100)
    drawdown_reduce_pct: float = Field(10.0, gt=0, le=100)
    drawdown_halt_pct: float = Field(15.0, gt=0, le=100)

    @model_validator(mode="after")
    def _reduce_before_halt(self) -> "RiskConfig":
        for name in ("daily_loss", "drawdown"):
            reduce, halt = getattr(self, f"{name}_reduce_pct"), getattr(self, f"{name}_halt_pct")
            if reduce > halt:
                raise ValueError(f"{name}_reduce_pct ({reduce}) must be <= {name}_halt_pct ({halt})")
        return self


class ControlConfig(_Section):
    host: Literal["127.0.0.1", "localhost", "::1"] = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)


class Config(_Section):
    app: AppConfig = AppConfig()
    exchange: ExchangeConfig = ExchangeConfig()  # type: ignore[call-arg]
    sim: SimConfig = SimConfig()
    feed: FeedConfig = FeedConfig()
    strategy: StrategyConfig = StrategyConfig()
    trading: TradingConfig = TradingConfig()
    fills: FillsConfig = FillsConfig()
    risk: RiskConfig = RiskConfig()
    control: ControlConfig = ControlConfig()

    # Where config.toml lives; relative data_dir resolves against it, not against the cwd.
    base_dir: Path = Path(".")

    @property
    def data_dir(self) -> Path:
        path = self.app.data_dir
        return path if path.is_absolute() else (self.base_dir / path)

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


def _format_errors(error: ValidationError, source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key; remove it or check its spelling")
            continue
        shown = "***" if key.endswith(("_key", "_secret", "token")) else repr(item.get("input"))
        lines.append(f"  {key} = {shown}: {item['msg']}")
    return "\n".join(lines)


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
        raise ConfigError(_format_errors(exc, source)) from None
