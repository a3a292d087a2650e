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
from rl.networks import ModelMismatchError, NetSpec, Player, feature_names_hash
from rl.registry import REGISTRY_FILE, ModelRecord, ModelRegistry
from rl.spaces import (
    DEFAULT_OFFSETS_TICKS,
    OBS_FEATURES,
    STATE_FEATURES,
    action_names,
    feature_observation,
    grid_price,
)
from strategies.feature_columns import FEATURE_NAMES
from strategies.policy import Action, DecisionView, Holding, PolicyAction, RestingOrder

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
class RLPolicy:
    """Greedy actions of a registered `Player`; see the module docstring for the mapping."""

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

    # -- action mapping ---------------------------------------------------------------------
    def to_actions(self, view: DecisionView, symbol: str, name: str, probability: float,
                   reason: str) -> list[PolicyAction]:
        """PolicyActions for one action name; like the env, a new BUY/SELL first cancels the
        symbol's resting orders, and an action with nothing to act on is a HOLD."""
        resting = [o for o in view.open_orders if o.symbol == symbol]
        if name in ("CANCEL_BUY", "CANCEL_SELL"):
            side = "BUY" if name == "CANCEL_BUY" else "SELL"
            kind = Action.CANCEL_BUY if side == "BUY" else Action.CANCEL_SELL
            mine = [o for o in resting if o.side == side]
            if not mine:
                return [PolicyAction(symbol, Action.HOLD, reason=f"{reason} (no {side} order)")]
            return [PolicyAction(symbol, kind, client_order_id=o.client_order_id, reason=reason)
                    for o in mine]
        if name == "HOLD":
            return [PolicyAction(symbol, Action.HOLD, reason=reason)]
        side = "BUY" if name.startswith("BUY") else "SELL"
        offset = int(name[len(side):])  # "BUY+1" -> 1, "SELL-1" -> -1
        quote = view.quotes[symbol]
        holding: Holding | None = view.holdings.get(symbol)
        if side == "SELL" and (holding is None or holding.amount <= 0):
            return [PolicyAction(symbol, Action.HOLD, reason=f"{reason} (nothing held)")]
        price = self.limit_price(symbol, side, offset, quote.last, quote.bid, quote.ask)
        cancels = [PolicyAction(symbol, Action.CANCEL_BUY if o.side == "BUY"
                                else Action.CANCEL_SELL, client_order_id=o.client_order_id,
                                reason=f"{reason} (replaced)") for o in resting]
        if side == "BUY":
            confidence = min(max(probability, 0.0), 1.0) if self.size_by_probability else 1.0
            return [*cancels, PolicyAction(symbol, Action.BUY, limit_price=price,
                                           stop_price=price * (1 - self.stop_pct / 100),
                                           confidence=confidence, reason=reason)]
        return [*cancels, PolicyAction(symbol, Action.SELL, limit_price=price, exit=True,
                                       reason=reason)]

    def limit_price(self, symbol: str, side: str, offset: int, last: float, bid: float,
                    ask: float) -> float:
        """The limit of BUY/SELL at `offset` ticks of aggressiveness (module docstring)."""
        tick = self._tick(symbol, last, bid, ask)
        if not (math.isfinite(bid) and bid > 0):
            bid = round(last / tick) * tick  # the env's synthesized book
        if not (math.isfinite(ask) and ask > bid):
            ask = bid + tick
        if side == "BUY":
            price = bid + offset * tick if offset <= 0 else ask + (offset - 1) * tick
        else:
            price = ask - offset * tick if offset <= 0 else bid - (offset - 1) * tick
        return grid_price(max(round(price / tick), 1), tick)

    def _tick(self, symbol: str, last: float, bid: float, ask: float) -> float:
        """The instrument's tick; without one, the quoted spread (or 1 bp of the price)."""
        instrument = self.instruments.get(symbol)
        if instrument is not None:
            return float(instrument.tick_at(last))
        spread = ask - bid
        return spread if math.isfinite(spread) and spread > 0 else abs(last) * 1e-4


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

