"""Assembling the trading stack from config: one recipe for the daemon and the backtester,
so paper trading and replay cannot drift apart."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from bot.config import Config
from bot.research.anomaly_io import make_detector
from exchange.brokers.sim import PaperBroker
from model.fills import FillParams
from model.instruments import Instrument
from risk.limits import RiskLimits
from state.ledger import Ledger
from strategies.baselines import POLICIES
from strategies.policy import Policy
from trading.trader import Trader

log = logging.getLogger(__name__)


class BacktestError(Exception):
    """The run cannot start as asked; the message says what to change."""


def make_policy(name: str, config: Config, instruments: list[Instrument] | None = None) -> Policy:
    """The named policy, with the config's knobs where it has them.

    "rl" trades the registry's best_player (data_dir/models.sqlite) and hot-swaps newer ones;
    before any model exists it falls back to "baseline" with a warning. "auto" (the default) is
    "rl" when the registry's best model won its place in an arena, and "baseline" otherwise:
    the freshly initialized v0000 that seeds self-play is "best" only because nothing was
    compared yet, and must not trade on its own."""
    if name == "auto":
        name = "rl" if arena_winner_exists(config) else "baseline"
        log.info("policy auto: %s", "rl (an arena-promoted best_player exists)" if name == "rl"
                 else "baseline (no arena-promoted best_player yet)")
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
        )
    return POLICIES.create(name)


def arena_winner_exists(config: Config) -> bool:
    """Whether data_dir/models.sqlite holds a best model promoted by an arena verdict."""
    path = config.data_dir / "models.sqlite"
    if not path.exists():
        return False
    from rl.registry import ModelRegistry  # torch-free, but only needed here

    with ModelRegistry.open(path) as registry:
        record = registry.best()
        return bool(record is not None and record.arena_stats
                    and record.arena_stats.get("promote"))


def attach_policy_sources(config: Config, trader: Trader, forecast: Any,
                          instruments: list[Instrument]) -> None:
    """Hand the daemon's forecast service and anomaly detector to a policy that reads them
    (rl/extra_inputs.py). A model that needs a source the config does not serve is refused
    with what to turn on; under `policy = "auto"` the daemon then trades the baseline instead
    of refusing to start (the operator did not pick rl, so it must not stop the daemon)."""
    from rl.extra_inputs import attach_policy_inputs  # rl: forecast/anomaly columns
    from rl.networks import ModelMismatchError

    try:
        attach_policy_inputs(trader.policy, forecast, trader.anomaly)
    except ModelMismatchError as exc:
        if config.trading.policy != "auto":
            raise
        log.warning("policy auto: %s; trading the baseline policy instead", exc)
        trader.policy = make_policy("baseline", config, instruments)


def make_trader(config: Config, instruments: list[Instrument], ledger: Ledger, *,
                policy: str | Policy, quote_asset: str, balance: Decimal) -> Trader:
    """The trading stack both the daemon and the backtester use, built from config.
    `policy` is a name, or a ready policy object (the forecast evaluation's top decile)."""
    fills = FillParams(
        max_volume_share=config.fills.max_volume_share,
        maker_fee_bps=config.fills.maker_fee_bps,
        taker_fee_bps=config.fills.taker_fee_bps,
    )
    tradable = [i for i in instruments if i.quote == quote_asset]
    if not tradable:
        quotes = sorted({i.quote for i in instruments})
        raise BacktestError(f"no symbol is quoted in {quote_asset}; the data has: {', '.join(quotes)}")
    trader = Trader(
        instruments={i.symbol: i for i in tradable},
        policy=make_policy(policy, config, tradable) if isinstance(policy, str) else policy,
        broker=PaperBroker(tradable, fills, {quote_asset: balance}),
        ledger=ledger,
        limits=RiskLimits.from_mapping(config.risk.model_dump()),
        quote_asset=quote_asset,
    )
    if hasattr(trader.policy, "order_amounts"):  # rl: the filled share of resting orders
        trader.policy.order_amounts = lambda: {  # type: ignore[attr-defined]
            o.client_order_id: float(o.amount) for o in trader.broker.open_orders()}
    trader.anomaly = make_detector(config)  # None unless [anomaly] is on and a model loads
    return trader


def dominant_quote(instruments: list[Instrument]) -> str:
    """The quote asset most symbols share (BTC for the Bittrex sets)."""
    counts: dict[str, int] = {}
    for instrument in instruments:
        counts[instrument.quote] = counts.get(instrument.quote, 0) + 1
    return max(sorted(counts), key=lambda q: counts[q])


def configure_operator(trader: Trader, config: Config) -> None:
    """What the daemon turns on that a backtest does not: a log line per fill, and the
    cool-down after a forced exit (`trading.forceexit_cooldown_minutes`)."""
    trader.log_fills = True
    trader.forceexit_cooldown_ms = round(config.trading.forceexit_cooldown_minutes * 60_000)
