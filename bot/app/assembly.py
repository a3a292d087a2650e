"""Assembling the trading stack from config: one recipe for the daemon and the backtester,
so paper trading and replay cannot drift apart.

The composition root: `make_trader` builds the trader once, with everything it needs; no
other module sets a trader's attributes afterwards (only trading changes its state)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.app.anomaly_setup import make_detector
from bot.app.live_health import watch_live_broker
from bot.app.live_status import OrderFailures
from bot.app.policy_choice import PolicyChoice, StayFlat, choose_policy, log_choice
from bot.app.staleness import EntryPause, StreamWatch
from bot.config import Config
from bot.data_dir import DataDir
from exchange.brokers.sim import PaperBroker
from model import errors
from model.fills import FillParams
from model.instruments import Instrument
from model.timeframes import duration_text
from risk.limits import RiskLimits
from state.ledger import Ledger
from strategies.baselines import POLICIES
from strategies.policy import Policy
from trading.execution_drift import DriftLimits
from trading.execution_monitor import ExecutionMonitor
from trading.notices import Notifier
from trading.operator import TraderOptions
from trading.trader import Trader

if TYPE_CHECKING:
    from exchange.brokers.ccxt import CcxtBroker

log = logging.getLogger(__name__)


class BacktestError(errors.OperatorError):
    """The run cannot start as asked; the message says what to change."""


class PolicyUnavailable(errors.OperatorError):
    """The configured policy has nothing it may trade (no promoted model, or one that
    decides at another cadence); the message says what to run or to change."""


def make_policy(name: str, config: Config, instruments: list[Instrument] | None = None,
                choice: PolicyChoice | None = None) -> Policy:
    """The named policy, with the config's knobs where it has them.

    "rl" trades the registry's best_player (data_dir/models.sqlite) and hot-swaps newer ones;
    before any model exists it falls back to "baseline" with a warning. "auto" (the default) is
    `choice` (else `auto_choice`): "rl" when the registry's best model won its place in an
    arena (the freshly initialized v0000 that seeds self-play is "best" only because nothing
    was compared yet, and must not trade on its own), else the policy with the best
    walk-forward verdict on the config's market, else "baseline" (bot/app/policy_choice.py;
    whether it may open positions is `make_trader`'s `StayFlat`). "rl_portfolio" trades the
    portfolio league's promoted best (`portfolio_policy`; no fallback: it refuses to start,
    saying what to run, while nothing was promoted)."""
    if name == "auto":
        name = (choice or auto_choice(config)).policy
    if name == "rl_portfolio":
        return portfolio_policy(config, instruments or [])
    if name == "rl":
        from rl.live_policy import RLPolicy, open_registry  # torch only when asked for

        registry = open_registry(config.data_dir)
        policy = None if registry is None else RLPolicy.from_registry(
            registry, instruments={i.symbol: i for i in instruments or []},
            stop_pct=config.strategy.stop_return_pct,
            buy_fee_bps=(config.fills.maker_fee_bps + config.fills.taker_fee_bps) / 2)
        if policy is not None:
            log.info("policy rl: trading %s", policy.version)
            return policy
        if registry is not None:
            registry.close()
        log.warning("policy rl: no best_player in %s; trading the baseline policy instead",
                    config.data_dir)
        name = "baseline"
    if name == "baseline":
        return POLICIES.create(
            name,
            target_return_pct=config.strategy.target_return_pct,
            stop_return_pct=config.strategy.stop_return_pct,
            horizon_minutes=config.strategy.horizon_minutes,
            min_score=config.trading.min_score,
            cancel_buy_after_s=config.trading.cancel_buy_after_s,
            reprice_sell_after_s=config.trading.reprice_sell_after_s,
            **baseline_cost_params(config),
        )
    return POLICIES.create(name)


def portfolio_policy(config: Config, instruments: list[Instrument]) -> Policy:
    """The portfolio league's promoted best (data_dir/portfolio_models.sqlite) as a live
    policy (rl/portfolio_live_policy.py), hot-swapping newer promotions. Refuses, saying
    what to run, while no league has promoted a model (v0000, the untrained network the
    league installs as best, never trades) and when the daemon's `decision_interval` does
    not divide the model's cadence (it would skip or misplace the model's decisions)."""
    from rl.portfolio_live_policy import PortfolioLivePolicy  # torch only when asked for
    from rl.registry import ModelRegistry

    path = DataDir(config.data_dir).portfolio_models
    train = (f"train one with `entasis league --data FOLDER --timeframe "
             f"{config.trading.decision_interval}` on this market's bars (data dir "
             f"{config.data_dir}) until a generation is promoted; the registry's v0000 is the "
             "untrained network and never trades")
    if not path.exists():
        raise PolicyUnavailable(f"policy rl_portfolio: no portfolio model registry {path}; "
                                f"{train}")
    registry = ModelRegistry.open(path)
    try:
        policy = PortfolioLivePolicy.from_registry(
            registry, instruments={i.symbol: i for i in instruments},
            max_open_positions=config.risk.max_open_positions)
        if policy is None:
            raise PolicyUnavailable(f"policy rl_portfolio: {path} holds no model promoted by "
                                    f"a league; {train}")
        interval_ms = config.trading.decision_timeframe.ms
        if policy.cadence_ms % interval_ms:
            cadence = duration_text(policy.cadence_ms)
            raise PolicyUnavailable(
                f"policy rl_portfolio: model {policy.version} decides every {cadence} but the "
                f"daemon every {config.trading.decision_interval}; set [trading] "
                f'decision_interval = "{cadence}" (or a divisor of it)')
    except BaseException:
        registry.close()
        raise
    log.info("policy rl_portfolio: trading %s, deciding every %s", policy.version,
             duration_text(policy.cadence_ms))
    history_minutes = policy.history_bars * policy.bar_ms // 60_000
    if config.feed.backfill_minutes < history_minutes:
        log.warning("policy rl_portfolio: [feed] backfill_minutes = %d is less than the %d "
                    "minutes of bars the model's longest feature window reads; those features "
                    "start partial, as at the start of its training data, until the stream "
                    "has filled them", config.feed.backfill_minutes, history_minutes)
    return policy


def baseline_cost_params(config: Config) -> dict[str, float]:
    """What the baseline's entry weighs its edge against (strategies/edge.py): the config's
    fees and `[trading] edge_cost_margin`; the fast backtester's twin gets the same."""
    return {"edge_cost_margin": config.trading.edge_cost_margin,
            "maker_fee_bps": config.fills.maker_fee_bps,
            "taker_fee_bps": config.fills.taker_fee_bps}


def auto_choice(config: Config) -> PolicyChoice:
    """What `policy = "auto"` trades on this config's market, logged."""
    choice = choose_policy(config, arena_winner=arena_winner_exists(config),
                           portfolio_model=arena_winner_exists(
                               config, DataDir(config.data_dir).portfolio_models))
    log_choice(choice)
    return choice


def arena_winner_exists(config: Config, registry_path: Path | None = None) -> bool:
    """Whether data_dir/models.sqlite (or the registry at `registry_path`: the portfolio
    league's) holds a best model promoted by an arena verdict."""
    path = DataDir(config.data_dir).models if registry_path is None else registry_path
    if not path.exists():
        return False
    from rl.registry import ModelRegistry  # torch-free, but only needed here

    with ModelRegistry.open(path) as registry:
        record = registry.best()
        return bool(record is not None and record.arena_stats
                    and record.arena_stats.get("promote"))


def with_policy_sources(config: Config, policy: Policy, forecast: Any, anomaly: Any,
                        instruments: list[Instrument]) -> Policy:
    """`policy` with the daemon's forecast service and anomaly detector attached
    (`Policy.attach_sources`; rl/extra_inputs.py). A model that needs a source the config
    does not serve is refused with what to turn on; under `policy = "auto"` the daemon then
    trades the baseline instead of refusing to start (the operator did not pick rl, so it
    must not stop the daemon)."""
    # rl: the forecast/anomaly columns' check; rl.errors, not rl.networks: no torch (rl/errors.py)
    from rl.errors import ModelMismatchError

    try:
        policy.attach_sources(forecast, anomaly)
    except ModelMismatchError as exc:
        if config.trading.policy != "auto":
            raise
        log.warning("policy auto: %s; trading the baseline policy instead", exc)
        return make_policy("baseline", config, instruments)
    return policy


@dataclass(frozen=True)
class DaemonParts:
    """What the daemon gives its trader that a backtest has not: one argument of
    `make_trader` is the whole difference between the two (one engine, three clocks)."""

    notifier: Notifier  # fills, trading-state changes, forced exits, refused live orders
    # None: the daemon's own (`operator_options(config)`): a log line per fill, the
    # forced-exit cool-down.
    options: TraderOptions | None = None
    forecast: Any = None  # the forecast service, for a policy that reads it (rl)
    entry_pause: StreamWatch | None = None  # a silent market stream holds entries back
    live_broker: CcxtBroker | None = None  # app.mode = "live", started (bot/app/live.py)
    policy_choice: PolicyChoice | None = None  # what "auto" trades and why (policy_choice.py)


def operator_options(config: Config) -> TraderOptions:
    """What the daemon turns on that a backtest does not: a log line per fill, and the
    cool-down after a forced exit (`trading.forceexit_cooldown_minutes`)."""
    return TraderOptions(
        log_fills=True,
        forceexit_cooldown_ms=round(config.trading.forceexit_cooldown_minutes * 60_000))


def fill_params(config: Config) -> FillParams:
    """The fill model's parameters (paper fills; a live broker sizes fees with them)."""
    return FillParams(
        max_volume_share=config.fills.max_volume_share,
        maker_fee_bps=config.fills.maker_fee_bps,
        taker_fee_bps=config.fills.taker_fee_bps,
    )


def execution_monitor(config: Config, ledger: Ledger, instruments: list[Instrument],
                      params: FillParams, notifier: Notifier | None,
                      spreads: Mapping[str, float] | None = None) -> ExecutionMonitor:
    """The daemon's expected-vs-realized execution recorder and drift watch (`[execution]`),
    expecting on the book the paper broker gives a bar (`spreads`) where no quote is known."""
    section = config.execution
    limits = DriftLimits(window_orders=section.window_orders, min_orders=section.min_orders,
                         z=section.z, slippage_floor_bps=section.slippage_floor_bps,
                         fill_rate_floor=section.fill_rate_floor)
    return ExecutionMonitor(ledger, {i.symbol: i for i in instruments}, params, limits=limits,
                            horizon_min=section.fill_horizon_minutes, notifier=notifier,
                            spreads=spreads)


def tradable_instruments(instruments: list[Instrument], quote_asset: str) -> list[Instrument]:
    """The instruments quoted in `quote_asset`; raises `BacktestError` when there is none."""
    tradable = [i for i in instruments if i.quote == quote_asset]
    if not tradable:
        quotes = sorted({i.quote for i in instruments})
        raise BacktestError(f"no symbol is quoted in {quote_asset}; the data has: {', '.join(quotes)}")
    return tradable


def make_trader(config: Config, instruments: list[Instrument], ledger: Ledger, *,
                policy: str | Policy, quote_asset: str, balance: Decimal,
                daemon: DaemonParts | None = None,
                spreads: Mapping[str, float] | None = None) -> Trader:
    """The trader, built once with everything it needs: the one recipe of the backtester
    (`daemon=None`: paper broker, quiet, nothing published) and the daemon (its notifier,
    operator options, policy sources, entry pause, and in live mode its broker). `policy` is
    a name, or a ready policy object (the forecast evaluation's top decile). `spreads`: each
    symbol's relative spread for the paper broker's bar book (model/costs.py)."""
    tradable = tradable_instruments(instruments, quote_asset)
    anomaly = make_detector(config)  # None unless [anomaly] is on and a model loads
    choice = None
    if isinstance(policy, str) and policy == "auto":
        choice = daemon.policy_choice if daemon is not None else None
        choice = choice or auto_choice(config)
    chosen = make_policy(policy, config, tradable, choice) if isinstance(policy, str) else policy
    notifier = daemon.notifier if daemon is not None else None
    live = daemon.live_broker if daemon is not None else None
    if daemon is not None:
        chosen = with_policy_sources(config, chosen, daemon.forecast, anomaly, instruments)
    if choice is not None and choice.stay_flat:  # live on an unproven policy: exits only
        chosen = StayFlat(chosen, choice.reason)
    if daemon is not None and daemon.entry_pause is not None:
        chosen = EntryPause(chosen, daemon.entry_pause)
    failures = OrderFailures(lambda: notifier) if live is not None else None
    params = fill_params(config)
    execution = (execution_monitor(config, ledger, tradable, params, notifier, spreads)
                 if daemon is not None and config.execution.enabled else None)
    trader = Trader(
        instruments={i.symbol: i for i in tradable},
        policy=chosen,
        broker=(live if live is not None
                else PaperBroker(tradable, params, {quote_asset: balance}, spreads=spreads)),
        ledger=ledger,
        limits=RiskLimits.from_mapping(config.risk.model_dump()),
        quote_asset=quote_asset,
        options=(daemon.options or operator_options(config)) if daemon is not None else None,
        notifier=notifier,
        anomaly=anomaly,
        order_failures=failures,
        execution=execution,
    )
    if live is not None and failures is not None:
        watch_live_broker(trader, live, failures)  # its events reach the trader from now on
    return trader
