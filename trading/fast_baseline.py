"""The rank-entry baseline in batch for the fast backtester: `BaselinePolicy`'s own rules on
the ranking `rank` computes at every decision step, computed for the whole run a block of
symbols at a time (strategies/feature_blocks.py). Held to the engine by the parity test
(tests/integration/test_fast_backtest_parity.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from model.market import MINUTE_MS
from strategies.baselines import BaselinePolicy
from strategies.feature_blocks import ranking_scores_from_history
from strategies.features_batch import MinuteGrid
from strategies.policy import Action, DecisionView, PolicyAction, Quote
from strategies.ranking import RankedCoin, RankingSettings
from trading.fast_policies import BatchView, StepCursor, StepQuotes

_NO_FEATURES = np.zeros((0, 0))  # the DecisionView's features: the batch ranks without them


@dataclass(frozen=True, slots=True)
class DefaultRanking:
    """`[strategy]`'s defaults (bot.config.StrategyConfig), for a baseline built without
    the config."""

    top_k: int = 10
    target_return_pct: float = 1.0
    stop_return_pct: float = 1.0
    horizon_minutes: int = 60
    min_quote_volume_24h: float = 0.0
    max_spread_bps: float = 50.0


@dataclass
class BaselineBatch:
    """`BaselinePolicy`'s rules (its defaults): the ranking `rank` computes at every
    decision step, for the whole run at once a block of symbols at a time
    (`ranking_scores_from_history`: never the whole feature tensor, so a 5m year fits);
    entries, take-profit and stop exits, cancels and re-prices as the engine policy.

    Held to the engine by the parity test (same fills on the Bittrex window). The engine's
    eligibility also reads tick features: the spread of the step's quotes <= `[strategy]
    max_spread_bps` is applied here on the `StepQuotes` (the replay's last tick, as the
    engine's book holds it; `quoted_spread_ok`). Where they can differ: the 24h tick
    turnover >= `min_quote_volume_24h` is the bars' here (`turnover_1d`).

    The entry's edge against its round-trip cost (strategies/edge.py) is the rule's own,
    on the same quote (the step's bid and ask) and the ranking's drift and sigma; entries
    only every `entry_every_minutes` likewise (the decision time decides)."""

    target_return_pct: float = BaselinePolicy.target_return_pct
    stop_return_pct: float = BaselinePolicy.stop_return_pct
    horizon_minutes: int = BaselinePolicy.horizon_minutes
    min_score: float = BaselinePolicy.min_score
    max_entries_per_step: int = BaselinePolicy.max_entries_per_step
    cancel_buy_after_s: float = BaselinePolicy.cancel_buy_after_s
    reprice_sell_after_s: float = BaselinePolicy.reprice_sell_after_s
    exit_slippage_pct: float = BaselinePolicy.exit_slippage_pct
    edge_cost_margin: float = BaselinePolicy.edge_cost_margin
    maker_fee_bps: float = BaselinePolicy.maker_fee_bps
    taker_fee_bps: float = BaselinePolicy.taker_fee_bps
    slippage_bps: float = BaselinePolicy.slippage_bps
    entry_every_minutes: int = BaselinePolicy.entry_every_minutes
    ranking: RankingSettings | None = None
    name: str = "baseline"
    _rule: BaselinePolicy = field(default_factory=BaselinePolicy)
    _score: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    _drift: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    _sigma: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    _order: list[list[int]] = field(default_factory=list)  # ranked columns per step
    _candidates: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    _next: StepCursor = field(default_factory=lambda: StepCursor(np.zeros(0, np.int64)))
    _busy: bool = False
    # (mask, its list, the tradable symbols) of the view's tradable columns, once per run
    _tradable: tuple[np.ndarray | None, list[bool], tuple[str, ...]] = (None, [], ())

    def __post_init__(self) -> None:
        self._rule = self.rule()  # the rule checks its parameters: fail at construction

    def fit(self, grid: MinuteGrid, train_stop_row: int) -> None:
        return

    def rule(self) -> BaselinePolicy:
        """The engine policy with this batch's parameters, whose decisions it replays."""
        return BaselinePolicy(
            target_return_pct=self.target_return_pct, stop_return_pct=self.stop_return_pct,
            horizon_minutes=self.horizon_minutes, min_score=self.min_score,
            max_entries_per_step=self.max_entries_per_step,
            cancel_buy_after_s=self.cancel_buy_after_s,
            reprice_sell_after_s=self.reprice_sell_after_s,
            exit_slippage_pct=self.exit_slippage_pct, edge_cost_margin=self.edge_cost_margin,
            maker_fee_bps=self.maker_fee_bps, taker_fee_bps=self.taker_fee_bps,
            slippage_bps=self.slippage_bps, entry_every_minutes=self.entry_every_minutes)

    def prepare(self, grid: MinuteGrid, quotes: StepQuotes) -> None:
        ranking = self.ranking if self.ranking is not None else DefaultRanking(
            target_return_pct=self.target_return_pct, stop_return_pct=self.stop_return_pct,
            horizon_minutes=self.horizon_minutes)
        self._rule = self.rule()
        steps, n = len(quotes.rows), len(grid.symbols)
        self._score, self._drift = np.full((steps, n), np.nan), np.full((steps, n), np.nan)
        self._sigma = np.full((steps, n), np.nan)
        if steps:
            # The ranking `rank` computes at each step, a block of symbols at a time and
            # row by row (strategies/feature_blocks.py): never the whole feature tensor.
            first = int(quotes.rows[0])
            scores = ranking_scores_from_history(grid, ranking, start_row=first,
                                                 stop_row=int(quotes.rows[-1]) + 1)
            at = quotes.rows - first
            ok = (scores.eligible[at] & np.isfinite(scores.probability[at])
                  & quoted_spread_ok(quotes, ranking.max_spread_bps))
            self._score = np.where(ok, scores.probability[at], np.nan)
            self._drift, self._sigma = scores.drift[at], scores.sigma[at]
        names = np.asarray(grid.symbols)
        self._order = []
        for k in range(steps):
            live = np.flatnonzero(np.isfinite(self._score[k]))
            order = live[np.lexsort((names[live], -self._score[k, live]))]
            self._order.append(order[: ranking.top_k].tolist())
        on_cadence = (quotes.ts_ms // MINUTE_MS) % self.entry_every_minutes == 0
        wants = ((self._score >= self.min_score) & (self._drift > 0) & np.isfinite(quotes.bid)
                 & on_cadence[:, None])
        self._candidates = np.flatnonzero(wants.any(axis=1)).astype(np.int64)
        self._next = StepCursor(self._candidates)
        self._busy = False
        self._tradable = (None, [], ())

    def next_step(self, after: int) -> int:
        if self._busy:  # something held or ordered: manage it every step
            return after
        return self._next.at_or_after(after)

    def decide(self, view: BatchView) -> list[PolicyAction]:
        k = view.step
        if view.tradable is not self._tradable[0]:  # the same mask at every step of a run
            mask = view.tradable.tolist()
            self._tradable = (view.tradable, mask, tuple(
                s for s, ok in zip(view.symbols, mask) if ok))
        _, tradable, symbols = self._tradable
        # As Python floats (the same values): numpy scalars cost more than the decision
        last, bid, ask = view.last.tolist(), view.bid.tolist(), view.ask.tolist()
        quotes = {s: Quote(last[i], bid[i], ask[i]) for i, s in enumerate(view.symbols)
                  if tradable[i] and math.isfinite(last[i])}
        ranked = [i for i in self._order[k] if tradable[i]]
        ranking: tuple[RankedCoin, ...] = ()
        if ranked:
            score, drift, sigma = (self._score[k].tolist(), self._drift[k].tolist(),
                                   self._sigma[k].tolist())
            ranking = tuple(RankedCoin(view.symbols[i], score[i], drift[i], sigma[i], ())
                            for i in ranked)
        decision = DecisionView(
            ts_ms=view.ts_ms, symbols=symbols, features=_NO_FEATURES, feature_names=(),
            ranking=ranking, quotes=quotes, holdings=view.holdings,
            open_orders=view.open_orders, equity=0.0)
        actions = self._rule.decide(decision)
        self._busy = bool(view.holdings or view.open_orders
                          or any(a.action is Action.BUY for a in actions))
        return actions


def quoted_spread_ok(quotes: StepQuotes, max_spread_bps: float) -> np.ndarray:
    """Bool [K, n]: the step's quoted spread is at most `max_spread_bps`, or unknown (the
    ranking's `quotes_ok` without `require_quotes`), computed as the feature book's
    `spread_bps` is (strategies/feature_columns.py)."""
    bid, ask = quotes.bid, quotes.ask
    with np.errstate(invalid="ignore", divide="ignore"):
        mid = (ask + bid) / 2
        spread = np.where((bid > 0) & (ask > 0), (ask - bid) / mid * 1e4, np.nan)
        return np.asarray((spread <= max_spread_bps) | np.isnan(spread))


__all__ = ["BaselineBatch", "DefaultRanking", "quoted_spread_ok"]
