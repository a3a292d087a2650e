"""The promoted portfolio network as a live `Policy` (`[trading] policy = "rl_portfolio"`).

Why a separate module: the league trains `PortfolioPlayer`s in `PortfolioEnv` (one account
over the whole cross-section, on bars of the model's own length); the engine has a
`FeatureBook` of 1m bars and a `Trader`. This adapter rebuilds, at each of the model's
decisions, the very observation the env builds (rl/portfolio_live_obs.py), runs one greedy
batched forward pass over every tradable coin, and maps each coin's action to
`PolicyAction`s with the limit-offset meanings of rl/live_orders.py. The risk gate still
sizes every order (2 % risk to the stop at the model's `stop_pct`, 5 % position cap, ...).

Bars and cadence. The model records what it was trained on (`PortfolioPlayer.trained_on`,
saved by the league): `bar_ms` and `decision_every`. Its features are computed on bars of
`bar_ms` aggregated from the engine's 1m rings (`FeatureBook.recent_bars`, only bars that
closed before the decision), and it decides when the decision time is a UTC multiple of
`bar_ms x decision_every`; at the daemon's other steps it returns no action, i.e. every coin
HOLDs and resting orders keep working, as between the env's decisions. The daemon's
`decision_interval` must divide that cadence (checked at assembly).

Per-coin columns, live vs. env (N = the daemon's tradable symbols, the env's coins of the
dominant quote asset):

* features and z_features  `feature_observation` of the features of the newest closed bar
                           of the model's length, and their z-scores across the coins with a
                           trade in that bar (the env's mask: only those may act)
* position_share           amount x newest bar close / equity
* pending_share            the newest resting buy's remaining x limit / equity
* has_buy, has_sell        the side of the symbol's newest resting order (the env holds at
                           most one per coin)
* order_distance_pct       (its limit / newest bar close - 1) x 100
* order_filled_share       1 - remaining / `RestingOrder.amount` (0 when unknown)

Portfolio columns. Live trading is one open-ended "episode" from the policy's first decision:

* cash_share               the broker's free quote balance (not locked by resting buys) /
                           equity (`DecisionView.cash`)
* exposure                 sum of position values at the newest bar close / equity
* drawdown                 1 - equity / the highest equity seen at a bar close since the
                           first decision (the env's episode peak)
* log_growth               log(equity / capital), capital = equity at the first decision
* reducing, halted         the trader's risk state (`DecisionView.mode`)
* open_slots_share         (max_open_positions - coins held or with a resting buy) /
                           max_open_positions, the config's `[risk]` limit
* time_left                no horizon live: a constant (`time_left`, default 0.5)
* market_regime_1d         mean `regime_1d` over the coins with a trade in the newest bar

Refusals, each saying what to do: a model with no `trained_on` (saved before it was
recorded), one whose input layout is not the live one (extra forecast/anomaly columns are
not served to portfolio models), and a view without bar history (the fast backtester: walk
portfolio models forward with `entasis walkforward --policies rl_portfolio`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rl.errors import ModelMismatchError
from rl.live_orders import LimitOrderMapping
from rl.portfolio_env import COIN_STATE, PORTFOLIO_STATE
from rl.portfolio_live_obs import Account, bars_needed, coin_state, coin_table, portfolio_state
from rl.portfolio_network import PortfolioNetSpec, PortfolioPlayer, portfolio_feature_hash
from rl.registry import ModelRecord, ModelRegistry
from rl.spaces import OBS_FEATURES, action_names
from strategies.policy import DecisionView, PolicyAction

if TYPE_CHECKING:
    from model.instruments import Instrument

log = logging.getLogger(__name__)

COIN_NAMES: tuple[str, ...] = (*OBS_FEATURES, *(f"z_{f}" for f in OBS_FEATURES), *COIN_STATE)
TRAINED_ON_KEYS = ("bar_ms", "decision_every", "offsets_ticks", "stop_pct")


def promoted(record: ModelRecord | None) -> bool:
    """A best model that won its place in a league (v0000, the untrained network installed
    as best before anything was compared, never trades)."""
    return bool(record is not None and record.arena_stats and record.arena_stats.get("promote"))


def check_portfolio_player(player: PortfolioPlayer, source: str) -> None:
    """Refuse a model the live observation cannot feed, with every reason at once."""
    missing = [k for k in TRAINED_ON_KEYS if k not in player.trained_on]
    if missing:
        raise ModelMismatchError(
            f"{source} does not record what it was trained on ({', '.join(missing)}); "
            "train and promote a new one with `entasis league --data FOLDER` (models "
            "saved by the league record their bar length and cadence)")
    offsets = tuple(int(k) for k in player.trained_on["offsets_ticks"])
    expected = PortfolioNetSpec(len(COIN_NAMES), len(PORTFOLIO_STATE),
                                len(action_names(offsets)), player.spec.hidden,
                                portfolio_feature_hash(COIN_NAMES, PORTFOLIO_STATE))
    reasons = expected.mismatches(player.spec)
    if reasons:
        raise ModelMismatchError(
            f"{source} cannot trade live: {'; '.join(reasons)} (live portfolio observation "
            f"= {len(COIN_NAMES)} coin columns without extra columns, "
            f"{len(PORTFOLIO_STATE)} portfolio columns)")
    bar_ms = int(player.trained_on["bar_ms"])
    if bar_ms <= 0 or bar_ms % 60_000 or int(player.trained_on["decision_every"]) < 1:
        raise ModelMismatchError(f"{source}: trained on {bar_ms} ms bars every "
                                 f"{player.trained_on['decision_every']}: not tradable live")


@dataclass
class PortfolioLivePolicy(LimitOrderMapping):
    """Greedy actions of a promoted `PortfolioPlayer` (module docstring)."""

    player: PortfolioPlayer
    version: str
    registry: ModelRegistry | None = None
    instruments: Mapping[str, Instrument] = field(default_factory=dict)
    max_open_positions: int = 5
    time_left: float = 0.5
    size_by_probability: bool = True
    torch_threads: int | None = 1
    reload_every_s: float = 60.0
    name: str = "rl_portfolio"
    capital: float | None = None  # equity at the first decision
    peak: float | None = None  # highest equity at a bar close since
    stop_pct: float = field(init=False)
    _last_check_s: float = field(default_factory=time.monotonic)
    _refused: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._use(self.player, self.version)

    def _use(self, player: PortfolioPlayer, version: str) -> None:
        check_portfolio_player(player, f"portfolio model {version}")
        shape = player.trained_on
        self.player, self.version = player, version
        self.bar_ms = int(shape["bar_ms"])
        self.decision_every = int(shape["decision_every"])
        self.offsets_ticks = tuple(int(k) for k in shape["offsets_ticks"])
        self.stop_pct = float(shape["stop_pct"])
        self.action_names = action_names(self.offsets_ticks)
        self.history_bars = bars_needed(self.bar_ms)

    @property
    def cadence_ms(self) -> int:
        """How often the model decides: its bar length x its decision_every."""
        return self.bar_ms * self.decision_every

    @classmethod
    def from_registry(cls, registry: ModelRegistry, **kwargs: Any) -> PortfolioLivePolicy | None:
        """The registry's promoted best as a policy, or None when none was promoted yet."""
        record = registry.best()
        if not promoted(record):
            return None
        assert record is not None
        return cls(PortfolioPlayer.load(record.path), record.version, registry, **kwargs)

    # -- Policy hooks -----------------------------------------------------------------------
    def between_steps(self, feature_symbols: Sequence[str]) -> None:
        """Engine hook before each step: maybe swap in a newly promoted model."""
        self.maybe_reload()

    def attach_sources(self, forecast: object | None, anomaly: object | None) -> None:
        """Portfolio models read neither the forecast nor the anomaly columns live."""
        return

    def maybe_reload(self, force: bool = False) -> bool:
        """Swap in a newly promoted best (read at most every `reload_every_s`); a model that
        does not fit is refused once, logged, and the current one keeps trading."""
        now = time.monotonic()
        if self.registry is None or not (force or now - self._last_check_s >= self.reload_every_s):
            return False
        self._last_check_s = now
        record = self.registry.best()
        if (not promoted(record) or record is None or record.version == self.version
                or record.version in self._refused):
            return False
        try:
            player = PortfolioPlayer.load(record.path)
            check_portfolio_player(player, f"portfolio model {record.version}")
        except (ModelMismatchError, OSError, RuntimeError, KeyError) as error:
            self._refused.add(record.version)
            log.error("policy rl_portfolio: keeping %s, new best %s refused: %s",
                      self.version, record.version, error)
            return False
        log.info("policy rl_portfolio: now %s (was %s)", record.version, self.version)
        self._use(player, record.version)
        return True

    # -- deciding ---------------------------------------------------------------------------
    def decide(self, view: DecisionView) -> list[PolicyAction]:
        """At the model's decision times, one greedy forward pass over every tradable coin;
        at the daemon's other steps nothing (every coin HOLDs)."""
        if view.ts_ms % self.bar_ms == 0:
            self.mark(view.equity)
        if view.ts_ms % self.cadence_ms:
            return []
        symbols = list(view.symbols)
        if not symbols:
            return []
        coins, portfolio, mask = self.observe(view, symbols)
        probs, actions, value = self.infer(coins, portfolio, mask)
        out: list[PolicyAction] = []
        for i, symbol in enumerate(symbols):
            quote = view.quotes.get(symbol)
            if not mask[0, i] or quote is None or not (math.isfinite(quote.last) and quote.last > 0):
                continue
            name = self.action_names[int(actions[i])]
            p = float(probs[i, actions[i]])
            reason = f"rl_portfolio {self.version}: {name} p={p:.2f} v={value:+.4f}"
            out.extend(self.to_actions(view, symbol, name, p, reason))
        return out

    def mark(self, equity: float) -> None:
        """Track the live episode: capital at the first mark, the peak at every bar close."""
        if self.capital is None or self.capital <= 0:
            self.capital = equity
        self.peak = equity if self.peak is None else max(self.peak, equity)

    def observe(self, view: DecisionView, symbols: Sequence[str]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(coins [1, N, C], portfolio [1, P], mask [1, N]) as `PortfolioEnv.observe`."""
        if view.bars is None:
            raise ModelMismatchError(
                "policy rl_portfolio needs the engine's bar history (DecisionView.bars), "
                "which this runner does not give; walk portfolio models forward with "
                "`entasis walkforward --policies rl_portfolio`")
        if view.cash is None:
            raise ModelMismatchError("policy rl_portfolio needs the free cash "
                                     "(DecisionView.cash)")
        if self.capital is None or self.peak is None:
            self.mark(view.equity)
        assert self.capital is not None and self.peak is not None
        recent = view.bars.recent_bars(self.bar_ms, self.history_bars, view.ts_ms)
        table = coin_table(recent, symbols)
        state = coin_state(view, symbols, table.close)
        account = Account(view.equity, view.cash, self.capital, self.peak, view.mode,
                          self.max_open_positions, self.time_left)
        coins = np.concatenate([table.columns, state.rows], axis=-1)[None]
        portfolio = portfolio_state(account, state, table.regime)[None]
        return np.ascontiguousarray(coins, np.float32), portfolio, table.mask[None].copy()

    def infer(self, coins: np.ndarray, portfolio: np.ndarray, mask: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, float]:
        """(probabilities [N, A], greedy actions [N], value) of one env in ONE forward pass;
        the actions are `PortfolioPlayer.act(greedy=True)`'s (arg-max of the log-softmax)."""
        previous = torch.get_num_threads()
        if self.torch_threads:
            torch.set_num_threads(self.torch_threads)
        try:
            with torch.inference_mode():
                logits, values = self.player.net(torch.as_tensor(coins, dtype=torch.float32),
                                                 torch.as_tensor(portfolio, dtype=torch.float32),
                                                 torch.as_tensor(mask, dtype=torch.bool))
                log_probs = torch.log_softmax(logits, dim=-1)
                actions = log_probs.argmax(dim=-1)
                return (log_probs.exp()[0].numpy(), actions[0].numpy(),
                        float(values[0]))
        finally:
            torch.set_num_threads(previous)


__all__ = ["COIN_NAMES", "PortfolioLivePolicy", "check_portfolio_player", "promoted"]
