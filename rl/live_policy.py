"""The promoted self-play network as a live `Policy` (engine, paper daemon, backtester).

Why a separate module: training steps a `BatchedEnv`; the engine has a `FeatureBook` and a
`Trader`. This adapter builds, for every tradable symbol, the very observation the env builds
(`feature_observation` of the `FeatureBook.matrix()` row + the 9 `STATE_FEATURES` columns
defined in `rl.env.BatchedEnv._observe`), runs one batched greedy forward pass and maps each
action index back to `PolicyAction`s the risk gate understands.

Account columns, live vs. env. An env episode is one symbol with its own capital; live, all
symbols share one account. The risk gate sizes each entry against the *whole* equity with the
same `max_position_pct` the env sizes against its episode capital, so the per-symbol "episode
account" is the whole account equity: `position_share = value / equity` then spans the same
[0, max_position_pct] range it spans in training. Per column:

* position_share     amount x last / equity
* log_equity         log(equity / capital); capital = the equity at the policy's first
                     decision (the live "episode start"), or the `capital` given
* entry_return_pct   100 x pnl / (equity - pnl), pnl = amount x (last - average cost incl.
                     fees): the env's equity change since the opening fill, exact for one
                     symbol bought in one or more fills from flat, without the other
                     symbols' P&L mixed in
* unrealized_pct     (last / average cost incl. fees - 1) x 100; `Holding.avg_price` excludes
                     fees, so the buy fee (`buy_fee_bps`) is added back like the env's cost
* has_buy/has_sell, order_distance_pct, order_filled_share: from the symbol's newest resting
                     order; the filled share is 1 - remaining / `RestingOrder.amount`
                     (0 when the amount is unknown)
* time_left          live trading has no horizon: a constant (`time_left`, default 0.5, the
                     middle of a training episode, i.e. the average state the net saw)

Prices. The env prices from a synthesized book (bid = last close, ask = bid + 1 tick);
live uses the real quotes and keeps the *meaning* of each offset: BUY+0 joins the bid,
BUY+k (k >= 1) lifts the ask (+ k-1 ticks), BUY-k rests k ticks below the bid; SELL+0 joins
the ask, SELL+k hits the bid (- k-1 ticks), SELL-k rests k ticks above the ask. With a
one-tick spread this is exactly the env's formula.

Forecast and anomaly columns. A model trained with them (`rl.extra_inputs.EXTRA_NAMES`,
between the feature and the account columns) reads them from `extras` (`LiveExtras`: the
engine's latest `ForecastBatch` and the trader's latest `AnomalyReading`, both refreshed
before the policy decides), through the recipe training used. The daemon attaches them at
start (`attach_sources`, called by `bot.app.assembly.make_trader`); a model that wants them
where the forecast or the detector is not served is refused, at start or at its hot swap,
saying what to turn on.

Hot swap: `between_steps` (called by the engine before each decision) runs `maybe_reload`,
which reads the registry's best version at most every `reload_every_steps` steps or
`reload_every_s` seconds and swaps in a newly promoted player; a step never mixes two nets.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from rl.extra_inputs import EXTRA_NAMES, LiveExtras
from rl.extra_inputs import OBSERVATION_NAMES as EXTRA_OBSERVATION_NAMES
from rl.live_orders import LimitOrderMapping
from rl.networks import ModelMismatchError, NetSpec, Player, feature_names_hash
from rl.registry import REGISTRY_FILE, ModelRecord, ModelRegistry
from rl.spaces import (
    DEFAULT_OFFSETS_TICKS,
    OBS_FEATURES,
    STATE_FEATURES,
    action_names,
    feature_observation,
)
from strategies.feature_columns import FEATURE_NAMES
from strategies.policy import DecisionView, PolicyAction, RestingOrder

if TYPE_CHECKING:
    from model.instruments import Instrument

log = logging.getLogger(__name__)

OBSERVATION_NAMES: tuple[str, ...] = (*OBS_FEATURES, *STATE_FEATURES)


def live_spec(hidden: tuple[int, ...], offsets_ticks: Sequence[int] = DEFAULT_OFFSETS_TICKS,
              extra: bool = False) -> NetSpec:
    """The `NetSpec` a model must have to trade live: the default action set and the live
    feature layout, without extra columns or (`extra`) with exactly the forecast and anomaly
    columns of `rl.extra_inputs` (hidden sizes are the model's own)."""
    names = EXTRA_OBSERVATION_NAMES if extra else OBSERVATION_NAMES
    return NetSpec(len(names), len(action_names(offsets_ticks)), tuple(hidden),
                   feature_names_hash(names))


def wants_extras(player: Player, offsets_ticks: Sequence[int] = DEFAULT_OFFSETS_TICKS) -> bool:
    """True when the model was trained with the forecast and anomaly columns."""
    return not live_spec(player.spec.hidden, offsets_ticks, extra=True).mismatches(player.spec)


def check_player(player: Player, source: str,
                 offsets_ticks: Sequence[int] = DEFAULT_OFFSETS_TICKS,
                 extras: LiveExtras | None = None, *, extras_known: bool = True) -> None:
    """Refuse a model that does not fit live observations, with every reason at once. A
    model with the extra columns also needs `extras` serving both sources; with
    `extras_known=False` (built before the daemon attached them) that check waits for
    `RLPolicy.attach_extras`."""
    plain = live_spec(player.spec.hidden, offsets_ticks).mismatches(player.spec)
    if not plain:
        return
    if wants_extras(player, offsets_ticks):
        missing = LiveExtras(None, None).missing if extras is None else extras.missing
        if missing and extras_known:
            raise ModelMismatchError(
                f"{source} reads the forecast and anomaly columns ({', '.join(EXTRA_NAMES)}) "
                f"but this daemon does not serve {' nor '.join(missing)}; turn them on, or "
                "promote a model trained without them")
        return
    raise ModelMismatchError(
        f"{source} cannot trade live: " + "; ".join(plain)
        + f" (live observation = {len(OBS_FEATURES)} feature + {len(STATE_FEATURES)} "
        f"account columns, with no extra columns or exactly {len(EXTRA_NAMES)}: "
        f"{', '.join(EXTRA_NAMES)})")


@dataclass
class RLPolicy(LimitOrderMapping):
    """Greedy actions of a registered `Player`; see the module docstring for the mapping
    (`to_actions` and `limit_price`: rl/live_orders.py)."""

    player: Player
    version: str
    registry: ModelRegistry | None = None
    instruments: Mapping[str, Instrument] = field(default_factory=dict)
    offsets_ticks: tuple[int, ...] = DEFAULT_OFFSETS_TICKS
    stop_pct: float = 1.0  # the env's sizing stop distance (EnvConfig.stop_pct)
    buy_fee_bps: float = 10.0
    time_left: float = 0.5
    capital: float | None = None
    size_by_probability: bool = True  # confidence = the action's probability (else 1, as in training)
    torch_threads: int | None = 1
    reload_every_steps: int = 10
    reload_every_s: float = 60.0
    name: str = "rl"
    universe: tuple[str, ...] | None = None  # row order of DecisionView.features
    # Forecast and anomaly sources for models trained with them (`attach_extras`); None =
    # not attached yet (a model that needs them then refuses to decide).
    extras: LiveExtras | None = None
    _steps_since_check: int = 0
    _last_check_s: float = field(default_factory=time.monotonic)
    _refused: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        check_player(self.player, f"model {self.version}", self.offsets_ticks, self.extras,
                     extras_known=self.extras is not None)
        self.action_names = action_names(self.offsets_ticks)

    def attach_sources(self, forecast: object | None, anomaly: object | None) -> None:
        """`strategies.policy.Policy.attach_sources`: the daemon's forecast service and
        anomaly detector, read through `LiveExtras`; see `attach_extras`."""
        self.attach_extras(LiveExtras(forecast, anomaly))  # type: ignore[arg-type]

    def attach_extras(self, extras: LiveExtras) -> None:
        """Give the policy the daemon's forecast service and anomaly detector (either may be
        None). Raises ModelMismatchError, saying what to turn on, when the model reads the
        extra columns and a source is missing: better at startup than a silent zero."""
        self.extras = extras
        check_player(self.player, f"model {self.version}", self.offsets_ticks, extras)

    @property
    def wants_extras(self) -> bool:
        """Whether the current model reads the forecast and anomaly columns."""
        return wants_extras(self.player, self.offsets_ticks)

    # -- construction and hot swap ----------------------------------------------------------
    @classmethod
    def from_registry(cls, registry: ModelRegistry, **kwargs: object) -> RLPolicy | None:
        """The registry's best player as a policy, or None when nothing was promoted yet."""
        record = registry.best()
        if record is None:
            return None
        return cls(_load(record), record.version, registry, **kwargs)  # type: ignore[arg-type]

    def between_steps(self, feature_symbols: Sequence[str]) -> None:
        """Engine hook, run before each decision: learn the feature-row order, maybe swap."""
        self.universe = tuple(feature_symbols)
        self.maybe_reload()

    def maybe_reload(self, force: bool = False) -> bool:
        """Swap in a newly promoted best player; True when it did. Cheap: the registry is read
        at most every `reload_every_steps` calls or `reload_every_s` seconds. A model that
        does not fit is refused once, logged, and the current one keeps trading."""
        self._steps_since_check += 1
        now = time.monotonic()
        due = (self._steps_since_check >= self.reload_every_steps
               or now - self._last_check_s >= self.reload_every_s)
        if self.registry is None or not (due or force):
            return False
        self._steps_since_check, self._last_check_s = 0, now
        record = self.registry.best()
        if record is None or record.version == self.version or record.version in self._refused:
            return False
        try:
            player = _load(record)
            check_player(player, f"model {record.version}", self.offsets_ticks, self.extras)
        except (ModelMismatchError, OSError, RuntimeError, KeyError) as error:
            self._refused.add(record.version)
            log.error("policy rl: keeping %s, new best %s refused: %s",
                      self.version, record.version, error)
            return False
        log.info("policy rl: now %s (was %s)", record.version, self.version)
        self.player, self.version = player, record.version
        return True

    # -- deciding ---------------------------------------------------------------------------
    def decide(self, view: DecisionView) -> list[PolicyAction]:
        """One batched greedy forward pass over every tradable symbol with a usable quote."""
        if self.capital is None:
            self.capital = view.equity
        rows = self._rows(view)
        symbols = [s for s in view.symbols if _usable(view.quotes.get(s))]
        if not symbols:
            return []
        obs = self.observe(view, symbols, rows)
        probs, actions, values = self.infer(obs)
        out: list[PolicyAction] = []
        for i, symbol in enumerate(symbols):
            name = self.action_names[int(actions[i])]
            spread = "/".join(f"{round(100 * p):d}" for p in probs[i])
            reason = (f"rl {self.version}: {name} p={probs[i, actions[i]]:.2f} "
                      f"v={values[i]:+.4f} probs%={spread}")
            out.extend(self.to_actions(view, symbol, name, float(probs[i, actions[i]]), reason))
        return out

    def infer(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities [B, A], greedy actions [B], values [B]) in ONE forward pass: the
        arg-max of the probabilities is `Player.act(greedy=True)`'s action. Runs on
        `torch_threads` intra-op threads (restored afterwards): a few hundred rows are
        faster on one core than spread over many, which mostly wait on each other."""
        if obs.ndim != 2 or obs.shape[1] != self.player.spec.obs_size:
            raise ModelMismatchError(f"observations of shape {obs.shape}, expected "
                                     f"[batch, {self.player.spec.obs_size}]")
        previous = torch.get_num_threads()
        if self.torch_threads:
            torch.set_num_threads(self.torch_threads)
        try:
            with torch.inference_mode():
                logits, values = self.player.net(torch.from_numpy(
                    np.ascontiguousarray(obs, dtype=np.float32)))
                probs = torch.softmax(logits, dim=-1)
                return probs.numpy(), probs.argmax(dim=-1).numpy(), values.numpy()
        finally:
            torch.set_num_threads(previous)

    def _rows(self, view: DecisionView) -> dict[str, int]:
        """Symbol -> row of `view.features` (the book's order; the view lists only the
        tradable subset, so without the engine's `universe` the two must coincide)."""
        n = view.features.shape[0]
        if self.universe is not None and len(self.universe) == n:
            return {s: i for i, s in enumerate(self.universe)}
        if len(view.symbols) == n:
            return {s: i for i, s in enumerate(view.symbols)}
        raise ValueError(f"policy rl: {n} feature rows for {len(view.symbols)} symbols and no "
                         "engine universe to align them (Engine calls between_steps)")

    def observe(self, view: DecisionView, symbols: Sequence[str],
                rows: Mapping[str, int] | None = None) -> np.ndarray:
        """Observations [len(symbols), obs] exactly as `BatchedEnv._observe` lays them out."""
        rows = self._rows(view) if rows is None else rows
        index = np.array([rows[s] for s in symbols], np.int64)
        feats = np.asarray(view.features, np.float64)
        names = tuple(view.feature_names)
        if names != FEATURE_NAMES:
            raise ModelMismatchError("DecisionView.feature_names differ from FEATURE_NAMES")
        table = feature_observation(feats[index])
        state = np.array([self._account(view, s) for s in symbols], np.float32)
        parts = [table, state.reshape(len(symbols), len(STATE_FEATURES))]
        if self.wants_extras:
            check_player(self.player, f"model {self.version}", self.offsets_ticks, self.extras)
            assert self.extras is not None
            parts.insert(1, self.extras.columns(symbols, rows).astype(np.float32))
        return np.concatenate(parts, axis=1)

    def _account(self, view: DecisionView, symbol: str) -> list[float]:
        """The 9 STATE_FEATURES of one symbol (order as in rl.spaces)."""
        last = view.quotes[symbol].last
        equity = view.equity
        capital = self.capital if self.capital and self.capital > 0 else equity
        holding = view.holdings.get(symbol)
        held = holding is not None and holding.amount > 0
        position_share = entry_return = unrealized = 0.0
        if held:
            assert holding is not None
            cost = holding.avg_price * (1 + self.buy_fee_bps * 1e-4)
            pnl = holding.amount * (last - cost)
            position_share = holding.amount * last / equity
            entry_return = 100.0 * pnl / (equity - pnl)
            unrealized = (last / cost - 1.0) * 100.0 if cost > 0 else 0.0
        order = _newest_order(view.open_orders, symbol)
        has_buy = has_sell = distance = filled = 0.0
        if order is not None:
            has_buy, has_sell = float(order.side == "BUY"), float(order.side == "SELL")
            distance = (order.price / last - 1.0) * 100.0
            filled = 1.0 - order.remaining / order.amount if order.amount > 0 else 0.0
        return [position_share, math.log(equity / capital), entry_return, unrealized,
                has_buy, has_sell, distance, filled, self.time_left]


def _usable(quote: object) -> bool:
    last = getattr(quote, "last", math.nan)
    return math.isfinite(last) and last > 0


def _newest_order(orders: Sequence[RestingOrder], symbol: str) -> RestingOrder | None:
    mine = [o for o in orders if o.symbol == symbol]
    return max(mine, key=lambda o: o.placed_ms) if mine else None


def _load(record: ModelRecord) -> Player:
    return Player.load(record.path)


def open_registry(data_dir: Path) -> ModelRegistry | None:
    """The daemon's model registry, or None when no file exists yet (never creates one)."""
    path = Path(data_dir) / REGISTRY_FILE
    return ModelRegistry.open(path) if path.exists() else None

