"""The configuration's sections: one pydantic model per `[table]` of `config.toml`, with each
key's default, its bounds and the rules between keys of one section.

Apart from bot/config.py, which assembles them into `Config` and loads it (the file, the
`ENTASIS__SECTION__KEY` overrides, the error text): the sections are most of the lines and
change whenever a setting is added, the loader almost never. Import them from bot.config, the
configuration's entry point, which re-exports every public name here.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from exchange.sim.shipped_params import DEFAULT_PARAMS, params_problem
from model.timeframes import Timeframe
from risk.limits import LIMIT_BOUNDS, RiskLimits, VarMethod
from state.recovery_types import RecoveryPolicy

MAX_STARTING_BALANCE = 1e12  # quote units (a trillion KRW is about $700M)


class ConfigSection(BaseModel):
    """The base of every section and of `Config`: unknown keys refused, values frozen."""

    # allow_inf_nan=False: every float setting of every section must be finite. One rule for
    # the whole file: `inf` passed `gt=0`, reached the ledger as a balance and crashed the
    # daemon on every start; a setting added later is covered without a thought.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class AppConfig(ConfigSection):
    mode: Literal["paper", "live"] = "paper"
    data_dir: Path = Path("var")
    log_format: Literal["human", "json"] = "human"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class ExchangeConfig(ConfigSection):
    source: Literal["sim", "binance", "upbit"] = "sim"
    rest_url: str = "https://api.binance.com"
    ws_url: str = "wss://stream.binance.com:9443"
    quote_asset: str = Field("", max_length=10)
    symbols: list[str] = Field(default_factory=list)
    api_key: SecretStr = SecretStr("")
    api_secret: SecretStr = SecretStr("")
    key_file: str = ""  # KEY=VALUE file with api_key/api_secret, mode 0600 (bot/secrets.py)


class UpbitConfig(ConfigSection):
    """Upbit market data (`exchange.source = "upbit"`, or `sim.protocol = "upbit"`)."""

    rest_url: str = "https://api.upbit.com"
    ws_url: str = "wss://api.upbit.com/websocket/v1"
    format: Literal["SIMPLE", "DEFAULT"] = "SIMPLE"
    request_interval_s: float = Field(0.11, ge=0, le=10)  # quotation REST: 10 requests/s


class LiveConfig(ConfigSection):
    """Live trading through ccxt (`app.mode = "live"` plus `entasis run --confirm-live`)."""

    ccxt_id: str = "binance"  # the ccxt exchange id; the sim speaks Binance
    poll_interval_s: float = Field(1.0, gt=0, le=60)  # open-order status poll
    requests_per_s: float = Field(0.0, ge=0, le=100)  # 0: the exchange's default budget
    # Fills from the user data stream (Binance; ADR-033): orders are polled over REST only
    # while it is down or silent longer than stream_silent_after_s, and every
    # stream_safety_poll_s as a safety net. false: REST polling only (Upbit always is).
    user_stream: bool = True
    stream_silent_after_s: float = Field(10.0, gt=0, le=600)
    stream_safety_poll_s: float = Field(60.0, gt=0, le=3600)


class SimConfig(ConfigSection):
    host: Literal["127.0.0.1", "localhost", "::1"] = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)
    seed: int = Field(7, ge=0)
    coins: int = Field(30, ge=1, le=2000)
    speed: float = Field(60.0, gt=0)
    history_days: float = Field(31.0, ge=0, le=400)
    replay_dir: str = ""
    # The generator's market: a shipped parameter set's name, a MarketParams JSON file, or
    # "" for the old regime-switching model (exchange/sim/shipped_params.py).
    params: str = DEFAULT_PARAMS
    ticks_per_bar: int = Field(4, ge=1, le=60)
    protocol: Literal["binance", "upbit"] = "binance"  # what the daemon's feed speaks to it

    @field_validator("params")
    @classmethod
    def _known_params(cls, value: str) -> str:
        problem = params_problem(value)
        if problem is not None:
            raise ValueError(problem)  # checked at start: no server runs on a missing file
        return value


class FeedConfig(ConfigSection):
    stale_after_s: float = Field(10.0, gt=0)
    backfill_minutes: int = Field(43_200, ge=0, le=200_000)
    reconnect_min_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    ping_interval_s: float = Field(20.0, gt=0)
    # Symbols accepted from exchangeInfo; beyond it the daemon refuses to start rather than
    # build per-symbol state for an unbounded listing (memory).
    max_symbols: int = Field(2_000, ge=1, le=100_000)

    @model_validator(mode="after")
    def _backoff_ordered(self) -> FeedConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError(
                f"reconnect_max_s ({self.reconnect_max_s}) must be >= reconnect_min_s "
                f"({self.reconnect_min_s})"
            )
        return self


class StrategyConfig(ConfigSection):
    top_k: int = Field(10, ge=1, le=500)
    target_return_pct: float = Field(1.0, gt=0, le=100)
    stop_return_pct: float = Field(1.0, gt=0, le=100)
    horizon_minutes: int = Field(60, ge=1, le=10_080)
    min_quote_volume_24h: float = Field(0.0, ge=0)
    max_spread_bps: float = Field(50.0, gt=0)


class TradingConfig(ConfigSection):
    policy: Literal["auto", "baseline", "buyhold", "sma", "rl", "rl_portfolio"] = "auto"
    quote_asset: str = Field("USDT", min_length=1, max_length=10)
    # Deposited into the ledger as an exact Decimal: bounded so that every amount derived
    # from it keeps its 8 decimals within Decimal's 28 significant digits.
    starting_balance: float = Field(10_000.0, gt=0, le=MAX_STARTING_BALANCE)
    min_score: float = Field(0.2, ge=0, le=1)
    # Baseline: enter only when the expected edge > the round trip's cost x (1 + this)
    # (strategies/edge.py); -1 weighs no cost.
    edge_cost_margin: float = Field(0.5, ge=-1, le=100)
    cancel_buy_after_s: float = Field(300.0, gt=0)
    reprice_sell_after_s: float = Field(1800.0, gt=0)
    # After `entasis forceexit SYMBOL`: no new entries in it for this long (0 = off), so the
    # policy does not buy back what the operator just sold. Survives a restart (ledger kv).
    forceexit_cooldown_minutes: float = Field(60.0, ge=0, le=43_200)
    # How often the engine decides, as a timeframe ("1m", "5m", "1h"): at UTC multiples of
    # it; every tick and bar is still applied in between. Kept as the text the file holds.
    decision_interval: str = "1m"

    @field_validator("decision_interval")
    @classmethod
    def _known_timeframe(cls, value: str) -> str:
        return Timeframe.parse(value).value  # TimeframeError is a ValueError: names the key

    @property
    def decision_timeframe(self) -> Timeframe:
        """`decision_interval` as a `Timeframe` (for the engine)."""
        return Timeframe.parse(self.decision_interval)


class FillsConfig(ConfigSection):
    maker_fee_bps: float = Field(10.0, ge=0, le=1000)
    taker_fee_bps: float = Field(10.0, ge=0, le=1000)
    max_volume_share: float = Field(0.1, gt=0, le=1)
    # Backtests' bid-ask spread per symbol (model/costs.py): "estimated" from the bars before
    # the traded window, or "fixed" (one tick on bars, replayed ticks 5 bps apart: pre-#16).
    spread: Literal["estimated", "fixed"] = "estimated"


class ExecutionConfig(ConfigSection):
    """`[execution]`: expected vs realized execution in paper and live trading
    (trading/execution_monitor.py) and when its drift raises a notice
    (trading/execution_drift.py; the defaults are `DriftLimits`')."""

    enabled: bool = True
    fill_horizon_minutes: float = Field(5.0, gt=0, le=10_080)
    window_orders: int = Field(50, ge=2, le=10_000)
    min_orders: int = Field(20, ge=2, le=10_000)
    z: float = Field(3.0, gt=0, le=100)
    slippage_floor_bps: float = Field(5.0, ge=0, le=10_000)
    fill_rate_floor: float = Field(0.15, ge=0, le=1)

    @model_validator(mode="after")
    def _window_holds_min_orders(self) -> ExecutionConfig:
        if self.min_orders > self.window_orders:
            raise ValueError(f"execution.min_orders ({self.min_orders}) must not exceed "
                             f"execution.window_orders ({self.window_orders}): the window "
                             "could never hold enough orders for a verdict")
        return self


_RISK_DEFAULTS = RiskLimits()
_RECOVERY_DEFAULTS = RecoveryPolicy()


def _limit(name: str) -> Any:
    """The `[risk]` key `name`: its default and bounds are risk.limits' (the one place that
    owns them, since backtests and RL build `RiskLimits` without this config)."""
    default = getattr(_RISK_DEFAULTS, name)
    bounds: dict[str, Any] = LIMIT_BOUNDS[name].as_field_kwargs()  # ge=/le=/gt=/lt=
    return Field(float(default) if isinstance(default, Decimal) else default, **bounds)


class RiskConfig(ConfigSection):
    """`[risk]`: maps 1:1 onto risk.limits.RiskLimits (`RiskLimits.from_mapping`)."""

    risk_per_trade_pct: float = _limit("risk_per_trade_pct")
    max_position_pct: float = _limit("max_position_pct")
    max_open_positions: int = _limit("max_open_positions")
    fee_reserve_pct: float = _limit("fee_reserve_pct")
    var_limit_pct: float = _limit("var_limit_pct")
    es_limit_pct: float = _limit("es_limit_pct")
    var_confidence: float = _limit("var_confidence")
    var_horizon_days: float = _limit("var_horizon_days")
    var_method: VarMethod = _RISK_DEFAULTS.var_method
    min_return_observations: int = _limit("min_return_observations")
    daily_loss_reduce_pct: float = _limit("daily_loss_reduce_pct")
    daily_loss_halt_pct: float = _limit("daily_loss_halt_pct")
    drawdown_reduce_pct: float = _limit("drawdown_reduce_pct")
    drawdown_halt_pct: float = _limit("drawdown_halt_pct")

    @model_validator(mode="after")
    def _limits_accept(self) -> RiskConfig:
        """The rules between keys (a reduce level at or below its halt level) are RiskLimits'
        own: run them here too, so `entasis config check` says what the trader would."""
        RiskLimits.from_mapping(self.model_dump())  # its ValueError names the keys
        return self


class ControlConfig(ConfigSection):
    host: Literal["127.0.0.1", "localhost", "::1"] = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)


# must stay trading.notices.NoticeKind's values (the Telegram notify filter names them)
NoticeKindName = Literal["fill", "trading_state", "breaker", "stale_feed", "forecast_degraded",
                         "model_promoted", "daemon", "report", "order_failed",
                         "execution_drift"]
NOTICE_KINDS: tuple[NoticeKindName, ...] = get_args(NoticeKindName)
# Rare and urgent: sent at once, never held for the batch window.
IMMEDIATE_KINDS: tuple[NoticeKindName, ...] = ("trading_state", "breaker", "daemon", "report",
                                               "order_failed")


class TelegramConfig(ConfigSection):
    """Telegram bot (bot/ops/telegram_bot.py): off unless enabled with a token and chat ids."""

    enabled: bool = False
    token: SecretStr = SecretStr("")  # set ENTASIS__TELEGRAM__TOKEN, not the file
    chat_ids: list[int] = Field(default_factory=list)
    api_url: str = "https://api.telegram.org"
    poll_timeout_s: float = Field(10.0, ge=0, le=60)
    request_timeout_s: float = Field(10.0, gt=0, le=120)
    notify: list[NoticeKindName] = Field(default_factory=lambda: list(NOTICE_KINDS))
    commands_per_minute: int = Field(30, ge=1, le=600)
    unauthorized_log_every_s: float = Field(60.0, ge=0)
    # Notices of kinds not in `immediate` are coalesced into one message per window (27 fill
    # messages in the first minute was the complaint); 0 sends them as they come.
    batch_window_s: float = Field(60.0, ge=0, le=3600)
    immediate: list[NoticeKindName] = Field(default_factory=lambda: list(IMMEDIATE_KINDS))
    # On shutdown: how long to wait for "daemon stopping" and the pending notices to go out.
    shutdown_flush_s: float = Field(3.0, ge=0, le=10)

    @field_validator("chat_ids", "notify", "immediate", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        """Environment overrides arrive as text: "123,-456" -> ["123", "-456"]."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def problem(self) -> str:
        """Why an enabled bot cannot start ("" when it can). Checked by the daemon, not at
        load: the operator's shell running `entasis status` has no token, and needs none."""
        if self.enabled and (not self.token.get_secret_value() or not self.chat_ids):
            return ("telegram.enabled = true needs a token (set ENTASIS__TELEGRAM__TOKEN) and "
                    "at least one chat id in telegram.chat_ids (the chats allowed to command)")
        return ""


class ScheduleConfig(ConfigSection):
    """Scheduled jobs (bot/ops/scheduler.py); wall-clock UTC slots, each run at most once."""

    enabled: bool = True
    hourly_stats: bool = True
    daily_report: bool = True
    daily_report_hour_utc: int = Field(0, ge=0, le=23)
    push_reports: bool = False  # send the daily report to Telegram (bot/ops/notify.py)
    selfplay: bool = False  # `entasis selfplay ... --json` in a subprocess
    selfplay_every_hours: int = Field(24, ge=1, le=24 * 30)
    selfplay_args: list[str] = Field(default_factory=lambda: ["--sim", "--generations", "1"])
    train_commands: list[list[str]] = Field(default_factory=list)  # entasis argv, e.g. ["models"]
    train_every_hours: int = Field(24, ge=1, le=24 * 30)
    job_timeout_s: float = Field(3600.0, gt=0)
    # Online ledger backups into data_dir/backups/ (state/backup.py), keeping the newest N.
    ledger_backup: bool = True
    ledger_backup_every_hours: int = Field(1, ge=1, le=24 * 7)
    ledger_backup_keep: int = Field(24, ge=1, le=10_000)
    # Daily full integrity_check of the live ledger; damage is logged as ERROR and notified.
    ledger_check: bool = True
    ledger_check_hour_utc: int = Field(3, ge=0, le=23)


class MetricsConfig(ConfigSection):
    """Prometheus endpoint (bot/ops/metrics.py); loopback only, port 0 = any free port."""

    enabled: bool = False
    host: Literal["127.0.0.1", "localhost", "::1"] = "127.0.0.1"
    port: int = Field(9464, ge=0, le=65535)


class ForecastConfig(ConfigSection):
    """Ensemble forecast (strategies/forecast/): off by default; without a bundle the daemon
    runs as if it were off."""

    enabled: bool = False
    bundle: Path = Path("forecast")  # relative paths resolve against data_dir
    horizons: list[int] = Field(default_factory=lambda: [15, 60])  # trained by `forecast train`
    horizon: int = Field(60, ge=1, le=10_080)  # the one served; must be in the bundle
    # stacking won the walk-forward validation (and the test period): ADR-014
    weights_mode: Literal["designed", "inverse_error", "stacking"] = "stacking"
    degrade_ratio: float = Field(1.1, gt=0)  # forecast MSE / zero-forecast MSE that flags
    monitor_window: int = Field(5000, ge=100)  # resolved forecasts in the rolling window
    # how often the daemon looks for a retrained bundle between decision steps; 0 = never
    reload_every_s: float = Field(60.0, ge=0)  # hot reload (ADR-043)

    @model_validator(mode="after")
    def _served_horizon_is_trained(self) -> ForecastConfig:
        if not self.horizons or any(h < 1 for h in self.horizons):
            raise ValueError("horizons must list positive minutes, e.g. [15, 60]")
        if self.horizon not in self.horizons:
            raise ValueError(f"horizon {self.horizon} must be one of horizons {self.horizons}")
        return self


class AnomalyConfig(ConfigSection):
    """Anomaly detection (risk/anomaly.py): off by default; with no model file the daemon
    logs a warning and trades as if it were off."""

    enabled: bool = False
    model_path: Path = Path("anomaly.pt")  # relative paths resolve against data_dir
    kind: Literal["ae", "vae"] = "ae"  # which network of the bundle scores
    threshold_method: Literal["evt", "percentile"] = "evt"
    rate: float = Field(0.001, gt=0, lt=0.5)  # share of ordinary coin-minutes meant to alarm
    market_rate: float = Field(0.001, gt=0, lt=0.5)  # the same for the market-wide model
    cooldown_minutes: float = Field(30.0, ge=0, le=1440)  # alarms stay up this long
    in_ranking: bool = False  # scores also shrink ranked coins' upward drift (ADR-035)


class RecoveryConfig(ConfigSection):
    """Crash safety (state/recovery.py, bot/app/staleness.py): startup reconciliation with the
    broker, and what the daemon does while a market stream is silent."""

    # Defaults from state.recovery_types.RecoveryPolicy, which reconciliation builds.
    balance_tolerance_pct: float = Field(float(_RECOVERY_DEFAULTS.balance_tolerance_pct),
                                         ge=0, le=100)  # beyond it: refuse to trade
    # look an unseen sent order up again after this long
    lost_grace_s: float = Field(_RECOVERY_DEFAULTS.lost_grace_s, ge=0, le=60)
    stale_poll_interval_s: float = Field(2.0, gt=0, le=60)  # REST polls while a stream is stale
    resume_after_s: float = Field(3.0, ge=0, le=600)  # live this long before entries resume

